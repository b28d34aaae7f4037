"""Stage 3, resolved graph -> counts: parameters, MACs, FLOPs and activation sizes per layer,
computed statically from the op registry, without torch and without running the model."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from archc.core.errors import ArchcError, UsageError
from archc.core.graph import Join, Layer, Network, Node, Scope, Shape, Wire
from archc.expansion.training_only import training_nodes
from archc.registry import joins
from archc.registry.ops import FAMILIES, REGISTRY


def _words(items: list[str]) -> str:
    return f"{', '.join(items[:-1])} and {items[-1]}" if len(items) > 1 else "".join(items)


def _flop_convention() -> str:
    """The FLOP wording, read off the op and join records."""
    counted = dict.fromkeys(FAMILIES[op.family].words for op in REGISTRY.values()
                            if op.counts_macs)
    free = dict.fromkeys(FAMILIES[op.family].words for op in REGISTRY.values()
                         if not op.counts_macs)
    free_joins = [j.name for j in joins.JOINS.values() if not j.counts_macs]
    return (f"FLOPs = 2 x MACs for {_words(list(counted))} (a multiply and an add), 0 for "
            f"{_words([w for w in free if w not in counted] + free_joins)}: what "
            "torch.utils.flop_counter.FlopCounterMode counts for a forward pass (bias additions "
            "are not counted); attention counts its projections, Q K^T and the weighted sum of "
            "V, a causal mask in full (what the math path computes)")


FLOP_CONVENTION = _flop_convention()
ACTIVATION_CONVENTION = (
    "layer outputs = the output elements of every layer and every join, summed: not what "
    "training keeps (some ops keep their input, some nothing, some extra tensors; a view "
    "shares its input's memory), which `archc summary --train` counts exactly")
PARAM_CONVENTION = (
    "parameters are weights and biases (BatchNorm running statistics are buffers, not "
    "parameters); every parameter is trainable")

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}


def dtype_bytes(dtype: str) -> int:
    """Bytes per element of a dtype name (float32, float16, bfloat16, float64)."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise UsageError(f"unknown dtype '{dtype}'",
                         hint=f"choose one of {', '.join(DTYPE_BYTES)}") from None


# ----------------------------------------------------------------------------- counts


@dataclass(frozen=True)
class Counts:
    """What one node costs for one input sample."""

    params: int = 0
    macs: int = 0
    activations: int = 0  # output elements

    @property
    def flops(self) -> int:
        # The registry gives MACs only for conv and linear; FlopCounterMode counts 2 per MAC.
        return 2 * self.macs

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.params + other.params, self.macs + other.macs,
                      self.activations + other.activations)

    def __mul__(self, n: int) -> Counts:
        return Counts(self.params * n, self.macs * n, self.activations * n)


def _sum(counts: Iterator[Counts]) -> Counts:
    total = Counts()
    for c in counts:
        total = total + c
    return total


def _count_layer(layer: Layer) -> Counts:
    op = REGISTRY[layer.op]
    try:
        return Counts(op.params(layer.args, layer.in_shape, layer.out_shape),
                      op.macs(layer.args, layer.in_shape, layer.out_shape),
                      math.prod(layer.out_shape))
    except ArchcError as exc:  # a plugin's count that fails (archc/registry/plugin_guards.py)
        exc.span = exc.span or layer.span
        raise


def join_counts(join: Join) -> Counts:
    """What the join itself costs (its branches aside)."""
    record = joins.lookup(join.op)
    return Counts(macs=record.macs(join.branch_outputs, join.out_shape),
                  activations=math.prod(join.out_shape))


Part = Callable[[Node], Counts]  # counts a node inside a block or join


def _count_join(join: Join, part: Part) -> Counts:
    return _sum(part(n) for branch in join.branches for n in branch) + join_counts(join)


def _count_scope(scope: Scope, part: Part) -> Counts:
    return _sum(part(n) for n in scope.items)


_COUNT: dict[type, Callable[[Any, Part], Counts]] = {
    Layer: lambda n, _: _count_layer(n), Join: _count_join, Scope: _count_scope,
    Wire: lambda n, _: Counts()}  # a name for a value another node made: no new tensor


def count(node: Node, part: Part | None = None) -> Counts:
    """The counts of a node and everything inside it, for one sample; `part` counts the nodes
    inside a block or join (a caller's memo of them, as the language server keeps: each layer
    counted once however deep its blocks nest), `count` itself by default."""
    return _COUNT[type(node)](node, part or count)


# ----------------------------------------------------------------------------- repeats


def structure_key(node: Node) -> tuple:
    """A node's structure without its own name or source position: two sibling blocks with
    equal signatures compute the same function of the same shapes."""
    return _STRUCTURE_KEY[type(node)](node)


def _named(node: Node) -> tuple:
    return (node.name, structure_key(node))


_STRUCTURE_KEY: dict[type, Callable[[Any], tuple]] = {
    Layer: lambda n: ("layer", n.op, repr(n.args), n.in_shape, n.out_shape),
    Join: lambda n: ("join", n.op, tuple(tuple(_named(c) for c in b) for b in n.branches),
                     n.in_shape, n.out_shape),
    Scope: lambda n: ("scope", n.kind, n.title, tuple(_named(c) for c in n.items),
                      n.in_shape, n.out_shape),
    Wire: lambda n: ("wire", n.op, n.key, n.in_shape, n.out_shape),
}


def runs(items: Iterable[Node], key: Callable[[Scope], Any] = structure_key
         ) -> Iterator[list[Node]]:
    """Consecutive identical scopes grouped together; every other node alone. `key`: what
    makes two scopes identical (the structure key; the page builder passes an interned one)."""
    run: list[Node] = []
    for node in items:
        if run and isinstance(node, Scope) and isinstance(run[0], Scope) \
                and key(node) == key(run[0]):
            run.append(node)
            continue
        if run:
            yield run
        run = [node]
    if run:
        yield run


def run_name(prefix: str, run: list[Node]) -> str:
    """`b2.0` for one node, `b2.0-3` for numbered repeats, `b2.{a,b}` otherwise."""
    names = [n.name for n in run]
    if len(names) == 1:
        return prefix + names[0]
    if all(n.isdigit() for n in names) and \
            [int(n) for n in names] == list(range(int(names[0]), int(names[0]) + len(names))):
        return f"{prefix}{names[0]}-{names[-1]}"
    return f"{prefix}{{{','.join(names)}}}"


# ----------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Row:
    """One line of the summary: a layer, a join, or a block (collapsed, or the header of an
    expanded one, whose contents follow it and carry its counts)."""

    name: str
    kind: str  # 'layer' | 'join' | 'block' | 'group' | 'repeat'
    op: str  # the layer's op, the join's op (archc/registry/joins.py) or the block's name
    caption: str  # what a reader sees: the op's caption ('conv 3x3, 64, /2'), else `op`
    output: Shape
    counts: Counts
    level: int  # nesting of scopes (and of joins, for indentation)
    repeat: int = 1  # identical consecutive blocks this row stands for
    branch: str | None = None  # 'add[1]': the innermost join branch the row is on
    header: bool = False
    # the nodes the row stands for (a run of identical blocks: each), for other per-node
    # measures (archc/expansion/memory_train.py's saved bytes)
    nodes: tuple[Node, ...] = field(default=(), hash=False, compare=False, repr=False)
    training: bool = False  # in a head only train mode computes (archc/expansion/training_only.py)


@dataclass(frozen=True)
class Summary:
    name: str
    input: Shape
    output: Shape
    total: Counts
    rows: tuple[Row, ...] = field(default=())
    depth: int | None = None
    # the network's `output NAME` statements with their shapes (empty: one output, `output`)
    outputs: dict[str, Shape] = field(default_factory=dict, hash=False)
    # the network's named inputs (`input image 3x224x224`, ...; empty: one unnamed input)
    inputs: dict[str, Shape] = field(default_factory=dict, hash=False)
    # what the training-only heads (`output aux training`) cost, outside `total`'s MACs and
    # activations (eval mode skips them) but inside its parameters (the model holds them)
    training: Counts = Counts()
    training_outputs: tuple[str, ...] = ()

    @property
    def trainable_params(self) -> int:
        return self.total.params  # the language has no frozen layers (yet)

    def param_bytes(self, dtype: str = "float32") -> int:
        return self.total.params * dtype_bytes(dtype)

    def activation_bytes(self, dtype: str = "float32", batch: int = 1) -> int:
        return self.total.activations * dtype_bytes(dtype) * batch

    def to_json(self, batch: int = 1, dtype: str = "float32") -> dict[str, Any]:
        """The `archc summary --json` object; MACs, FLOPs and activations per sample."""
        t = self.total
        return {
            "name": self.name, "input": list(self.input), "output": list(self.output),
            # what forward returns: a dict of these (archc's `output NAME`); null: one tensor
            "outputs": {k: list(v) for k, v in self.outputs.items()} or None,
            # what forward takes: these tensors in order, by position or name; null: one
            "inputs": {k: list(v) for k, v in self.inputs.items()} or None,
            # the input's vocabulary when it is token ids (`input tokens(N, vocab)`), else null
            "vocab": getattr(self.input, "vocab", None),
            "params": t.params, "trainable_params": self.trainable_params,
            "macs": t.macs, "flops": t.flops, "activations": t.activations,
            "dtype": dtype, "param_bytes": self.param_bytes(dtype),
            "activation_bytes": self.activation_bytes(dtype), "batch": batch,
            "batch_macs": t.macs * batch, "batch_flops": t.flops * batch,
            "batch_activation_bytes": self.activation_bytes(dtype, batch),
            "depth": self.depth,
            # the heads only train mode computes: their outputs and counts, or null
            "training_only": {"outputs": list(self.training_outputs),
                              "params": self.training.params, "macs": self.training.macs,
                              "flops": self.training.flops} if self.training_outputs else None,
            "conventions": {"flops": FLOP_CONVENTION, "activations": ACTIVATION_CONVENTION,
                            "params": PARAM_CONVENTION},
            "layers": [_row_json(r) for r in self.rows if not r.header],
        }


def _row_json(r: Row) -> dict[str, Any]:
    # "label" is the caption under its old name (kept for tools that read it; README glossary:
    # a label is what a spec writes before `:`, which is in "name")
    return {"name": r.name, "kind": r.kind, "op": r.op, "caption": r.caption,
            "label": r.caption,
            "output": list(r.output),
            "params": r.counts.params, "macs": r.counts.macs, "flops": r.counts.flops,
            "activations": r.counts.activations, "repeat": r.repeat, "branch": r.branch,
            "training_only": r.training}


def summarize(net: Network, depth: int | None = None) -> Summary:
    """Counts for a checked network, with one row per node down to `depth` levels of blocks
    (None: every layer). Blocks at the cut are collapsed into one row holding their totals,
    and identical consecutive ones into one row `xN`. The rows' counts add up to the total."""
    if depth is not None and depth < 1:
        raise UsageError(f"--depth must be at least 1, got {depth}")
    rows: list[Row] = []
    _Rows(rows, depth).seq(net.root.items, "", 0, None)
    heads = training_nodes(net.root.items)
    if heads:
        rows = _mark_training(rows, [n for n in net.root.items if id(n) in heads])
    extra = _sum(count(n) for n in net.root.items if id(n) in heads)
    total = count(net.root)
    total = Counts(total.params, total.macs - extra.macs, total.activations - extra.activations)
    return Summary(net.name, net.input_shape, net.output_shape, total, tuple(rows),
                   depth, dict(net.outputs), inputs=dict(net.inputs), training=extra,
                   training_outputs=net.training_outputs)


def _mark_training(rows: list[Row], heads: list[Node]) -> list[Row]:
    """The rows of the training-only heads (top-level nodes and what is inside them), marked."""
    names = {f"{n.op}:{n.key}" if isinstance(n, Wire) else n.name for n in heads}

    def inside(name: str) -> bool:
        return name in names or name.split(".", 1)[0] in names

    return [replace(r, training=True, caption=r.caption if r.kind == "wire"
                    else f"{r.caption} (training only)")
            if inside(r.name) else r for r in rows]


class _Rows:
    def __init__(self, out: list[Row], depth: int | None):
        self.out, self.depth = out, depth
        self._node: dict[type, Callable[..., None]] = {
            Layer: self.layer, Join: self.join, Scope: self.scope, Wire: self.wire}

    def seq(self, items: Iterable[Node], prefix: str, level: int, branch: str | None) -> None:
        for run in runs(items):
            node = run[0]
            if isinstance(node, Scope) and not self.expanded(level):
                self.out.append(Row(run_name(prefix, run), node.kind, node.title, node.title,
                                    node.out_shape, count(node) * len(run), level, len(run),
                                    branch, nodes=tuple(run)))
            else:
                for n in run:
                    self._node[type(n)](n, prefix, level, branch)

    def expanded(self, level: int) -> bool:
        return self.depth is None or level + 1 < self.depth

    def layer(self, n: Layer, prefix: str, level: int, branch: str | None) -> None:
        caption = REGISTRY[n.op].describe(n.args, n.in_shape)
        self.out.append(Row(prefix + n.name, "layer", n.op, caption, n.out_shape, count(n), level,
                            branch=branch, nodes=(n,)))

    def wire(self, n: Wire, prefix: str, level: int, branch: str | None) -> None:
        # `tap low` shows where a value is named and `from low` where it is read again
        self.out.append(Row(f"{prefix}{n.op}:{n.key}", "wire", n.op, n.text, n.out_shape,
                            Counts(), level, branch=branch, nodes=(n,)))

    def join(self, n: Join, prefix: str, level: int, branch: str | None) -> None:
        # The join's own row (its output tensor) heads its branches, as in `archc build`.
        self.out.append(Row(prefix + n.name, "join", n.op, n.op, n.out_shape,
                            join_counts(n), level, branch=branch, nodes=(n,)))
        for i, b in enumerate(n.branches):
            self.seq(b, prefix, level, f"{n.name}[{i}]")

    def scope(self, n: Scope, prefix: str, level: int, branch: str | None) -> None:
        self.out.append(Row(prefix + n.name, n.kind, n.title, n.title, n.out_shape, Counts(),
                            level,
                            branch=branch, header=True))
        self.seq(n.items, f"{prefix}{n.name}.", level + 1, None)
