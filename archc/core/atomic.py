"""Atomic file writes: a crash never leaves a half-written file where a good one was."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from archc.core.errors import UsageError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync it, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would give
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)  # make the rename itself durable


def write_output(path: str | Path, data: bytes) -> None:
    """A command's output file (`-o`), written atomically; a place that cannot be written (a
    folder of that name, a read-only or missing mount) is a UsageError naming it, not an OSError
    traceback."""
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise UsageError(cannot_write(path, exc)) from None


def writable_place(path: str | Path) -> None:
    """Fail early, as `write_output` would fail late: `path` is a folder, or its folder cannot be
    made."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        if not os.access(path.parent, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise UsageError(cannot_write(path, exc)) from None


def cannot_write(path: str | Path, exc: OSError) -> str:
    why = "it is a folder" if Path(path).is_dir() else (exc.strerror or str(exc))
    return f"cannot write '{path}': {why}"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
