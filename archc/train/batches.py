"""Batches on the device: a split kept resident as uint8 (resized there once when it fits),
gathered, augmented and normalised per batch on the device, with no per-image host work.

Augmentations draw from torch's default generator of the device, which the loop seeds per epoch
(so a resumed epoch replays exactly) and which CUDA graphs capture safely.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from archc.core.recipe import Recipe
    from archc.train.data import Split


@dataclass(frozen=True)
class Augment:
    """Training-batch augmentations, in the order applied."""

    crop_padding: int = 0
    random_resized_crop: bool = False
    crop_scale: float = 0.08
    hflip: bool = False

    @classmethod
    def of(cls, r: Recipe) -> Augment:
        return cls(r.crop_padding, r.random_resized_crop, r.crop_scale, r.hflip)


@dataclass
class DeviceData:
    """One split on the training device, handing out float batches.

    `images` is uint8 [N, C, S, S] when resized up front, else the native size, resized per
    batch. Resizing quantises to uint8 either way, as PIL does in the book's loader (Resize on
    the PIL image, then ToTensor), so both paths give the same numbers.
    """

    images: torch.Tensor
    labels: torch.Tensor
    size: tuple[int, int]  # H, W the network sees
    mean: torch.Tensor | None  # [1, C, 1, 1] or None: no normalisation
    std: torch.Tensor | None
    channels_last: bool
    augment: Augment | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batch(self, idx: torch.Tensor, train: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        aug = self.augment if train else None
        x = self.images.index_select(0, idx)
        if aug is not None and aug.crop_padding:
            x = random_crop(x, aug.crop_padding)
        rrc = aug is not None and aug.random_resized_crop
        if tuple(x.shape[-2:]) != self.size and not rrc:
            x = resize_u8(x, self.size)
        x = x.to(torch.float32).div_(255)  # as ToTensor does: bit-equal to the book's input
        if rrc:
            assert aug is not None
            x = random_resized_crop(x, self.size, aug.crop_scale)
        if aug is not None and aug.hflip:
            x = hflip(x)
        if self.mean is not None and self.std is not None:
            x = x.sub_(self.mean).div_(self.std)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self.labels.index_select(0, idx)


def random_crop(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Each image zero-padded by `pad` on every side, then cropped back at a random offset."""
    import torch
    import torch.nn.functional as F

    b, _, h, w = x.shape
    dev = x.device
    padded = F.pad(x, (pad, pad, pad, pad)).permute(0, 2, 3, 1)  # B, H', W', C
    oy = torch.randint(0, 2 * pad + 1, (b, 1), device=dev)
    ox = torch.randint(0, 2 * pad + 1, (b, 1), device=dev)
    rows = (oy + torch.arange(h, device=dev))[:, :, None]
    cols = (ox + torch.arange(w, device=dev))[:, None, :]
    out = padded[torch.arange(b, device=dev)[:, None, None], rows, cols]
    return out.permute(0, 3, 1, 2)


def random_resized_crop(x: torch.Tensor, size: tuple[int, int], min_scale: float
                        ) -> torch.Tensor:
    """Inception-style crops: area in [min_scale, 1] of the image, aspect ratio in [3/4, 4/3]
    (log-uniform), at a random place, resized bilinearly to `size` (H, W)."""
    import torch
    import torch.nn.functional as F

    b, dev = x.shape[0], x.device
    area = torch.empty(b, device=dev).uniform_(min_scale, 1.0)
    logr = torch.empty(b, device=dev).uniform_(math.log(3 / 4), math.log(4 / 3))
    ratio = torch.exp(logr)
    w = torch.sqrt(area * ratio).clamp_(max=1.0)  # fractions of the image's width / height
    h = torch.sqrt(area / ratio).clamp_(max=1.0)
    cx = (torch.rand(b, device=dev) * 2 - 1) * (1 - w)  # centres, in [-1, 1] coordinates
    cy = (torch.rand(b, device=dev) * 2 - 1) * (1 - h)
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w, cx, h, cy
    grid = F.affine_grid(theta, [b, x.shape[1], *size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def hflip(x: torch.Tensor) -> torch.Tensor:
    """Each image mirrored left-right with probability 1/2."""
    import torch

    flip = torch.rand(x.shape[0], device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def resize_u8(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of uint8 images [N, C, H, W] to `size` (H, W), antialiased like PIL."""
    import torch
    import torch.nn.functional as F

    if tuple(images.shape[-2:]) == size:
        return images
    y = F.interpolate(images.to(torch.float32), size=size, mode="bilinear",
                      align_corners=False, antialias=True)
    return y.round_().clamp_(0, 255).to(torch.uint8)


def channel_stats(split: Split, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of a split's pixels in [0, 1] (float64, chunked)."""
    c = split.images.shape[1]
    total = np.zeros(c)
    squares = np.zeros(c)
    for i in range(0, len(split), chunk):
        part = split.images[i:i + chunk].astype(np.float64) / 255
        total += part.sum(axis=(0, 2, 3))
        squares += (part ** 2).sum(axis=(0, 2, 3))
    n = len(split) * split.images.shape[2] * split.images.shape[3]
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean ** 2, 0))
    return [round(float(m), 6) for m in mean], [round(max(float(s), 1e-6), 6) for s in std]


def to_device(split: Split, size: int | tuple[int, int], device: Any,
              mean: list[float] | None = None, std: list[float] | None = None,
              channels_last: bool = False, augment: Augment | None = None,
              budget_bytes: int | None = None,
              chunk: int = 4096) -> DeviceData:
    """Move a split to `device` as uint8 and resize it there once if the result fits."""
    import torch

    device = torch.device(device)
    hw: tuple[int, int] = (size, size) if isinstance(size, int) else (size[0], size[1])
    images = torch.from_numpy(np.ascontiguousarray(split.images)).to(device)
    labels = torch.from_numpy(np.ascontiguousarray(split.labels)).to(device)
    if budget_bytes is None:
        budget_bytes = _resize_budget(device)
    c = images.shape[1]
    if hw != tuple(images.shape[-2:]) and len(split) * c * hw[0] * hw[1] <= budget_bytes:
        images = torch.cat([resize_u8(images[i:i + chunk], hw)
                            for i in range(0, len(split), chunk)])
    m = s = None
    if mean is not None and std is not None:
        m = _per_channel(mean, c, device)
        s = _per_channel(std, c, device)
    return DeviceData(images, labels, hw, m, s, channels_last, augment)


def _per_channel(values: list[float], channels: int, device: torch.device) -> torch.Tensor:
    import torch

    t = torch.tensor(values, dtype=torch.float32, device=device)
    return t.expand(channels).reshape(1, channels, 1, 1).clone() if t.numel() == 1 else \
        t.reshape(1, channels, 1, 1)


def _resize_budget(device: torch.device) -> int:
    """A quarter of the free device memory on a GPU; 2 GiB on the host."""
    import torch

    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 4
    return 2 << 30
