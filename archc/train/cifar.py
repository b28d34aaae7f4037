"""CIFAR-10 and CIFAR-100 from the official binary archives (the "binary version" on
https://www.cs.toronto.edu/~kriz/cifar.html): fixed-length records of label byte(s) then
3,072 bytes of 32x32 red, green and blue planes. No pickle (the Python version is pickled).

`--data-dir` may hold the archive, its extracted folder, or the .bin files themselves; without
it the archive is downloaded into the cache, verified by MD5, and the .bin files are copied out
of it under their own names (never a path from the archive).
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from archc.train.download import DataError, Fetch, _urlretrieve, cached, regular_file

PIXELS = 3 * 32 * 32
MAX_BIN_BYTES = 1 << 30  # the largest official file (CIFAR-100 train.bin) is 154 MB


@dataclass(frozen=True)
class Archive:
    """One CIFAR variant: where it comes from and how its records are laid out."""

    archive: str
    md5: str
    folder: str  # the folder inside the archive
    train: tuple[str, ...]
    test: tuple[str, ...]
    label_bytes: int  # bytes before the pixels of a record
    label_at: int  # which of them is the label archc trains on
    classes: int
    names: str  # the file of class names


ARCHIVES = {
    "cifar10": Archive("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530",
                       "cifar-10-batches-bin", tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
                       ("test_batch.bin",), 1, 0, 10, "batches.meta.txt"),
    # CIFAR-100 records hold the coarse (20 superclasses) then the fine (100 classes) label.
    "cifar100": Archive("cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8",
                        "cifar-100-binary", ("train.bin",), ("test.bin",), 2, 1, 100,
                        "fine_label_names.txt"),
}
URL = "https://www.cs.toronto.edu/~kriz/"


def detect(data_dir: Path) -> str | None:
    """Which CIFAR variant `data_dir` holds (archive, extracted folder or .bin files), if any."""
    for name, a in ARCHIVES.items():
        if _find(data_dir, a, a.train[0]) is not None or (data_dir / a.archive).is_file():
            return name
    return None


def _find(data_dir: Path, a: Archive, name: str) -> Path | None:
    for p in (data_dir / name, data_dir / a.folder / name):
        if p.exists():
            return p
    return None


def read_records(path: Path, a: Archive) -> tuple[np.ndarray, np.ndarray]:
    """Images [N, 3, 32, 32] and labels [N] of one .bin file, checked."""
    size = regular_file(path).stat().st_size
    record = a.label_bytes + PIXELS
    if size > MAX_BIN_BYTES:
        raise DataError(f"{path}: {size:,} bytes, more than a CIFAR file holds")
    if size == 0 or size % record:
        raise DataError(f"{path}: {size:,} bytes is not a whole number of {record}-byte CIFAR "
                        "records", hint="the file is truncated or not a CIFAR binary file")
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, record)
    labels = raw[:, a.label_at].astype(np.int64)
    if labels.max() >= a.classes:
        bad = int(np.argmax(labels >= a.classes))
        raise DataError(f"{path}: record {bad} has label {labels[bad]}, out of range "
                        f"0-{a.classes - 1}", hint="is this the other CIFAR variant?")
    return raw[:, a.label_bytes:].reshape(-1, 3, 32, 32), labels


def _extract(archive: Path, a: Archive, folder: Path) -> None:
    """Copy the archive's .bin and names files into `folder` (by name; nothing else)."""
    wanted = {f"{a.folder}/{n}": n for n in (*a.train, *a.test, a.names)}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name in wanted and member.isreg() and member.size <= MAX_BIN_BYTES:
                    src = tar.extractfile(member)
                    assert src is not None
                    tmp = folder / f".{wanted[member.name]}.tmp"
                    tmp.write_bytes(src.read())
                    tmp.replace(folder / wanted[member.name])
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise DataError(f"{archive}: cannot read the archive ({exc})",
                        hint="delete it and download it again") from None


def locate(dataset: str, data_dir: Path | None, cache_dir: Path, allow_download: bool,
           fetch: Fetch = _urlretrieve) -> Path:
    """The folder that holds the variant's .bin files (extracting an archive if need be)."""
    a = ARCHIVES[dataset]
    if data_dir is not None:
        if all(_find(data_dir, a, n) for n in (*a.train, *a.test)):
            return data_dir if (data_dir / a.train[0]).exists() else data_dir / a.folder
        if not (data_dir / a.archive).is_file():
            raise DataError(f"{data_dir}: no {dataset} binary files here", hint=f"--data-dir "
                            f"must hold {a.archive}, its folder {a.folder}/, or "
                            + ", ".join((*a.train, *a.test)))
        archive, folder = data_dir / a.archive, cache_dir / dataset
    else:
        folder = cache_dir / dataset
        archive = cached([URL + a.archive], a.archive, a.md5, folder, allow_download, fetch,
                         hint=f"pass --data-dir with {a.archive} or its .bin files")
    if not all((folder / n).exists() for n in (*a.train, *a.test)):
        folder.mkdir(parents=True, exist_ok=True)
        _extract(archive, a, folder)
        missing = [n for n in (*a.train, *a.test) if not (folder / n).exists()]
        if missing:
            raise DataError(f"{archive}: the archive lacks {', '.join(missing)}")
    return folder


def load(dataset: str, data_dir: Path | None, cache_dir: Path, allow_download: bool,
         fetch: Fetch = _urlretrieve) -> tuple[tuple[np.ndarray, np.ndarray],
                                               tuple[np.ndarray, np.ndarray], tuple[str, ...]]:
    """(train images, labels), (test images, labels) and the class names."""
    a = ARCHIVES[dataset]
    folder = locate(dataset, data_dir, cache_dir, allow_download, fetch)
    parts = []
    for names in (a.train, a.test):
        chunks = [read_records(folder / n, a) for n in names]
        parts.append((np.concatenate([c[0] for c in chunks]),
                      np.concatenate([c[1] for c in chunks])))
    return parts[0], parts[1], _class_names(folder / a.names, a.classes)


def _class_names(path: Path, classes: int) -> tuple[str, ...]:
    try:
        small = regular_file(path).stat().st_size < 1 << 20
        names = path.read_text(errors="replace").split() if small else []
    except DataError:
        names = []
    return tuple(names) if len(names) == classes else tuple(str(i) for i in range(classes))
