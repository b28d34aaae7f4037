"""Part of expansion: what a join's shape error says. Each branch is labelled where it ends,
with its shape (rustc's secondary labels), and the hint is chosen from the construct that
failed: the join record's own `hint` (archc/registry/joins.py), which branch is the identity, and
the prelude block it lies in."""

from __future__ import annotations

from collections.abc import Sequence

from archc.core import graph
from archc.core.errors import ArchcError, Note, Span
from archc.registry import joins
from archc.registry.ops import fmt_shape

PRELUDE = "<prelude>"  # (the path of the prelude's spans: archc/pipeline/program.py)

def explain_join(err: ArchcError, op: str, span: Span, block: str | None,
                 branches: Sequence[Sequence[graph.Node]], ins: Sequence[graph.Shape],
                 outs: Sequence[graph.Shape]) -> ArchcError:
    """`err` (a join's shape error) with a label on each branch's end and the hint for this
    construct. `block`: the block whose body holds the join, if any."""
    identity = [not b for b in branches]
    labels = []
    for i, (nodes, out) in enumerate(zip(branches, outs, strict=True)):
        if nodes:
            labels.append(Note(nodes[-1].span, f"branch {i + 1} ends in {fmt_shape(out)}"))
        elif not any(lb.span == span for lb in labels):  # one text under the primary caret
            labels.append(Note(span, f"branch {i + 1} is the identity: {fmt_shape(out)}"))
    err.labels = (*err.labels, *labels)
    hint = PRELUDE_HINTS.get((block or "", op)) if span.path == PRELUDE and any(identity) \
        else None
    facet = joins.lookup(op).hint
    err.hint = hint or (facet(ins, outs, identity) if facet is not None else None) or err.hint
    return err


def identity_twice(op: str, empty: Sequence[bool], span: Span) -> ArchcError | None:
    """An add or mul with more empty branches than its record allows (`add { f || }`): what it
    would build, and the two fixes."""
    from archc.core import codes

    allowed = joins.lookup(op).identities
    count = sum(empty)
    if allowed is None or count <= allowed or count == len(empty):
        return None  # (`add { | }`, all empty, reads like no residual: not the typo)
    built = {"add": f"f(x) + {count}·x", "mul": f"f(x) · x^{count}"}.get(op, "")
    return ArchcError(f"{op}: {count} branches are the identity (empty), so this builds "
                      f"{built or f'{count} copies of the input'}", span,
                      "an empty branch passes the input through; one is a shortcut. Remove the "
                      "extra '|' (`||` is two empty branches), or write `identity` in each "
                      "branch if the input is meant to count twice",
                      code=codes.IDENTITY_TWICE)


# A join inside a prelude block with an identity branch: the block's own way out.
PRELUDE_HINTS: dict[tuple[str, str], str] = {
    ("residual", "add"): "call residual(..., use_1x1=true): a 1x1 conv on the shortcut, with "
                         "the block's stride, makes its shape match",
}
