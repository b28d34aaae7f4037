"""How argument problems read: call signatures (`conv(out, k, stride=1, ...)`) and pydantic
validation failures turned into archc's wording. Used by expansion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import ast
from .evaluate import type_name
from .ops import Op


def signature(name: str, fields: list[tuple[str, Any, bool]]) -> str:
    parts = [n if req else f"{n}={v if isinstance(v, Text) else show(v)}"
             for n, v, req in fields]
    return f"{name}({', '.join(parts)})"


class Text(str):
    """Already-rendered text in a signature."""


def default_text(expr: ast.Expr | None) -> Any:
    if isinstance(expr, ast.Lit):
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


def pydantic_message(op: str, err: Mapping[str, Any]) -> str:
    field = err["loc"][0] if err["loc"] else "?"
    kind, value = err["type"], err.get("input")
    if kind == "missing":
        return f"{op}: missing argument '{field}'"
    if kind.startswith("archc_"):  # a custom check (ops.Pair) worded as archc words it
        return f"{op}: argument '{field}' {err['msg']}"
    if kind in _PYDANTIC_WORDS:
        return (f"{op}: argument '{field}' must be {_PYDANTIC_WORDS[kind]}, "
                f"got {type_name(value)} {show(value)}")
    if kind in _BOUNDS:
        sym, key = _BOUNDS[kind]
        return f"{op}: argument '{field}' must be {sym} {err['ctx'][key]}, got {show(value)}"
    return f"{op}: argument '{field}': {err['msg'][0].lower()}{err['msg'][1:]}"
