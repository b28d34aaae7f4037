"""Stage 3, resolved graph -> Graphviz diagram: one node per layer, each block instance a
(nested) cluster, output shapes on the edges, the branches of add/concat side by side.

DOT text needs only the `graphviz` Python package; SVG, PNG and PDF run Graphviz's `dot`
program (or, failing that, `graphviz-pure`, a self-contained port installable with pip).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import graphviz

from archc.core.errors import ArchcError
from archc.core.graph import Join, Layer, Network, Node, Scope, Shape, Wire, walk
from archc.core.limits import MAX_DRAWN
from archc.expansion.stats import count, run_name, runs
from archc.registry import joins
from archc.registry.ops import FAMILIES, REGISTRY, fmt_shape

INPUT, OUTPUT = "@input", "@output"  # no layer name contains '@'

_CLUSTER = {"style": "rounded,dashed", "color": "#888888", "fontcolor": "#444444",
            "labeljust": "l", "fontsize": "10"}

Tail = tuple[str, Shape]  # the node whose output flows on, and that output's shape


def digraph(net: Network, depth: int | None = None, rankdir: str = "TB") -> graphviz.Digraph:
    """The diagram of a checked network, down to `depth` levels of blocks (None: all)."""
    return _draw(net, depth, rankdir)[0]


def _draw(net: Network, depth: int | None, rankdir: str) -> tuple[graphviz.Digraph, int]:
    """The diagram and how many nodes it has."""
    g = graphviz.Digraph(
        net.name,
        graph_attr={"rankdir": rankdir, "fontname": "Helvetica", "label": net.name,
                    "labelloc": "t", "fontsize": "14", "nodesep": "0.25", "ranksep": "0.3"},
        node_attr={"shape": "box", "style": "rounded,filled", "fillcolor": "#f4f4f4",
                   "fontname": "Helvetica", "fontsize": "10", "height": "0.3"},
        edge_attr={"fontname": "Helvetica", "fontsize": "8", "fontcolor": "#555555",
                   "arrowsize": "0.6"})
    drawer = _Drawer(depth)
    for i, (name, shape) in enumerate((net.inputs or {"": net.input_shape}).items()):
        node = INPUT if i == 0 else f"{INPUT}/{name}"  # one oval per input; `from` reads it
        g.node(node, f"input{' ' + name if name else ''}\\n{fmt_shape(shape)}", shape="oval",
               fillcolor="white")
        if name:
            drawer.taps[name] = (node, shape)
    tail = drawer.seq(g, net.root.items, "", 0, (INPUT, net.input_shape))
    if not net.outputs:  # else each `output NAME` drew its own
        g.node(OUTPUT, f"output\\n{fmt_shape(net.output_shape)}", shape="oval",
               fillcolor="white")
        drawer.edge(tail, OUTPUT)
    for src, dst, attrs in drawer.edges:  # at top level, so no node is pulled into a cluster
        g.edge(src, dst, **attrs)
    return g, len(drawer.home) + len(net.inputs or [0]) + 1


class _Drawer:
    def __init__(self, depth: int | None):
        self.depth = depth
        self.edges: list[tuple[str, str, dict[str, str]]] = []
        # fork -> the shape into it: an edge out of it carrying that shape needs no label (a
        # split's branches get a part of it: their edges say which)
        self.forks: dict[str, Shape] = {}
        self.home: dict[str, graphviz.Digraph] = {}  # node -> the (sub)graph it is drawn in
        self._node: dict[type, Callable[..., Tail]] = {
            Layer: self.layer, Join: self.join, Scope: self.scope, Wire: self.wire}
        self.taps: dict[str, Tail] = {}  # tap name -> the node whose value it names

    def edge(self, tail: Tail, dst: str) -> None:
        label = {} if self.forks.get(tail[0]) == tail[1] else {"label": " " + fmt_shape(tail[1])}
        self.edges.append((tail[0], dst, label))

    def node(self, g: graphviz.Digraph, node_id: str, label: str | None = None,
             **attrs: str) -> None:
        g.node(node_id, label, **attrs)
        self.home[node_id] = g

    def seq(self, g: graphviz.Digraph, items: tuple[Node, ...], prefix: str, level: int,
            tail: Tail) -> Tail:
        for run in runs(items):
            if isinstance(run[0], Scope) and not self.expanded(level):
                tail = self.collapsed(g, run, prefix, tail)
            else:
                for node in run:
                    tail = self._node[type(node)](g, node, prefix, level, tail)
        return tail

    def expanded(self, level: int) -> bool:
        return self.depth is None or level + 1 < self.depth

    def layer(self, g: graphviz.Digraph, n: Layer, prefix: str, level: int, tail: Tail) -> Tail:
        node_id, label = prefix + n.name, REGISTRY[n.op].describe(n.args, n.in_shape)
        if not re.fullmatch(re.escape(n.op) + r"\d*", n.name):  # a name the spec chose
            label = f"{n.name}: {label}"
        params = count(n).params
        self.node(g, node_id, label, fillcolor=FAMILIES[REGISTRY[n.op].family].fill,
               tooltip=f"{node_id}: {n.op}, {params:,} params, out {fmt_shape(n.out_shape)}")
        self.edge(tail, node_id)
        return node_id, n.out_shape

    def wire(self, g: graphviz.Digraph, n: Wire, prefix: str, level: int, tail: Tail) -> Tail:
        """No node for `tap` (the edges leave the node it names) nor `from` (the next node's
        edge comes from the tap); an oval per `output`, as the network's single output."""
        if n.op == "from":
            return self.taps[n.key]
        if n.op == "tap":
            self.taps[n.key] = tail
        else:
            node_id = f"{OUTPUT}/{n.key}"  # (":" would name a port)
            # a training-only output (archc/expansion/training_only.py): dashed, as eval mode skips
            # it
            mark = {"style": "dashed,filled"} if n.training else {}
            what = f"output {n.key}" + (" (training only)" if n.training else "")
            self.node(g, node_id, f"{what}\\n{fmt_shape(n.out_shape)}", shape="oval",
                      fillcolor="white", **mark)
            self.edge(tail, node_id)
        return tail

    def join(self, g: graphviz.Digraph, n: Join, prefix: str, level: int, tail: Tail) -> Tail:
        # A fork point inside the join's scope keeps an identity shortcut in its block's
        # cluster, and starts the branches side by side.
        node_id, fork = prefix + n.name, f"{prefix}{n.name}/fork"
        self.node(g, fork, "", shape="point", width="0.06", fillcolor="black",
               tooltip=f"{node_id}: branches")
        self.edge(tail, fork)
        self.forks[fork] = tail[1]
        start = len(self.edges)  # the branches' edges follow (not every edge: 10^5 joins)
        ends = [self.seq(g, branch, prefix, level, (fork, shape))
                for branch, shape in zip(n.branches, n.branch_inputs, strict=True)]
        self.node(g, node_id, fillcolor="white", tooltip=f"{node_id}: {n.op}",
                  **joins.lookup(n.op).diagram)
        for end in ends:
            self.edge(end, node_id)
        # Branch heads on one rank; only when all sit in this cluster (dot cannot align nodes
        # of different clusters).
        heads = [dst for src, dst, _ in self.edges[start:] if src == fork and dst != node_id]
        if len(heads) > 1 and all(self.home[h] is g for h in heads):
            with g.subgraph() as same:
                same.attr(rank="same")
                for head in heads:
                    same.node(head)
        return node_id, n.out_shape

    def scope(self, g: graphviz.Digraph, n: Scope, prefix: str, level: int, tail: Tail) -> Tail:
        qual = prefix + n.name
        with g.subgraph(name=f"cluster_{qual}") as c:
            c.attr(label=_scope_title(qual, n), tooltip=qual, **_CLUSTER)
            return self.seq(c, n.items, qual + ".", level + 1, tail)

    def collapsed(self, g: graphviz.Digraph, run: list[Node], prefix: str, tail: Tail) -> Tail:
        first = run[0]
        assert isinstance(first, Scope)
        node_id = prefix + first.name
        times = f" ×{len(run)}" if len(run) > 1 else ""
        params = count(first).params * len(run)
        self.node(g, node_id, f"{run_name(prefix, run)}\\n{first.title}{times}\\n{params:,} params",
               shape="box3d", style="filled", fillcolor="#fff7d6",
               tooltip=f"{run_name(prefix, run)}: {first.title}{times}")
        self.edge(tail, node_id)
        for _, wire in walk(tuple(run)):  # what it names and outputs leaves the box
            if isinstance(wire, Wire) and wire.op != "from":
                self.wire(g, wire, prefix, 0, (node_id, wire.out_shape))
        return node_id, run[-1].out_shape


def _scope_title(qual: str, scope: Scope) -> str:
    return f"{qual}: {scope.title}" if scope.kind == "block" else qual


# ----------------------------------------------------------------------------- size

# The tallest diagram drawn without being asked: dot gives a rank 45-66 pt (measured on the
# bundled specs), so 100 ranks is about 5,000 pt: ResNet-18 and GoogLeNet at full depth (85 and
# 78 ranks), not EfficientNet-B0's 382 ranks, 17,443 pt (~21,000 px as PNG).
VIEWABLE_RANKS = 100


def _size(items: tuple[Node, ...], level: int, depth: int | None) -> tuple[int, int]:
    """(ranks, nodes) of a sequence drawn to `depth`: its height in rows, and its node count."""
    ranks = nodes = 0
    for run in runs(items):
        if isinstance(run[0], Scope) and not (depth is None or level + 1 < depth):
            ranks, nodes = ranks + 1, nodes + 1
            continue
        for node in run:
            r, n = _SIZE[type(node)](node, level, depth)
            ranks, nodes = ranks + r, nodes + n
    return ranks, nodes


def _join_size(n: Join, level: int, depth: int | None) -> tuple[int, int]:
    sizes = [_size(b, level, depth) for b in n.branches]
    return 2 + max(r for r, _ in sizes), 2 + sum(k for _, k in sizes)  # fork, branches, join


def _scope_size(n: Scope, level: int, depth: int | None) -> tuple[int, int]:
    ranks, nodes = _size(n.items, level + 1, depth)
    return ranks + 1, nodes  # the cluster's label takes about a row


_SIZE: dict[type, Callable[..., tuple[int, int]]] = {
    Layer: lambda n, level, depth: (1, 1), Join: _join_size, Scope: _scope_size,
    Wire: lambda n, level, depth: (int(n.op == "output"), int(n.op == "output"))}


def fitting_depth(net: Network) -> tuple[int, int] | None:
    """None when the full diagram can be viewed (at most VIEWABLE_RANKS tall and MAX_DRAWN
    nodes); else (the deepest depth whose diagram can, the full diagram's ranks)."""
    full, nodes = _size(net.root.items, 0, None)
    full += 2  # the input and output
    if full <= VIEWABLE_RANKS and nodes <= MAX_DRAWN:
        return None
    best, depth = 1, 2
    while True:
        ranks, nodes = _size(net.root.items, 0, depth)
        ranks += 2
        if ranks > VIEWABLE_RANKS or nodes > MAX_DRAWN or ranks == full:
            return best, full
        best, depth = depth, depth + 1


# ----------------------------------------------------------------------------- outputs

GRAPHVIZ_HINT = ("install Graphviz (apt-get install graphviz, brew install graphviz, "
                 "conda install graphviz or https://graphviz.org/download/) or "
                 "`pip install graphviz-pure` for a self-contained one; or write -o FILE.dot, "
                 "which needs neither")


def emit_dot(net: Network, depth: int | None = None, rankdir: str = "TB") -> bytes:
    return digraph(net, depth, rankdir).source.encode()


def emit_svg(net: Network, depth: int | None = None, rankdir: str = "TB") -> bytes:
    return _layout(net, depth, rankdir, "svg")


def emit_png(net: Network, depth: int | None = None, rankdir: str = "TB") -> bytes:
    return _layout(net, depth, rankdir, "png")


def emit_pdf(net: Network, depth: int | None = None, rankdir: str = "TB") -> bytes:
    return _layout(net, depth, rankdir, "pdf")


def _layout(net: Network, depth: int | None, rankdir: str, fmt: str) -> bytes:
    """Laid out by Graphviz, whose time grows faster than the square of the nodes (2,000
    parallel branches: half a minute), so only up to MAX_DRAWN nodes."""
    g, nodes = _draw(net, depth, rankdir)
    if nodes > MAX_DRAWN:
        raise ArchcError(f"the diagram has {nodes:,} nodes; Graphviz lays out at most "
                         f"{MAX_DRAWN:,} here", hint="collapse blocks with --depth N, or write "
                         "-o FILE.dot, which needs no layout")
    return _pipe(g.source, fmt)


def emit_html(net: Network, depth: int | None = None, rankdir: str = "TB") -> bytes:
    from archc.emit.html import emit_html as page  # (no Graphviz: the page lays itself out)

    return page(net, depth, rankdir)


EMITTERS: dict[str, Callable[..., bytes]] = {
    "dot": emit_dot, "gv": emit_dot, "svg": emit_svg, "png": emit_png, "pdf": emit_pdf,
    "html": emit_html}


def draw(net: Network, fmt: str, depth: int | None = None, rankdir: str = "TB") -> bytes:
    """The diagram as bytes in one of EMITTERS' formats."""
    return EMITTERS[fmt](net, depth, rankdir)


def _pipe(source: str, fmt: str) -> bytes:
    try:
        return graphviz.Source(source).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        found = _beside_python("dot") or _installed("graphviz-pure")
        if found is None:
            raise ArchcError(f"writing .{fmt} needs Graphviz's `dot` program, which is not "
                             "installed (not on PATH)", hint=GRAPHVIZ_HINT) from None
        return _run([found, f"-T{fmt}"], source)
    except graphviz.CalledProcessError as exc:
        raise ArchcError(f"graphviz dot failed: {_stderr(exc)}") from None


def _beside_python(name: str) -> str | None:
    """A program installed beside this Python (a virtual environment's bin/, which is on PATH
    only while the environment is activated: `venv/bin/python -m archc` without it)."""
    return shutil.which(name, path=os.path.dirname(sys.executable)) if sys.executable else None


def _installed(name: str) -> str | None:
    """A program on PATH, or else beside this Python (where pip put its scripts)."""
    return shutil.which(name) or _beside_python(name)


def _run(cmd: list[str], source: str) -> bytes:
    proc = subprocess.run(cmd, input=source.encode(), capture_output=True, check=False)
    if proc.returncode:
        raise ArchcError(f"{cmd[0]} failed: {proc.stderr.decode(errors='replace').strip()}",
                         hint=GRAPHVIZ_HINT)
    return proc.stdout


def _stderr(exc: Any) -> str:
    err = exc.stderr
    return (err.decode(errors="replace") if isinstance(err, bytes) else str(err or exc)).strip()
