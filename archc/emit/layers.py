"""Stage 3, the torch modules behind ops that torch.nn lacks, each written to compute exactly
what torchvision's counterpart computes and to hold its parameters under the same names
(LayerNorm2d and the layer scale as in convnext.py, StochasticDepth as torchvision.ops,
self-attention as torch.nn.MultiheadAttention inside vision_transformer.py's EncoderBlock).
Only op factories (archc/ops_*.py) import this module, so checking stays torch-free."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Inline:
    """What an inline op's factory makes: one tensor, registered as a parameter of the
    enclosing scope under the layer's name, and `fn(x, tensor)`, the layer's output."""

    tensor: torch.Tensor
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------- channels


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of every position of an NxCxHxW tensor (torchvision
    convnext.LayerNorm2d: permute to channels-last, normalise, permute back)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ChannelLinear(nn.Linear):
    """A linear map over the channels of every position of NxCxHxW (ConvNeXt's Linear
    between Permute([0, 2, 3, 1]) and Permute([0, 3, 1, 2])): weight and bias as nn.Linear."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.permute(0, 2, 3, 1), self.weight, self.bias).permute(0, 3, 1, 2)


class StochasticDepth(nn.Module):
    """Drops whole samples of a residual branch with probability p while training, scaling
    the kept ones by 1 / (1 - p); the identity in eval. The computation of
    torchvision.ops.stochastic_depth(x, p, mode="row", training)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        noise = torch.empty([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype, device=x.device)
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
    """NxCxHxW -> Nx(H*W)xC: every position a token of C features, row by row
    (VisionTransformer._process_input's reshape and permute)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        return x.reshape(n, c, -1).permute(0, 2, 1)


class SelectToken(nn.Module):
    """NxLxD -> NxD: one token (`x[:, 0]`, the class token, in VisionTransformer.forward)."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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
    """Multi-head self-attention over tokens: nn.MultiheadAttention(batch_first=True), its
    parameters under its names (in_proj_weight, out_proj.weight, ...), called as
    torchvision's EncoderBlock calls it: `attn(x, x, x, need_weights=False)[0]`."""

    def __init__(self, dim: int, heads: int, dropout: float, bias: bool) -> None:
        super().__init__(dim, heads, dropout=dropout, bias=bias, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]
