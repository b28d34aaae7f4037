"""Stage 3, resolved graph -> which activations run in place (`nn.ReLU(inplace=True)`, as
torchvision's Conv2dNormActivation builds them), decided from the graph alone, so the torch
emitter and the training-memory count (archc/expansion/memory_train.py) agree. No torch here.

An activation overwrites its input only where nothing else can see that input: it follows, in
the same sequence (a scope's items or one branch of a join), a layer whose output is a new
tensor its own backward does not keep (the record's `fresh`: a conv, a linear, a norm). The
first item of a sequence reads the sequence's input, which a join's other branches, a residual
`add`'s identity or the caller may also read; a layer that returns its input or a view of it
(identity, dropout in eval, flatten) would pass the overwrite on to whatever made that."""

from __future__ import annotations

from collections.abc import Sequence

from archc.core.graph import Layer, Node
from archc.core.saving import Context
from archc.registry.ops import REGISTRY


def in_place(items: Sequence[Node]) -> list[bool]:
    """For each item of one sequence, whether it runs in place."""
    flags = [False] * len(items)
    for i in range(1, len(items)):
        node, before = items[i], items[i - 1]
        if isinstance(node, Layer) and isinstance(before, Layer) and \
                can_run_in_place(node) and REGISTRY[before.op].fresh:
            flags[i] = True
    return flags


def can_run_in_place(layer: Layer) -> bool:
    """Whether the layer's op has an in-place form (its record's `inplace` rule)."""
    op = REGISTRY[layer.op]
    return op.inplace is not None and \
        op.inplace(layer.args, layer.in_shape, layer.out_shape, Context()) is not None
