"""The expression operators, in one table: the parser (stage 1) reads which grammar rule builds
which operator, the formatter reads how tightly each binds. tests/test_syntax.py checks the
table against the grammar (grammar/archc.lark), operator by operator and pair by pair."""

from __future__ import annotations

from archc.core.records import record

# Binding power, loosest first: an operand that binds looser than its slot is parenthesised.
TERNARY, OR, AND, NOT, COMPARE, SUM, PRODUCT, UNARY, ATOM = range(9)


@record
class Operator:
    """An expression operator: how it is written, its grammar rule, how tightly it binds."""

    symbol: str  # as written, and as ast.BinOp.op / ast.UnOp.op hold it
    rule: str  # the grammar alias whose tree node the parser turns into this operator
    level: int  # binding power (above)
    chains: bool = True  # `a - b - c` groups to the left; `a < b < c` is a syntax error

    @property
    def spaced(self) -> bool:
        """A word operator (`not x`) needs a space after it; a symbol (`-x`) does not."""
        return self.symbol.isalpha()


BINARY = (
    Operator("or", "or_op", OR),
    Operator("and", "and_op", AND),
    *(Operator(s, r, COMPARE, chains=False) for s, r in (
        ("==", "eq"), ("!=", "ne"), ("<", "lt"), ("<=", "le"), (">", "gt"), (">=", "ge"))),
    Operator("+", "add_op", SUM),
    Operator("-", "sub_op", SUM),
    Operator("*", "mul_op", PRODUCT),
    Operator("//", "floordiv_op", PRODUCT),
    Operator("/", "truediv_op", PRODUCT),
    Operator("%", "mod_op", PRODUCT),
)
PREFIX = (
    Operator("not", "not_op", NOT),
    Operator("-", "neg", UNARY),
)

BINARY_BY_RULE = {op.rule: op for op in BINARY}
PREFIX_BY_RULE = {op.rule: op for op in PREFIX}
BINARY_BY_SYMBOL = {op.symbol: op for op in BINARY}
PREFIX_BY_SYMBOL = {op.symbol: op for op in PREFIX}
