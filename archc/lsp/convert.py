"""Language server, positions: compiler spans (1-based lines, 1-based columns in characters)
to LSP ranges (0-based, in the client's code units: UTF-16 unless negotiated otherwise), and
file paths to URIs. Used by every feature that answers with a place."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace.position_codec import PositionCodec, ServerTextPosition

from archc.core.errors import Span
from archc.core.resources import prelude_path
from archc.lsp.analysis import PRELUDE


def split_lines(text: str) -> list[str]:
    # Lark counts lines at '\n' only; str.splitlines would also split at '\r', '\x0c', ...
    return text.split("\n")


def _word_end(line: str, col: int) -> int:
    """The end of the name or number starting at `col` (0-based), at least one character."""
    end = col
    while end < len(line) and (line[end].isalnum() or line[end] == "_"):
        end += 1
    return max(end, min(col + 1, len(line)))


class Locator:
    """Converts between compiler spans and LSP places, for open documents and files on disk.

    `open_text(path)` returns an open document's text (or None); other files are read from
    disk once per Locator, so one is made per request.
    """

    def __init__(self, codec: PositionCodec, open_text: Callable[[str], str | None],
                 open_uri: Callable[[str], str | None]):
        self.codec = codec
        self._open_text = open_text
        self._open_uri = open_uri
        self._lines: dict[str, list[str]] = {}
        self._fs: dict[str, str] = {}  # span path -> file (asked once per hint: see position)

    # -- files
    def fs_path(self, path: str) -> str:
        """The file a span's path names (relative paths are relative to the server's cwd)."""
        fs = self._fs.get(path)
        if fs is None:
            fs = self._fs[path] = str(prelude_path()) if path == PRELUDE else os.path.abspath(path)
        return fs

    def uri(self, path: str) -> str:
        fs = self.fs_path(path)
        return self._open_uri(fs) or from_fs_path(fs) or fs

    def lines(self, path: str) -> list[str]:
        fs = self.fs_path(path)
        if fs not in self._lines:
            text = self._open_text(fs)
            if text is None:
                try:
                    text = Path(fs).read_text(encoding="utf-8", errors="replace")
                except OSError:
                    text = ""
            self._lines[fs] = split_lines(text)
        return self._lines[fs]

    # -- places
    def position(self, path: str, line: int, col: int) -> types.Position:
        """0-based line and character column -> client position."""
        lines = self.lines(path)
        if 0 <= line < len(lines) and lines[line][:col].isascii():
            return types.Position(line, min(col, len(lines[line])))  # ASCII: 1 unit per char
        return self.codec.position_to_client_units(lines, ServerTextPosition(line, col))

    def range(self, span: Span) -> types.Range:
        lines = self.lines(span.path)
        line, col = max(span.line - 1, 0), max(span.col - 1, 0)
        if span.end_line:
            end_line, end_col = span.end_line - 1, max(span.end_col - 1, 0)
        else:
            text = lines[line] if line < len(lines) else ""
            end_line, end_col = line, _word_end(text, col)
        return types.Range(self.position(span.path, line, col),
                           self.position(span.path, end_line, end_col))

    def location(self, span: Span) -> types.Location:
        return types.Location(self.uri(span.path), self.range(span))

    def server_position(self, path: str, pos: types.Position) -> tuple[int, int]:
        """Client position -> 0-based line and character column."""
        lines = self.lines(path)
        if not lines:
            return 0, 0
        p = self.codec.position_from_client_units(lines, types.Position(pos.line, pos.character))
        return p.line, p.character


def uri_to_path(uri: str) -> str:
    """The file system path of a document (an unsaved document keeps its URI as its name)."""
    return to_fs_path(uri) or uri
