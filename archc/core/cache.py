"""The check cache (a service of `archc check`, as ruff's cache is of `ruff check`): a file that
checked clean is remembered by the hash of its text, of every file it `use`s, of the options,
and of archc itself, so checking it again unchanged skips parsing, expansion and even importing
the compiler (the op registry, pydantic, lark): the inner loop of `archc check specs/*.arch`.

Only clean results are kept (an error is always computed afresh, so it is rendered from the
text as it is). The folder is $ARCHC_CACHE_DIR, else $XDG_CACHE_HOME/archc, else
~/.cache/archc; ARCHC_NO_CACHE=1 or `archc check --no-cache` turns it off. A cache that cannot
be read or written is ignored: it never changes what check reports.

The same folder keeps what archc makes of its own sources (`load_compiled`, `store_compiled`:
the prelude parsed and checked), as Python keeps bytecode and Lark its parse tables: keyed by
archc's fingerprint alone, so `--no-cache` (which concerns the files checked) leaves it on;
ARCHC_NO_CACHE=1 turns it off too.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from archc.core.limits import MAX_FILE_BYTES

_PACKAGE = Path(__file__).resolve().parent.parent  # archc/
_SOURCE_SUFFIXES = (".py", ".lark", ".arch")


_DISABLED: list[str] = []  # why this process does not use the cache (a plugin is loaded)


def enabled() -> bool:
    return not _DISABLED and _allowed()


def _allowed() -> bool:
    return os.environ.get("ARCHC_NO_CACHE", "") in ("", "0")


def enable() -> None:
    """Usable again (each command decides anew, as a test runs several in one process)."""
    _DISABLED.clear()


def disable(reason: str) -> None:
    """Not for this process: what a loaded plugin's ops accept is the plugin's code, which the
    cache's key does not cover."""
    _DISABLED.append(reason)


def folder() -> Path:
    if os.environ.get("ARCHC_CACHE_DIR"):
        return Path(os.environ["ARCHC_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "archc"


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """archc itself: its version and every source file's name, size and mtime (an edited
    checkout, an upgrade, another grammar or prelude each give another fingerprint)."""
    from archc import __version__
    from archc.core.resources import _data_dir

    h = hashlib.sha256(__version__.encode())
    for root in (_PACKAGE, _data_dir("grammar")):
        for name, size, mtime in sorted(_sources(str(root))):
            h.update(f"{name}:{size}:{mtime}\n".encode())
    return h.hexdigest()


def _sources(root: str) -> Iterable[tuple[str, int, int]]:
    """(path under `root` with '/', size, mtime in ns) of each source file below `root`, not
    in __pycache__ (os.scandir: a Path per entry, as rglob makes, was most of the time)."""
    found, folders = [], [(root, "")]
    while folders:
        folder, prefix = folders.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        folders.append((entry.path, f"{prefix}{entry.name}/"))
                elif entry.name.endswith(_SOURCE_SUFFIXES):
                    st = entry.stat()
                    found.append((prefix + entry.name, st.st_size, st.st_mtime_ns))
    return found


def _digest(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError):
        return None
    return hashlib.sha256(data).hexdigest()


def _key(path: Path, overrides: Mapping[str, Any], input_shape: Any) -> str | None:
    text = _digest(path)
    if text is None:
        return None
    options = json.dumps([sorted(overrides.items()), input_shape], default=repr)
    whole = f"{fingerprint()}\n{path.resolve()}\n{text}\n{options}"
    return hashlib.sha256(whole.encode()).hexdigest()


def lookup(path: Path, overrides: Mapping[str, Any], input_shape: Any) -> list[str] | None:
    """The networks of a file that checked clean with these options and has not changed since
    (nor has any file it uses); None when it must be checked."""
    if not enabled():
        return None
    key = _key(path, overrides, input_shape)
    if key is None:
        return None
    try:
        entry = json.loads((folder() / key[:2] / f"{key}.json").read_text(encoding="utf-8"))
        uses = entry["uses"]
        networks = entry["networks"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not all(_digest(Path(p)) == h for p, h in uses):
        return None
    return [str(n) for n in networks]


def store(path: Path, overrides: Mapping[str, Any], input_shape: Any,
          used: Iterable[Path], networks: Iterable[str]) -> None:
    """Remember that `path` checked clean (with the files it `used`), atomically."""
    if not enabled():
        return
    key = _key(path, overrides, input_shape)
    if key is None:
        return
    entry = {"file": str(path), "networks": list(networks),
             "uses": [[str(p.resolve()), _digest(p)] for p in used]}
    write(folder() / key[:2] / f"{key}.json", entry)


def write(path: Path, data: Any) -> None:
    """A cache file as JSON, atomically (archc/core/atomic.py); a cache that cannot be written is
    not an error."""
    from archc.core.atomic import atomic_write_bytes

    try:
        atomic_write_bytes(path, json.dumps(data).encode())
    except OSError:
        pass


def _compiled_path(name: str) -> Path:
    return folder() / "compiled" / f"{name}-{fingerprint()}.pickle"


def load_compiled(name: str) -> Any | None:
    """What `store_compiled(name, ...)` kept for this very archc (its fingerprint); None when
    there is none, or it cannot be read."""
    if not _allowed():
        return None
    try:
        with _compiled_path(name).open("rb") as f:
            return pickle.load(f)
    except Exception:  # missing, truncated, from another Python: made afresh instead
        return None


COMPILED_KEPT = 8  # versions of archc whose copies stay (checkouts side by side share a folder)


def store_compiled(name: str, value: Any) -> None:
    """Keep `value`, made by archc from its own sources alone, for the next process (with the
    copies of the last COMPILED_KEPT versions, the older removed); nothing when the folder
    cannot be written."""
    if not _allowed():
        return
    path = _compiled_path(name)
    from archc.core.atomic import atomic_write_bytes

    try:
        atomic_write_bytes(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        copies = sorted(path.parent.glob(f"{name}-*.pickle"), key=_age)
        for old in copies[COMPILED_KEPT:]:
            old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError):
        pass


def _age(path: Path) -> int:
    """Newest first (a copy removed meanwhile by another process: last)."""
    try:
        return -path.stat().st_mtime_ns
    except OSError:
        return 0
