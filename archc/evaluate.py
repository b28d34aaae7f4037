"""Expressions in specs: integer arithmetic, comparisons, booleans, min/max. Part of expansion."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

from . import ast
from .errors import ArgumentError, LimitError, NameError_, did_you_mean
from .limits import MAX_INT

_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv,
          "/": operator.truediv, "%": operator.mod}
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}
_FUNCS = {"min": min, "max": max}


def type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), type(value).__name__)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def evaluate(expr: ast.Expr, env: Mapping[str, Any]) -> Any:
    """The value of an expression; located errors for unknown names and type errors."""
    if isinstance(expr, ast.Lit):
        return expr.value
    if isinstance(expr, ast.Var):
        if expr.name not in env:
            raise NameError_(f"unknown parameter '{expr.name}'", expr.span,
                             did_you_mean(expr.name, env))
        return env[expr.name]
    if isinstance(expr, ast.UnOp):
        value = evaluate(expr.operand, env)
        if expr.op == "not":
            return not _boolean(value, "not", expr)
        if not _is_number(value):
            raise ArgumentError(f"'-' needs a number, got {type_name(value)}", expr.span)
        return -value
    if isinstance(expr, ast.Func):
        return _call(expr, env)
    if isinstance(expr, ast.IfExpr):
        test = evaluate(expr.test, env)
        if not isinstance(test, bool):
            raise ArgumentError(f"'if' needs a boolean condition, got {type_name(test)} "
                                f"{test!r}", expr.test.span)
        return evaluate(expr.then if test else expr.orelse, env)
    return _binary(expr, env)


def _boolean(value: Any, op: str, expr: ast.Expr) -> bool:
    if not isinstance(value, bool):
        raise ArgumentError(f"'{op}' needs booleans, got {type_name(value)} {value!r}", expr.span,
                            "compare explicitly, e.g. 'n > 0'")
    return value


def _binary(expr: ast.BinOp, env: Mapping[str, Any]) -> Any:
    left = evaluate(expr.left, env)
    if expr.op in ("and", "or"):  # short-circuit, like Python
        if _boolean(left, expr.op, expr.left) == (expr.op == "or"):
            return left
        return _boolean(evaluate(expr.right, env), expr.op, expr.right)
    right = evaluate(expr.right, env)
    if expr.op in ("==", "!="):
        return _COMPARE[expr.op](left, right)
    if not (_is_number(left) and _is_number(right)):
        raise ArgumentError(
            f"'{expr.op}' needs numbers, got {type_name(left)} and {type_name(right)}", expr.span)
    if expr.op in _COMPARE:
        return _COMPARE[expr.op](left, right)
    if expr.op in ("//", "/", "%") and right == 0:
        raise ArgumentError(f"division by zero in '{expr.op}'", expr.span)
    value = _ARITH[expr.op](left, right)
    if abs(value) > MAX_INT:
        raise LimitError(f"value too large: {value}", expr.span)
    return value


def _call(expr: ast.Func, env: Mapping[str, Any]) -> Any:
    func = _FUNCS.get(expr.name)
    if func is None:
        raise NameError_(f"unknown function '{expr.name}'", expr.span,
                         did_you_mean(expr.name, _FUNCS) or "available: min, max")
    values = [evaluate(a, env) for a in expr.args]
    if not values or not all(_is_number(v) for v in values):
        raise ArgumentError(f"{expr.name}() needs one or more numbers", expr.span)
    return func(values)
