"""`archc fmt`, expressions and the pieces of a statement that print on one line: parentheses
only where binding needs them (archc/front/syntax.py's table, shared with the parser), numbers as
written (integers without leading zeros), shapes of literals as `3x32x32`."""

from __future__ import annotations

import re
from functools import lru_cache

from archc.front import tree
from archc.front.parse import parser
from archc.front.syntax import ATOM, BINARY_BY_SYMBOL, OR, PREFIX_BY_SYMBOL, TERNARY
from archc.front.trivia import Trivia


class Exprs:
    """Prints expressions; float literals are copied from the source, so it keeps the text.
    The Python exporter prints through a subclass (archc/export/conditions.py), so archc and
    Python text share this one layout and syntax.py's one table of binding powers."""

    def __init__(self, trivia: Trivia | None):
        self.trivia = trivia

    def expr(self, e: tree.Expr, min_level: int = TERNARY) -> str:
        """`e` as text, parenthesised when it binds looser than its slot (`min_level`)."""
        printer = _EXPR.get(type(e))
        if printer is None:
            raise AssertionError(f"fmt: no printer for {type(e).__name__}")
        text, level = getattr(self, printer)(e)  # by name: a subclass may print a kind its way
        return f"({text})" if level < min_level else text

    def _binop(self, e: tree.BinOp) -> tuple[str, int]:
        op = BINARY_BY_SYMBOL[e.op]
        # left operand: the same level chains (`a - b - c`); right operand: one tighter
        left = self.expr(e.left, op.level if op.chains else op.level + 1)
        return f"{left} {op.symbol} {self.expr(e.right, op.level + 1)}", op.level

    def _unop(self, e: tree.UnOp) -> tuple[str, int]:
        op = PREFIX_BY_SYMBOL[e.op]
        return op.symbol + (" " if op.spaced else "") + self.expr(e.operand, op.level), op.level

    def _ifexpr(self, e: tree.IfExpr) -> tuple[str, int]:
        # grammar: `or_ "if" or_ "else" expr`
        return (f"{self.expr(e.then, OR)} if {self.expr(e.test, OR)} else "
                f"{self.expr(e.orelse)}", TERNARY)

    def _func(self, e: tree.Func) -> tuple[str, int]:
        return f"{e.name}({', '.join(self.expr(a) for a in e.args)})", ATOM

    def _var(self, e: tree.Var) -> tuple[str, int]:
        return e.name, ATOM

    def _tuple(self, e: tree.Tuple) -> tuple[str, int]:
        return "(" + ", ".join(self.expr(i) for i in e.items) + ")", ATOM

    def _in_shape(self, e: tree.InShape) -> tuple[str, int]:
        return f"in.{e.axis}", ATOM

    def _lit(self, e: tree.Lit) -> tuple[str, int]:
        return self.literal(e), ATOM

    def literal(self, e: tree.Lit) -> str:
        value = e.value
        if value is None:
            return "none"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):  # as written: 1e-5 stays 1e-5
            if self.trivia is None:
                return repr(value)
            return self.trivia.text((e.span.line, e.span.col), (e.span.end_line, e.span.end_col))
        if isinstance(value, str):
            return f'"{value}"'
        raise AssertionError(f"fmt: no text for a literal {value!r}")

    # -- pieces
    def call(self, c: tree.Call) -> str:
        """`name` or `name(args)`: arguments in source order, positional or keyword."""
        args = sorted([*c.args, *c.kwargs], key=lambda a: (a.span.line, a.span.col))
        texts = [f"{a.name}={self.expr(a.value)}" if isinstance(a, tree.KwArg) else self.expr(a)
                 for a in args]
        return f"{c.name}({', '.join(texts)})" if texts else c.name

    def param(self, p: tree.Param) -> str:
        return p.name if p.default is None else f"{p.name}={self.expr(p.default)}"

    def count(self, e: tree.Expr) -> str:
        """A repetition count: an integer, a name or `in.c` bare, anything else in
        parentheses."""
        plain = isinstance(e, (tree.Var, tree.InShape)) or (
            isinstance(e, tree.Lit) and type(e.value) is int)
        return self.expr(e) if plain else f"({self.expr(e)})"

    def shape(self, s: tree.ShapeSpec) -> str:
        if s.vocab is not None:  # `tokens(N, vocab)`
            return f"{s.kind}({', '.join(self.expr(d) for d in (*s.dims, s.vocab))})"
        if all(isinstance(d, tree.Lit) and type(d.value) is int for d in s.dims):
            return "x".join(self.expr(d) for d in s.dims)
        return "(" + ", ".join(self.expr(d) for d in s.dims) + ")"


_EXPR: dict[type, str] = {
    tree.BinOp: "_binop", tree.UnOp: "_unop", tree.IfExpr: "_ifexpr", tree.Func: "_func",
    tree.Var: "_var", tree.Lit: "_lit", tree.Tuple: "_tuple", tree.InShape: "_in_shape",
}


def label(text: str) -> str:
    """A label as it reads back: bare when it is a name (not a keyword) or an integer, else
    quoted (`"block1-0"`, `"layer_{i}"`, `"block"`)."""
    if re.fullmatch(r"\d+", text) or (
            re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text) and text not in _keywords()):
        return text
    return f'"{text}"'


@lru_cache(maxsize=1)
def _keywords() -> frozenset[str]:
    """The grammar's words (`block`, `in`, `mul`, ...): a label spelled so needs its quotes."""
    return frozenset(t.pattern.value for t in parser().terminals
                     if t.pattern.type == "str" and t.pattern.value.isidentifier())
