"""Hand-written reference models, written as the documents write them, with their recipes.

They let the trainer be tested and benchmarked independently of the compiler (`archc train
archc.train.models:resnet18` trains the one below), and they are what a spec's generated module
is compared against.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def lenet_bn(classes: int = 10) -> nn.Module:
    """000 §6.1.4's LeNet with batch normalisation: BN before every sigmoid, max pooling."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
        nn.MaxPool2d(kernel_size=2, stride=2), nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
        nn.Linear(84, classes))


lenet_bn.recipe = {"lr": 1.0, "batch_size": 256, "epochs": 10}  # type: ignore[attr-defined]


class Residual(nn.Module):
    """002's residual block: two 3x3 convs with BN, an optional 1x1 conv on the shortcut."""

    def __init__(self, cin: int, cout: int, use_1x1conv: bool = False, strides: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(cout, cout, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(cin, cout, kernel_size=1, stride=strides) if use_1x1conv else None
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.conv3 is not None:
            x = self.conv3(x)
        return F.relu(y + x)


def _resnet_block(cin: int, cout: int, n: int, first_block: bool = False) -> list[nn.Module]:
    return [Residual(cin, cout, use_1x1conv=True, strides=2) if i == 0 and not first_block
            else Residual(cout, cout) for i in range(n)]


def resnet18(classes: int = 10) -> nn.Module:
    """002's ResNet-18 for 1-channel input."""
    b1 = nn.Sequential(nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(64),
                       nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    return nn.Sequential(
        b1,
        nn.Sequential(*_resnet_block(64, 64, 2, first_block=True)),
        nn.Sequential(*_resnet_block(64, 128, 2)),
        nn.Sequential(*_resnet_block(128, 256, 2)),
        nn.Sequential(*_resnet_block(256, 512, 2)),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(512, classes))


resnet18.recipe = {"lr": 0.05, "batch_size": 256, "epochs": 10,  # type: ignore[attr-defined]
                   "resize": 96}


def tiny(classes: int = 10) -> nn.Module:
    """A few-thousand-parameter net for fast tests: a conv and a linear layer, nothing random
    and no batch statistics, so data-parallel training matches one process exactly."""
    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=5, stride=3), nn.ReLU(), nn.Flatten(),
        nn.Linear(8 * 8 * 8, classes))


tiny.recipe = {"lr": 0.1, "batch_size": 64, "epochs": 2}  # type: ignore[attr-defined]


def tiny_bn(classes: int = 10) -> nn.Module:
    """`tiny` with batch norm and dropout: state in buffers and in the RNG, for resume tests."""
    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=5, stride=3), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.2),
        nn.Flatten(), nn.Linear(8 * 8 * 8, classes))


tiny_bn.recipe = dict(tiny.recipe)  # type: ignore[attr-defined]

RECIPES: dict[str, dict[str, Any]] = {
    f.__name__: f.recipe for f in (lenet_bn, resnet18, tiny, tiny_bn)  # type: ignore[attr-defined]
}
