"""Small data files in the real formats (IDX, CIFAR binary, image folders), for training tests
that never touch the network."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import numpy as np

from archc.train.cifar import ARCHIVES


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx_set(folder: Path, n_train: int = 96, n_test: int = 32, seed: int = 0) -> Path:
    """The four (Fashion-)MNIST files, gzip'd, with learnable labels (the class is the mean
    brightness band)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = (rng.integers(0, 40, (n, 28, 28)) + labels[:, None, None] * 20).astype(np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return folder


def cifar_records(n: int, dataset: str, rng: np.random.Generator) -> tuple[bytes, np.ndarray,
                                                                             np.ndarray]:
    """`n` records in the official layout, and the images and labels they hold."""
    a = ARCHIVES[dataset]
    labels = rng.integers(0, a.classes, n).astype(np.uint8)
    images = rng.integers(0, 256, (n, 3, 32, 32)).astype(np.uint8)
    head = np.zeros((n, a.label_bytes), np.uint8)
    head[:, a.label_at] = labels
    if a.label_bytes == 2:
        head[:, 0] = labels // 5  # CIFAR-100's coarse label comes first
    raw = np.concatenate([head, images.reshape(n, -1)], axis=1)
    return raw.tobytes(), images, labels.astype(np.int64)


def write_cifar(folder: Path, dataset: str = "cifar10", per_file: int = 8, seed: int = 0,
                as_archive: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The variant's .bin files (or its .tar.gz) in `folder`; returns what they hold."""
    a = ARCHIVES[dataset]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files, held = {}, {}
    for split, names in (("train", a.train), ("test", a.test)):
        parts = [cifar_records(per_file, dataset, rng) for _ in names]
        files.update({n: p[0] for n, p in zip(names, parts, strict=True)})
        held[split] = (np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]))
    files[a.names] = "\n".join(f"class{i}" for i in range(a.classes)).encode()
    if as_archive:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name, blob in files.items():
                info = tarfile.TarInfo(f"{a.folder}/{name}")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
        (folder / a.archive).write_bytes(buf.getvalue())
    else:
        for name, blob in files.items():
            (folder / name).write_bytes(blob)
    return held


def write_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 6,
                 size: tuple[int, int] = (32, 32), mode: str = "RGB", fmt: str = "PNG",
                 seed: int = 0) -> Path:
    """root/train/CLASS/i.png and root/val/CLASS/i.png; class k is brighter than class k-1."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in (("train", per_class), ("val", max(2, per_class // 2))):
        for k, name in enumerate(classes):
            d = root / split / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
                pixels = (rng.integers(0, 60, shape) + 120 * k).clip(0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(d / f"{i}.{fmt.lower()}", format=fmt)
    return root
