"""Stage 3, the torch modules behind ops that torch.nn lacks, each written to compute exactly
what torchvision's counterpart computes and to hold its parameters under the same names
(LayerNorm2d and the layer scale as in convnext.py, StochasticDepth as torchvision.ops,
self-attention as torch.nn.MultiheadAttention inside vision_transformer.py's EncoderBlock).
Only op factories (archc/ops_*.py) import this module, so checking stays torch-free.
The classes an exported file needs (archc/export/support.py) are copied from this file's text,
so they are written as an exported file writes them: 88 columns, laid out by `ruff format`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class Inline:
    """What an inline op's factory makes: one tensor, registered as a parameter of the
    enclosing scope under the layer's name, and `fn(x, tensor)`, the layer's output."""

    tensor: torch.Tensor
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------- channels


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of every position of NxCxHxW (torchvision's
    convnext.LayerNorm2d: permute to channels-last, normalise, permute back)."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class FrozenBatchNorm2d(nn.Module):
    """Batch norm whose statistics and affine terms are fixed buffers, not parameters
    (torchvision.ops.FrozenBatchNorm2d, what its detection backbones use):
    `x * scale + bias`, scale = weight / sqrt(running_var + eps), in train and eval mode
    alike. A BatchNorm2d checkpoint loads into it (num_batches_tracked is dropped)."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def _load_from_state_dict(
        self,
        state_dict: dict,
        prefix: str,
        local_metadata: dict,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(
            state_dict,
            prefix,
            local_metadata,
            strict,
            missing_keys,
            unexpected_keys,
            error_msgs,
        )

    def forward(self, x: Tensor) -> Tensor:
        # (mypy types a buffer Tensor | Module; TorchScript takes no class annotation
        # under postponed annotations)
        w = self.weight.reshape(1, -1, 1, 1)  # type: ignore[operator]
        b = self.bias.reshape(1, -1, 1, 1)  # type: ignore[operator]
        rv = self.running_var.reshape(1, -1, 1, 1)  # type: ignore[operator]
        rm = self.running_mean.reshape(1, -1, 1, 1)  # type: ignore[operator]
        scale = w * (rv + self.eps).rsqrt()
        bias = b - rm * scale
        return x * scale + bias

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}"  # type: ignore[index]


class ChannelLinear(nn.Linear):
    """A linear map over the channels at every position of NxCxHxW (ConvNeXt's Linear
    between two permutes): weight and bias as nn.Linear's."""

    def forward(self, x: Tensor) -> Tensor:
        x = F.linear(x.permute(0, 2, 3, 1), self.weight, self.bias)
        return x.permute(0, 3, 1, 2)


class StochasticDepth(nn.Module):
    """Zeroes whole samples with probability p while training, scaling the rest by
    1 / (1 - p); the identity in eval (torchvision.ops.StochasticDepth, mode="row")."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1)
        noise = torch.empty(size, dtype=x.dtype, device=x.device)
        noise = noise.bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode=row"


def scale(x: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """The layer scale: convnext.CNBlock's `self.layer_scale * result`."""
    return gamma * x


# ----------------------------------------------------------------------------- tokens


class Tokens(nn.Module):
    """NxCxHxW -> Nx(H*W)xC: every position a token of C features, row by row."""

    def forward(self, x: Tensor) -> Tensor:
        n, c = x.shape[:2]
        return x.reshape(n, c, -1).permute(0, 2, 1)


class SelectToken(nn.Module):
    """NxLxD -> NxD: one token (the class token, `x[:, 0]`, in VisionTransformer)."""

    def __init__(self, index: int = 0) -> None:
        super().__init__()
        self.index = index

    def forward(self, x: Tensor) -> Tensor:
        return x[:, self.index]

    def extra_repr(self) -> str:
        return f"index={self.index}"


def prepend_token(x: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
    """The class token before the others (VisionTransformer.forward)."""
    return torch.cat([token.expand(x.shape[0], -1, -1), x], dim=1)


def add_embedding(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """The position embedding (vision_transformer.Encoder.forward: `input + pos_embedding`)."""
    return x + pos


class SelfAttention(nn.MultiheadAttention):
    """Multi-head self-attention over tokens, as torchvision's EncoderBlock calls
    nn.MultiheadAttention (`attn(x, x, x, need_weights=False)[0]`): its parameters, and
    the computation of its general path, called directly so TorchScript compiles it."""

    def __init__(
        self, dim: int, heads: int, dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__(dim, heads, dropout=dropout, bias=bias, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        x = x.transpose(0, 1)  # batch first -> sequence first, as nn.MultiheadAttention
        y, _ = F.multi_head_attention_forward(
            x,
            x,
            x,
            self.embed_dim,
            self.num_heads,
            self.in_proj_weight,
            self.in_proj_bias,
            self.bias_k,
            self.bias_v,
            self.add_zero_attn,
            self.dropout,
            self.out_proj.weight,
            self.out_proj.bias,
            training=self.training,
            need_weights=False,
        )
        return y.transpose(0, 1)


# ----------------------------------------------------------------------------- language models


class Conv1D(nn.Module):
    """A linear map whose weight is stored in x out (GPT-2's Conv1D in transformers,
    nanoGPT's checkpoints): `x @ weight + bias`."""

    def __init__(self, dim_in: int, dim_out: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim_in, dim_out).normal_(std=0.02))
        self.bias = nn.Parameter(torch.zeros(dim_out)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        y = x @ self.weight
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        rows, columns = self.weight.shape
        return f"{rows}, {columns}, bias={self.bias is not None}"


class PositionEmbedding(nn.Embedding):
    """A learned position embedding read by index (GPT-2's `wpe`): for N token ids, the
    table's first N rows, `wpe(arange(N))`, whatever the ids are (nn.Embedding's lookup,
    called directly so TorchScript compiles it)."""

    def forward(self, x: Tensor) -> Tensor:
        positions = torch.arange(x.shape[1], device=x.device)
        rows = F.embedding(positions, self.weight, self.padding_idx, self.max_norm)
        return rows.unsqueeze(0).expand(x.shape[0], -1, -1)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention over NxD tokens with `kv_heads` key/value heads
    (grouped-query; multi-query for 1), a causal mask, rotary positions (RoPE on the
    first `rotary_dim` features of each head, the halves rotated as transformers' Llama
    does), and the parameters laid out as the weights people load: `layout="gpt2"`,
    one fused `c_attn` (q, k, v) and `c_proj`, Conv1D (in x out); `layout="llama"`,
    `q_proj`, `k_proj`, `v_proj` and `o_proj`, nn.Linear."""

    def __init__(
        self,
        dim: int,
        heads: int,
        kv_heads: int,
        layout: str = "llama",
        bias: bool = True,
        dropout: float = 0.0,
        causal: bool = True,
        rope: bool = False,
        rope_base: float = 10000.0,
        rotary_dim: int = 0,
    ) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.layout, self.dropout, self.causal = layout, dropout, causal
        kv = kv_heads * self.head_dim
        self.sizes = [dim, kv, kv]
        if layout == "gpt2":
            self.c_attn = Conv1D(dim, dim + 2 * kv, bias)
            self.c_proj = Conv1D(dim, dim, bias)
        else:
            self.q_proj = nn.Linear(dim, dim, bias)
            self.k_proj = nn.Linear(dim, kv, bias)
            self.v_proj = nn.Linear(dim, kv, bias)
            self.o_proj = nn.Linear(dim, dim, bias)
        self.rotary_dim = (rotary_dim or self.head_dim) if rope else 0
        self.rope_base = rope_base

    # `hasattr`, not `self.layout`: TorchScript decides it while compiling, so the
    # branch naming the other layout's layers is never compiled
    def _project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if hasattr(self, "c_attn"):
            q, k, v = self.c_attn(x).split(self.sizes, dim=-1)
            return q, k, v
        return self.q_proj(x), self.k_proj(x), self.v_proj(x)

    def _rotate(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        r, rest = x[..., : self.rotary_dim], x[..., self.rotary_dim :]
        half = r.shape[-1] // 2
        turned = torch.cat((-r[..., half:], r[..., :half]), dim=-1)
        return torch.cat((r * cos + turned * sin, rest), dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self._project(x)
        q = q.view(b, n, self.heads, self.head_dim).transpose(1, 2)
        k = k.view(b, n, self.kv_heads, self.head_dim).transpose(1, 2)
        v = v.view(b, n, self.kv_heads, self.head_dim).transpose(1, 2)
        if self.rotary_dim:  # in float32, as transformers' LlamaRotaryEmbedding
            steps = torch.arange(0, self.rotary_dim, 2, device=x.device).float()
            inv_freq = 1.0 / (self.rope_base ** (steps / self.rotary_dim))
            pos = torch.arange(n, device=x.device, dtype=torch.float32)
            freqs = pos[:, None] * inv_freq[None, :]
            angles = torch.cat((freqs, freqs), dim=-1)
            cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
            q, k = self._rotate(q, cos, sin), self._rotate(k, cos, sin)
        # every group of query heads shares one key/value head
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=self.causal)
        y = y.transpose(1, 2).reshape(b, n, d)
        if hasattr(self, "c_proj"):
            return self.c_proj(y)
        return self.o_proj(y)
