
"""Diagnostics: the root ArchcError, its kinds, and compiler-style rendering.

Every error carries a stable code, a primary span, a message, an optional hint, secondary
labels and call-site notes; `render` prints it as `path:line:col: error[A0201]: message`, the
source line, a caret, its labels and notes (each with its source line), then `hint: ...`.
"""

from __future__ import annotations

import copy as _copy
from collections.abc import Iterable, Mapping
from functools import lru_cache

from archc.core.codes import SYNTAX, TOO_MANY_ERRORS
from archc.core.limits import MAX_ERRORS, MAX_SHOWN
from archc.core.records import record


@record
class Span:
    """A region of a spec file; lines and columns are 1-based, end exclusive."""

    path: str
    line: int
    col: int
    end_line: int = 0
    end_col: int = 0

    def __init__(self, path: str, line: int, col: int, end_line: int = 0,
                 end_col: int = 0) -> None:
        # Frozen, its fields filled as dataclass's own __init__ does but without a call of
        # object.__setattr__ each: half the time, for the ~21,000 spans of a check of the
        # bundled specs (and every span a language-server edit moves).
        fill = self.__dict__
        fill["path"], fill["line"], fill["col"] = path, line, col
        fill["end_line"], fill["end_col"] = end_line, end_col

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@record
class Note:
    """A location related to a diagnostic, with what it has to do with it.

    In `ArchcError.labels`: a secondary span of the same problem (a join's branch and the shape
    it ends in, the argument at fault), shown under its source line; a label on the primary
    span itself is the primary caret's text. In `ArchcError.notes`: the call chain, one call per
    note (`in residual(16), called here`), innermost first, outermost last (rustc's `note: in
    this expansion of`). An editor shows both as related locations (LSP relatedInformation).
    """

    span: Span
    message: str


class ArchcError(Exception):
    """Root of every error archc reports to a user.

    `code` is the diagnostic kind's stable code (`A0201`; archc/core/codes.py, `archc explain`),
    `span` the primary location: where the error happens, which may lie inside a block body;
    `notes` say which calls led there. `located_for_user` / `located_for_ci` move the primary
    location to the user's own line for display.
    """

    severity = "error"
    # The texts that were parsed (an archc.core.sources.SourceStore); loading attaches it, so every
    # command renders the source line from what it read.
    sources: Mapping[str, str] | None = None
    default_code: str | None = None

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None, *,
                 code: str | None = None, labels: Iterable[Note] = (),
                 notes: Iterable[Note] = ()):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.code = code or self.default_code
        self.labels: tuple[Note, ...] = tuple(labels)
        self.notes: tuple[Note, ...] = tuple(notes)

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"


class SyntaxError_(ArchcError):
    """The text is not in the language."""

    default_code = SYNTAX


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


class ArchcWarning(ArchcError):
    """Something legal that is probably a mistake (a tap never read): reported with its code,
    but the network builds and `archc check` exits 0 for it alone."""

    severity = "warning"


class UsageError(ArchcError):
    """Bad command-line input (exit code 2)."""


def too_many_errors(span: Span | None) -> LimitError:
    return LimitError(f"too many errors (more than {MAX_ERRORS}); stopping here", span,
                      "fix these first", code=TOO_MANY_ERRORS)


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
    """Format one error like a compiler: location, `error[code]: message`, the source line and a
    caret (labels on that line marked under it), the other labels and the call-site notes each
    with its source line, then the hint. The location is the user's own line
    (`located_for_user`): an error inside the prelude is shown at the call that reached it."""
    error = located_for_user(error)
    span, sources = error.span, sources if sources is not None else {}
    code = f"[{error.code}]" if error.code else ""
    head = f"{error.severity}{code}: {error.message}"
    lines = [f"{span}: {head}" if span else head]
    if span is not None:
        same = [lb for lb in error.labels if _same_line(lb.span, span)]
        primary = next((lb.message for lb in same if lb.span == span), "")
        lines += _snippet(sources, span, "^", primary, "  ")
        for lb in same:
            if lb.span != span:
                lines += _snippet(sources, lb.span, "-", lb.message, "  ")[1:]
    for lb in error.labels:
        if span is None or not _same_line(lb.span, span):
            lines.append(f"  {lb.span}: {lb.message}")
            lines += _snippet(sources, lb.span, "-", "", "    ")
    for note in error.notes:
        lines.append(f"  {note.span}: note: {note.message}")
        lines += _snippet(sources, note.span, "^", "", "    ")
    if error.hint:
        lines.append(f"  hint: {error.hint}")
    return "\n".join(lines)


def _same_line(a: Span, b: Span) -> bool:
    return a.path == b.path and a.line == b.line


def _snippet(sources: Mapping[str, str], span: Span, mark: str, text: str, indent: str
             ) -> list[str]:
    """The source line of `span` and a marker line under it (`^~~~` or `----`, then `text`);
    nothing if the source is unknown."""
    source = sources.get(span.path)
    if source is None:
        return []
    src_lines = _lines(source)
    if not 1 <= span.line <= len(src_lines):
        return []
    src = src_lines[span.line - 1].translate(_SHOWN_AS_SPACE)
    col, width = span.col, 1
    if span.end_line == span.line and span.end_col > span.col:
        width = span.end_col - span.col
    if len(src) > MAX_SHOWN:  # a window around the caret, not a 1 MB line per error
        start = max(0, col - 1 - MAX_SHOWN // 2)
        src = ("..." if start else "") + src[start:start + MAX_SHOWN] + "..."
        col -= start - (3 if start else 0)
        width = min(width, MAX_SHOWN)
    tail = "~" if mark == "^" else mark
    marker = " " * (col - 1) + mark + tail * (width - 1) + (f" {text}" if text else "")
    return [f"{indent}{src}", f"{indent}{marker}"]


# ----------------------------------------------------------------------------- where to show


def _in_user_file(span: Span | None) -> bool:
    """A file the user wrote (not `<prelude>`, `<string>` or another built-in source)."""
    return span is not None and not span.path.startswith("<")


def located_for_user(error: ArchcError) -> ArchcError:
    """The error as a person reads it: if it happens inside code the user did not write (the
    prelude), its primary location moves to the innermost call in a user's file; otherwise the
    error is unchanged (rustc's choice for macros from another crate)."""
    if _in_user_file(error.span) or not error.notes:
        return error
    for i, note in enumerate(error.notes):
        if _in_user_file(note.span):
            return _moved_to(error, i)
    return error


def located_for_ci(error: ArchcError) -> ArchcError:
    """The error as an annotation on a pull request shows it: at the outermost call (a line of
    the checked spec, which GitHub can place), with the rest of the chain as notes."""
    return _moved_to(error, len(error.notes) - 1) if error.notes else error


def _moved_to(error: ArchcError, i: int) -> ArchcError:
    """A copy whose primary location is the call of note `i`. Each location inside the chain
    becomes a note saying which block it lies in: the error's own span lies in the innermost
    block, the call of note k in the block of note k+1."""
    calls = error.notes
    inside = [_block_of(n) for n in calls]
    moved = [Note(error.span, f"failing here, inside {inside[0]}")] if error.span else []
    moved += [Note(calls[k].span, f"in {inside[k + 1]}, called here") for k in range(i)]
    copy = _copy.copy(error)
    copy.span = calls[i].span
    copy.notes = (*moved, *calls[i + 1:])
    return copy


def _block_of(note: Note) -> str:
    """`residual(16)` from a call note `in residual(16), called here`."""
    return note.message.removeprefix("in ").removesuffix(", called here")


def call_note(span: Span, call: str) -> Note:
    """The note for one call of the chain: `in residual(16), called here`."""
    return Note(span, f"in {call}, called here")
