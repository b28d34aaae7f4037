"""Stage 3 helper for archc/emit/python.py: the modules torch.nn lacks (archc/emit/layers.py),
as an exported file writes them, laid out as `ruff format` lays them out. Each computes what
its counterpart in layers.py computes, with the same parameter names, so a state_dict loads
into either; tests/test_export.py checks outputs of every op against archc's module.
An op's Source names the classes it needs (`Source.support`); `NEEDS` says which imports
beyond `torch` and `nn` a class uses."""

from __future__ import annotations

SUPPORT: dict[str, str] = {
    "LayerNorm2d": '''
class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of every position of NxCxHxW (torchvision's)."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
''',
    "ChannelLinear": '''
class ChannelLinear(nn.Linear):
    """A linear map over the channels at every position of NxCxHxW (ConvNeXt's)."""

    def forward(self, x: Tensor) -> Tensor:
        x = F.linear(x.permute(0, 2, 3, 1), self.weight, self.bias)
        return x.permute(0, 3, 1, 2)
''',
    "StochasticDepth": '''
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
''',
    "Tokens": '''
class Tokens(nn.Module):
    """NxCxHxW -> Nx(H*W)xC: every position a token of C features, row by row."""

    def forward(self, x: Tensor) -> Tensor:
        n, c = x.shape[:2]
        return x.reshape(n, c, -1).permute(0, 2, 1)
''',
    "SelectToken": '''
class SelectToken(nn.Module):
    """NxLxD -> NxD: one token (the class token, `x[:, 0]`, in VisionTransformer)."""

    def __init__(self, index: int = 0) -> None:
        super().__init__()
        self.index = index

    def forward(self, x: Tensor) -> Tensor:
        return x[:, self.index]

    def extra_repr(self) -> str:
        return f"index={self.index}"
''',
    "SelfAttention": '''
class SelfAttention(nn.MultiheadAttention):
    """Multi-head self-attention over tokens, called as torchvision's EncoderBlock calls
    nn.MultiheadAttention: `attn(x, x, x, need_weights=False)[0]`."""

    def __init__(
        self, dim: int, heads: int, dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__(dim, heads, dropout=dropout, bias=bias, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]
''',
}

# imports a support class needs beyond `import torch` and `from torch import Tensor, nn`
NEEDS: dict[str, str] = {"LayerNorm2d": "import torch.nn.functional as F",
                         "ChannelLinear": "import torch.nn.functional as F"}
