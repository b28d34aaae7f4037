"""Typed, immutable nodes: the AST that parsing produces and the resolved graph that expansion
produces. Every node carries the source span it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Span

Shape = tuple[int, ...]  # per-sample shape: (C, H, W) or (F,); the batch axis is implicit

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


Expr = Lit | Var | BinOp | UnOp | Func | IfExpr

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
    kind: str  # 'add' | 'concat'
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
    label: str
    unit: Stmt
    span: Span


@dataclass(frozen=True)
class ShapeSpec:
    dims: tuple[Expr, ...]
    span: Span


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
    """One parsed file."""

    path: str
    uses: tuple[Use, ...]
    definitions: tuple[Definition, ...]


# ----------------------------------------------------------------------------- resolved graph


@dataclass(frozen=True)
class Layer:
    """One op instance with validated arguments and its inferred shapes."""

    name: str
    op: str
    args: dict[str, Any] = field(hash=False)
    in_shape: Shape
    out_shape: Shape
    span: Span


@dataclass(frozen=True)
class Join:
    """Parallel branches fed the same input, joined by `add` or `concat` (channel axis)."""

    name: str
    kind: str
    branches: tuple[tuple[Node, ...], ...]
    in_shape: Shape
    out_shape: Shape
    span: Span


@dataclass(frozen=True)
class Scope:
    """A named level of the module tree: the network, a block instance, a labelled group or a
    repetition. Its items run in sequence."""

    name: str
    kind: str  # 'network' | 'block' | 'group' | 'repeat'
    label: str  # block name for blocks, else the kind
    items: tuple[Node, ...]
    in_shape: Shape
    out_shape: Shape
    span: Span


Node = Layer | Join | Scope


@dataclass(frozen=True)
class Network:
    """A checked network: the resolved tree plus what the spec says about it."""

    name: str
    root: Scope
    params: dict[str, Any] = field(hash=False)
    recipe: dict[str, Any] = field(hash=False)
    path: str = ""

    @property
    def input_shape(self) -> Shape:
        return self.root.in_shape

    @property
    def output_shape(self) -> Shape:
        return self.root.out_shape


def walk(items: tuple[Node, ...], prefix: str = ""):
    """Yield (qualified_name, node) for every node, depth first, in execution order."""
    for node in items:
        qual = f"{prefix}{node.name}"
        yield qual, node
        if isinstance(node, Scope):
            yield from walk(node.items, qual + ".")
        elif isinstance(node, Join):
            for branch in node.branches:
                yield from walk(branch, prefix)
