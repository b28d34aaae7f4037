
"""Diagnostics: the root ArchcError, its kinds, and compiler-style rendering.

Every error carries a source span, a message and an optional hint; `render` prints it as
`path:line:col: error: message`, the source line, a caret, then `hint: ...`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from .limits import MAX_ERRORS, MAX_SHOWN


@dataclass(frozen=True)
class Span:
    """A region of a spec file; lines and columns are 1-based, end exclusive."""

    path: str
    line: int
    col: int
    end_line: int = 0
    end_col: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


class ArchcError(Exception):
    """Root of every error archc reports to a user."""

    kind = "error"
    # The texts that were parsed (an archc.sources.SourceStore); loading attaches it, so every
    # command renders the source line from what it read.
    sources: Mapping[str, str] | None = None

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"


class SyntaxError_(ArchcError):
    """The text is not in the language."""


class NameError_(ArchcError):
    """An unknown layer, block, parameter, argument or file."""


class ArgumentError(ArchcError):
    """A layer or block call with wrong arity, type or range."""


class ShapeError(ArchcError):
    """A layer cannot accept the shape that reaches it."""


class RecursionError_(ArchcError):
    """A block calls itself, directly or through others."""


class LimitError(ArchcError):
    """A spec asks for more work than archc allows (repetition, depth, size)."""


class ImportError_(ArchcError):
    """A `use` path that cannot or may not be read."""


class UsageError(ArchcError):
    """Bad command-line input (exit code 2)."""




def too_many_errors(span: Span | None) -> LimitError:
    return LimitError(f"too many errors (more than {MAX_ERRORS}); stopping here", span,
                      "fix these first")


class ArchcErrors(ArchcError):
    """Several errors collected from one file (what `archc check` reports)."""

    def __init__(self, errors: Iterable[ArchcError]):
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.message, first.span, first.hint)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def did_you_mean(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """A `did you mean 'x'?` hint for an unknown name, or None."""
    import difflib  # only on the error path

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=cutoff)
    return f"did you mean '{close[0]}'?" if close else None



# The lexer ends a line at "\n" only; str.splitlines also breaks at these (CR, VT, FF, FS, GS,
# RS, NEL, LS, PS), so a comment holding one would shift every later line number. Shown, each
# such character (and a tab) is one space: columns count characters, and a caret stays aligned.
_SHOWN_AS_SPACE = str.maketrans({c: " " for c in "\t\v\f\r\x1c\x1d\x1e\x85\u2028\u2029"})


@lru_cache(maxsize=4)
def _lines(text: str) -> list[str]:
    # Cached: `check` renders every error of a file, and splitting a 1 MB file for each of
    # thousands of errors took minutes (fuzzing found it). A str caches its own hash.
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def render(error: ArchcError, sources: Mapping[str, str] | None = None) -> str:
    """Format one error like a compiler: location, message, source line, caret, hint."""
    span = error.span
    lines = [f"{span}: {error.kind}: {error.message}" if span else f"{error.kind}: {error.message}"]
    text = sources.get(span.path) if span and sources is not None else None
    if span and text is not None:
        src_lines = _lines(text)
        if 1 <= span.line <= len(src_lines):
            src = src_lines[span.line - 1].translate(_SHOWN_AS_SPACE)
            col, width = span.col, 1
            if span.end_line == span.line and span.end_col > span.col:
                width = span.end_col - span.col
            if len(src) > MAX_SHOWN:  # a window around the caret, not a 1 MB line per error
                start = max(0, col - 1 - MAX_SHOWN // 2)
                src = ("..." if start else "") + src[start:start + MAX_SHOWN] + "..."
                col -= start - (3 if start else 0)
                width = min(width, MAX_SHOWN)
            lines.append(f"  {src}")
            lines.append("  " + " " * (col - 1) + "^" + "~" * (width - 1))
    if error.hint:
        lines.append(f"  hint: {error.hint}")
    return "\n".join(lines)
