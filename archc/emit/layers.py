"""Stage 3, the torch modules behind ops that torch.nn lacks, each written to compute exactly
what torchvision's counterpart computes and to hold its parameters under the same names
(LayerNorm2d and the layer scale as in convnext.py, StochasticDepth as torchvision.ops,
self-attention as torch.nn.MultiheadAttention inside vision_transformer.py's EncoderBlock).
Only op factories (archc/ops_*.py) import this module, so checking stays torch-free.
The classes an exported file needs (archc/emit/support.py) are copied from this file's text,
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
    """Multi-head self-attention over tokens, called as torchvision's EncoderBlock calls
    nn.MultiheadAttention: `attn(x, x, x, need_weights=False)[0]`."""

    def __init__(
        self, dim: int, heads: int, dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__(dim, heads, dropout=dropout, bias=bias, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]
