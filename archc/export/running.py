"""Stage 3 helper for archc/export/explain.py: a group of the network's class (`self.features`,
numbered, or labelled: `add_module("denseblock1", ...)`) built child by child with the width
running through it as a variable, as torchvision's builders carry `input_channel`: `c =
in_channels`, then each child added with `c` as its input width and `c = 16` after one that
changes it (an argument that states it, else the one number it is where the width entering is
a number: SqueezeNet's `Fire`, `e1 + e3`). The group is the same nn.Sequential (the same
state_dict keys); it becomes a TLoop without an index whose cases are its children
(archc/export/loopcases.py `Branch`, python.py `_steps`). A group stays a literal
nn.Sequential where a width after a child follows the input (no argument says it) or where no
child reads the running width. `top_running`: the same through a class's own statements."""

from __future__ import annotations

from dataclasses import replace

from archc.export.conditions import reads
from archc.export.explain import Candidates, explain_slots, py_name
from archc.export.flow import Flow, slots
from archc.export.loopcases import Branch, width_update
from archc.export.unify import Mismatch, Slot, TCall, TLayer, TLoop, TNode, TSeq, channels
from archc.export.widths import output_width


def running_group(c: Candidates, node: TSeq, width: Flow) -> tuple[TLoop, Flow] | None:
    """`node`'s children explained with a running width that starts as `width` (its text:
    what `c` is set to first), as a TLoop of steps, and the width after it (the last update,
    or the start); None where that does not hold."""
    if node.cond or node.cls is not None or \
            any(set(n.present) != set(node.present) or not isinstance(n, (TLayer, TCall, TSeq))
                for n in node.children):
        return None
    among = set(node.present)
    running = py_name("c", set(c.defaults))
    inner = replace(c, groups=None)  # (the same `used`: one set)
    flow = Flow(running, {k: width.values[k] for k in among}, running=True)
    branches, follows, now = [], False, width.text  # (`now`: what `c` was last set to)
    for i, child in enumerate(node.children):
        explain_slots(inner, [child], among, flow)
        try:
            update = _stated(child, flow, now) or width_update(child, flow)
        except Mismatch:
            update = output_width(child) if isinstance(child, TCall) else ""
            update = update or _number(child, now)
            if not update:
                return None
        branches.append(Branch(None, (), child=child, update=update, rows=set(among),
                               label="" if child.name == str(i) else child.name))
        # a child after the first that takes the start's width where that is no number
        follows = follows or i > 0 and c.input in reads(width.text, c.names()) and \
            not any(b.update for b in branches[:-1]) and _reads(child, running)
        if update:
            now = update
            flow = replace(flow, values={k: channels(child.present[k]) for k in among})
    # worth a variable where a generated class reads it, or where a later child follows the
    # input; an nn.Sequential of torch layers after a fixed width (a classifier's
    # nn.Linear(960, 1280)), or whose first layer alone takes the input, stays as it is
    if not follows and not any(isinstance(b.child, TCall) and _reads(b.child, running)
                               for b in branches):
        return None
    c.used |= reads(width.text, c.names())
    loop = TLoop(node.name, dict(node.present))
    loop.cases, loop.running, loop.start = branches, running, width.text
    end = next((b.update for b in reversed(branches) if b.update), width.text)
    if not end.isdigit() and end != width.text:  # (`c + 32 * 4` reads `c` before it: the
        end, loop.keep = running, True  # layers after the group read `c`, set after the last)
    return loop, Flow(end, {k: channels(node.present[k]) for k in among},
                      running=width.running and end == width.text, scales=False)


def _stated(child: TNode, flow: Flow, now: str) -> str:
    """A call's output width that one of its own arguments states, where it equals the width
    it was given (`Unit(c, 8)` on 8 channels: `c = 8`, since other input channels still give
    8); "" for a layer (`nn.BatchNorm2d(c)` keeps any width) or where no argument says it."""
    if not isinstance(child, TCall):
        return ""
    outs = {k: channels(s) for k, s in child.present.items()}
    if any(flow.values.get(k) != v for k, v in outs.items()):
        return ""
    for name, slot in child.args.items():
        if name not in ("in_channels", "in_features") and slot.expr.isdigit() and \
                slot.expr != now and all(slot.values.get(k) == v for k, v in outs.items()):
            return slot.expr
    return ""


def _number(child: TNode, now: str) -> str:
    """A call's output width that no argument states (SqueezeNet's `Fire`: `e1 + e3`, a
    DenseNet block's `in + n * growth`) as the one number it is, where its input is a number
    too (so not one that follows the network's `in_channels`); "" otherwise."""
    outs = {channels(s) for s in child.present.values()}
    return str(outs.pop()) if isinstance(child, TCall) and now.isdigit() and len(outs) == 1 \
        else ""


def _reads(node: TNode, name: str) -> bool:
    if isinstance(node, TSeq):
        return any(_reads(n, name) for n in node.children)
    return any(s.expr == name for s in slots(node))


def top_running(c: Candidates, body: list[TNode]) -> None:
    """A class's own statements (the network's, or a block's: not a join's branches) with the
    width running through them too (ResNet's `layer1`..`layer4`, a stem then stages): a
    generated class called on a width the spec writes as a number takes `c`, set just before
    where it changed: to the previous call's output over its arguments where widths.py finds
    it (`c = 64 + 128 + 32 + 32` after an Inception block), else to the number (`c = 128`
    after `layer2`); a numbered group that starts from it reads it. Only where two or more
    read it, a group counted (one call reads its literal as well as a variable). `c` is a
    local of the constructor: no parameter is named so."""
    running = py_name("c", set(c.defaults))
    readers = [n for n in body if _fixed_input(n) or isinstance(n, TLoop) and
               n.running == running]
    if len(readers) < 2:
        return
    now: int | None = None  # the number `c` holds here (None: none known)
    last: TCall | None = None  # the last call, where no width changed after it
    for node in body:
        if isinstance(node, TLoop) and node.running == running:
            if node.start.isdigit() and int(node.start) == now and not node.index:
                node.start = running
            now = last = None  # (what the group leaves in `c` is not followed)
            continue
        slot = _fixed_input(node)
        if slot is not None:
            if int(slot.expr) != now:
                text = output_width(last) if last is not None else ""
                node.before, now = f"{running} = {text or slot.expr}", int(slot.expr)
            slot.expr = running
        outs = {channels(s) for s in node.present.values()}
        if isinstance(node, TCall) and not node.cond and len(outs) == 1:
            last = node
        elif last is None or node.cond or outs != {channels(s) for s in last.present.values()}:
            last = None  # (a layer that keeps the width keeps `last`)


def _fixed_input(node: TNode) -> Slot | None:
    """A call's input-size slot where it is a number in every instance."""
    if not isinstance(node, TCall) or node.cond or node.orelse:
        return None
    slot = next((s for n, s in node.args.items() if n in ("in_channels", "in_features")), None)
    return slot if slot is not None and slot.expr.isdigit() else None
