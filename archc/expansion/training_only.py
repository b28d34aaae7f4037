"""Stage 2, the resolved graph's training-only outputs (`output aux training`): which
nodes only train mode computes, and the rules that keep eval mode's graph whole.

A training-only output ends a *head*: a run of the network's top-level sequence that starts
after a `tap` or at a `from` and ends at the output, as torchvision's GoogLeNet and
Inception-v3 compute their auxiliary classifiers (`if self.aux1 is not None and
self.training: aux1 = self.aux1(x)`).
Eval mode skips the run; nothing after it may read its value, so the next statement is a
`from` or the end of the network.
"""

from __future__ import annotations

from collections.abc import Sequence

from archc.core import codes
from archc.core.errors import ArchcError
from archc.core.graph import Node, Scope, Wire, nodes


def _is_training_output(node: Node) -> bool:
    return isinstance(node, Wire) and node.op == "output" and node.training


def heads(items: tuple[Node, ...]) -> list[tuple[int, int]]:
    """The training-only heads of a top-level sequence: (index of the `tap` or `from` it
    starts from, index of the output) each, for the heads that are well formed (check_training
    reports the others). Eval mode skips the nodes after the first index up to the second."""
    found = []
    for j, node in enumerate(items):
        if _is_training_output(node):
            i = _head_start(items, j)
            if i is not None:
                found.append((i, j))
    return found


def training_nodes(items: tuple[Node, ...]) -> frozenset[int]:
    """The ids of the top-level nodes (and everything inside them) only train mode runs."""
    ids: set[int] = set()
    for i, j in heads(items):
        for node in items[i + 1:j + 1]:
            ids.add(id(node))
            ids.update(id(n) for n in nodes((node,)))
    return frozenset(ids)


def _head_start(items: tuple[Node, ...], j: int) -> int | None:
    """The index of the `tap` or `from` that starts the head ending at j: the nearest wire
    before it, if it is one of those, and no tap or output inside the run."""
    for i in range(j - 1, -1, -1):
        node = items[i]
        if isinstance(node, Wire):
            inner = [n for n in items[i + 1:j] for n in nodes((n,)) if isinstance(n, Wire)]
            return i if node.op in ("tap", "from") and not inner else None
    return None


def check_training(root: Scope) -> list[ArchcError]:
    """The located errors of a network's training-only outputs (none without them)."""
    outputs = [n for n in nodes(root.items) if isinstance(n, Wire) and n.op == "output"]
    top = {id(n) for n in root.items}
    errors = [ArchcError(
        f"output {n.key} training: only the network's own sequence can hold a training-only "
        "output, not a block, group or join", n.span, "write the head at the network's top "
        f"level: `tap NAME  head  output {n.key} training  from NAME`", code=codes.TRAINING_HEAD)
        for n in outputs if n.training and id(n) not in top]
    for j, node in enumerate(root.items):
        if isinstance(node, Wire) and _is_training_output(node):
            errors += _head_errors(root.items, j, node)
    if outputs and all(n.training for n in outputs):
        errors.append(ArchcError(
            "every output of the network is training-only: eval mode would return nothing",
            outputs[0].span, "add the network's main output: `output out`",
            code=codes.NO_EVAL_OUTPUT))
    return errors


def _head_errors(items: tuple[Node, ...], j: int, output: Wire) -> list[ArchcError]:
    """The head ending at items[j] starts at a tap or from, and nothing goes on from it."""
    errors = []
    if _head_start(items, j) is None:
        errors.append(ArchcError(
            f"output {output.key} training: its head must start right after a `tap` or at a "
            "`from` and hold no other tap or output, so that eval mode can skip it",
            output.span, f"write `tap NAME  head  output {output.key} training  from NAME`",
            code=codes.TRAINING_HEAD))
    after = items[j + 1] if j + 1 < len(items) else None
    if after is not None and not (isinstance(after, Wire) and after.op == "from"):
        errors.append(ArchcError(
            f"this goes on from training-only output '{output.key}', which eval mode does not "
            "compute", after.span, "go on from the value before the head: `from NAME`",
            code=codes.TRAINING_VALUE_USED))
    return errors


def output_roles(outputs: Sequence[str], training: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """(the main output, the auxiliary ones) of a network with outputs, for a loss: the main
    one is the output named `out` if eval mode computes it, else eval mode's only output;
    every other output is auxiliary (the training-only heads, DeepLabV3's `aux`). ValueError
    when eval mode computes several and none is named `out`."""
    both = [k for k in outputs if k not in training]
    if "out" in both:
        main = "out"
    elif len(both) == 1:
        main = both[0]
    else:
        raise ValueError(f"eval mode returns the outputs {', '.join(both)}, and none is named "
                         "`out`: which is the main one is ambiguous")
    return main, tuple(k for k in outputs if k != main)
