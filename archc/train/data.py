"""Data: MNIST / Fashion-MNIST from the standard IDX files, downloaded with checksums if missing.

Images stay uint8 until a batch is drawn; `DeviceData` keeps a whole split on the training device
(resized there once, when it fits) so that a training step never waits on the host.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from archc.train.config import MNIST_MEAN, MNIST_STD, TrainError

if TYPE_CHECKING:
    import torch

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
_IDX_DTYPES = {0x08: np.uint8}


class DataError(TrainError):
    """A data file that is missing, corrupt or fails its checksum."""


@dataclass(frozen=True)
class Split:
    """One split on the host: uint8 images [N, 28, 28] and int64 labels [N]."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def default_cache_dir() -> Path:
    """Where downloads go: $ARCHC_CACHE, else $XDG_CACHE_HOME/archc, else ~/.cache/archc."""
    if os.environ.get("ARCHC_CACHE"):
        return Path(os.environ["ARCHC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "archc"


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzip'd or not), checking its header against its length."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable gzip file ({exc})",
                        hint="delete it and download it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(f"{path}: IDX header says {'x'.join(map(str, shape))} = {expected} bytes,"
                        f" the file holds {len(raw) - header}", hint="the file is truncated or"
                        " corrupt: delete it and download it again")
    return np.frombuffer(bytearray(raw), dtype=np.uint8, offset=header).reshape(shape)


def md5sum(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _urlretrieve(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url, timeout=60) as response, dest.open("wb") as out:
        while block := response.read(1 << 20):
            out.write(block)


def download(dataset: str, name: str, folder: Path,
             fetch: Callable[[str, Path], None] = _urlretrieve) -> Path:
    """Download one official file into `folder`, trying each mirror; keep it only if its MD5
    matches the published one. The file appears under its name only once verified."""
    expected = FILES[dataset][name]
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for mirror in MIRRORS[dataset]:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            fetch(mirror + name, tmp)
            got = md5sum(tmp)
            if got != expected:
                failures.append(f"{mirror}{name}: checksum mismatch "
                                f"(md5 {got}, expected {expected})")
                continue
            os.replace(tmp, folder / name)
            return folder / name
        except OSError as exc:
            failures.append(f"{mirror}{name}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError(f"could not download {name}: " + "; ".join(failures),
                    hint="check the network, or pass --data-dir with the four IDX files")


def locate(dataset: str, data_dir: Path | None, cache_dir: Path | None,
           allow_download: bool = True,
           fetch: Callable[[str, Path], None] = _urlretrieve) -> dict[str, Path]:
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
    folder = (cache_dir or default_cache_dir()) / dataset
    for name, expected in FILES[dataset].items():
        path = folder / name
        if path.exists() and md5sum(path) != expected:
            path.unlink()  # a partial or corrupt earlier download: fetch it again
        if not path.exists():
            if not allow_download:
                raise DataError(f"{path}: file not found", hint="drop --no-download, or pass "
                                "--data-dir with the four IDX files")
            download(dataset, name, folder, fetch)
        paths[name] = path
    return paths


def load_split(paths: dict[str, Path], split: str) -> Split:
    """Read one split's images and labels and check that they agree."""
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
    return Split(images, labels.astype(np.int64))


@dataclass
class DeviceData:
    """One split on the training device, ready to hand out normalised float batches.

    `images` is uint8 [N, 1, S, S] when resized up front, else [N, 1, 28, 28] and each batch is
    resized as it is drawn. Resizing quantises to uint8 either way, as PIL did in the book's
    loader (Resize on the PIL image, then ToTensor), so both paths give the same numbers.
    """

    images: torch.Tensor
    labels: torch.Tensor
    size: int
    normalize: bool
    channels_last: bool

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        x = self.images.index_select(0, idx)
        if x.shape[-1] != self.size:
            x = resize_u8(x, self.size)
        x = x.to(torch.float32).div_(255)  # as ToTensor does: bit-equal to the book's input
        if self.normalize:
            x = x.sub_(MNIST_MEAN).div_(MNIST_STD)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self.labels.index_select(0, idx)


def resize_u8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize of uint8 images [N, 1, H, W] to size x size, antialiased like PIL."""
    import torch
    import torch.nn.functional as F

    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    y = F.interpolate(images.to(torch.float32), size=(size, size), mode="bilinear",
                      align_corners=False, antialias=True)
    return y.round_().clamp_(0, 255).to(torch.uint8)


def to_device(split: Split, size: int, device: Any, normalize: bool, channels_last: bool,
              budget_bytes: int | None = None, chunk: int = 4096) -> DeviceData:
    """Move a split to `device` as uint8 and resize it there once if the result fits."""
    import torch

    device = torch.device(device)
    images = torch.from_numpy(np.ascontiguousarray(split.images)).unsqueeze(1).to(device)
    labels = torch.from_numpy(split.labels).to(device)
    if budget_bytes is None:
        budget_bytes = _resize_budget(device)
    if size != images.shape[-1] and len(split) * size * size <= budget_bytes:
        images = torch.cat([resize_u8(images[i:i + chunk], size)
                            for i in range(0, len(split), chunk)])
    return DeviceData(images, labels, size, normalize, channels_last)


def _resize_budget(device: torch.device) -> int:
    """A quarter of the free device memory on a GPU; 2 GiB on the host."""
    import torch

    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 4
    return 2 << 30
