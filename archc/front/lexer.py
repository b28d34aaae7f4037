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

`FastParser.ast` runs the same loop with a transformer's methods as the tree-building callbacks
(Lark's own `Lark(transformer=...)` for LALR: the tree it would build, transformed as it is
built), so a piece becomes the AST without a parse tree and a second walk over it. The depth
the parse tree would have (archc/front/parse.py `_check_depth` bounds it) is counted on the way:
an upper bound, exact for the grammar's `?rule`s; a piece whose bound passes the limit, or that
holds a number too long to convert, is left to the tree path, which says what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lark import Lark, Token, Tree
from lark.lexer import UnlessCallback
from lark.parsers.lalr_analysis import Reduce, Shift

_NONE = (None, None)
_END = Token("$END", "")  # what the parser reads after the last token

# A rule's reduction, looked up once: (children, name, callback, which child it is when the
# rule keeps exactly one (a `?rule` inlines it), how much depth its value adds to its parent's:
# 0 for a `_rule` Lark splices into its parent, else 1)
RuleAction = tuple[int, str, Callable[[list[Any]], Any], int | None, int]


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
        # A terminal no rule keeps (`(`, `,`, `use`: nearly half the tokens of a spec) is only
        # read for its type: one token of each stands for all of them
        rules: list[Any] = lark.rules
        kept = {sym.name for rule in rules for sym in rule.expansion
                if sym.is_term and (rule.options.keep_all_tokens or not sym.filter_out)}
        self.dropped = {t.name: Token(t.name, "") for t in lark.terminals if t.name not in kept}
        parser = lark.parser.parser.parser  # lark.parsers.lalr_parser._Parser
        (start,) = lark.options.start
        table = parser.parse_table
        self.states: dict[Any, dict[str, tuple[Any, Any]]] = table.states
        self.start_state, self.end_state = table.start_states[start], table.end_states[start]
        self.callbacks: dict[Any, Any] = parser.callbacks
        if any(isinstance(k, str) for k in self.callbacks):
            raise TypeError("token callbacks are not supported")
        self.builder = lark._parse_tree_builder
        self.rules = self.actions(self.callbacks)

    def actions(self, callbacks: dict[Any, Any]) -> dict[Any, RuleAction]:
        """Each rule's reduction (RuleAction) with `callbacks` building its value. (A rule
        that passes up its one child is not called: its value is the child. Lark's builder
        wraps nothing else around such a rule here: no positions, no ambiguity.)"""
        plain = not self.builder.propagate_positions and not self.builder.ambiguous
        return {rule: (len(rule.expansion), rule.origin.name, callbacks[rule],
                       _single(rule) if plain else None,
                       0 if rule.origin.name.startswith("_") else 1) for rule in callbacks}

    def transforming(self, transformer: Any) -> dict[Any, RuleAction]:
        """The reductions that build `transformer`'s values instead of a tree, as
        `Lark(transformer=...)` does (its methods called with the children transformed)."""
        return self.actions(self.builder.create_callback(transformer))

    def tokens(self, text: str, line: int, col: int) -> list[Token] | None:
        """Every token of `text`, placed as if it started at (line, col); None if some
        character starts no token."""
        out: list[Token] = []
        pos, end = 0, len(text)
        line_start = 1 - col  # the column of offset p on the first line is p - line_start + 1
        mres, ignore, newline, keywords = self.mres, self.ignore, self.newline, self.keywords
        dropped = self.dropped
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
                if kind in keywords:
                    kind = self._keyword(kind, value)
                same = dropped.get(kind)
                out.append(same if same is not None else Token(
                    kind, value, pos, first, column, line, stop - line_start + 1, stop))
            pos = stop
        return out

    def _keyword(self, kind: str, value: str) -> str:
        key = (kind, value)
        found = self.types.get(key)
        if found is None:
            found = self.types[key] = self.keywords[kind](Token(kind, value)).type
        return found

    def parse(self, text: str, line: int, col: int) -> Tree | None:
        """The parse tree of `text` (tokens placed from (line, col)); None where Lark's own
        parse must say what is wrong."""
        tokens = self.tokens(text, line, col)
        if tokens is None:
            return None
        return self._lalr(tokens, self.rules)

    def ast(self, text: str, line: int, col: int, rules: dict[Any, RuleAction],
            max_depth: int, max_digits: int) -> Any | None:
        """`text` parsed with the reductions of `transforming` (the transformer's value of the
        whole piece); None where the tree path must decide: as for `parse`, and a piece whose
        parse tree may be deeper than `max_depth` or that holds a run of more than
        `max_digits` digits."""
        if _digits(max_digits).search(text):
            return None
        tokens = self.tokens(text, line, col)
        if tokens is None:
            return None
        return self._lalr(tokens, rules, max_depth)

    def _lalr(self, tokens: list[Token], rules: dict[Any, RuleAction],
              max_depth: int | None = None) -> Any | None:
        """Lark's LALR loop (lark/parsers/lalr_parser_state.py `feed_token`) over a list, with
        Lark's parse table and the callbacks of `rules`: the same tree (or its transformed
        value); None at a syntax error, or where the tree's depth may pass `max_depth`.
        (`tokens`, this parser's own list, gets the end marker appended.)"""
        states, end_state = self.states, self.end_state
        state_stack, value_stack, depth_stack = [self.start_state], [], [0]
        limit = max_depth if max_depth is not None else float("inf")
        tokens.append(_END)
        for tok in tokens:
            kind = tok.type
            while True:
                action, arg = states[state_stack[-1]].get(kind, _NONE)
                if action is Shift and tok is not _END:
                    state_stack.append(arg)
                    value_stack.append(tok)
                    depth_stack.append(0)  # a token is no tree node
                    break
                if action is not Reduce:
                    return None
                size, name, callback, single, adds = rules[arg]
                if single is not None:  # `?sum: product`: the child is the value
                    value, depth = value_stack[single - size], depth_stack[single - size]
                    del state_stack[-size:]
                    del value_stack[-size:]
                    del depth_stack[-size:]
                else:
                    if size:
                        children = value_stack[-size:]
                        depth = max(depth_stack[-size:]) + adds
                        del state_stack[-size:]
                        del value_stack[-size:]
                        del depth_stack[-size:]
                    else:
                        children, depth = [], adds
                    if depth > limit:
                        return None
                    value = callback(children)
                state_stack.append(states[state_stack[-1]][name][1])
                value_stack.append(value)
                depth_stack.append(depth)
                if tok is _END and state_stack[-1] == end_state:
                    return value  # (the start rule's tree)
        return None


def _single(rule: Any) -> int | None:
    """The child a `?rule` always passes up as its value: the one symbol it keeps (Lark's
    ExpandSingleChild after its ChildFilter); None for a rule that makes a node."""
    if not rule.options.expand1 or rule.alias or rule.options.keep_all_tokens \
            or rule.options.empty_indices:
        return None
    kept = [i for i, sym in enumerate(rule.expansion) if not (sym.is_term and sym.filter_out)]
    if len(kept) != 1 or rule.expansion[kept[0]].name.startswith("_"):
        return None
    return kept[0]


_DIGIT_RUNS: dict[int, re.Pattern[str]] = {}


def _digits(n: int) -> re.Pattern[str]:
    """A run of more than `n` digits."""
    if n not in _DIGIT_RUNS:
        _DIGIT_RUNS[n] = re.compile(rf"\d{{{n + 1}}}")
    return _DIGIT_RUNS[n]


def fast_parser(lark: Lark) -> FastParser | None:
    """The fast path for this parser; None where this Lark's insides are not the ones it
    reads (another version, other options): then Lark's own lexer does all the work."""
    try:
        return FastParser(lark)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
