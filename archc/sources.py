"""The source store: every spec text archc read while loading, by the path its diagnostics name.
Diagnostics of every command render from it (the line and caret come from the text that was
parsed, never from the file re-read later, which may have changed)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import IO

from .errors import ArchcError, ArchcErrors, render


class SourceStore(Mapping[str, str]):
    """path -> text; `<prelude>` is always available."""

    def __init__(self, texts: Mapping[str, str] | None = None):
        self._texts: dict[str, str] = dict(texts or {})

    def add(self, path: str, text: str) -> None:
        self._texts[path] = text

    def __getitem__(self, path: str) -> str:
        if path not in self._texts and path == "<prelude>":
            from .resources import prelude_path

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
