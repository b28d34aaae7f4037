"""Stage 1, after a syntax error: parse what can be parsed and report every syntax error
(Lark's exceptions as located errors: `syntax_error`, for the whole-file parse too).

The file is cut before each `network`, `block` and `use` that starts an item (keywords cannot
appear inside a definition, so each piece holds at most one top-level item) and each piece is
parsed on its own: a broken definition yields one error, the others their AST. A piece that
ends inside an open `{` or `(` is reported at that bracket, not where the parser ran out of
text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from archc.core import codes
from archc.core.errors import ArchcError, Note, Span, SyntaxError_
from archc.core.limits import MAX_ERRORS
from archc.front import tree

if TYPE_CHECKING:  # Lark is imported where a piece failed to parse, not before
    from lark import Token, Tree, UnexpectedInput

# parse_piece(piece_text, path, line, col): the AST of one piece (archc/front/parse.py)
ParsePiece = Callable[[str, str, int, int], tree.Module]

# A comment, a string, a bracket, or a keyword that starts a top-level item: `network NAME {`,
# `block NAME (`, `use "PATH"`, `requires "NAME"` (a stray keyword, like a label `block:`,
# stays in its piece and is reported where it stands).
_SCAN = re.compile(r'#[^\n]*|"[^"\n]*"|(?P<bracket>[{}()])'
                   r'|\b(?P<kw>(?:network|block)(?=\s+[A-Za-z_]\w*\s*[({])'
                   r'|(?:use|requires)(?=\s*"[^"\n]*"))')
_HEAD = re.compile(r"\s*(?:network|block)\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)")
_CLOSE = {"}": "{", ")": "("}


def pieces(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets: the text before the first keyword, then one piece per keyword."""
    starts = [0] + [m.start() for m in _SCAN.finditer(text) if m["kw"] and m.start() > 0]
    return list(zip(starts, [*starts[1:], len(text)], strict=True))


def parse_pieces(text: str, path: str, parse_piece: ParsePiece
                 ) -> tuple[tree.Module, list[ArchcError]]:
    """Parse each piece with `parse_piece(piece_text, path, line, col) -> ast.Module` (which
    raises UnexpectedInput with positions relative to the piece); collect definitions, uses,
    the errors and the names of the definitions that did not parse."""
    uses: list[tree.Use] = []
    requires: list[tree.Requires] = []
    defs: list[tree.Definition] = []
    broken: list[str] = []
    errors: list[ArchcError] = []
    line = 1
    for start, end in pieces(text):
        col = start - (text.rfind("\n", 0, start) + 1) + 1
        piece = text[start:end]
        try:
            module = parse_piece(piece, path, line, col)
        except ArchcError as exc:  # a limit of the parse tree, within this piece
            errors.append(exc)
        except Exception as exc:
            from lark import UnexpectedInput

            if not isinstance(exc, UnexpectedInput):
                raise
            nxt = _SCAN.match(text, end)
            following = nxt["kw"] if nxt else None
            errors.append(_piece_error(exc, piece, path, (line, col), following))
            errors += _more_errors(exc, piece, path, (line, col), following, parse_piece)
            head = _HEAD.match(piece)
            if head:
                broken.append(head["name"])
        else:
            uses += module.uses
            requires += module.requires
            defs += module.definitions
        if len(errors) >= MAX_ERRORS:
            break
        line += piece.count("\n")  # counted piece by piece: linear in the file's size
    return tree.Module(path, tuple(uses), tuple(defs), tuple(broken), tuple(requires)), errors


MAX_RESUMES = 20  # further syntax errors looked for in one definition


def _more_errors(exc: UnexpectedInput, piece: str, path: str, where: tuple[int, int],
                 following: str | None, parse_piece: ParsePiece) -> list[ArchcError]:
    """The syntax errors after the first in one definition: the line that broke (the line of
    a '(' left open, else the line of the error) is blanked and the piece parsed again, as
    long as each error lies past the last (two on one line are two: `relu,,`) and the blanked
    line holds no brace (blanking a `{` or `}` would make errors of its own)."""
    from lark import UnexpectedInput

    found: list[ArchcError] = []
    last = -1
    for _ in range(MAX_RESUMES):
        if _at_end(exc):
            return found
        offset = _offset(piece, exc)
        stack = _open_brackets(piece, offset)
        at = piece.count("\n", 0, offset) + 1
        bad = stack[-1][1] if stack and stack[-1][0] == "(" else at
        lines = piece.split("\n")
        if offset <= last or bad < 1 or re.search(r"[{}]", _code_of(lines[bad - 1])):
            return found
        last = offset
        lines[bad - 1] = " " * len(lines[bad - 1])
        piece = "\n".join(lines)
        try:
            parse_piece(piece, path, *where)
            return found
        except UnexpectedInput as again:
            exc = again
            if not _at_end(exc):
                found.append(_piece_error(exc, piece, path, where, following))
        except ArchcError:
            return found
    return found


def _at_end(exc: UnexpectedInput) -> bool:
    """Lark's parser ran out of text."""
    from lark.exceptions import UnexpectedEOF, UnexpectedToken

    return isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END")


def _code_of(line: str) -> str:
    """A line without its comment and strings (where braces mean nothing)."""
    return re.sub(r'"[^"\n]*"', "", line.split("#", 1)[0])


def shift_tokens(parsed: Tree, line: int, col: int) -> None:
    """Move the tokens of a piece's parse tree to where the piece starts in the file (the
    AST's spans come from token positions)."""
    from lark import Token, Tree

    if line == 1 and col == 1:
        return
    stack = [parsed]  # not Tree.scan_values, which recurses: a tree can be thousands deep here
    while stack:
        node = stack.pop()
        for child in node.children:
            if isinstance(child, Tree):
                stack.append(child)
            elif isinstance(child, Token):
                _shift(child, line, col)


def _shift(tok: Token, line: int, col: int) -> None:
    if tok.line == 1:
        tok.column = (tok.column or 1) + col - 1
    if tok.end_line == 1:
        tok.end_column = (tok.end_column or 1) + col - 1
    tok.line = (tok.line or 1) + line - 1
    tok.end_line = (tok.end_line or 1) + line - 1


def _at(span: Span, line: int, col: int) -> Span:
    """A span within a piece, moved to where the piece starts (line, col) in the file."""
    def move(ln: int, c: int) -> tuple[int, int]:
        return ln + line - 1, (c + col - 1 if ln == 1 else c)
    start = move(span.line, span.col)
    end = move(span.end_line, span.end_col) if span.end_line else (0, 0)
    return Span(span.path, *start, *end)


def _piece_error(exc: UnexpectedInput, piece: str, path: str, where: tuple[int, int],
                 following: str | None) -> ArchcError:
    """The error of one piece, in file coordinates. At the piece's end: an open bracket is the
    error; else, when a keyword (`following`) starts the next piece, that keyword is
    unexpected, as the whole-file parser says."""
    ends = _at_end(exc)
    stack = _open_brackets(piece, len(piece) if ends else _offset(piece, exc))
    if ends and stack:
        return _unclosed(stack, piece, path, where, following is not None)
    if ends and following:
        line = piece.count("\n") + 1
        col = len(piece) - (piece.rfind("\n") + 1) + 1
        span = _at(Span(path, line, col, line, col + len(following)), *where)
        expected = expected_hint(getattr(exc, "expected", None))
        return SyntaxError_(f"unexpected {following!r}", span, expected)
    err = syntax_error(exc, piece, path)
    if err.span is not None:
        err.span = _at(err.span, *where)
        if stack and stack[-1][0] == "(" and stack[-1][1] < err.span.line - where[0] + 1:
            _, ln, c = stack[-1]
            err.labels = (Note(_at(Span(path, ln, c, ln, c + 1), *where),
                               "the '(' opened here is not closed"),)
    return err


def _offset(piece: str, exc: UnexpectedInput) -> int:
    from lark.exceptions import UnexpectedToken

    pos = getattr(exc, "pos_in_stream", None)
    if pos is None and isinstance(exc, UnexpectedToken):
        pos = exc.token.start_pos
    return len(piece) if pos is None else pos


def _brackets(text: str, stop: int) -> Iterator[tuple[str, int, int]]:
    """Every bracket before offset `stop`, outside comments and strings: (bracket, line, col)."""
    line, line_start, pos = 1, 0, 0
    for m in _SCAN.finditer(text, 0, stop):
        b = m["bracket"]
        if b is None:
            continue
        newlines = text.count("\n", pos, m.start())  # only since the last bracket: linear
        if newlines:
            line += newlines
            line_start = text.rfind("\n", pos, m.start()) + 1
        pos = m.start()
        yield b, line, pos - line_start + 1


def _open_brackets(text: str, stop: int) -> list[tuple[str, int, int]]:
    """The brackets still open at offset `stop`: (bracket, line, col), outermost first."""
    stack: list[tuple[str, int, int]] = []
    for b, line, col in _brackets(text, stop):
        if b in "{(":
            stack.append((b, line, col))
        elif stack and stack[-1][0] == _CLOSE[b]:
            stack.pop()
    return stack


def _unclosed(stack: list[tuple[str, int, int]], piece: str, path: str, where: tuple[int, int],
              more: bool) -> ArchcError:
    bracket, line, col = stack[-1]
    span = _at(Span(path, line, col, line, col + 1), *where)
    closer = "}" if bracket == "{" else ")"
    before = "the next definition" if more else "the end of the file"
    return SyntaxError_(f"'{bracket}' is never closed", span,
                        f"add the '{closer}' that closes it, before {before}",
                        code=codes.UNCLOSED, labels=tuple(_suspects(piece, path, where, span)))


def _suspects(piece: str, path: str, where: tuple[int, int], primary: Span) -> Iterator[Note]:
    """Braces whose `}` is indented less than the line that opened them: the `}` most likely
    closes an outer brace, and this one lacks its own (rustc's "this delimiter might not be
    properly closed")."""
    stack: list[tuple[int, int]] = []  # line, col of each open '{'
    lines = piece.split("\n")
    for b, line, col in _brackets(piece, len(piece)):
        if b == "{":
            stack.append((line, col))
        elif b == "}" and stack:
            oline, ocol = stack.pop()
            opener = lines[oline - 1]
            indent = len(opener) - len(opener.lstrip())
            if line > oline and col - 1 < indent:
                span = _at(Span(path, oline, ocol, oline, ocol + 1), *where)
                if span != primary:
                    yield Note(span, f"this '{{' may be the one not closed: the '}}' on line "
                                     f"{line + where[0] - 1} is indented less than its line")


# How terminals read in "expected ..." messages.
TERMINAL_WORDS = {
    "NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": "a string",
    "SHAPE": "a shape like 3x32x32", "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('",
    "RPAR": "')'", "COMMA": "','", "COLON": "':'", "EQUAL": "'='", "STAR": "'*'",
    "VBAR": "'|'", "$END": "end of file",
}


def syntax_error(exc: UnexpectedInput, text: str, path: str) -> SyntaxError_:
    """Lark's exception as archc's located syntax error (whole-file parses and pieces alike)."""
    from lark import UnexpectedCharacters

    line, col = max(exc.line, 1), max(exc.column, 1)
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        char = text[pos] if pos is not None and pos < len(text) else "?"
        return SyntaxError_(f"unexpected character {char!r}", Span(path, line, col),
                            code=codes.BAD_CHARACTER)
    if _at_end(exc):
        # Lark places the end at the last token; point just after it, not at trailing comments.
        last = getattr(exc, "token", None)
        if last is not None and getattr(last, "line", None):
            line, col = last.line, last.column + 1
        return SyntaxError_("unexpected end of file", Span(path, line, col),
                            expected_hint(getattr(exc, "expected", None)),
                            code=codes.UNEXPECTED_EOF)
    token = getattr(exc, "token", "")
    span = Span(path, line, col, line, col + len(str(token)))
    return SyntaxError_(f"unexpected {str(token)!r}", span,
                        expected_hint(getattr(exc, "expected", None)))


def expected_hint(expected: Iterable[str] | None) -> str | None:
    """`expected a name, '{'`: Lark's expected terminals in words (none if too many)."""
    words = sorted({TERMINAL_WORDS.get(t, f"'{t.lower()}'") for t in expected or ()})
    if not words or len(words) > 8:
        return None
    return "expected " + ", ".join(words)
