"""Stage 3 helper for archc/export/explain.py: the channel count through a block's body, as the
spec's shape rules carry it, written over the class's constructor names. It starts as the
input size (`in_channels`), keeps its text through a layer that keeps the width (bn, relu), takes
the expression a layer's own width argument was written as (`conv(in.c // 4)`: `in_channels //
4`), and is divided among a split's branches; a layer's input width that equals it in every
instance is written as it (`nn.BatchNorm2d(in_channels // 4)`, `ShuffleBranch(in_channels //
2, ...)`), so a class follows its input instead of a width its instances happened to share.
Where no text explains a width (a loop's end, a concat of unknown branches) the flow is lost
(None) and the slots are explained as before. The network's class (and a group of it) starts
from its own `in_channels`, one number in every instance: only a layer's or call's input
width is it (as a loop's running width), and no later width is scaled from it; there a number
the spec writes is a width too (`conv(4)`), so a concat with the input is `in_channels + 4`,
and a numbered group runs the width through as a variable (archc/export/running.py).

This is not yet a translation of the block's AST: a layer's other arguments are still read off
its instances and probes (archc/export/explain.py), and the flow enters a loop's child only
where that child is an `if` chain (archc/export/loopcases.py: a running width, `c`); a loop of
one template writes `in_channels if i == 0 else c` (`_first_and_rest`). Measured at arguments
no instance had: every block class of every bundled spec builds what archc builds
(tests/test_export_cases.py, its WRONG table empty; MaxViT's `mbconv` `else if cin != cout`
projection among them), and no network class of 4,400 random specs does otherwise
(bench/export_channels.py, BENCHMARKS.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from archc.export.unify import Slot, SlotTree, SubCall, TCall, TJoin, TLayer, TNode, channels
from archc.registry.joins import JOINS


@dataclass(frozen=True)
class Flow:
    """The width at one point of a body: its Python text and its value in each instance."""

    text: str
    values: dict[int, Any]
    running: bool = False  # a loop's variable (archc/export/loopcases.py): every input width
    # False for the network's input channels: one value in every instance, so a layer's
    # output that is a multiple of it (`conv(6)` on 1 channel) is not `6 * in_channels`
    scales: bool = True

    def matches(self, values: dict[int, Any]) -> bool:
        return all(k in self.values and type(v) is int and self.values[k] == v
                   for k, v in values.items())


def _atom(text: str) -> str:
    return text if text.isidentifier() else f"({text})"


def after(node: TNode, flow: Flow | None) -> Flow | None:
    """The width after `node` (instances lacking an optional node keep the width before)."""
    if flow is None:
        return None
    outs = {k: channels(node.present[k]) if k in node.present else v
            for k, v in flow.values.items()}
    if not node.cond:  # the width a layer or call is given (`conv(w)`, `any_stage(2, w2)`)
        for slot in slots(node):
            # (a number the network's spec writes is its width too: `conv(8)` then a concat
            # with the input is `in_channels + 8`; a float equal to the width, lrn's `k=1.0`
            # on one channel, is not a width)
            if slot.expr not in ("", flow.text) and " if " not in slot.expr and \
                    (not slot.expr.isdigit() or not flow.scales) and \
                    all(type(slot.values.get(k)) is int and slot.values[k] == v
                        for k, v in outs.items()):
                return Flow(slot.expr, outs, scales=flow.scales)
    if outs == flow.values:
        return flow
    if node.cond:  # a width changed by a part only some instances have: no one text
        return None
    return _scaled(flow, outs)


def _scaled(flow: Flow, outs: dict[int, Any]) -> Flow | None:
    """`4 * c` after a layer that widens by a fixed factor (patch merging), `c // 2` after one
    narrowing so."""
    if not flow.scales:
        return None
    ratios = {v // flow.values[k] if v % flow.values[k] == 0 else 0 for k, v in outs.items()
              if flow.values[k]}
    if len(ratios) == 1 and (r := ratios.pop()) > 1:
        return Flow(f"{r} * {_atom(flow.text)}", outs)
    ratios = {flow.values[k] // v if v and flow.values[k] % v == 0 else 0
              for k, v in outs.items()}
    if len(ratios) == 1 and (r := ratios.pop()) > 1:
        return Flow(f"{_atom(flow.text)} // {r}", outs)
    return None


def branch_start(join: TJoin, flow: Flow | None) -> Flow | None:
    """A branch's input width: the join's input, or its share of a split (torch.chunk)."""
    if flow is None:
        return None
    record = JOINS.get(join.op)
    if record is None or record.inputs is None or record.inputs.name != "chunks":
        return flow
    n = len(join.branches)
    if any(v % n for v in flow.values.values()):
        return None
    if flow.text.isdigit():
        return replace(flow, text=str(int(flow.text) // n),
                       values={k: v // n for k, v in flow.values.items()})
    return replace(flow, text=f"{_atom(flow.text)} // {n}",
                   values={k: v // n for k, v in flow.values.items()})


def joined(join: TJoin, flow: Flow | None, ends: list[Flow | None]) -> Flow | None:
    """The width after a join: a branch's end width that equals it (add, mul), the sum of the
    branches' (concat, split), or a multiple of the input width."""
    if flow is None:
        return None
    outs = {k: channels(join.present[k]) for k in flow.values if k in join.present}
    if set(outs) != set(flow.values):
        return None
    for end in ends:
        if end is not None and end.values == outs:
            return end
    if all(e is not None for e in ends) and \
            all(sum(e.values[k] for e in ends if e) == v for k, v in outs.items()):
        if all(e.text.isdigit() for e in ends if e):  # (`conv(8) | conv(4)`: 12)
            return Flow(str(sum(int(e.text) for e in ends if e)), outs, scales=flow.scales)
        return Flow(" + ".join(_atom(e.text) if " if " in e.text else e.text
                               for e in ends if e), outs, scales=flow.scales)
    return flow if outs == flow.values else _scaled(flow, outs)


def slots(node: TNode) -> list[Slot]:
    if isinstance(node, TCall):
        return list(node.args.values())
    if isinstance(node, TLayer):
        out: list[Slot] = []
        stack: list[SlotTree] = [*node.args, *node.kwargs.values()]
        while stack:
            s = stack.pop(0)
            if isinstance(s, Slot):
                out.append(s)
            elif isinstance(s, SubCall):
                stack.extend([*s.args, *s.kwargs.values()])
            else:
                stack.extend(s)
        return out
    return []
