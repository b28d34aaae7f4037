"""Stage 1, text -> parse tree, fast: a piece of a spec lexed by a tight loop over Lark's own
scanner (the grammar's terminals, their priorities and its keyword rule, as Lark compiled them)
and parsed by Lark's own LALR loop, with token positions already where the piece starts in the
file.

Lark's basic lexer spends most of a parse's time per token on what archc does not use (text
slices, lexer states, user callbacks, a line counter object): on the bundled specs it took
0.17 s of a 0.23 s parse. The tree built here is the one Lark builds (tests/test_lexer.py compares
the two on every .arch file of the repository). Anything this loop does not handle, a character
no terminal matches or a syntax error, returns None: the caller parses the piece with Lark's own
lexer, which raises its error as it always did.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lark import Lark, Token, Tree, UnexpectedInput
from lark.lexer import UnlessCallback


class _Tokens:
    """What Lark's LALR loop reads tokens from (its `LexerThread`'s one method)."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens

    def lex(self, parser_state: Any) -> Iterator[Token]:
        return iter(self.tokens)


class FastParser:
    """One Lark parser's scanner, keyword rule and LALR loop, driven without its lexer."""

    def __init__(self, lark: Lark) -> None:
        lexer = lark.parser.lexer
        scanner = lexer.scanner  # builds Lark's keyword callbacks (lexer.callback) too
        self.mres = scanner._mres
        self.ignore = frozenset(lexer.ignore_types)
        self.newline = frozenset(lexer.newline_types)
        self.keywords: dict[str, UnlessCallback] = dict(lexer.callback)
        if any(not isinstance(c, UnlessCallback) for c in self.keywords.values()):
            raise TypeError("only Lark's keyword callbacks are supported")
        if self.ignore & set(self.keywords):
            raise TypeError("an ignored terminal with a callback is not supported")
        self.types: dict[tuple[str, str], str] = {}  # (terminal, text) -> type after keywords
        self.parser = lark.parser.parser.parser  # lark.parsers.lalr_parser._Parser
        (self.start,) = lark.options.start

    def tokens(self, text: str, line: int, col: int) -> list[Token] | None:
        """Every token of `text`, placed as if it started at (line, col); None if some
        character starts no token."""
        out: list[Token] = []
        pos, end = 0, len(text)
        line_start = 1 - col  # the column of offset p on the first line is p - line_start + 1
        mres, ignore, newline, keywords = self.mres, self.ignore, self.newline, self.keywords
        while pos < end:
            for mre in mres:
                m = mre.match(text, pos)
                if m:
                    break
            else:
                return None
            value, kind = m.group(0), m.lastgroup
            assert kind is not None
            stop = m.end()
            first, column = line, pos - line_start + 1
            if kind in newline and "\n" in value:
                line += value.count("\n")
                line_start = pos + value.rindex("\n") + 1
            if kind not in ignore:
                tok = Token(kind, value, pos, first, column, line, stop - line_start + 1, stop)
                if kind in keywords:
                    tok.type = self._keyword(kind, tok)
                out.append(tok)
            pos = stop
        return out

    def _keyword(self, kind: str, tok: Token) -> str:
        key = (kind, str(tok))
        found = self.types.get(key)
        if found is None:
            found = self.types[key] = self.keywords[kind](tok).type
        return found

    def parse(self, text: str, line: int, col: int) -> Tree | None:
        """The parse tree of `text` (tokens placed from (line, col)); None where Lark's own
        parse must say what is wrong."""
        tokens = self.tokens(text, line, col)
        if tokens is None:
            return None
        try:
            parsed: Tree = self.parser.parse(_Tokens(tokens), self.start)
        except UnexpectedInput:
            return None
        return parsed


def fast_parser(lark: Lark) -> FastParser | None:
    """The fast path for this parser; None where this Lark's insides are not the ones it
    reads (another version, other options): then Lark's own lexer does all the work."""
    try:
        return FastParser(lark)
    except (AttributeError, TypeError, ValueError):
        return None
