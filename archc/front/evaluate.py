"""Expressions in specs: integer arithmetic, comparisons, booleans, functions (min, max, ceil,
floor, round, int, abs), tuples and the enclosing block's input shape (`in.c`). Part of
expansion. A value may be Unknown (a parameter of a block checked without a call): it flows
through, keeping its type where the type is certain, and is never the cause of an error."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from archc.core import codes
from archc.core.errors import (
    ArgumentError,
    LimitError,
    NameError_,
    ShapeError,
    did_you_mean,
)
from archc.core.limits import MAX_INT
from archc.core.records import record
from archc.front import tree

_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv,
          "/": operator.truediv, "%": operator.mod}
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}

IN = "in"  # the environment key of the input shape: a keyword, so never a parameter's name

# The axes `in.<axis>` names, per kind of shape (by rank).
AXES: dict[int, tuple[str, ...]] = {4: ("c", "t", "h", "w"), 3: ("c", "h", "w"),
                                    2: ("n", "d"), 1: ("f",)}
KINDS = {4: "a clip CxTxHxW", 3: "an image CxHxW", 2: "tokens NxD or a signal CxL",
         1: "a flat vector F"}
# a rank-2 shape read as a CxL signal (archc/registry/ops.py, the rank rule): in.c and in.l name the
# axes in.n and in.d name
SIGNAL_AXES = ("c", "l")


@record
class Unknown:
    """A value not known before a call: `kind` is its type when that is certain (int, float,
    bool), else None. Printed as `name` (the parameter's) or `?`."""

    kind: type | None = None
    name: str | None = None

    def __repr__(self) -> str:
        return self.name or "?"


class _UnknownShape:
    """The input shape of a block checked without a call: every `in.<axis>` is an Unknown
    integer."""

    def __repr__(self) -> str:
        return "in"


UNKNOWN_SHAPE: Any = _UnknownShape()


def is_unknown(value: Any) -> bool:
    """Unknown, or a tuple holding one."""
    return isinstance(value, Unknown) or (isinstance(value, tuple) and any(map(is_unknown, value)))


def kind(value: Any) -> type | None:
    """A value's type; an Unknown's, if certain; None if not."""
    return value.kind if isinstance(value, Unknown) else type(value)


class ShapeUnknown(Exception):
    """`in.c` where the input shape is unknown because an earlier layer failed: the statement
    is skipped without a second error (the expander catches this)."""


@record
class Function:
    """A function of expressions: `arity` numbers in (None: one or more), a value out."""

    fn: Callable[..., Any]
    arity: int | None
    doc: str


def _to_int(name: str, fn: Callable[[Any], Any]) -> Callable[[Any], int]:
    def call(x: Any) -> int:
        if isinstance(x, float) and not math.isfinite(x):
            raise ValueError(f"needs a finite number, got {x!r}")
        return int(fn(x))
    return call


FUNCTIONS: dict[str, Function] = {
    "min": Function(lambda *v: min(v), None, "the smallest of its arguments"),
    "max": Function(lambda *v: max(v), None, "the largest of its arguments"),
    "ceil": Function(_to_int("ceil", math.ceil), 1, "the smallest integer >= x"),
    "floor": Function(_to_int("floor", math.floor), 1, "the largest integer <= x"),
    "round": Function(_to_int("round", round), 1,
                      "the nearest integer, halves to even (Python's round)"),
    "int": Function(_to_int("int", int), 1, "x without its fraction (toward zero)"),
    "abs": Function(abs, 1, "the absolute value"),
}


def type_name(value: Any) -> str:
    t = kind(value)
    names: dict[type | None, str] = {bool: "a boolean", int: "an integer", float: "a number",
                                     str: "a string", tuple: "a tuple", None: "a value",
                                     type(None): "the literal"}
    return names.get(t) or str(getattr(t, "__name__", "a value"))


def _is_number(value: Any) -> bool:
    """A number, or an Unknown that may be one."""
    return kind(value) in (int, float, None)


def _merged(*values: Any) -> Unknown:
    """The Unknown result of arithmetic on `values` (numbers, or it fails): a float if any is
    one (Python's rule, whatever the others are), an integer if all are, else unknown."""
    kinds = {kind(v) for v in values}
    return Unknown(float if float in kinds else int if kinds == {int} else None)


def _either(*values: Any) -> Unknown:
    """The Unknown that is one of `values`: of their type if they share one."""
    kinds = {kind(v) for v in values}
    return Unknown(kinds.pop() if len(kinds) == 1 else None)


# Python's spellings of the literals, as habit writes them (`bias=False`).
PYTHON_LITERALS = {
    "True": "write 'true': archc's literals are lower case",
    "False": "write 'false': archc's literals are lower case",
    "None": "write 'none': archc's literals are lower case",
}


def evaluate(expr: tree.Expr, env: Mapping[str, Any]) -> Any:
    """The value of an expression; located errors for unknown names and type errors."""
    if isinstance(expr, tree.Lit):
        return expr.value
    if isinstance(expr, tree.Var):
        if expr.name not in env:
            raise NameError_(f"unknown parameter '{expr.name}'", expr.span,
                             PYTHON_LITERALS.get(expr.name) or
                             did_you_mean(expr.name, [k for k in env if k != IN]),
                             code=codes.UNKNOWN_PARAMETER)
        return env[expr.name]
    if isinstance(expr, tree.UnOp):
        value = evaluate(expr.operand, env)
        if expr.op == "not":
            test = _boolean(value, "not", expr)
            return Unknown(bool) if isinstance(test, Unknown) else not test
        if not _is_number(value):
            raise ArgumentError(f"'-' needs a number, got {type_name(value)}", expr.span,
                                code=codes.VALUE_TYPE)
        return _merged(value) if isinstance(value, Unknown) else -value
    if isinstance(expr, tree.Func):
        return _call(expr, env)
    if isinstance(expr, tree.IfExpr):
        return _if_expr(expr, env)
    if isinstance(expr, tree.Tuple):
        return tuple(evaluate(e, env) for e in expr.items)
    if isinstance(expr, tree.InShape):
        return in_axis(expr, env)
    return _binary(expr, env)


def _if_expr(expr: tree.IfExpr, env: Mapping[str, Any]) -> Any:
    test = evaluate(expr.test, env)
    if kind(test) not in (bool, None):
        raise ArgumentError(f"'if' needs a boolean condition, got {type_name(test)} "
                            f"{test!r}", expr.test.span, code=codes.VALUE_TYPE)
    if not isinstance(test, Unknown):
        return evaluate(expr.then if test else expr.orelse, env)
    then, orelse = evaluate(expr.then, env), evaluate(expr.orelse, env)  # both checked
    same = not is_unknown(then) and type(then) is type(orelse) and then == orelse
    return then if same else _either(then, orelse)


def in_axis(expr: tree.InShape, env: Mapping[str, Any]) -> Any:
    """`in.c`: an axis of the input shape of the enclosing block or network."""
    if IN not in env:
        raise NameError_(f"in.{expr.axis}: there is no input shape here", expr.span,
                         "`in` is the input of a block or network, usable in its body and "
                         "in a block's parameter defaults", code=codes.NO_INPUT_HERE)
    shape = env[IN]
    if shape is None:
        raise ShapeUnknown
    if shape is UNKNOWN_SHAPE:  # any rank: an axis no kind of shape has is still wrong
        known = {a for axes in (*AXES.values(), SIGNAL_AXES) for a in axes}
        if expr.axis not in known:
            raise ShapeError(f"in.{expr.axis}: no shape has this axis; an image has in.c, in.h, "
                             "in.w, a clip in.c, in.t, in.h, in.w, tokens in.n, in.d, a signal "
                             "in.c, in.l, a flat vector in.f", expr.span,
                             did_you_mean(f"in.{expr.axis}", [f"in.{a}" for a in sorted(known)]),
                             code=codes.INPUT_AXIS)
        return Unknown(int, f"in.{expr.axis}")
    axes = AXES[len(shape)]
    if len(shape) == 2 and expr.axis in SIGNAL_AXES:
        return shape[SIGNAL_AXES.index(expr.axis)]
    if expr.axis not in axes:
        have = ", ".join(f"in.{a} = {v}" for a, v in zip(axes, shape, strict=True))
        raise ShapeError(f"in.{expr.axis}: the input is {KINDS[len(shape)]} "
                         f"({'x'.join(map(str, shape))}), which has {have}", expr.span,
                         did_you_mean(f"in.{expr.axis}", [f"in.{a}" for a in axes]),
                         code=codes.INPUT_AXIS)
    return shape[axes.index(expr.axis)]


def _boolean(value: Any, op: str, expr: tree.Expr) -> Any:
    if kind(value) not in (bool, None):
        raise ArgumentError(f"'{op}' needs booleans, got {type_name(value)} {value!r}", expr.span,
                            "compare explicitly, e.g. 'n > 0'", code=codes.VALUE_TYPE)
    return value


def _binary(expr: tree.BinOp, env: Mapping[str, Any]) -> Any:
    left = evaluate(expr.left, env)
    if expr.op in ("and", "or"):  # short-circuit, like Python
        return _logic(expr, left, env)
    right = evaluate(expr.right, env)
    unknown = isinstance(left, Unknown) or isinstance(right, Unknown)
    if expr.op in ("==", "!="):
        return Unknown(bool) if is_unknown(left) or is_unknown(right) else \
            _COMPARE[expr.op](left, right)
    if not (_is_number(left) and _is_number(right)):
        raise ArgumentError(
            f"'{expr.op}' needs numbers, got {type_name(left)} and {type_name(right)}", expr.span,
            code=codes.VALUE_TYPE)
    if expr.op in _COMPARE:
        return Unknown(bool) if unknown else _COMPARE[expr.op](left, right)
    if expr.op in ("//", "/", "%") and right == 0 and not isinstance(right, Unknown):
        raise ArgumentError(f"division by zero in '{expr.op}'", expr.span,
                            code=codes.DIVISION_BY_ZERO)
    if unknown:  # `/` always makes a number (a float), whatever it divides
        return Unknown(float) if expr.op == "/" else _merged(left, right)
    value = _ARITH[expr.op](left, right)
    if abs(value) > MAX_INT:
        raise LimitError(f"value too large: {value}", expr.span, code=codes.TOO_BIG)
    if value != value:  # NaN: from infinite operands (a literal like 1e400 is inf)
        raise LimitError("not a number (NaN)", expr.span, code=codes.NOT_FINITE)
    return value


def _logic(expr: tree.BinOp, left: Any, env: Mapping[str, Any]) -> Any:
    """`and`, `or`: short-circuit on a known left side; an unknown one checks the right."""
    left = _boolean(left, expr.op, expr.left)
    if not isinstance(left, Unknown) and left == (expr.op == "or"):
        return left
    right = _boolean(evaluate(expr.right, env), expr.op, expr.right)
    if isinstance(left, Unknown) and right != (expr.op == "or"):
        return Unknown(bool)  # `? and true`, `? or false`: whatever the left side is
    return right


def _call(expr: tree.Func, env: Mapping[str, Any]) -> Any:
    func = FUNCTIONS.get(expr.name)
    if func is None:
        raise NameError_(f"unknown function '{expr.name}'", expr.span,
                         did_you_mean(expr.name, FUNCTIONS)
                         or f"available: {', '.join(FUNCTIONS)}", code=codes.UNKNOWN_FUNCTION)
    values = [evaluate(a, env) for a in expr.args]
    want = "one or more numbers" if func.arity is None else "one number"
    if not values or not all(_is_number(v) for v in values) or \
            (func.arity is not None and len(values) != func.arity):
        raise ArgumentError(f"{expr.name}() needs {want}", expr.span, code=codes.VALUE_TYPE)
    if any(isinstance(v, Unknown) for v in values):
        if func.arity is not None:  # abs keeps the type; the rest make integers
            return _merged(*values) if expr.name == "abs" else Unknown(int)
        return _either(*values)  # min(1, 2.5) is 1: mixed kinds stay unknown
    try:
        value = func.fn(*values)
    except (ValueError, OverflowError) as exc:
        raise ArgumentError(f"{expr.name}(): {exc}", expr.span,
                            code=codes.VALUE_TYPE) from None
    if abs(value) > MAX_INT:
        raise LimitError(f"value too large: {value}", expr.span, code=codes.TOO_BIG)
    return value
