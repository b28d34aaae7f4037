"""Stage 3 helper for archc/export/python.py: Python expressions as small trees, written out the
way `ruff format` (Black's style) writes them, so an exported file passes `ruff format --check`
with no formatter at export time: a statement that fits in 88 columns stays on one line;
otherwise its last bracket opens, the contents go on one indented line if they fit, else one
item per line with a trailing comma, each item split the same way."""

from __future__ import annotations

from dataclasses import dataclass, field

from archc.core.literals import literal as literal  # (its home: ops' Source writes it too)

WIDTH = 88  # ruff's and Black's default line length
INDENT = "    "


@dataclass(frozen=True)
class Kw:
    """`name=value` inside a call."""

    name: str
    value: Expr


@dataclass(frozen=True)
class Bracket:
    """`head(items)`: a call (head = the callee), or a list / tuple (head = '')."""

    head: str
    items: tuple[Expr, ...] = field(default=())
    open: str = "("
    close: str = ")"


Expr = str | Kw | Bracket


def call(head: str, *items: Expr, **kwargs: Expr) -> Bracket:
    return Bracket(head, (*items, *(Kw(k, v) for k, v in kwargs.items())))


def flat(e: Expr) -> str:
    """The expression on one line."""
    if isinstance(e, str):
        return e
    if isinstance(e, Kw):
        return f"{e.name}={flat(e.value)}"
    return f"{e.head}{e.open}{', '.join(flat(i) for i in e.items)}{e.close}"


def lines(prefix: str, e: Expr, suffix: str = "", depth: int = 0) -> list[str]:
    """`prefix + e + suffix` at `depth` indents, split like `ruff format` when too long."""
    pad = INDENT * depth
    one = f"{pad}{prefix}{flat(e)}{suffix}"
    if len(one) <= WIDTH:
        return [one]
    if isinstance(e, Kw):
        return lines(f"{prefix}{e.name}=", e.value, suffix, depth)
    if isinstance(e, str) or not e.items:
        return [one]  # nothing to split at
    head = f"{pad}{prefix}{e.head}{e.open}"
    tail = f"{pad}{e.close}{suffix}"
    inner = INDENT * (depth + 1)
    body = ", ".join(flat(i) for i in e.items)
    if len(inner) + len(body) <= WIDTH:
        return [head, inner + body, tail]
    if len(e.items) == 1:
        return [head, *lines("", e.items[0], "", depth + 1), tail]
    out = [head]
    for item in e.items:
        out += lines("", item, ",", depth + 1)
    return [*out, tail]
