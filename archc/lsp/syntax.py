"""Language server, text that may not parse: the compiler's own lexer (grammar/archc.lark) run
over a half-typed file, for what needs the text as it is now: the definitions' extents, the
call and argument under the cursor (completion, signature help), the word at a position."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from lark import Token
from lark.exceptions import UnexpectedCharacters

from archc.front.parse import parser

MAX_BAD_CHARS = 64  # characters outside the language are blanked, then lexing gives up


@lru_cache(maxsize=1)
def keywords() -> frozenset[str]:
    """The language's keywords, read from the grammar's terminals."""
    return frozenset(str(t.pattern.value) for t in parser().terminals
                     if t.pattern.type == "str" and str(t.pattern.value).isalpha())


@lru_cache(maxsize=1)
def _no_token_here() -> re.Pattern[str]:
    """Matches any of the lexer's own terminals, else one character that starts none."""
    terminals = sorted(parser().terminals, key=lambda t: -t.priority)
    alternatives = [f"(?:{t.pattern.to_regexp()})" for t in terminals]
    return re.compile("|".join([*alternatives, "(?P<stray>.)"]), re.S)


def _blank_strays(text: str) -> str:
    """Each character no token can start (`@`, a lone `"`, `é` outside a comment or string)
    becomes a space, keeping every position: one pass instead of one lexing per stray."""
    return _no_token_here().sub(lambda m: " " if m.group("stray") is not None else m[0], text)


def tokens(text: str) -> list[Token]:
    """Every token of `text`; characters the lexer rejects (a lone `"`, `@`) are skipped, so a
    half-typed file still lexes."""
    text = _blank_strays(text)
    for _ in range(MAX_BAD_CHARS):  # what the blanking missed (`!` or `.` alone)
        out: list[Token] = []
        try:
            out.extend(parser().lex(text))
            return out
        except UnexpectedCharacters as exc:  # blank the character, keeping every position
            pos = exc.pos_in_stream or 0
            text = text[:pos] + " " + text[pos + 1:]
    return out


def start(tok: Token) -> tuple[int, int]:
    """A token's first character, 0-based (line, column); the lexer always sets both."""
    return (tok.line or 1) - 1, (tok.column or 1) - 1


def end(tok: Token) -> tuple[int, int]:
    """Just after a token's last character, 0-based (line, column)."""
    return (tok.end_line or 1) - 1, (tok.end_column or 1) - 1


def _before(tok: Token, line: int, col: int) -> bool:
    """The token ends at or before the 0-based (line, col)."""
    return end(tok) <= (line, col)


# ----------------------------------------------------------------------------- outline


@dataclass
class Outline:
    """One `network` or `block` as written: where it starts and ends, its parameters and the
    loop variables in its body (0-based lines and columns)."""

    kind: str
    name: str
    name_token: Token
    start: tuple[int, int]
    end: tuple[int, int]
    params: list[str] = field(default_factory=list)
    loop_vars: list[str] = field(default_factory=list)

    def contains(self, line: int, col: int) -> bool:
        return self.start <= (line, col) <= self.end


def outline(toks: list[Token]) -> list[Outline]:
    """The top-level definitions, by their keywords and braces; an unclosed one runs to the
    next definition or the end of the file."""
    out: list[Outline] = []
    starts = [i for i, t in enumerate(toks) if t.type in ("NETWORK", "BLOCK")
              and i + 1 < len(toks) and toks[i + 1].type == "NAME"]
    for n, i in enumerate(starts):
        stop = starts[n + 1] if n + 1 < len(starts) else len(toks)
        body = toks[i:stop]
        end_tok = _closing(body) or body[-1]
        kw = toks[i]
        item = Outline(kw.type.lower(), str(toks[i + 1]), toks[i + 1], start(kw), end(end_tok))
        item.params = _header_params(body[2:])
        item.loop_vars = [str(body[j + 1]) for j in range(len(body) - 1)
                          if body[j].type == "FOR" and body[j + 1].type == "NAME"]
        out.append(item)
    return out


def _closing(body: list[Token]) -> Token | None:
    """The `}` closing the first `{` of a definition."""
    depth = 0
    for tok in body:
        if tok.type == "LBRACE":
            depth += 1
        elif tok.type == "RBRACE":
            depth -= 1
            if depth == 0:
                return tok
    return None


def _header_params(toks: list[Token]) -> list[str]:
    """`(c, mid=c // 4, k=3)` -> ['c', 'mid', 'k']: names at depth 1 outside default values."""
    if not toks or toks[0].type != "LPAR":
        return []
    names, depth, in_default = [], 0, False
    for tok in toks:
        if tok.type == "LPAR":
            depth += 1
        elif tok.type == "RPAR":
            depth -= 1
            if depth == 0:
                break
        elif depth == 1 and tok.type == "COMMA":
            in_default = False
        elif depth == 1 and tok.type == "EQUAL":
            in_default = True
        elif depth == 1 and tok.type == "NAME" and not in_default:
            names.append(str(tok))
        elif tok.type == "LBRACE":
            break
    return names


# ----------------------------------------------------------------------------- the cursor


@dataclass
class CallContext:
    """The call whose parentheses hold the cursor: `conv(64, k=3, |`."""

    callee: str
    index: int  # 0-based position of the argument being typed
    keyword: str | None  # the keyword of the argument being typed (`k=|`), if any
    given: list[str]  # keywords already written


def call_at(toks: list[Token], line: int, col: int) -> CallContext | None:
    """The innermost unclosed `name(` before the cursor, unless the cursor is in an
    expression's own parentheses or a definition's header."""
    before = [t for t in toks if _before(t, line, col)]
    stack: list[int] = []
    for i, tok in enumerate(before):
        if tok.type == "LPAR":
            stack.append(i)
        elif tok.type == "RPAR" and stack:
            stack.pop()
        elif tok.type in ("LBRACE", "RBRACE"):
            stack.clear()  # a call's arguments never contain a body
    if not stack:
        return None
    open_at = stack[-1]
    if open_at == 0 or before[open_at - 1].type != "NAME":
        return None
    if open_at >= 2 and before[open_at - 2].type in ("NETWORK", "BLOCK"):
        return None
    return _arguments(str(before[open_at - 1]), before[open_at + 1:])


def _arguments(callee: str, args: list[Token]) -> CallContext:
    index, depth, keyword, given = 0, 0, None, []
    for j, tok in enumerate(args):
        if tok.type == "LPAR":
            depth += 1
        elif tok.type == "RPAR":
            depth -= 1
        elif depth == 0 and tok.type == "COMMA":
            index, keyword = index + 1, None
        elif depth == 0 and tok.type == "EQUAL" and j and args[j - 1].type == "NAME":
            keyword = str(args[j - 1])
            given.append(keyword)
    return CallContext(callee, index, keyword, given)


def word_at(line_text: str, col: int) -> tuple[int, int]:
    """The start and end (0-based columns) of the name touching `col`."""
    start = col
    while start > 0 and (line_text[start - 1].isalnum() or line_text[start - 1] == "_"):
        start -= 1
    end = col
    while end < len(line_text) and (line_text[end].isalnum() or line_text[end] == "_"):
        end += 1
    return start, end
