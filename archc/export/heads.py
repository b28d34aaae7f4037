"""Stage 3, the exported forward of a network with training-only outputs (`output aux
training`, archc/expansion/training_only.py): each head under `if self.training:`, as torchvision's
GoogLeNet writes `if self.training: aux1 = self.aux1(x)`, and every output put in one dict as
it is made, so that eval mode's dict lacks the heads' keys and TorchScript sees one type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archc.export.explain import ClassDef
from archc.export.unify import TNode, TWire

OUTPUTS = "outputs"  # the forward's dict of outputs (no spec variable is named so: b1, tap_x)


def _heads(nodes: list[TNode]) -> list[tuple[int, int]]:
    """(first node, last node) of each head: after the nearest `tap` or `from` before a
    training-only output, up to that output (the checker proved that shape)."""
    found = []
    for j, node in enumerate(nodes):
        if isinstance(node, TWire) and node.op == "output" and node.training:
            i = max(k for k in range(j) if isinstance(nodes[k], TWire))
            found.append((i + 1, j))
    return found


def forward_heads(cls: ClassDef, nodes: list[TNode], forward: Callable[..., list[str]],
                  v: Any) -> list[str]:
    """The network's forward statements: the runs between heads as `forward` writes them
    (each leaving its value in `x`), each head indented under `if self.training:`."""
    out = [f"        {OUTPUTS}: dict[str, Tensor] = {{}}"]
    start = 0
    for first, last in _heads(nodes):
        out += forward(cls, nodes[start:first], "x", "x", v)
        out += ["        if self.training:",
                *forward(cls, nodes[first:last + 1], "x", v.fresh(), v, 3)]
        start = last + 1
    return out + forward(cls, nodes[start:], "x", "x", v)
