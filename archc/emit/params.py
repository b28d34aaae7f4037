"""Stage 3 helper for archc/emit/python.py: which network parameters an exported class can take.

A parameter that decides structure (an `if` test, a repetition count, a loop bound, a
comparison, min/max, a conditional expression, the input shape, or a block parameter used so)
cannot be a free constructor argument of generated straight-line code: the exported class
accepts only its exported value. The others are values; archc/emit/python.py re-expands the
network with each changed (`perturbations`) to see where its value goes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .. import ast

_DECIDING = {"==", "!=", "<", "<=", ">", ">=", "and", "or"}


def _names(expr: ast.Expr) -> Iterator[str]:
    if isinstance(expr, ast.Var):
        yield expr.name
    elif isinstance(expr, ast.BinOp):
        yield from _names(expr.left)
        yield from _names(expr.right)
    elif isinstance(expr, ast.UnOp):
        yield from _names(expr.operand)
    elif isinstance(expr, ast.Func):
        for a in expr.args:
            yield from _names(a)
    elif isinstance(expr, ast.IfExpr):
        for e in (expr.then, expr.test, expr.orelse):
            yield from _names(e)


def _deciding(expr: ast.Expr) -> set[str]:
    """Names whose value an expression does not pass through linearly."""
    if isinstance(expr, (ast.Func, ast.IfExpr)) or \
            (isinstance(expr, ast.BinOp) and expr.op in _DECIDING) or \
            (isinstance(expr, ast.UnOp) and expr.op == "not"):
        return set(_names(expr))
    if isinstance(expr, ast.BinOp):
        return _deciding(expr.left) | _deciding(expr.right)
    if isinstance(expr, ast.UnOp):
        return _deciding(expr.operand)
    return set()


class _Control:
    """The deciding parameters of each block, computed once per block (no recursion: the
    resolver rejects recursive blocks before expansion)."""

    def __init__(self, blocks: Mapping[str, ast.Definition]):
        self.blocks = blocks
        self.memo: dict[str, set[str]] = {}

    def of(self, defn: ast.Definition) -> set[str]:
        if defn.kind == "block" and defn.name in self.memo:
            return self.memo[defn.name]
        if defn.kind == "block":
            self.memo[defn.name] = set()  # a guard; recursion is an error found earlier
        found = self.body(defn.body)
        for p in reversed(defn.params):  # a default computed from a deciding parameter
            if p.name in found and p.default is not None:
                found |= set(_names(p.default))
        if defn.kind == "block":
            self.memo[defn.name] = found
        return found

    def body(self, stmts: tuple[ast.Stmt, ...]) -> set[str]:
        found: set[str] = set()
        for st in stmts:
            found |= self.stmt(st)
        return found

    def stmt(self, st: ast.Stmt) -> set[str]:
        if isinstance(st, ast.Call):
            return self.call(st)
        if isinstance(st, ast.Labelled):
            return self.stmt(st.unit)
        if isinstance(st, ast.Group):
            return self.body(st.body)
        if isinstance(st, ast.Branches):
            return set().union(*(self.body(b) for b in st.branches))
        if isinstance(st, ast.Cond):
            return set(_names(st.test)) | self.body(st.then) | self.body(st.orelse)
        if isinstance(st, ast.Loop):
            inner = self.body(st.body) - {st.var}
            return set(_names(st.start)) | set(_names(st.stop)) | inner
        if isinstance(st, ast.Repeat):
            return set(_names(st.count)) | self.stmt(st.unit)
        if isinstance(st, ast.Input):
            return {n for d in st.shape.dims for n in _names(d)}
        return set()  # expect, assert, train: no structure

    def call(self, st: ast.Call) -> set[str]:
        found = set().union(*(_deciding(a) for a in st.args), *(_deciding(k.value)
                                                                for k in st.kwargs))
        block = self.blocks.get(st.name)
        if block is None:
            return found
        control = self.of(block)
        bound = [(p.name, e) for p, e in zip(block.params, st.args, strict=False)]
        bound += [(k.name, k.value) for k in st.kwargs]
        for name, expr in bound:
            if name in control:
                found |= set(_names(expr))
        return found


def deciding_params(defn: ast.Definition, blocks: Mapping[str, ast.Definition]) -> set[str]:
    """The parameters of a network that decide its structure."""
    return _Control(blocks).of(defn) & {p.name for p in defn.params}


def perturbations(value: Any) -> list[Any]:
    """Other values to try a value parameter at: two, so that a slot explained by a linear
    expression is seen at three points. None: not a number, never free."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return []
    return [value + 1, value + 3] if isinstance(value, int) else [value * 1.5, value * 2.5]
