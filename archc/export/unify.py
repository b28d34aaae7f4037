"""Stage 3 helper for archc/export/python.py: the instances of one block definition, lined up.

Each instance (a resolved scope) is first written as pieces: what each submodule is built from
(an op's source call, a class call with argument values, a Sequential of children) and how
joins combine branches. `unify` lines the pieces of several instances up by submodule name into
one template whose every argument is a `Slot` holding each instance's value; what is present in
only some instances is marked so; a submodule built in different structures by different
instances is one template per structure (`orelse`), which explain.py puts under the spec's
`if` chain or refuses. Instances that cannot share one class (a submodule that is a conv in
one and a pool in another with no `if` of the spec between them, names in another order) raise
Mismatch."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

from archc.core.graph import Shape
from archc.registry.ops import Source


class Mismatch(Exception):
    """The instances cannot be written as one class."""


# ----------------------------------------------------------------------------- pieces


def channels(shape: Shape) -> int:
    """The width of a shape: the channels of CxHxW (and CxDxHxW), a token's width, features."""
    return shape[0] if len(shape) in (3, 4) else shape[-1]


def with_channels(shape: Shape, width: int) -> Shape:
    """`shape` with its width (what `channels` reads) set to `width`."""
    at = 0 if len(shape) in (3, 4) else len(shape) - 1
    return (*shape[:at], width, *shape[at + 1:])


@dataclass(frozen=True)
class PLayer:
    name: str
    source: Source
    out_shape: Shape
    # the places of the source's arguments made from the layer's input width (nn.Conv2d's
    # first, nn.LayerNorm's normalized_shape): argument indexes and keyword names; None where
    # that is not known (archc/export/classes.py `_from_width`)
    from_width: frozenset[int | str] | None = None


@dataclass(frozen=True)
class PCall:
    """An instance of a generated class, with the values of its constructor's parameters."""

    name: str
    cls: Any  # explain.ClassDef
    values: dict[str, Any]
    out_shape: Shape


@dataclass(frozen=True)
class PSeq:
    """An nn.Sequential (cls None) or a generated Sequential subclass, given its children;
    `loop`: the children are a repetition's (`for i in 0..n`, `* n`)."""

    name: str
    cls: Any
    children: tuple[Piece, ...]
    out_shape: Shape
    loop: bool = False


@dataclass(frozen=True)
class PJoin:
    name: str
    op: str
    branches: tuple[tuple[Piece, ...], ...]
    out_shape: Shape


@dataclass(frozen=True)
class PWire:
    """`tap`, `from` or `output` (graph.Wire): a variable of the forward, no module. Named
    `@tap:low` in a row, which no module's name can equal."""

    name: str
    op: str
    key: str
    out_shape: Shape
    training: bool = False  # `output aux training` (archc/expansion/training_only.py)


Piece: TypeAlias = PLayer | PCall | PSeq | PJoin | PWire

# ----------------------------------------------------------------------------- templates


@dataclass
class Slot:
    """One argument across instances: instance index -> value; `expr` is how it is written
    (a literal, a constructor parameter or an expression over them), set by explain.py."""

    values: dict[int, Any]
    hint: str  # a name for the parameter it becomes when nothing else explains it
    expr: str = ""


@dataclass
class SubCall:
    """A call nested in an op's source (`nn.Parameter(torch.zeros(1, 1, 8))`), its arguments
    slots like the outer call's."""

    call: str
    args: list[SlotTree]
    kwargs: dict[str, SlotTree]
    defaults: dict[str, Any]


SlotTree: TypeAlias = Slot | SubCall | tuple["SlotTree", ...]


@dataclass
class TNode:
    name: str
    present: dict[int, Shape]  # instance index -> output shape, for the instances having it
    cond: str = ""  # when not every instance has it: the condition, set by explain.py
    # the same attribute built otherwise in other instances, each under the next test of the
    # spec's `if` chain (`elif`): MaxViT's `proj` (a pool and a conv, or a conv alone)
    orelse: list[TNode] = field(default_factory=list)
    # the running width set just before the network's class builds it (`c = 64`: a call
    # reading `c` follows; archc/export/running.py `top_running`)
    before: str = ""


@dataclass
class TLayer(TNode):
    call: str = ""
    args: list[SlotTree] = field(default_factory=list)
    kwargs: dict[str, SlotTree] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    support: tuple[str, ...] = ()
    apply: str = ""  # an inline op's forward over {x} and {p}; its call makes a parameter
    from_width: frozenset[int | str] | None = None  # PLayer's, in every instance


@dataclass
class TCall(TNode):
    cls: Any = None
    args: dict[str, Slot] = field(default_factory=dict)
    # how archc/export/widths.py wrote its output width for a caller: "derived" from the
    # block's definition or "fitted" to its instances ("": not asked)
    width_by: str = ""


@dataclass
class TSeq(TNode):
    cls: Any = None
    children: list[TNode] = field(default_factory=list)


ROW = 1 << 20  # a loop's row key: instance * ROW + index


@dataclass
class TLoop(TNode):
    """A repetition whose length differs between instances: `count` children, each built
    from one template (`child`, its slots keyed by row: instance * ROW + index), named
    0, 1, ... or by `label` (a Python f-string, set by explain.py)."""

    count: Slot = field(default_factory=lambda: Slot({}, "count"))
    child: TNode | None = None
    rows: dict[int, tuple[int, int]] = field(default_factory=dict)  # row -> (instance, index)
    names: dict[int, str] = field(default_factory=dict)  # row -> the child's name
    label: str = ""
    index: str = ""  # the index's Python name, set by explain.py
    # a child that is an `if` chain over the index (archc/export/loopcases.py `Branch`es), and
    # the name of the width running through the loop
    cases: list[Any] = field(default_factory=list)
    running: str = ""
    start: str = ""  # what it starts as (`in_channels`)
    keep: bool = False  # the running width is read after it: its last update is written too


@dataclass
class TJoin(TNode):
    op: str = ""
    branches: list[list[TNode]] = field(default_factory=list)


@dataclass
class TWire(TNode):
    op: str = ""
    key: str = ""
    training: bool = False


def is_module(node: TNode | Piece) -> bool:
    """A submodule (not a join, nor an inline op's parameter)."""
    if isinstance(node, PLayer):
        return not node.source.apply
    if isinstance(node, TLayer):
        return not node.apply
    return not isinstance(node, (TJoin, PJoin, TWire, PWire))  # (a TLoop is an nn.Sequential)


# ----------------------------------------------------------------------------- unification


def optional_children(node: TNode) -> bool:
    """A Sequential some of whose children only some instances have."""
    return isinstance(node, TSeq) and any(set(c.present) != set(node.present)
                                          for c in node.children)


def unify(rows: dict[int, tuple[Piece, ...]]) -> list[TNode]:
    """One template for the item sequences of several instances (index -> pieces)."""
    order = _merged_names({k: [p.name for p in ps] for k, ps in rows.items()})
    by_name = {k: {p.name: p for p in ps} for k, ps in rows.items()}
    out = []
    for name in order:
        have = {k: by_name[k][name] for k in rows if name in by_name[k]}
        try:
            out.append(_unify_piece(name, have))
        except Mismatch:
            out.append(_alternatives(name, have))
    return out


def _alternatives(name: str, have: dict[int, Piece]) -> TNode:
    """A submodule built in different structures by different instances (an attribute an
    `if` chain of the spec assigns in each case): one template per structure, the first holding
    the others (`orelse`); explain.py gives each the spec's test of its case or raises."""
    if not name.isidentifier() or not all(isinstance(p, (PSeq, PLayer, PCall))
                                          for p in have.values()):
        raise Mismatch(f"'{name}' is built differently in different instances")
    groups: list[dict[int, Piece]] = []
    for k, piece in have.items():  # each instance joins the first structure it fits
        for group in groups:
            try:
                _unify_piece(name, {**group, k: piece})
            except Mismatch:
                continue
            group[k] = piece
            break
        else:
            groups.append({k: piece})
    first, *others = (_unify_piece(name, g) for g in groups)
    if not others:
        raise Mismatch(f"'{name}' is built differently in different instances")
    first.orelse = others
    return first


def _merged_names(seqs: dict[int, list[str]]) -> list[str]:
    """Every name, in an order that keeps each sequence's order (names are unique per scope)."""
    merged: list[str] = []
    for seq in seqs.values():
        if seq == merged:  # the usual case: every instance has the same submodules
            continue
        # positions in a dict, not list.index: linear in the names (a repetition of 1,024
        # layers in a block of 18 instances was quadratic, 11 s of an export)
        where = {n: i for i, n in enumerate(merged)}
        mine = set(seq)
        if [n for n in seq if n in where] != [n for n in merged if n in mine]:
            raise Mismatch(f"submodules in a different order: {merged} vs {seq}")
        result: list[str] = []
        i = 0
        for name in seq:
            j = where.get(name)
            if j is not None:
                result += merged[i:j + 1]
                i = j + 1
            else:
                result.append(name)
        merged = result + merged[i:]
    return merged


def _unify_piece(name: str, have: dict[int, Piece]) -> TNode:
    kinds = {type(p) for p in have.values()}
    if len(kinds) != 1:
        raise Mismatch(f"'{name}' is of different kinds")
    present = {k: p.out_shape for k, p in have.items()}
    return _UNIFY[kinds.pop()](name, have, present)


def _slot(values: dict[int, Any], hint: str) -> SlotTree:
    first = next(iter(values.values()))
    if isinstance(first, Source):
        return _call_slots(values, hint)
    mixed = any(isinstance(v, tuple) for v in values.values()) and not all(
        isinstance(v, tuple) and len(v) == len(first) for v in values.values())
    if mixed:  # a size given as a number in one instance, a tuple in another (S3D's `k`)
        if any(isinstance(v, Source) for v in values.values()):
            raise Mismatch(f"{hint}: a call in one instance, a value in another")
        return Slot(values, hint)
    if isinstance(first, tuple):
        return tuple(_slot({k: v[i] for k, v in values.items()}, f"{hint}_{i}")
                     for i in range(len(first)))
    return Slot(values, hint)


def _call_slots(sources: dict[int, Any], hint: str,
                present: dict[int, Shape] | None = None) -> SubCall:
    """The slots of one call across instances; the same callee and arguments in each. A
    positional argument that is the layer's output width in every instance (`present`: its
    output shapes) is hinted `{hint}_channels` (RegNet's squeeze `fc1_channels`), any other
    `{hint}_arg{i}`."""
    first = next(iter(sources.values()))
    for s in sources.values():
        if not isinstance(s, Source) or (s.call, len(s.args), list(s.kwargs), s.support,
                                         s.apply) != (first.call, len(first.args),
                                                      list(first.kwargs), first.support,
                                                      first.apply):
            raise Mismatch(f"{hint}: {first.call} in one instance, {s} in another")
    args = []
    for i in range(len(first.args)):
        values = {k: s.args[i] for k, s in sources.items()}
        width = present is not None and all(
            type(v) is int and k in present and channels(present[k]) == v
            for k, v in values.items())
        args.append(_slot(values, f"{hint}_channels" if width else f"{hint}_arg{i}"))
    kwargs = {kw: _slot({k: s.kwargs[kw] for k, s in sources.items()}, f"{hint}_{kw}")
              for kw in first.kwargs}
    return SubCall(first.call, args, kwargs, dict(first.defaults))


def _unify_layer(name: str, have: dict[int, PLayer], present: dict[int, Shape]) -> TLayer:
    sources = {k: p.source for k, p in have.items()}
    first = next(iter(sources.values()))
    call = _call_slots(sources, name if name.isidentifier() else f"m{name}", present)
    known = [p.from_width for p in have.values()]
    return TLayer(name, present, call=call.call, args=call.args, kwargs=call.kwargs,
                  defaults=call.defaults, support=first.support, apply=first.apply,
                  from_width=None if None in known else frozenset.intersection(
                      *[k for k in known if k is not None]))


def _unify_call(name: str, have: dict[int, PCall], present: dict[int, Shape]) -> TCall:
    classes = {id(p.cls) for p in have.values()}
    if len(classes) != 1:
        raise Mismatch(f"'{name}' is an instance of different classes")
    cls = next(iter(have.values())).cls
    args = {param: Slot({k: p.values[param] for k, p in have.items()}, param)
            for param in next(iter(have.values())).values}
    return TCall(name, present, cls=cls, args=args)


def _unify_seq(name: str, have: dict[int, PSeq], present: dict[int, Shape]) -> TSeq | TLoop:
    if len({id(p.cls) for p in have.values()}) != 1:
        raise Mismatch(f"'{name}' is an instance of different classes")
    names = {tuple(c.name for c in p.children) for p in have.values()}
    if len(names) != 1 and all(p.loop for p in have.values()):
        return unify_loop(name, {k: p.children for k, p in have.items()}, present)
    # a named nn.Sequential may lack a child in some instances (RegNet's `f` holds `se` only
    # with squeeze-excitation): it is built by add_module under the spec's test
    # (archc/export/python.py `_assign`); a numbered one or a class's may not
    if len(names) != 1 and (next(iter(have.values())).cls is not None or
                            not all(n.isidentifier() for ns in names for n in ns)):
        raise Mismatch(f"'{name}' holds different children in different instances")
    children = unify({k: p.children for k, p in have.items()})
    return TSeq(name, present, cls=next(iter(have.values())).cls, children=children)


def unify_loop(name: str, children: dict[int, tuple[Piece, ...]],
               present: dict[int, Shape]) -> TLoop:
    """The children of a repetition in every instance as one template child."""
    rows: dict[int, tuple[int, int]] = {}
    names: dict[int, str] = {}
    pieces: dict[int, tuple[Piece, ...]] = {}
    for k, kids in children.items():
        for i, child in enumerate(kids):
            rows[k * ROW + i] = (k, i)
            names[k * ROW + i] = child.name
            pieces[k * ROW + i] = (replace(child, name="item"),)
    if not pieces:
        raise Mismatch(f"'{name}': a repetition that is empty everywhere")
    [template] = unify(pieces)
    if set(template.present) != set(rows):
        raise Mismatch(f"'{name}': a repetition's child missing in some rows")
    return TLoop(name, present, count=Slot({k: len(v) for k, v in children.items()}, "count"),
                 child=template, rows=rows, names=names)


def _unify_join(name: str, have: dict[int, PJoin], present: dict[int, Shape]) -> TJoin:
    shapes = {(p.op, len(p.branches)) for p in have.values()}
    if len(shapes) != 1:
        raise Mismatch(f"'{name}' joins differently in different instances")
    op, count = shapes.pop()
    branches = [unify({k: p.branches[i] for k, p in have.items()}) for i in range(count)]
    return TJoin(name, present, op=op, branches=branches)


def _unify_wire(name: str, have: dict[int, PWire], present: dict[int, Shape]) -> TWire:
    first = next(iter(have.values()))
    return TWire(name, present, op=first.op, key=first.key, training=first.training)


_UNIFY: dict[type, Any] = {PLayer: _unify_layer, PCall: _unify_call, PSeq: _unify_seq,
                           PJoin: _unify_join, PWire: _unify_wire}
