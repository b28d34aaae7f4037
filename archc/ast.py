"""Stage 1 output, the AST: typed, immutable nodes for what a spec says, as parsing produces them
(archc/parse.py). Every node carries the source span it came from. Expansion turns it into the
resolved graph (archc/graph.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import Span

# ----------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Lit:
    value: Any
    span: Span


@dataclass(frozen=True)
class Var:
    name: str
    span: Span


@dataclass(frozen=True)
class BinOp:
    op: str  # '+', '-', '*', '//', '/', '%', '==', '!=', '<', '<=', '>', '>=', 'and', 'or'
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class UnOp:
    op: str  # '-', 'not'
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Func:
    name: str
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class IfExpr:
    """`then if test else orelse`"""

    then: Expr
    test: Expr
    orelse: Expr
    span: Span


@dataclass(frozen=True)
class Tuple:
    """`(1, 7)`: a pair (or more) of values, e.g. a kernel's height and width."""

    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class InShape:
    """`in.c`: one axis of the enclosing block's (or network's) input shape; `axis` is the
    name after the dot (c, h, w for CxHxW; f for F; n, d for tokens NxD)."""

    axis: str
    span: Span


Expr = Lit | Var | BinOp | UnOp | Func | IfExpr | Tuple | InShape

# ----------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class KwArg:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class Call:
    """`name` or `name(args)`: a layer op or a block."""

    name: str
    args: tuple[Expr, ...]
    kwargs: tuple[KwArg, ...]
    span: Span


@dataclass(frozen=True)
class Group:
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Branches:
    """`op { a | b }`: parallel branches joined by a join of the registry (archc/joins.py)."""

    op: str
    branches: tuple[tuple[Stmt, ...], ...]
    span: Span


@dataclass(frozen=True)
class Cond:
    test: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Loop:
    var: str
    start: Expr
    stop: Expr
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Repeat:
    unit: Stmt
    count: Expr
    span: Span


@dataclass(frozen=True)
class Labelled:
    """`label: unit`. `label` is the text as written, without quotes (`conv1`, `0`,
    `block1-0`); `{name}` in a quoted label is replaced by the value of `name` on expansion.
    A printer quotes it unless it is a plain name or integer."""

    label: str
    unit: Stmt
    span: Span


@dataclass(frozen=True)
class ShapeSpec:
    dims: tuple[Expr, ...]
    span: Span
    # `input tokens(N, V)`: N integer ids, each below V; `kind` is the name written
    # ("tokens": the expander refuses any other)
    vocab: Expr | None = None
    kind: str = ""


@dataclass(frozen=True)
class Input:
    shape: ShapeSpec
    span: Span


@dataclass(frozen=True)
class Expect:
    shape: ShapeSpec
    span: Span


@dataclass(frozen=True)
class Assert:
    """`assert cond, "message"`: a located error when cond is false."""

    test: Expr
    message: str | None
    span: Span


@dataclass(frozen=True)
class Setting:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class Recipe:
    settings: tuple[Setting, ...]
    span: Span


Stmt = (Call | Group | Branches | Cond | Loop | Repeat | Labelled | Input | Expect | Recipe
        | Assert)


@dataclass(frozen=True)
class Param:
    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True)
class Definition:
    """A `network` or a `block`."""

    kind: str  # 'network' | 'block'
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Use:
    path: str
    span: Span


@dataclass(frozen=True)
class Module:
    """One parsed file. After a syntax error it holds what did parse; `broken` names the
    definitions that did not (their errors are reported; calls to them are not)."""

    path: str
    uses: tuple[Use, ...]
    definitions: tuple[Definition, ...]
    broken: tuple[str, ...] = ()
