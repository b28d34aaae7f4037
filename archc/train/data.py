"""Data sets: one registry entry per format (MNIST / Fashion-MNIST IDX files, CIFAR-10/100
binary archives, an image-folder tree), each giving uint8 images [N, C, H, W] and int64 labels.

The format comes from the recipe's `dataset`, else from what `--data-dir` holds, else
Fashion-MNIST (the book's). The shapes and class count found here are what the spec is
checked against before training (archc/train/source.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archc.train import cifar, folder, idx
from archc.train.download import DataError, Fetch, _urlretrieve, default_cache_dir

__all__ = ["DataError", "Data", "Split", "load_data", "detect"]


@dataclass(frozen=True)
class Split:
    """One split on the host: uint8 images [N, C, H, W] and int64 labels [N]."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int) -> Split:
        return Split(self.images[:n], self.labels[:n])


@dataclass(frozen=True)
class Data:
    """A data set as loaded: its name, both splits and its classes."""

    name: str
    train: Split
    test: Split
    classes: tuple[str, ...]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.images.shape[1:]
        return int(c), int(h), int(w)


@dataclass(frozen=True)
class Request:
    """What a loader needs to know."""

    dataset: str
    data_dir: Path | None
    cache_dir: Path
    allow_download: bool
    size: int | None  # resize: image-folder trees are decoded at this size
    progress: bool
    fetch: Fetch = _urlretrieve
    warn: Callable[[str], None] = lambda s: print(s, file=sys.stderr)


def _idx(req: Request) -> tuple[Any, Any, tuple[str, ...]]:
    paths = idx.locate(req.dataset, req.data_dir, req.cache_dir, req.allow_download, req.fetch)
    return (idx.load_split(paths, "train"), idx.load_split(paths, "test"),
            tuple(str(i) for i in range(10)))


def _cifar(req: Request) -> tuple[Any, Any, tuple[str, ...]]:
    return cifar.load(req.dataset, req.data_dir, req.cache_dir, req.allow_download, req.fetch)


def _folder(req: Request) -> tuple[Any, Any, tuple[str, ...]]:
    if req.data_dir is None:
        raise DataError("dataset = \"folder\" needs --data-dir",
                        hint="DIR/train/CLASS/*.png and DIR/val/CLASS/*.png")
    out = folder.load(req.data_dir, req.size, req.cache_dir, req.progress, req.warn)
    return out["train"], out["test"], tuple(out["classes"])


LOADERS: dict[str, Callable[[Request], tuple[Any, Any, tuple[str, ...]]]] = {
    "mnist": _idx, "fashion-mnist": _idx, "cifar10": _cifar, "cifar100": _cifar,
    "folder": _folder,
}


def detect(data_dir: Path | None) -> str:
    """The data set `data_dir` holds: a folder tree, CIFAR binaries, else IDX files (MNIST or
    Fashion-MNIST, told apart by idx.identify); with no folder, Fashion-MNIST."""
    if data_dir is not None and data_dir.is_dir():
        if folder.detect(data_dir):
            return "folder"
        found = cifar.detect(data_dir)
        if found:
            return found
        return idx.identify(data_dir)
    return "fashion-mnist"


def load_data(dataset: str | None, data_dir: Path | None, cache_dir: Path | None = None,
              allow_download: bool = True, size: int | None = None, progress: bool = False,
              fetch: Fetch = _urlretrieve) -> Data:
    """Load both splits of a data set and check that they are usable for training."""
    if data_dir is not None and not data_dir.is_dir():
        raise DataError(f"{data_dir}: not a folder", hint="--data-dir names a folder")
    name = dataset or detect(data_dir)
    req = Request(name, data_dir, cache_dir or default_cache_dir(), allow_download, size,
                  progress, fetch)
    (tr_x, tr_y), (te_x, te_y), classes = LOADERS[name](req)
    where = str(data_dir) if data_dir is not None else name
    for split, images in (("training", tr_x), ("test", te_x)):
        if len(images) == 0:
            raise DataError(f"{where}: the {split} split holds no images",
                            hint="every split needs at least one image")
    if tr_x.shape[1:] != te_x.shape[1:]:
        raise DataError(f"{where}: training images are {_fmt(tr_x.shape[1:])}, test images "
                        f"{_fmt(te_x.shape[1:])}")
    return Data(name, Split(tr_x, tr_y), Split(te_x, te_y), classes)


def _fmt(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)
