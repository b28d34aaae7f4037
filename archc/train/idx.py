"""MNIST and Fashion-MNIST: the standard IDX files (gzip'd or not), downloaded with checksums.

Reading never trusts a header: the sizes it states are multiplied as Python integers and
checked against a bound and against the bytes actually there, before anything is allocated.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from archc.train.download import (
    DataError,
    Fetch,
    _urlretrieve,
    cached,
    md5sum,
    regular_file,
)

# The official file names and the MD5 sums their publishers list (MNIST: LeCun et al. via the
# PyTorch mirror; Fashion-MNIST: Zalando Research's README).
FILES: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
}
SPLITS = {"train": "train", "test": "t10k"}
MAX_IDX_BYTES = 16 << 30  # 16 GiB: far above any IDX data set, far below a header's 2^(32*k)


def _open(path: Path) -> IO[bytes]:
    f = regular_file(path).open("rb")
    if f.read(2) == b"\x1f\x8b":
        f.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    f.seek(0)
    return f


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes, checking its header against its length."""
    try:
        with _open(path) as f:
            return _read_idx(f, path)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable gzip file ({exc})",
                        hint="delete it and download it again") from None


def _read_idx(f: IO[bytes], path: Path) -> np.ndarray:
    magic = f.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = magic[3]
    dims = f.read(4 * ndim)
    if ndim == 0 or len(dims) < 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(dims[4 * i: 4 * i + 4], "big") for i in range(ndim))
    expected = math.prod(shape)  # a Python int: no overflow, whatever the header says
    stated = f"IDX header says {'x'.join(map(str, shape))} = {expected:,} bytes"
    if expected > MAX_IDX_BYTES:
        raise DataError(f"{path}: {stated}, more than archc reads ({MAX_IDX_BYTES:,})",
                        hint="the header is corrupt: delete the file and download it again")
    raw = f.read(expected + 1)
    if len(raw) != expected:
        held = f"{len(raw):,}" if len(raw) <= expected else "more"
        raise DataError(f"{path}: {stated}, the file holds {held}", hint="the file is truncated"
                        " or corrupt: delete it and download it again")
    return np.frombuffer(bytearray(raw), dtype=np.uint8).reshape(shape)


def locate(dataset: str, data_dir: Path | None, cache_dir: Path,
           allow_download: bool = True, fetch: Fetch = _urlretrieve) -> dict[str, Path]:
    """The path of each of the dataset's four files. With `data_dir` they must all be there
    (gzip'd or not); else they come from the cache, downloaded and verified when missing."""
    paths: dict[str, Path] = {}
    if data_dir is not None:
        for name in FILES[dataset]:
            options = (data_dir / name, data_dir / name.removesuffix(".gz"))
            found = [p for p in options if p.exists()]
            if not found:
                raise DataError(f"{data_dir / name}: file not found",
                                hint=f"--data-dir must hold the four IDX files of {dataset}: "
                                     + ", ".join(FILES[dataset]))
            paths[name] = found[0]
        return paths
    folder = cache_dir / dataset
    for name, expected in FILES[dataset].items():
        urls = [mirror + name for mirror in MIRRORS[dataset]]
        paths[name] = cached(urls, name, expected, folder, allow_download, fetch,
                             hint="pass --data-dir with the four IDX files")
    return paths


def load_split(paths: dict[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split's images [N, 1, H, W] and labels [N], checked against each other."""
    prefix = SPLITS[split]
    img_path = paths[f"{prefix}-images-idx3-ubyte.gz"]
    lbl_path = paths[f"{prefix}-labels-idx1-ubyte.gz"]
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.ndim != 3:
        raise DataError(f"{img_path}: expected images N x H x W, got shape {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{lbl_path}: expected a vector of labels, got shape {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{lbl_path}: {len(labels)} labels for {len(images)} images in {img_path}")
    if labels.size and labels.max() > 9:
        raise DataError(f"{lbl_path}: label {labels.max()} is out of range 0-9")
    return images[:, None], labels.astype(np.int64)



# MNIST and Fashion-MNIST share file names and format. Their training images' mean pixel
# values, 0.1307 and 0.2860 of 255 (the normalisation constants both are used with), lie far
# apart; a folder that is neither official download is told by which one its images are nearer.
MEAN_PIXEL = {"mnist": 0.1307 * 255, "fashion-mnist": 0.2860 * 255}
SAMPLED = 2000  # images read to measure it


def identify(data_dir: Path) -> str:
    """Which of MNIST and Fashion-MNIST an IDX folder holds: the one whose published checksum
    its training images have, else the one whose mean pixel value they are nearer."""
    name = "train-images-idx3-ubyte.gz"
    found = [p for p in (data_dir / name, data_dir / name.removesuffix(".gz")) if p.exists()]
    if not found:
        return "fashion-mnist"  # (locate reports the missing files, naming them)
    digest = md5sum(found[0])
    for dataset, files in FILES.items():
        if files[name] == digest:
            return dataset
    mean = _mean_pixel(found[0])
    return min(MEAN_PIXEL, key=lambda d: abs(MEAN_PIXEL[d] - mean))


def _mean_pixel(path: Path) -> float:
    """The mean of the first SAMPLED images' pixels (the header is read by read_idx later)."""
    try:
        with _open(path) as f:
            header = f.read(16)
            rows, cols = (int.from_bytes(header[i:i + 4], "big") for i in (8, 12))
            data = f.read(SAMPLED * min(rows * cols, 1 << 16))
    except (OSError, EOFError, zlib.error):
        return 0.0  # unreadable: read_idx reports it
    return float(np.frombuffer(data, dtype=np.uint8).mean()) if data else 0.0
