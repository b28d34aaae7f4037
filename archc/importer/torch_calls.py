"""`archc import`: an archc op call (an op and its arguments) written as spec text, defaults
left out, as specs write it. Imports no torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archc.registry.ops import REGISTRY

PARAM = object()  # an argument written as a parameter, never at its default



@dataclass(frozen=True)
class OpCall:
    """`op(args...)`: an archc op and its arguments (defaults included; `text` drops them)."""

    op: str
    args: dict[str, Any]

    def text(self) -> str:
        return self.op + arglist([(n, value_text(v), default_of(self.op, n), v)
                                   for n, v in self.args.items()], self.op)


REQUIRED = object()


class Expr(str):
    """An argument written as an expression, not a literal: `in.h`, a tap's name."""


def default_of(op: str, name: str) -> Any:
    info = REGISTRY[op].args.model_fields[name]
    return REQUIRED if info.is_required() else info.default


def same_value(value: Any, default: Any) -> bool:
    return value == default or (isinstance(value, tuple) and pair(value) == default)


def arglist(args: list[tuple[str, str, Any, Any]], op: str | None) -> str:
    """(name, text, default, literal value or PARAM) -> `(a, b, name=c)`: required arguments
    bare, the rest by name unless at their default; an op's first argument is written bare, as
    specs do (`dropout(0.3)`)."""
    parts: list[str] = []
    for i, (name, text, default, value) in enumerate(args):
        if default is REQUIRED:
            parts.append(text)
        elif value is PARAM or not same_value(value, default):
            parts.append(text if i == 0 and op is not None else f"{name}={text}")
    return f"({', '.join(parts)})" if parts else ""


def pair(v: Any) -> Any:
    """(3, 3) -> 3, (3, 3, 3) -> 3, (80,) -> 80: a window equal along every axis is written
    as one number, as torch accepts it (and a 1-D one must be: the language has no 1-tuple)."""
    if isinstance(v, (tuple, list)) and 1 <= len(v) <= 3 and len(set(v)) == 1:
        return v[0]
    return tuple(v) if isinstance(v, list) else v


def value_text(v: Any) -> str:
    v = pair(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return f"({', '.join(value_text(x) for x in v)})"
    if isinstance(v, Expr):
        return str(v)
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)
