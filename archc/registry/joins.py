"""The join registry: one record per way of joining parallel branches (`add { a | b }`,
`concat { a | b }`), holding everything that join is: its shape rule, its MAC rule, its torch
emitter, its source expression (`archc export`), its diagram style, its doc, an example and an
independent reference computation for the tests. Every stage looks joins up here by name; a
name that is not here is an internal error, never a silent fallback. Nothing here imports torch
at module level."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import field
from functools import reduce
from typing import Any

from archc.core import codes
from archc.core.graph import Shape
from archc.core.limits import MAX_DIM
from archc.core.records import record
from archc.core.saving import CONTIGUOUS, JoinSaves, Kept
from archc.registry.ops import OpLimitError, OpShapeError, fmt_shape


def _no_macs(ins: Sequence[Shape], out: Shape) -> int:
    return 0


def _keeps_nothing(outs: Sequence[Shape], out: Shape, grads: Sequence[bool],
                   layouts: Sequence[str]) -> JoinSaves:
    """A sum keeps nothing for backward; its output is laid out as its first operand
    (TensorIterator orders dimensions by the first input's strides)."""
    return JoinSaves(layout=layouts[0])


@record
class Inputs:
    """How a join's input reaches its branches: `shapes` gives each branch's input shape (or
    raises OpShapeError), `torch` emits the same into a torch.fx graph, and `reference`
    computes it from a real tensor, independently of `torch`. `source(x, names)` is the Python
    statement binding each branch's input to `names` from the variable `x` (archc export), or
    None when every branch reads `x` itself; an Inputs without it cannot be exported."""

    name: str
    shapes: Callable[[Shape, int], list[Shape]]
    torch: Callable[[Any, Any, int], list[Any]]  # (fx.Graph, input node, n) -> n nodes
    reference: Callable[[Any, int], list[Any]]  # (input tensor, n) -> n tensors
    source: Callable[[str, list[str]], str | None] | None = None


SAME = Inputs("same", lambda s, n: [s] * n, lambda g, x, n: [x] * n, lambda x, n: [x] * n,
              source=lambda x, names: None)


def _chunk_shapes(s: Shape, n: int) -> list[Shape]:
    if s[0] % n:
        raise OpShapeError(f"split: {s[0]} channels do not divide into {n} equal parts",
                           f"give it a multiple of {n} channels, or {s[0]} branches", codes.GROUPS)
    return [(s[0] // n, *s[1:])] * n


def _chunk_torch(graph: Any, x: Any, n: int) -> list[Any]:
    import torch

    parts = graph.call_function(torch.chunk, (x, n, 1))
    return [graph.call_function(operator.getitem, (parts, i)) for i in range(n)]


def _chunk_reference(x: Any, n: int) -> list[Any]:
    c = x.shape[1] // n
    return [x[:, i * c:(i + 1) * c] for i in range(n)]


def _chunk_source(x: str, names: list[str]) -> str:
    call = f"torch.chunk({x}, {len(names)}, 1)"
    return f"{names[0]} = {call}[0]" if len(names) == 1 else f"{', '.join(names)} = {call}"


CHUNKS = Inputs("chunks", _chunk_shapes, _chunk_torch, _chunk_reference, _chunk_source)


Hint = Callable[[Sequence[Shape], Sequence[Shape], Sequence[bool]], "str | None"]


@record
class JoinOp:
    """One join kind. `shape` maps the branches' output shapes to the join's output shape (or
    raises OpShapeError); `torch` emits the join into a torch.fx graph from the branches'
    output nodes; `reference` computes the same from real tensors, written independently of
    `torch`, so the registry-parametrised test checks the emitter numerically. `source` writes
    the join as a Python expression over the branches' variable names (`a + b`,
    `torch.cat([a, b], 1)`; names `torch` and `nn` are imported) for archc/export/python.py; a
    join without it cannot be exported, and its test fails."""

    name: str
    doc: str
    shape: Callable[[Sequence[Shape]], Shape]
    torch: Callable[[Any, list[Any]], Any]  # (fx.Graph, branch outputs) -> fx.Node
    reference: Callable[[list[Any]], Any]  # branch output tensors -> joined tensor
    macs: Callable[[Sequence[Shape], Shape], int] = _no_macs
    source: Callable[[Sequence[str]], str] | None = None
    diagram: dict[str, str] = field(default_factory=dict)  # graphviz node attributes
    example: str = ""  # a statement using the join, tested on `example_input`
    example_input: str = "4x6x6"
    inputs: Inputs = SAME  # what each branch is fed
    # what autograd keeps for backward (archc/core/saving.py) from the branches' output shapes,
    # whether each requires grad, and each one's layout; checked against saved_tensors_hooks
    saved: Callable[[Sequence[Shape], Shape, Sequence[bool], Sequence[str]], JoinSaves] = \
        _keeps_nothing
    # The most empty (identity) branches that mean something: add and mul take one (a
    # residual, a gate's input); a second is a typo (`||`) that doubles or squares the input.
    identities: int | None = None
    # The hint of a shape error, from the branches' input and output shapes and which are the
    # identity (archc/expansion/join_errors.py); None, or a hint that returns None: the error's own.
    hint: Hint | None = None

    @property
    def counts_macs(self) -> bool:
        return self.macs is not _no_macs


JOINS: dict[str, JoinOp] = {}


class UnknownJoin(KeyError):
    """A stage met a join kind the registry does not hold: a bug, not a spec error."""


def register(join: JoinOp) -> JoinOp:
    JOINS[join.name] = join
    return join


def lookup(name: str) -> JoinOp:
    """The record of a join kind; an unknown kind fails loudly."""
    try:
        return JOINS[name]
    except KeyError:
        raise UnknownJoin(f"unknown join kind '{name}' (known: {', '.join(JOINS)})") from None


# ----------------------------------------------------------------------------- add


def _add_shape(outs: Sequence[Shape]) -> Shape:
    first = outs[0]
    for other in outs[1:]:
        if other != first:
            raise OpShapeError(
                f"add: branch shapes differ: {fmt_shape(first)} vs {fmt_shape(other)}",
                "make every branch end in the same shape, e.g. with a 1x1 conv (strided "
                "as the other branch) on the shortcut", codes.ADD_SHAPES)
    return first


def _add_torch(graph: Any, outs: list[Any]) -> Any:
    return reduce(lambda a, b: graph.call_function(operator.add, (a, b)), outs)


def _add_reference(outs: list[Any]) -> Any:
    import torch

    return torch.stack(outs).sum(dim=0)


def _add_hint(ins: Sequence[Shape], outs: Sequence[Shape],
              identity: Sequence[bool]) -> str | None:
    """An identity branch that cannot match: the 1x1 conv (strided as needed) that would."""
    if True not in identity:
        return None
    i = identity.index(True)
    other = next((o for o, ident in zip(outs, identity, strict=True)
                  if not ident and o != ins[i]), None)
    if other is None or len(other) != 3 or len(ins[i]) != 3:
        return None
    (c, h, w), (_, ih, iw) = other, ins[i]
    if ih % h or iw % w or ih // h != iw // w:
        return None
    stride = ih // h
    conv = f"conv({c}, k=1{f', stride={stride}' if stride > 1 else ''}) bn"
    return (f"the identity passes its input unchanged; to end in {fmt_shape(other)}, give "
            f"branch {i + 1} a projection: `{conv}` (a 1x1 conv shortcut)")


register(JoinOp(
    name="add",
    doc="elementwise sum of the branches (a residual connection); every branch must end in "
        "the same shape; an empty branch is the identity",
    shape=_add_shape, torch=_add_torch, reference=_add_reference,
    source=lambda names: " + ".join(names),
    diagram={"label": "+", "shape": "circle", "width": "0.3", "fixedsize": "true"},
    example="add { conv(4, k=3, pad=1) | }",
    identities=1, hint=_add_hint,
))


# ----------------------------------------------------------------------------- concat


def _stacked(name: str, code: str) -> Callable[[Sequence[Shape]], Shape]:
    """The shape rule of joins that stack their branches on the channel axis."""
    def rule(outs: Sequence[Shape]) -> Shape:
        first = outs[0]
        for other in outs[1:]:
            if len(other) != len(first) or other[1:] != first[1:]:
                raise OpShapeError(
                    f"{name}: branch sizes differ: {fmt_shape(first)} vs {fmt_shape(other)}",
                    f"{name} joins on the channel axis; the other axes must match "
                    "(check strides and padding)", code)
        out = (sum(o[0] for o in outs), *first[1:])
        if out[0] > MAX_DIM:  # `concat { | } * 100` doubles the channels 100 times
            raise OpLimitError(f"{name}: output {fmt_shape(out)} exceeds {MAX_DIM} per axis")
        return out
    return rule


_concat_shape = _stacked("concat", codes.CONCAT_SIZES)


def _concat_torch(graph: Any, outs: list[Any]) -> Any:
    import torch

    return graph.call_function(torch.cat, (outs, 1))


def _cat_saved(outs: Sequence[Shape], out: Shape, grads: Sequence[bool],
               layouts: Sequence[str]) -> JoinSaves:
    """torch.cat keeps nothing; its output takes its inputs' layout where all agree."""
    return JoinSaves(layout=layouts[0] if len(set(layouts)) == 1 else CONTIGUOUS)


def _concat_reference(outs: list[Any]) -> Any:
    import torch

    channels = [c for out in outs for c in out.unbind(dim=1)]
    return torch.stack(channels, dim=1)


register(JoinOp(
    name="concat",
    doc="the branches' outputs stacked on the channel axis (Inception, DenseNet); the other "
        "axes must match",
    shape=_concat_shape, torch=_concat_torch, reference=_concat_reference,
    source=lambda names: f"torch.cat([{', '.join(names)}], 1)",
    diagram={"label": "concat", "shape": "invtrapezium"},
    example="concat { conv(2, k=1) | conv(3, k=3, pad=1) | }", saved=_cat_saved,
))


# ----------------------------------------------------------------------------- mul


def _mul_shape(outs: Sequence[Shape]) -> Shape:
    """Equal shapes, or Cx1x1 gates broadcast over CxHxW (squeeze-excitation)."""
    full = max(outs, key=lambda o: (len(o), *o))
    for i, other in enumerate(outs):
        gate = len(other) == 3 == len(full) and other[0] == full[0] and other[1:] == (1, 1)
        if other != full and not gate:
            k = outs.index(full)
            raise OpShapeError(
                f"mul: branch {i + 1} gives {fmt_shape(other)}, branch {k + 1} gives "
                f"{fmt_shape(full)}; mul needs equal shapes, or a Cx1x1 gate of the same "
                "channels", "end the gate branch in as many channels as the other, e.g. "
                f"conv({full[0]}, k=1) after gap", codes.ADD_SHAPES)
    return full


def _mul_torch(graph: Any, outs: list[Any]) -> Any:
    return reduce(lambda a, b: graph.call_function(operator.mul, (a, b)), outs)


def _mul_saved(outs: Sequence[Shape], out: Shape, grads: Sequence[bool],
               layouts: Sequence[str]) -> JoinSaves:
    """a * b * c is (a * b) * c; each product keeps each factor the other factor's gradient
    needs (a for b's, if b requires grad), partial products included."""
    kept: list[Kept] = []
    branches = [1] if grads[0] else []
    branches += [0] if grads[1] else []
    acc, grad = _mul_shape(outs[:2]), grads[0] or grads[1]
    for k in range(2, len(outs)):
        if grads[k]:
            kept.append(Kept(math.prod(acc)))
        if grad:
            branches.append(k)
        acc, grad = _mul_shape([acc, outs[k]]), grad or grads[k]
    return JoinSaves(tuple(sorted(branches)), tuple(kept), layouts[0])


def _mul_reference(outs: list[Any]) -> Any:
    import torch

    shape = max((o.shape for o in outs), key=lambda s: (len(s), *s))
    return torch.stack([o.expand(shape) for o in outs]).prod(dim=0)


register(JoinOp(
    name="mul",
    doc="elementwise product of the branches; a Cx1x1 branch (a gate) is broadcast over "
        "CxHxW, as in squeeze-excitation; an empty branch is the identity",
    shape=_mul_shape, torch=_mul_torch, reference=_mul_reference,
    source=lambda names: " * ".join(names),
    diagram={"label": "×", "shape": "circle", "width": "0.3", "fixedsize": "true"},
    example="mul { gap conv(4, k=1) sigmoid | }", saved=_mul_saved,
    identities=1,
))


# ----------------------------------------------------------------------------- split


register(JoinOp(
    name="split",
    doc="the input's channels divided into equal parts, one per branch in order "
        "(torch.chunk), the branches' outputs stacked on the channel axis (ShuffleNetV2); "
        "an empty branch passes its part through",
    shape=_stacked("split", codes.CONCAT_SIZES), torch=_concat_torch,
    reference=_concat_reference,
    source=lambda names: f"torch.cat([{', '.join(names)}], 1)", inputs=CHUNKS,
    diagram={"label": "split | concat", "shape": "invtrapezium"},
    example="split { | conv(3, k=3, pad=1) relu }", saved=_cat_saved,
))
