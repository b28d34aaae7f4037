"""Stage 1 output, the AST: typed, immutable nodes for what a spec says, as parsing produces them
(archc/front/parse.py). Every node carries the source span it came from. Expansion turns it into the
resolved graph (archc/core/graph.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import field
from functools import cached_property
from typing import Any

from archc.core.errors import Span
from archc.core.records import record

# ----------------------------------------------------------------------------- expressions


@record
class Lit:
    """A literal value: a number, a string, a boolean."""
    value: Any
    span: Span


@record
class Var:
    """A name in an expression: a parameter or a loop variable."""
    name: str
    span: Span


@record
class BinOp:
    """`left op right`."""
    op: str  # '+', '-', '*', '//', '/', '%', '==', '!=', '<', '<=', '>', '>=', 'and', 'or'
    left: Expr
    right: Expr
    span: Span


@record
class UnOp:
    """`op operand`: `-x`, `not x`."""
    op: str  # '-', 'not'
    operand: Expr
    span: Span


@record
class Func:
    """`name(args)` in an expression: a built-in function (archc/front/evaluate.py)."""
    name: str
    args: tuple[Expr, ...]
    span: Span


@record
class IfExpr:
    """`then if test else orelse`"""

    then: Expr
    test: Expr
    orelse: Expr
    span: Span


@record
class Tuple:
    """`(1, 7)`: a pair (or more) of values, e.g. a kernel's height and width."""

    items: tuple[Expr, ...]
    span: Span


@record
class InShape:
    """`in.c`: one axis of the enclosing block's (or network's) input shape; `axis` is the
    name after the dot (c, h, w for CxHxW; f for F; n, d for tokens NxD)."""

    axis: str
    span: Span


Expr = Lit | Var | BinOp | UnOp | Func | IfExpr | Tuple | InShape

# ----------------------------------------------------------------------------- statements


@record
class KwArg:
    """`name=value` in a call."""
    name: str
    value: Expr
    span: Span


@record
class Call:
    """`name` or `name(args)`: a layer op or a block."""

    name: str
    args: tuple[Expr, ...]
    kwargs: tuple[KwArg, ...]
    span: Span


@record
class Group:
    """`{ body }`: a sequence of statements as one."""
    body: tuple[Stmt, ...]
    span: Span


@record
class Branches:
    """`op { a | b }`: parallel branches joined by a join of the registry
    (archc/registry/joins.py)."""

    op: str
    branches: tuple[tuple[Stmt, ...], ...]
    span: Span


@record
class Cond:
    """`if test { then } else { orelse }`."""
    test: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    span: Span


@record
class Loop:
    """`for var in start..stop { body }`."""
    var: str
    start: Expr
    stop: Expr
    body: tuple[Stmt, ...]
    span: Span


@record
class Repeat:
    """`unit * count`: the unit repeated."""
    unit: Stmt
    count: Expr
    span: Span


@record
class Labelled:
    """`label: unit`. `label` is the text as written, without quotes (`conv1`, `0`,
    `block1-0`); `{name}` in a quoted label is replaced by the value of `name` on expansion.
    A printer quotes it unless it is a plain name or integer."""

    label: str
    unit: Stmt
    span: Span
    quoted: bool = field(default=False, compare=False)  # written in quotes (its span's width)


@record
class ShapeSpec:
    """A shape as written, `3x224x224` (or `tokens(N, V)`)."""
    dims: tuple[Expr, ...]
    span: Span
    # `input tokens(N, V)`: N integer ids, each below V; `kind` is the name written
    # ("tokens": the expander refuses any other)
    vocab: Expr | None = None
    kind: str = ""


@record
class Input:
    """`input 3x224x224`, or a named one, `input mask 1x224x224` (a network may have several:
    the body starts from the first, `from mask` reads another)."""

    shape: ShapeSpec
    span: Span
    name: str = ""


@record
class Expect:
    """`expect 10`: the shape the network must end in."""
    shape: ShapeSpec
    span: Span


@record
class Assert:
    """`assert cond, "message"`: a located error when cond is false."""

    test: Expr
    message: str | None
    span: Span


@record
class Setting:
    """`name = value` in a recipe."""
    name: str
    value: Expr
    span: Span


@record
class Recipe:
    """`train { settings }`: how the network is trained."""
    settings: tuple[Setting, ...]
    span: Span


@record
class Wire:
    """`tap low`, `from low`, `output out`: the dataflow beyond a sequence. `tap` names the
    current value, `from` makes a named tap the current value again (a sequence or a join
    branch starts from it), `output` makes the current value one of the network's outputs;
    `output aux training` one that only train mode computes (archc/expansion/training_only.py)."""

    kind: str  # 'tap' | 'from' | 'output'
    name: str
    span: Span
    shape: ShapeSpec | None = None  # `output out 21x520x520`: the shape it must have
    training: bool = False  # `training` written after the name


Stmt = (Call | Group | Branches | Cond | Loop | Repeat | Labelled | Input | Expect | Recipe
        | Assert | Wire)


@record
class Param:
    """A parameter of a definition, `name` or `name=default`."""
    name: str
    default: Expr | None
    span: Span


@record
class Definition:
    """A `network` or a `block`."""

    kind: str  # 'network' | 'block'
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span

    @cached_property
    def calls(self) -> tuple[Call, ...]:
        """Every call in the body (`calls(body)`), walked once per definition: the tree is
        frozen, and the passes over every definition ask for it again at each edit in the
        language server (names, reach, the definitions pass)."""
        return tuple(calls(self.body))


@record
class Use:
    """`use "path"`: another spec file whose definitions this one may call."""
    path: str
    span: Span


@record
class Requires:
    """`requires "archc-grn"`: a plugin the spec needs. It loads nothing (the user loads
    plugins); it names the plugin when one of its ops is missing."""

    plugin: str
    span: Span


@record
class Module:
    """One parsed file. After a syntax error it holds what did parse; `broken` names the
    definitions that did not (their errors are reported; calls to them are not)."""

    path: str
    uses: tuple[Use, ...]
    definitions: tuple[Definition, ...]
    broken: tuple[str, ...] = ()
    requires: tuple[Requires, ...] = ()


Node = (Expr | Stmt | KwArg | ShapeSpec | Setting | Param | Definition | Use | Requires
        | Module)

# ----------------------------------------------------------------------------- the walker
#
# The one walk over the tree (sqlglot's `walk`/`find_all`, ruff's `walk_stmt`): every pass that
# visits statements or expressions is a filter over `walk`, so a new node type is one row in
# _CHILDREN and reaches every pass at once. A type missing here is a KeyError, never skipped.

_CHILDREN: dict[type, Callable[[Any], tuple[Any, ...]]] = {
    Lit: lambda n: (),
    Var: lambda n: (),
    InShape: lambda n: (),
    BinOp: lambda n: (n.left, n.right),
    UnOp: lambda n: (n.operand,),
    Func: lambda n: n.args,
    IfExpr: lambda n: (n.then, n.test, n.orelse),  # in source order: `then if test else ...`
    Tuple: lambda n: n.items,
    KwArg: lambda n: (n.value,),
    Call: lambda n: (*n.args, *n.kwargs),
    Group: lambda n: n.body,
    Branches: lambda n: tuple(st for branch in n.branches for st in branch),
    Cond: lambda n: (n.test, *n.then, *n.orelse),
    Loop: lambda n: (n.start, n.stop, *n.body),
    Repeat: lambda n: (n.unit, n.count),
    Labelled: lambda n: (n.unit,),
    ShapeSpec: lambda n: n.dims if n.vocab is None else (*n.dims, n.vocab),
    Input: lambda n: (n.shape,),
    Expect: lambda n: (n.shape,),
    Assert: lambda n: (n.test,),
    Wire: lambda n: () if n.shape is None else (n.shape,),
    Setting: lambda n: (n.value,),
    Recipe: lambda n: n.settings,
    Param: lambda n: () if n.default is None else (n.default,),
    Definition: lambda n: (*n.params, *n.body),
    Use: lambda n: (),
    Requires: lambda n: (),
    Module: lambda n: (*n.uses, *n.requires, *n.definitions),
}
EXPRESSIONS = (Lit, Var, BinOp, UnOp, Func, IfExpr, Tuple, InShape)
STATEMENTS = (Call, Group, Branches, Cond, Loop, Repeat, Labelled, Input, Expect, Recipe, Assert,
              Wire)


def children(node: Node) -> tuple[Node, ...]:
    """The nodes directly inside a node, in source order."""
    return _CHILDREN[type(node)](node)


def walk(root: Node | Iterable[Node], only: tuple[type, ...] | None = None) -> Iterator[Node]:
    """Every node in `root` (a node or a sequence of them, a body), pre-order, in source order,
    without recursion (a body nested a thousand deep walks as a flat one). With `only`, just
    nodes of those types, and only through them (`only=STATEMENTS` does not enter expressions).
    """
    stack: list[Any] = list(reversed(tuple(root))) if isinstance(root, (tuple, list)) else [root]
    while stack:
        node = stack.pop()
        if only is not None and not isinstance(node, only):
            continue
        yield node
        stack.extend(reversed(_CHILDREN[type(node)](node)))


def statements(body: Iterable[Stmt]) -> Iterator[Stmt]:
    """Every statement of a body and inside it (both branches of every `if`, every branch of
    a join), in source order."""
    return walk(tuple(body), STATEMENTS)  # type: ignore[return-value]


def calls(body: Iterable[Stmt]) -> Iterator[Call]:
    """Every call in a body, in every branch of every conditional."""
    return (st for st in statements(body) if isinstance(st, Call))


def expressions(root: Node | Iterable[Node]) -> Iterator[Expr]:
    """Every expression in `root`, nested ones included (`c * 2` gives `c * 2`, `c`, `2`)."""
    return (n for n in walk(root) if isinstance(n, EXPRESSIONS))


def names(expr: Expr) -> Iterator[str]:
    """The parameters an expression reads."""
    return (e.name for e in expressions(expr) if isinstance(e, Var))


# ----------------------------------------------------------------------------- spans and labels


def name_span(call: Call) -> Span:
    """The name of a call as written (`conv` in `conv(8, k=3)`)."""
    s = call.span
    return Span(s.path, s.line, s.col, s.line, s.col + len(call.name))


def label_span(st: Labelled) -> Span:
    """Where a label is written: its text, with the quotes of a quoted one."""
    s = st.span
    return Span(s.path, s.line, s.col, s.line, s.col + len(st.label) + 2 * st.quoted)


# `{expr}` in a computed label (`"layer{i + 1}"`)
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
