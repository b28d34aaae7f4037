"""Stage 1, text -> AST, fast: a piece of a spec lexed by a tight loop over the grammar's
terminals (their one alternation and its keyword rule, as Lark compiles them) with token
positions already where the piece starts in the file, and parsed by the LALR algorithm over the
grammar's parse table; both read from archc/front/tables.py, so no Lark is imported.

`FastParser.ast` calls a transformer's methods as the rules reduce (Lark's own
`Lark(transformer=...)` for LALR: the tree it would build, transformed as it is built), so a
piece becomes the AST without a parse tree and a second walk over it (tests/test_lexer.py: the
same trees and ASTs as Lark's, on every .arch file of the repository). The depth the parse tree
would have (archc/front/parse.py `_check_depth` bounds it) is counted on the way: an upper
bound, exact for the grammar's `?rule`s. Anything this loop does not handle returns None: a
character no terminal matches, a syntax error, a piece whose bound passes the limit or that
holds a number too long to convert; the caller then parses the piece with Lark, which says what
is wrong as it always did.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from archc.front.tables import Rule, Tables


class Token(str):
    """A token: its text, its terminal's name (`type`) and where it stands, as Lark's
    `lark.Token` (the same constructor and attributes), without importing Lark."""

    __slots__ = ("type", "start_pos", "line", "column", "end_line", "end_column", "end_pos")
    type: str
    start_pos: int | None
    line: int | None
    column: int | None
    end_line: int | None
    end_column: int | None
    end_pos: int | None

    def __new__(cls, type: str, value: str, start_pos: int | None = None,  # noqa: A002
                line: int | None = None, column: int | None = None,
                end_line: int | None = None, end_column: int | None = None,
                end_pos: int | None = None) -> Token:
        self = super().__new__(cls, value)
        self.type, self.start_pos, self.line, self.column = type, start_pos, line, column
        self.end_line, self.end_column, self.end_pos = end_line, end_column, end_pos
        return self

    @property
    def value(self) -> str:
        return str(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Token, (self.type, str(self), self.start_pos, self.line, self.column,
                        self.end_line, self.end_column, self.end_pos))

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {str(self)!r})"


_END = Token("$END", "")  # what the parser reads after the last token

# A rule's reduction, looked up once: (children, name, callback, which child it is when the
# rule keeps exactly one (a `?rule` inlines it), how much depth its value adds to its parent's:
# 0 for a `_rule` Lark splices into its parent, else 1)
RuleAction = tuple[int, str, Callable[[list[Any]], Any], int | None, int]


class Splice(list[Any]):
    """A `_rule`'s children, which its parent takes in its place (Lark's tree builder
    inlines such rules)."""

    __slots__ = ()


class FastParser:
    """The grammar's lexer and LALR parser, over its tables (archc/front/tables.py)."""

    def __init__(self, tables: Tables) -> None:
        self.mres = [re.compile(p, f) for p, f in tables.patterns]
        self.ignore = tables.ignore
        self.newline = tables.newline
        self.keywords = tables.keywords  # terminal -> {text that is a keyword: its type}
        # A terminal no rule keeps (`(`, `,`, `use`: nearly half the tokens of a spec) is only
        # read for its type: one token of each stands for all of them
        self.dropped = {name: Token(name, "") for name in tables.dropped}
        self.states = tables.states
        self.starts = tables.starts
        self.table_rules = tables.rules

    def transforming(self, transformer: Any) -> list[RuleAction]:
        """Each rule's reduction (RuleAction) building `transformer`'s values, as
        `Lark(transformer=...)` does: the method named as the rule called with its children
        (tokens, the values of the rules below, None for an absent `[x]`), or
        `transformer.__default__(name, children, None)` where it has no such method."""
        return [(rule.size, rule.origin, _reduction(rule, transformer), _single(rule),
                 0 if rule.origin.startswith("_") else 1) for rule in self.table_rules]

    def tokens(self, text: str, line: int, col: int) -> list[Token] | None:
        """Every token of `text`, placed as if it started at (line, col); None if some
        character starts no token."""
        out: list[Token] = []
        pos, end = 0, len(text)
        line_start = 1 - col  # the column of offset p on the first line is p - line_start + 1
        mres, ignore, newline, keywords = self.mres, self.ignore, self.newline, self.keywords
        match, new = mres[0].match, str.__new__
        dropped = self.dropped
        while pos < end:
            m = match(text, pos)
            if m is None:
                for mre in mres[1:]:  # (Lark splits a grammar of many terminals in several)
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
                    kind = keywords[kind].get(value, kind)
                same = dropped.get(kind)
                if same is None:  # (Token's fields filled here: no call of its __new__)
                    same = new(Token, value)
                    same.type, same.start_pos, same.line, same.column = kind, pos, first, column
                    same.end_line, same.end_column, same.end_pos = \
                        line, stop - line_start + 1, stop
                out.append(same)
            pos = stop
        return out

    def ast(self, text: str, line: int, col: int, rules: list[RuleAction],
            max_depth: int, max_digits: int, start: str = "start") -> Any | None:
        """`text` (its tokens placed from (line, col)) parsed from `start` with the
        reductions of `transforming`: the transformer's value of the whole piece. None where
        Lark's own parser must decide (it says what is wrong): a character no terminal matches,
        a syntax error, a piece whose parse tree may be deeper than `max_depth`, or that holds
        a run of more than `max_digits` digits."""
        if _digits(max_digits).search(text):
            return None
        tokens = self.tokens(text, line, col)
        if tokens is None:
            return None
        return self._lalr(tokens, rules, max_depth, start)

    def _lalr(self, tokens: list[Token], rules: list[RuleAction], max_depth: int,
              start: str) -> Any | None:
        """Lark's LALR loop (lark/parsers/lalr_parser_state.py `feed_token`) over a list,
        with the callbacks of `rules`; None at a syntax error, or where the tree's depth may
        pass `max_depth`. (`tokens`, this parser's own list, gets the end marker appended.)
        An action >= 0 shifts to (or, after a reduction, goes to) that state; -1 - r reduces
        rule r."""
        states = self.states
        state, end_state = self.starts[start]
        state_stack, value_stack, depth_stack = [state], list[Any](), [0]
        push_state, push_value, push_depth = \
            state_stack.append, value_stack.append, depth_stack.append
        tokens.append(_END)
        for tok in tokens:
            kind = tok.type
            while True:
                action = states[state].get(kind)
                if action is None:
                    return None
                if action >= 0:
                    if tok is _END:
                        return None
                    state = action
                    push_state(state)
                    push_value(tok)
                    push_depth(0)  # a token is no tree node
                    break
                size, name, callback, single, adds = rules[~action]
                if single is not None and size == 1:
                    # `?sum: product` over one symbol: its value and depth stay, in the
                    # state the rule goes to (an operand passes up nine such levels)
                    state = state_stack[-1] = states[state_stack[-2]][name]
                else:
                    if single is not None:  # `?atom: "(" expr ")"`: the child is the value
                        value, depth = value_stack[single - size], depth_stack[single - size]
                        del state_stack[-size:]
                        del value_stack[-size:]
                        del depth_stack[-size:]
                    elif size:
                        children = value_stack[-size:]
                        depth = max(depth_stack[-size:]) + adds
                        del state_stack[-size:]
                        del value_stack[-size:]
                        del depth_stack[-size:]
                        if depth > max_depth:
                            return None
                        value = callback(children)
                    else:
                        if adds > max_depth:
                            return None
                        value, depth = callback([]), adds
                    state = states[state_stack[-1]][name]
                    push_state(state)
                    push_value(value)
                    push_depth(depth)
                if tok is _END and state == end_state:
                    return value_stack[-1]  # (the start rule's value)
        return None


def _reduction(rule: Rule, transformer: Any) -> Callable[[list[Any]], Any]:
    """What reducing `rule` makes of its children: Lark's ChildFilter (the children kept,
    `_rule`s spliced in, None for each absent `[x]`), then a `?rule`'s one child passed up
    (ExpandSingleChild), else the transformer's method; a `_rule`'s children as a Splice.
    A rule that keeps every child as it is calls the method with them; one that only drops
    tokens, with those it keeps."""
    include, nones, expand1 = rule.include, rule.nones, rule.expand1
    if rule.origin.startswith("_"):
        make: Callable[[list[Any]], Any] = Splice
    else:
        method = getattr(transformer, rule.name, None)
        if method is None:
            default, name = transformer.__default__, rule.name
            make = lambda children: default(name, children, None)  # noqa: E731
        else:
            make = method
    plain = not nones and not any(spliced or before for _, spliced, before in include)
    if plain and not expand1:
        kept_at = [i for i, _, _ in include]
        if kept_at == list(range(rule.size)):
            return make
        return lambda children: make([children[i] for i in kept_at])

    def reduce(children: list[Any]) -> Any:
        kept: list[Any] = []
        for i, spliced, before in include:
            if before:
                kept += [None] * before
            if spliced:
                kept += children[i]
            else:
                kept.append(children[i])
        if nones:
            kept += [None] * nones
        if expand1 and len(kept) == 1:
            return kept[0]
        return make(kept)

    return reduce


def _single(rule: Rule) -> int | None:
    """The child a `?rule` always passes up as its value: the one symbol it keeps (Lark's
    ExpandSingleChild after its ChildFilter); None for a rule that makes a node."""
    if not rule.expand1 or rule.nones or len(rule.include) != 1:
        return None
    index, spliced, before = rule.include[0]
    return None if spliced or before else index


_DIGIT_RUNS: dict[int, re.Pattern[str]] = {}


def _digits(n: int) -> re.Pattern[str]:
    """A run of more than `n` digits."""
    if n not in _DIGIT_RUNS:
        _DIGIT_RUNS[n] = re.compile(rf"\d{{{n + 1}}}")
    return _DIGIT_RUNS[n]
