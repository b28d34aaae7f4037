"""Stage 3, resolved graph -> the explorable page's data: the module tree as nested JSON records
(one per layer, join, block instance and run of identical blocks), each with its shapes,
counts, arguments, module name and source span, plus the texts the spans point into and the
diagnostics of a spec that failed to check (archc/emit/html.py puts it in the page)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from archc.core.errors import ArchcError, Span, located_for_user
from archc.core.graph import Join, Layer, Network, Node, Scope, Shape, Wire
from archc.expansion.stats import Counts, count, join_counts, run_name, runs
from archc.registry import joins
from archc.registry.ops import FAMILIES, REGISTRY

Record = dict[str, Any]


class _Builder:
    """Walks the resolved graph once (counts bottom-up, so linear in its size)."""

    def __init__(self, errors: list[ArchcError]):
        self.files: dict[str, int] = {}
        self.keys: dict[int, int] = {}  # id(node) -> its interned structure key
        self.interned: dict[tuple, int] = {}
        self.errors = errors
        self.failed = not errors  # True once the failing node is placed (or there is none)

    def span(self, span: Span | None) -> list[int] | None:
        if span is None:
            return None
        return [self.files.setdefault(span.path, len(self.files)), span.line, span.col]

    def key(self, node: Node) -> int:
        """stats.structure_key, interned bottom-up: each node's is computed once (the
        recursive one costs O(size x depth), 7 s for 97,000 nodes)."""
        k = self.keys.get(id(node))
        if k is None:
            if isinstance(node, Layer):
                t: tuple = ("layer", node.op, repr(node.args), node.in_shape, node.out_shape)
            elif isinstance(node, Wire):
                t = ("wire", node.op, node.key, node.in_shape, node.out_shape)
            elif isinstance(node, Join):
                t = ("join", node.op, tuple(tuple((c.name, self.key(c)) for c in b)
                                            for b in node.branches), node.in_shape,
                     node.out_shape)
            else:
                t = ("scope", node.kind, node.title,
                     tuple((c.name, self.key(c)) for c in node.items), node.in_shape,
                     node.out_shape)
            k = self.keys[id(node)] = self.interned.setdefault(t, len(self.interned))
        return k

    def seq(self, items: Iterable[Node], prefix: str) -> list[Record]:
        out: list[Record] = []
        for run in runs(items, self.key):  # interned keys: computed once per scope
            if len(run) > 1:
                out.append(self.run(run, prefix))
                continue
            node = run[0]
            if not self.failed and node.in_shape is None:  # the first node after the failure
                out.append(self.failure())
            out.append(_NODE[type(node)](self, node, prefix))
        return out

    def run(self, run: list[Node], prefix: str) -> Record:
        first = run[0]
        assert isinstance(first, Scope)
        children = [self.scope(n, prefix) for n in run if isinstance(n, Scope)]
        return _totals({"k": "run", "n": run_name(prefix, run), "t": f"{first.title} ×{len(run)}",
                        "op": first.title, "i": first.in_shape, "o": run[-1].out_shape,
                        "s": self.span(first.span), "c": children}, children)

    def layer(self, n: Layer, prefix: str) -> Record:
        op = REGISTRY[n.op]
        caption = op.describe(n.args, n.in_shape)
        if not re.fullmatch(re.escape(n.op) + r"\d*", n.name):  # a name the spec chose
            caption = f"{n.name}: {caption}"
        c = count(n) if n.out_shape is not None else Counts()
        return {"k": "layer", "n": prefix + n.name, "t": caption, "op": n.op,
                "f": FAMILIES[op.family].fill, "a": n.args.model_dump(mode="json", warnings=False),
                "i": n.in_shape, "o": n.out_shape, "s": self.span(n.span),
                "p": c.params, "m": c.macs, "v": c.activations}

    def wire(self, n: Wire, prefix: str) -> Record:
        """`tap low`, `from low`, `output out`: a row of no cost where the spec names or
        reads a value (drawn as a layer: the page knows layers, joins and scopes)."""
        return {"k": "layer", "n": f"{prefix}{n.op}:{n.key}", "t": n.text, "op": n.op,
                "f": "#ffffff", "a": {"name": n.key}, "i": n.in_shape, "o": n.out_shape,
                "s": self.span(n.span), "p": 0, "m": 0, "v": 0}

    def join(self, n: Join, prefix: str) -> Record:
        branches = [self.seq(b, prefix) for b in n.branches]
        if not self.failed and n.in_shape is not None and n.out_shape is None:
            branches[self.failed_branch(n)].append(self.failure())  # it ends a branch
        own = join_counts(n) if n.out_shape is not None else Counts()
        rec = {"k": "join", "n": prefix + n.name, "t": joins.lookup(n.op).diagram.get(
                   "label", n.op), "op": n.op, "i": n.in_shape, "o": n.out_shape,
               "bi": list(n.branch_inputs) if n.in_shape is not None else None,
               "s": self.span(n.span), "b": branches, "p": 0, "m": own.macs,
               "v": own.activations}
        for b in branches:
            _totals(rec, b, add=True)
        return rec

    def failed_branch(self, n: Join) -> int:
        """The branch the first error lies in: the last that starts before it (a join whose
        own rule fails is left out of the graph; one that is there lost a branch's end)."""
        at = self.errors[0].span
        found = 0
        for i, branch in enumerate(n.branches):
            if branch and at is not None and branch[0].span.path == at.path and \
                    (branch[0].span.line, branch[0].span.col) <= (at.line, at.col):
                found = i
        return found

    def scope(self, n: Scope, prefix: str, top: bool = False) -> Record:
        qual = "" if top else prefix + n.name  # the network's children are not prefixed
        children = self.seq(n.items, qual + "." if qual else "")
        if not self.failed and n.out_shape is None:  # the failure ends this scope
            children.append(self.failure())
        return _totals({"k": n.kind, "n": qual, "t": n.title, "op": n.title, "i": n.in_shape,
                        "o": n.out_shape, "s": self.span(n.span), "c": children}, children)

    def failure(self) -> Record:
        self.failed = True
        first = located_for_user(self.errors[0])
        return {"k": "error", "n": "error", "t": f"error[{first.code}]" if first.code else "error",
                "op": "error", "i": None, "o": None, "s": self.span(first.span),
                "p": 0, "m": 0, "v": 0}


_NODE: dict[type, Any] = {Layer: _Builder.layer, Join: _Builder.join, Scope: _Builder.scope,
                          Wire: _Builder.wire}


def _totals(rec: Record, children: list[Record], add: bool = False) -> Record:
    for key in ("p", "m", "v"):
        rec[key] = (rec.get(key, 0) if add else 0) + sum(c[key] for c in children)
    return rec


def diagnostic(e: ArchcError, b: _Builder) -> Record:
    shown = located_for_user(e)
    return {"code": shown.code or "", "message": shown.message, "hint": shown.hint or "",
            "s": b.span(shown.span),
            "notes": [{"message": n.message, "s": b.span(n.span)} for n in shown.notes]}


def page_data(net: Network | None, errors: list[ArchcError], sources: Mapping[str, str],
              name: str = "") -> Record:
    """The page's data: the tree (None for a network that could not be expanded at all), the
    source texts its spans index, and the diagnostics."""
    b = _Builder(errors)
    root: Record | None = None
    if net is not None:
        root = b.scope(net.root, "", top=True)
        root["t"] = net.name
        if not b.failed:  # nothing to attach to (an error outside the drawn network)
            root["c"].append(b.failure())
    diags = [diagnostic(e, b) for e in errors]
    texts = {path: sources.get(path, "") for path in b.files}
    return {"name": net.name if net is not None else name,
            "input": _shape(net.input_shape if net else None),
            "output": _shape(net.output_shape if net else None), "root": root,
            "files": list(b.files), "sources": [texts[p] for p in b.files],
            "errors": diags}


def _shape(shape: Shape | None) -> list[int] | None:
    return list(shape) if shape is not None else None
