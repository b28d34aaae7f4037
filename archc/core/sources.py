"""The source store: every spec text archc read while loading, by the path its diagnostics name.
Diagnostics of every command render from it (the line and caret come from the text that was
parsed, never from the file re-read later, which may have changed). And reading a spec's text
(`read_source`, `decode_source`), which `archc fmt` does without importing the compiler."""

from __future__ import annotations

import stat
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from archc.core import codes
from archc.core.errors import (
    ArchcError,
    ArchcErrors,
    ImportError_,
    LimitError,
    Span,
    render,
)
from archc.core.limits import MAX_FILE_BYTES


class SourceStore(Mapping[str, str]):
    """path -> text; `<prelude>` is always available."""

    def __init__(self, texts: Mapping[str, str] | None = None):
        self._texts: dict[str, str] = dict(texts or {})

    def add(self, path: str, text: str) -> None:
        self._texts[path] = text

    def __getitem__(self, path: str) -> str:
        if path not in self._texts and path == "<prelude>":
            from archc.core.resources import prelude_path

            self._texts[path] = prelude_path().read_text(encoding="utf-8")
        return self._texts[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)

    def render(self, error: ArchcError) -> str:
        return render(error, self)


def sources_of(exc: ArchcError) -> SourceStore:
    """The store an error was raised with (loading attaches it), else an empty one."""
    store = getattr(exc, "sources", None)
    return store if isinstance(store, SourceStore) else SourceStore()


def errors_of(exc: ArchcError) -> list[ArchcError]:
    return list(exc.errors) if isinstance(exc, ArchcErrors) else [exc]


def print_errors(exc: ArchcError, limit: int | None = None, stream: IO[str] | None = None
                 ) -> None:
    """Render diagnostics like a compiler, from the texts the spec was loaded from."""
    store = sources_of(exc)
    for err in errors_of(exc)[:limit]:
        print(store.render(err), file=stream or sys.stderr)


def read_source(path: Path, display: str, span: Span | None = None) -> str:
    """The text of a spec: UTF-8, at most MAX_FILE_BYTES, else a located error."""
    at = span or Span(display, 1, 1)
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise ImportError_(f"'{display}' is a directory, not a spec file", at,
                               code=codes.CANNOT_READ)
        if not stat.S_ISREG(mode):  # a FIFO or a device would block or never end
            raise ImportError_(f"'{display}' is not a regular file", at, code=codes.CANNOT_READ)
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ImportError_(f"cannot read '{display}': {reason}", at,
                           code=codes.CANNOT_READ) from None
    return decode_source(data, display, at)


def decode_source(data: bytes, display: str, at: Span | None = None) -> str:
    """Spec bytes (read up to MAX_FILE_BYTES + 1) as text, with no newline translation (a lone
    CR is a blank to the lexer, not a line break); UTF-8 and the size limit, else a located
    error."""
    if len(data) > MAX_FILE_BYTES:
        raise LimitError(f"'{display}' is more than {MAX_FILE_BYTES} bytes; specs are "
                         "limited to that", at or Span(display, 1, 1), code=codes.TOO_BIG)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ArchcError(f"not UTF-8 text: byte 0x{data[exc.start]:02x}",
                         Span(display, line, col), code=codes.CANNOT_READ) from None
