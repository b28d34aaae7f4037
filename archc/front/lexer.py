"""Stage 1, text -> parse tree, fast: a piece of a spec lexed by a tight loop over Lark's own
scanner (the grammar's terminals, their priorities and its keyword rule, as Lark compiled them),
with token positions already where the piece starts in the file, and parsed by Lark's LALR
algorithm (its parse table and its tree-building callbacks) in a loop over the token list.

Lark's lexer and parser loop spend much of a parse's time per token on what archc does not use
(text slices, lexer states, user callbacks, a line counter object, a parser state fed one
token per call): on the bundled specs, lexing 0.065 -> 0.035 s, the LALR loop 0.065 -> 0.048 s.
The tree built here is the one Lark builds (tests/test_lexer.py compares
the two on every .arch file of the repository). Anything this loop does not handle, a character
no terminal matches or a syntax error, returns None: the caller parses the piece with Lark's own
lexer, which raises its error as it always did.
"""

from __future__ import annotations

from typing import Any

from lark import Lark, Token, Tree
from lark.lexer import UnlessCallback
from lark.parsers.lalr_analysis import Reduce, Shift

_NONE = (None, None)
_END = Token("$END", "")  # what the parser reads after the last token


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
        parser = lark.parser.parser.parser  # lark.parsers.lalr_parser._Parser
        (start,) = lark.options.start
        table = parser.parse_table
        self.states: dict[Any, dict[str, tuple[Any, Any]]] = table.states
        self.start_state, self.end_state = table.start_states[start], table.end_states[start]
        self.callbacks: dict[Any, Any] = parser.callbacks
        if any(isinstance(k, str) for k in self.callbacks):
            raise TypeError("token callbacks are not supported")
        # each rule's (size, name, callback), looked up once rather than at every reduction
        self.rules = {rule: (len(rule.expansion), rule.origin.name, self.callbacks[rule])
                      for rule in self.callbacks}

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
        return self._lalr(tokens)

    def _lalr(self, tokens: list[Token]) -> Tree | None:
        """Lark's LALR loop (lark/parsers/lalr_parser_state.py `feed_token`) over a list, with
        Lark's parse table and tree-building callbacks: the same tree; None at a syntax error.
        (`tokens`, this parser's own list, gets the end marker appended.)"""
        states, rules, end_state = self.states, self.rules, self.end_state
        state_stack, value_stack = [self.start_state], []
        tokens.append(_END)
        for tok in tokens:
            kind = tok.type
            while True:
                action, arg = states[state_stack[-1]].get(kind, _NONE)
                if action is Shift and tok is not _END:
                    state_stack.append(arg)
                    value_stack.append(tok)
                    break
                if action is not Reduce:
                    return None
                size, name, callback = rules[arg]
                if size:
                    children = value_stack[-size:]
                    del state_stack[-size:]
                    del value_stack[-size:]
                else:
                    children = []
                value = callback(children)
                state_stack.append(states[state_stack[-1]][name][1])
                value_stack.append(value)
                if tok is _END and state_stack[-1] == end_state:
                    return value  # (the start rule's tree)
        return None


def fast_parser(lark: Lark) -> FastParser | None:
    """The fast path for this parser; None where this Lark's insides are not the ones it
    reads (another version, other options): then Lark's own lexer does all the work."""
    try:
        return FastParser(lark)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
