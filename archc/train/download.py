"""Data files: official downloads verified by MD5 into the cache, and bounded reads of files
that must be regular files (a data path naming a FIFO or /dev/zero must not hang archc)."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from archc.train.config import TrainError

Fetch = Callable[[str, Path], None]


class DataError(TrainError):
    """A data file that is missing, corrupt or fails its checksum."""


def default_cache_dir() -> Path:
    """Where downloads go: $ARCHC_CACHE, else $XDG_CACHE_HOME/archc, else ~/.cache/archc."""
    if os.environ.get("ARCHC_CACHE"):
        return Path(os.environ["ARCHC_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "archc"


def regular_file(path: Path) -> Path:
    """`path` if it names a regular file (through symlinks); a DataError otherwise."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise DataError(f"{path}: not a regular file", hint="data files must be plain files")
    return path


def md5sum(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with regular_file(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _urlretrieve(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url, timeout=60) as response, dest.open("wb") as out:
        while block := response.read(1 << 20):
            out.write(block)


def download(urls: Sequence[str], name: str, expected: str, folder: Path,
             fetch: Fetch = _urlretrieve, hint: str = "check the network") -> Path:
    """Download `name` into `folder`, trying each URL; keep it only if its MD5 matches the
    published one. The file appears under its name only once verified."""
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            fetch(url, tmp)
            got = md5sum(tmp)
            if got != expected:
                failures.append(f"{url}: checksum mismatch (md5 {got}, expected {expected})")
                continue
            os.replace(tmp, folder / name)
            return folder / name
        except OSError as exc:
            failures.append(f"{url}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError(f"could not download {name}: " + "; ".join(failures), hint=hint)


def cached(urls: Sequence[str], name: str, expected: str, folder: Path, allow_download: bool,
           fetch: Fetch = _urlretrieve, hint: str = "") -> Path:
    """`folder/name`, verified; a corrupt or partial earlier download is fetched again."""
    path = folder / name
    if path.exists() and md5sum(path) != expected:
        path.unlink()
    if not path.exists():
        if not allow_download:
            raise DataError(f"{path}: file not found",
                            hint="drop --no-download" + (f", or {hint}" if hint else ""))
        download(urls, name, expected, folder, fetch, hint=hint or "check the network")
    return path
