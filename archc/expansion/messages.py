"""How argument problems read: call signatures (`conv(out, k, stride=1, ...)`) and pydantic
validation failures turned into archc's wording. Used by expansion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archc.core import codes
from archc.front import tree
from archc.front.evaluate import IN, type_name
from archc.registry.ops import Op


def signature(name: str, fields: list[tuple[str, Any, bool]]) -> str:
    parts = [n if req else f"{n}={v if isinstance(v, Text) else show(v)}"
             for n, v, req in fields]
    return f"{name}({', '.join(parts)})"


class Text(str):
    """Already-rendered text in a signature."""


def default_text(expr: tree.Expr | None) -> Any:
    if isinstance(expr, tree.Lit):
        return expr.value
    return Text("...")


def show(value: Any) -> str:
    return {True: "true", False: "false", None: "none"}.get(value, repr(value)) \
        if isinstance(value, (bool, type(None))) else repr(value)


def op_signature(op: Op) -> str:
    return signature(op.name, [(n, f.default, f.is_required())
                               for n, f in op.args.model_fields.items()])


_PYDANTIC_WORDS = {"int_type": "an integer", "bool_type": "a boolean", "float_type": "a number",
                   "string_type": "a string", "int_from_float": "an integer"}
_BOUNDS = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
           "less_than": ("<", "lt"), "less_than_equal": ("<=", "le")}


def pydantic_message(op: str, err: Mapping[str, Any]) -> tuple[str, str]:
    """archc's wording of one pydantic validation error, and its diagnostic code."""
    field = err["loc"][0] if err["loc"] else "?"
    error_type, value = err["type"], err.get("input")
    if error_type == "missing":
        return f"{op}: missing argument '{field}'", codes.MISSING_ARGUMENT
    if error_type.startswith("archc_"):  # a custom check (ops.Pair) worded as archc words it
        bound = err["msg"].startswith(("must be >=", "must be <="))
        return (f"{op}: argument '{field}' {err['msg']}",
                codes.ARGUMENT_RANGE if bound else codes.ARGUMENT_TYPE)
    if error_type in _PYDANTIC_WORDS:
        return (f"{op}: argument '{field}' must be {_PYDANTIC_WORDS[error_type]}, "
                f"got {type_name(value)} {show(value)}", codes.ARGUMENT_TYPE)
    if error_type == "finite_number":  # 1e400 is inf; Args forbids NaN and inf
        return (f"{op}: argument '{field}' must be a finite number, got {show(value)}",
                codes.NOT_FINITE)
    if error_type in _BOUNDS:
        sym, key = _BOUNDS[error_type]
        return (f"{op}: argument '{field}' must be {sym} {err['ctx'][key]}, got {show(value)}",
                codes.ARGUMENT_RANGE)
    return (f"{op}: argument '{field}': {err['msg'][0].lower()}{err['msg'][1:]}",
            codes.ARGUMENT_TYPE)


def slash_hint(expr: tree.Expr | None) -> str | None:
    """For a number where an integer is needed, when the expression divides with `/`."""
    if expr is not None and any(isinstance(e, tree.BinOp) and e.op == "/"
                                for e in tree.expressions(expr)):
        return "use // for an integer: `/` always makes a number (32 / 2 is 16.0)"
    return None


def call_text(call: tree.Call, values: dict[str, Any]) -> str:
    """A block call as written, with its arguments' values: `residual(64, stride=2)`."""
    names = [n for n in values if n != IN]  # (the input shape rides along as `in`)
    parts = [show(values[n]) for n in names[:len(call.args)]]
    parts += [f"{kw.name}={show(values[kw.name])}" for kw in call.kwargs if kw.name in values]
    return f"{call.name}({', '.join(parts)})"
