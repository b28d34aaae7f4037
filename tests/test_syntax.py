"""archc/front/syntax.py's operator table is the grammar's: every operator parses to its symbol, and
every pair of operators groups as the table's binding powers say (or is a syntax error where
the table says an operator does not chain). The formatter prints from the same table, so
its parentheses are checked here too: kept exactly where the grouping needs them."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from archc.core.errors import Span, SyntaxError_
from archc.fmt import format_text
from archc.front import tree
from archc.front.parse import parse
from archc.front.syntax import BINARY, PREFIX, Operator


def strip(node):
    """An expression without its spans."""
    if isinstance(node, Span):
        return None
    if dataclasses.is_dataclass(node):
        return tuple(strip(getattr(node, f.name)) for f in dataclasses.fields(node))
    return node


def expr_of(text: str) -> tree.Expr:
    default = parse(f"network n(x={text}) {{}}").definitions[0].params[0].default
    assert default is not None
    return default


def formatted(text: str) -> str:
    out = format_text(f"network n(x={text}) {{}}")
    return out[len("network n(x="):-len(") {}\n")]


def test_every_operator_parses_to_its_symbol():
    for op in BINARY:
        e = expr_of(f"a {op.symbol} b")
        assert isinstance(e, tree.BinOp) and e.op == op.symbol, op
    for op in PREFIX:
        e = expr_of(f"{op.symbol} a")
        assert isinstance(e, tree.UnOp) and e.op == op.symbol, op


def _pairs():
    return [pytest.param(a, b, id=f"{a.symbol} {b.symbol}")
            for a, b in itertools.product(BINARY, BINARY)]


@pytest.mark.parametrize("first, second", _pairs())
def test_pairs_group_as_the_table_says(first: Operator, second: Operator):
    text = f"a {first.symbol} b {second.symbol} c"
    left = f"(a {first.symbol} b) {second.symbol} c"
    right = f"a {first.symbol} (b {second.symbol} c)"
    if first.level == second.level and not first.chains:
        with pytest.raises(SyntaxError_):
            expr_of(text)
        want = {left: left, right: right}
    else:
        tighter_left = first.level > second.level or (
            first.level == second.level and first.chains)
        assert strip(expr_of(text)) == strip(expr_of(left if tighter_left else right))
        want = {left: text if tighter_left else left, right: right if tighter_left else text}
    for source, printed in want.items():  # fmt: parentheses exactly where needed
        assert formatted(source) == printed


@pytest.mark.parametrize("prefix, op", [pytest.param(p, b, id=f"{p.symbol} {b.symbol}")
                                        for p in PREFIX for b in BINARY])
def test_prefix_operators(prefix: Operator, op: Operator):
    sep = " " if prefix.spaced else ""
    text = f"{prefix.symbol}{sep}a {op.symbol} b"
    binds_operand = prefix.level > op.level  # `-a + b` is (-a) + b; `not a == b` is not (a == b)
    grouped = f"({prefix.symbol}{sep}a) {op.symbol} b" if binds_operand else \
        f"{prefix.symbol}{sep}(a {op.symbol} b)"
    assert strip(expr_of(text)) == strip(expr_of(grouped))
    assert formatted(grouped) == text
    after = f"a {op.symbol} {prefix.symbol}{sep}b"  # a prefix as the right operand
    if prefix.level > op.level:
        assert strip(expr_of(after)) == strip(expr_of(f"a {op.symbol} ({prefix.symbol}{sep}b)"))
        assert formatted(f"a {op.symbol} ({prefix.symbol}{sep}b)") == after
    else:
        with pytest.raises(SyntaxError_):
            expr_of(after)
        assert formatted(f"a {op.symbol} ({prefix.symbol}{sep}b)") == \
            f"a {op.symbol} ({prefix.symbol}{sep}b)"
