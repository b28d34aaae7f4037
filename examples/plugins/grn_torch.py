"""The torch module of the `grn` plugin op (grn.py): ConvNeXt V2's GRN in channels-first
layout, as archc's networks are (N, C, H, W). The reference (facebookresearch/ConvNeXt-V2,
models/utils.py `GRN`) runs channels-last with gamma and beta of shape 1x1x1xC; here they are
1xCx1x1, the same numbers in the order of this layout (the tests check both give one output)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class GRN(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        gx = torch.norm(x, p=2, dim=(2, 3), keepdim=True)  # eq. 1: each channel's L2 norm
        nx = gx / (gx.mean(dim=1, keepdim=True) + self.eps)  # eq. 2: divisive normalisation
        return self.gamma * (x * nx) + self.beta + x  # eq. 3, with the residual

    def extra_repr(self) -> str:
        return f"{self.gamma.shape[1]}, eps={self.eps}"
