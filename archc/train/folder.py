"""The image-folder layout (`DIR/train/CLASS/*.png|jpg`, `DIR/val/CLASS/...`, what torchvision's
ImageFolder reads), decoded once, in parallel, into a uint8 array cached on disk.

Classes are the sorted folder names under train/. Every image becomes CxSxS: S is `resize`
(shorter side resized, then a centre crop) or, without it, the one size all images share; C is
1 when every image is greyscale, else 3. A file that is not a readable image is reported by
path and skipped. The cache is keyed by every file's path, size and mtime, and the size asked for.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from archc.core.atomic import atomic_write_bytes
from archc.train.download import DataError

VAL_NAMES = ("val", "test")
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
MAX_SHOWN = 20  # skipped files listed one by one; the rest are counted
CACHE_VERSION = 1
Warn = Callable[[str], None]


def detect(data_dir: Path) -> bool:
    """Does `data_dir` look like an image-folder tree (a train/ folder of class folders)?"""
    train = data_dir / "train"
    return train.is_dir() and any(p.is_dir() for p in train.iterdir())


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _val_dir(data_dir: Path) -> Path:
    for name in VAL_NAMES:
        if (data_dir / name).is_dir():
            return data_dir / name
    raise DataError(f"{data_dir}: no val/ folder beside train/",
                    hint="the layout is DIR/train/CLASS/*.png and DIR/val/CLASS/*.png")


def listing(data_dir: Path) -> tuple[list[str], list[tuple[Path, int]], list[tuple[Path, int]]]:
    """Class names and the (file, label) pairs of train/ and val/."""
    classes = [p.name for p in _visible(data_dir / "train") if p.is_dir()]
    if not classes:
        raise DataError(f"{data_dir / 'train'}: no class folders")
    index = {c: i for i, c in enumerate(classes)}
    val_dir = _val_dir(data_dir)
    unknown = [p.name for p in _visible(val_dir) if p.is_dir() and p.name not in index]
    if unknown:
        raise DataError(f"{val_dir / unknown[0]}: class '{unknown[0]}' has no folder in "
                        f"{data_dir / 'train'}", hint="val/ must use train/'s class names")
    splits = []
    for split_dir in (data_dir / "train", val_dir):
        files = [(f, index[c.name]) for c in _visible(split_dir) if c.is_dir()
                 for f in _visible(c) if not f.is_dir()]
        if not files:
            raise DataError(f"{split_dir}: no image files in its class folders")
        splits.append(files)
    return classes, splits[0], splits[1]


def decode(path: Path, size: int | None) -> np.ndarray:
    """One image as uint8 HxW (greyscale) or HxWx3; resized and centre-cropped to size."""
    import stat

    from PIL import Image, ImageOps

    if not stat.S_ISREG(path.stat().st_mode):
        raise OSError("not a regular file")
    with Image.open(path) as img:
        gray = img.mode in GRAY_MODES
        if size is not None:
            img.draft("L" if gray else "RGB", (size, size))  # JPEG: decode at a reduced scale
        img = img.convert("L" if gray else "RGB")
        if size is not None:
            img = ImageOps.fit(img, (size, size), method=Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


def _try_decode(path: Path, size: int | None) -> np.ndarray | str:
    try:
        return decode(path, size)
    except Exception as exc:  # noqa: BLE001 - any decoder failure means: skip this file
        return f"{type(exc).__name__}: {exc}"[:200]


def _decode_all(files: list[tuple[Path, int]], size: int | None, progress: bool, label: str,
                warn: Warn) -> tuple[list[np.ndarray], list[int], list[str]]:
    images, labels, skipped = [], [], []
    workers = min(32, (os.cpu_count() or 1) + 4)
    with ThreadPoolExecutor(workers) as pool, _bar(len(files), label, progress) as advance:
        for (path, label_), out in zip(files, pool.map(lambda f: _try_decode(f[0], size),
                                                      files), strict=True):
            advance()
            if isinstance(out, str):
                skipped.append(str(path))
                if len(skipped) <= MAX_SHOWN:
                    warn(f"warning: {path}: skipped, not a readable image ({out})")
                continue
            images.append(out)
            labels.append(label_)
    if len(skipped) > MAX_SHOWN:
        warn(f"warning: {len(skipped) - MAX_SHOWN} more unreadable files skipped")
    return images, labels, skipped


class _bar:
    """A progress bar over decoded files (rich, on stderr), or nothing."""

    def __init__(self, total: int, label: str, enabled: bool):
        self.total, self.label, self.enabled = total, label, enabled and total > 0

    def __enter__(self) -> Callable[[], None]:
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                                 console=Console(file=sys.stderr), transient=True)
        self.progress.start()
        task = self.progress.add_task("decode", total=self.total)
        return lambda: self.progress.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.progress.stop()


def _stack(images: list[np.ndarray], paths: Iterable[str], split_dir: Path,
           channels: int) -> np.ndarray:
    """[N, C, H, W] from decoded images; every image must have the same H x W."""
    sizes = {im.shape[:2] for im in images}
    if len(sizes) > 1:
        first, other = images[0].shape[:2], next(s for s in sizes if s != images[0].shape[:2])
        where = next(p for p, im in zip(paths, images, strict=False) if im.shape[:2] == other)
        raise DataError(f"{split_dir}: images differ in size ({first[0]}x{first[1]} and "
                        f"{other[0]}x{other[1]} at {where})",
                        hint="set resize in the train section (or --resize) to decode every "
                             "image at one size")
    out = []
    for im in images:
        im = im[:, :, None] if im.ndim == 2 else im
        if im.shape[2] != channels:  # a greyscale image among colour ones: L -> RGB
            im = np.repeat(im, channels, axis=2)
        out.append(im.transpose(2, 0, 1))
    return np.stack(out)


def _cache_key(data_dir: Path, size: int | None, files: list[tuple[Path, int]]) -> str:
    h = hashlib.sha256(json.dumps([CACHE_VERSION, str(data_dir.resolve()), size]).encode())
    for path, label in files:
        try:
            st = path.stat()
        except OSError as exc:  # a dangling link, a link loop: decoding reports and skips it
            h.update(f"{path}\0{label}\0{exc.errno}\n".encode())
            continue
        h.update(f"{path}\0{label}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def load(data_dir: Path, size: int | None, cache_dir: Path, progress: bool,
         warn: Warn) -> dict[str, Any]:
    """{train: (images, labels), test: (images, labels), classes: names} for a folder tree."""
    classes, train, val = listing(data_dir)
    key = _cache_key(data_dir, size, train + val)
    cache = cache_dir / "folders" / key
    hit = _read_cache(cache)
    if hit is not None:
        return hit
    dirs = {"train": data_dir / "train", "test": _val_dir(data_dir)}
    decoded = {}
    for split, files in (("train", train), ("test", val)):
        decoded[split] = _decode_all(files, size, progress, f"decoding {dirs[split]}", warn)
        if not decoded[split][0]:
            raise DataError(f"{dirs[split]}: no readable images")
    channels = 1 if all(im.ndim == 2 for imgs, _, _ in decoded.values() for im in imgs) else 3
    out: dict[str, Any] = {"classes": classes}
    for split, (imgs, labels, skipped) in decoded.items():
        gone = set(skipped)
        kept = [str(p) for p, _ in (train if split == "train" else val) if str(p) not in gone]
        out[split] = (_stack(imgs, kept, dirs[split], channels), np.asarray(labels, np.int64))
    _write_cache(cache, out)
    return out


def _write_cache(cache: Path, data: dict[str, Any]) -> None:
    import io

    try:
        for split in ("train", "test"):
            for part, array in zip(("images", "labels"), data[split], strict=True):
                buf = io.BytesIO()
                np.save(buf, array, allow_pickle=False)
                atomic_write_bytes(cache / f"{split}-{part}.npy", buf.getvalue())
        atomic_write_bytes(cache / "meta.json", json.dumps({"classes": data["classes"]}).encode())
    except OSError as exc:  # a read-only cache costs a decode next time, nothing more
        print(f"warning: cannot write the decoded-image cache {cache} ({exc})", file=sys.stderr)


def _read_cache(cache: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((cache / "meta.json").read_text())
        out: dict[str, Any] = {"classes": [str(c) for c in meta["classes"]]}
        for split in ("train", "test"):
            images = np.load(cache / f"{split}-images.npy", allow_pickle=False)
            labels = np.load(cache / f"{split}-labels.npy", allow_pickle=False)
            classes = len(meta["classes"])
            if images.dtype != np.uint8 or images.ndim != 4 or labels.shape != images.shape[:1] \
                    or not 0 <= labels.min(initial=0) <= labels.max(initial=0) < classes:
                return None
            out[split] = (images, labels.astype(np.int64))
        return out
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or damaged: decode again
