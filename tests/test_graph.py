"""`archc graph`: the structure of the DOT it writes (a cluster per block instance, nested as
the blocks are, a node per layer inside its block's cluster, one edge into each layer labelled
with the layer's input shape, one edge per branch into each add/concat), for every network of
every bundled spec and an ad-hoc one; rendering through Graphviz; the missing-binary message."""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import graphviz
import pytest

import archc
from archc.core.graph import Join, Layer, Scope, Wire
from archc.emit.dot import INPUT, OUTPUT, emit_dot
from archc.pipeline.program import load_program
from archc.registry.ops import REGISTRY, fmt_shape
from tests.util import run_cli

try:
    from tests.test_summary import ADHOC
except ImportError:  # tests/ itself on sys.path
    from test_summary import ADHOC

SPECS_DIR = Path(__file__).resolve().parents[1] / "specs"
NETWORKS = [(path, name) for path in sorted(SPECS_DIR.glob("*.arch"))
            for name in load_program(path).networks]
IDS = [f"{p.stem}:{n}" for p, n in NETWORKS]
HAS_DOT = shutil.which("dot") is not None or shutil.which("graphviz-pure") is not None
# CI (.ci/run) sets ARCHC_REQUIRE_DOT=1: there these tests run, and fail without Graphviz,
# instead of skipping when its install failed quietly
REQUIRE_DOT = os.environ.get("ARCHC_REQUIRE_DOT") == "1"
needs_dot = pytest.mark.skipif(not HAS_DOT and not REQUIRE_DOT,
                               reason="Graphviz dot is not installed")
needs_dot_binary = pytest.mark.skipif(shutil.which("dot") is None and not REQUIRE_DOT,
                                      reason="Graphviz dot is not installed")

# ----------------------------------------------------------------------------- a DOT reader

_ID = r'(?:"(?:[^"\\]|\\.)*"|[^\s\[\]{};"=]+)'
_ATTR = re.compile(rf"(\w+)=({_ID})")


def _unquote(text: str) -> str:
    return text[1:-1].replace('\\"', '"') if text.startswith('"') else text


def _attrs(text: str | None) -> dict[str, str]:
    return {k: _unquote(v) for k, v in _ATTR.findall(text or "")}


class Dot:
    """Nodes, edges and clusters of DOT text as the `graphviz` package writes it (one
    statement per line)."""

    def __init__(self, text: str):
        self.nodes: dict[str, dict[str, str]] = {}
        self.node_cluster: dict[str, str | None] = {}
        self.edges: list[tuple[str, str, dict[str, str]]] = []
        self.clusters: dict[str, str | None] = {}  # cluster -> enclosing cluster
        self.cluster_attrs: dict[str, dict[str, str]] = defaultdict(dict)
        self.same_rank: list[set[str]] = []  # anonymous `{rank=same ...}` groups
        stack: list[str | None] = [None]
        for line in text.splitlines()[1:-1]:
            line = line.strip()
            if line in ("{", "subgraph {"):
                self.same_rank.append(set())
                stack.append("")
            elif stack[-1] == "":
                if line == "}":
                    stack.pop()
                elif line != "rank=same":
                    self.same_rank[-1].add(_unquote(line))
            elif m := re.fullmatch(rf"subgraph ({_ID}) {{", line):
                name = _unquote(m[1])
                self.clusters[name] = stack[-1]
                stack.append(name)
            elif line == "}":
                stack.pop()
            elif m := re.fullmatch(rf"({_ID}) -> ({_ID})(?: \[(.*)\])?", line):
                self.edges.append((_unquote(m[1]), _unquote(m[2]), _attrs(m[3])))
            elif (m := re.fullmatch(rf"({_ID})(?: \[(.*)\])?", line)) and \
                    m[1] not in ("graph", "node", "edge"):
                self.nodes[_unquote(m[1])] = _attrs(m[2])
                self.node_cluster[_unquote(m[1])] = stack[-1]
            elif stack[-1] is not None:
                self.cluster_attrs[stack[-1]].update(_attrs(line))
        assert stack == [None], "unbalanced braces"

    def into(self, node: str) -> list[tuple[str, str, dict[str, str]]]:
        return [e for e in self.edges if e[1] == node]

    def out_of(self, node: str) -> list[tuple[str, str, dict[str, str]]]:
        return [e for e in self.edges if e[0] == node]


def expected(items, prefix: str = "", cluster: str | None = None, out=None):
    """{qualified name: (node, enclosing cluster)} for every node, scopes as clusters."""
    out = {} if out is None else out
    for node in items:
        if isinstance(node, Wire):  # no node: its readers' edges come from the tap's producer
            continue
        qual = prefix + node.name
        out[qual] = (node, cluster)
        if isinstance(node, Scope):
            expected(node.items, qual + ".", f"cluster_{qual}", out)
        elif isinstance(node, Join):
            for branch in node.branches:
                expected(branch, prefix, cluster, out)
    return out


def branch_end(branch, part: tuple[int, ...], join: Join, prefix: str) -> tuple[str, str]:
    """The node a branch ends on and the shape it hands the join; an empty branch is an edge
    straight from the fork, unlabelled like every edge out of a fork that repeats the shape into
    it (a split's branch gets a part: its edge is labelled)."""
    while branch and isinstance(branch[-1], Wire) and branch[-1].op != "from":
        branch = branch[:-1]  # a tap or output passes its value on
    if branch and isinstance(branch[-1], Wire):  # ends on a tap's producer: any node
        return "(tap)", fmt_shape(branch[-1].out_shape)
    if not branch:
        return "(fork)", "" if part == join.in_shape else fmt_shape(part)
    last, name = branch[-1], prefix + branch[-1].name
    while isinstance(last, Scope):  # a block ends on its own last node
        last, name = last.items[-1], f"{name}.{last.items[-1].name}"
    return name, fmt_shape(branch[-1].out_shape)


def check_structure(net: archc.Network) -> Dot:
    dot = Dot(emit_dot(net).decode())
    want = expected(net.root.items)
    scopes = {q for q, (n, _) in want.items() if isinstance(n, Scope)}
    assert set(dot.clusters) == {f"cluster_{q}" for q in scopes}
    for q in scopes:
        node, parent = want[q]
        assert dot.clusters[f"cluster_{q}"] == parent, q
        assert dot.cluster_attrs[f"cluster_{q}"]["label"].startswith(q)
    drawn = {q for q, (n, _) in want.items() if not isinstance(n, Scope)}
    forks = {f"{q}/fork" for q in drawn if isinstance(want[q][0], Join)}
    outputs = {f"{OUTPUT}/{k}" for k in net.outputs} or {OUTPUT}
    assert set(dot.nodes) == drawn | forks | {INPUT} | outputs
    for q in drawn:
        node, cluster = want[q]
        assert dot.node_cluster[q] == cluster, q
        if isinstance(node, Layer):
            assert REGISTRY[node.op].describe(node.args, node.in_shape) in dot.nodes[q]["label"]
            (src, _, attrs), = dot.into(q)  # exactly one edge in, carrying the input shape
            if src in forks and "label" not in attrs:  # the shape into the fork
                (_, _, attrs), = dot.into(src)
            assert attrs["label"].strip() == fmt_shape(node.in_shape), q
    for q in drawn:
        join = want[q][0]
        if not isinstance(join, Join):
            continue
        prefix = q[: len(q) - len(join.name)]
        fork = f"{q}/fork"
        # a branch starting `from NAME` reads the tap, not the fork
        reading = [b for b in join.branches
                   if not (b and isinstance(b[0], Wire) and b[0].op == "from")]
        assert len(dot.into(q)) == len(join.branches) and len(reading) == len(dot.out_of(fork))
        ends = [branch_end(b, part, join, prefix)
                for b, part in zip(join.branches, join.branch_inputs, strict=True)]
        got = [(s if s != fork else "(fork)", a.get("label", "").strip())
               for s, _, a in dot.into(q)]
        for end in ends:  # a branch ending on a tap: an edge from its producer, any name
            match = next(g for g in got if g == end or (end[0] == "(tap)" and g[1] == end[1]))
            got.remove(match)
        heads = {dst for _, dst, _ in dot.out_of(fork)} - {q}
        if len(heads) > 1 and len({dot.node_cluster[h] for h in heads}) == 1:
            assert heads in dot.same_rank, q  # drawn side by side
    for name, shape in (net.outputs or {"": net.output_shape}).items():
        (_, _, attrs), = dot.into(f"{OUTPUT}/{name}" if name else OUTPUT)
        assert attrs["label"].strip() == fmt_shape(shape)
    assert reachable(dot, INPUT) == set(dot.nodes)
    return dot


def reachable(dot: Dot, start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for _, dst, _ in dot.out_of(todo.pop()):
            if dst not in seen:
                seen.add(dst)
                todo.append(dst)
    return seen


# ----------------------------------------------------------------------------- structure


@pytest.mark.parametrize("path,network", NETWORKS, ids=IDS)
def test_structure_of_every_bundled_spec(path: Path, network: str) -> None:
    check_structure(archc.load(path, network=network))


def test_structure_of_adhoc_spec() -> None:
    dot = check_structure(archc.loads(ADHOC))
    assert any(a.get("label") == "concat" for a in dot.nodes.values())
    assert any(a.get("label") == "+" for a in dot.nodes.values())


def test_depth_collapses_blocks_and_repeats() -> None:
    net = archc.load(SPECS_DIR / "resnet18.arch")
    dot = Dot(emit_dot(net, depth=2).decode())
    assert "cluster_layer1" in dot.clusters and "cluster_layer1.0" not in dot.clusters
    assert "layer1.1" not in dot.nodes  # the two identical residuals are one node
    assert "×2" in dot.nodes["layer1.0"]["label"] and "layer1.0-1" in dot.nodes["layer1.0"]["label"]
    assert "×" not in dot.nodes["layer2.0"]["label"]
    assert dot.node_cluster["layer1.0"] == "cluster_layer1"
    (src, _, attrs), = dot.into("layer2.0")
    assert src == "layer1.0" and attrs["label"].strip() == "64x24x24"
    top = Dot(emit_dot(net, depth=1).decode())
    assert not top.clusters
    assert set(top.nodes) == {n.name for n in net.root.items} | {INPUT, OUTPUT}
    assert reachable(top, INPUT) == set(top.nodes)


def _positions(source: str) -> dict[str, tuple[float, float, float]]:
    """Node centre x, y and height from Graphviz's layout (`-Tplain`)."""
    plain = graphviz.Source(source).pipe(format="plain").decode()
    pos = {}
    for line in plain.splitlines():
        parts = line.split()
        if parts and parts[0] == "node":
            name = parts[1][1:-1] if parts[1].startswith('"') else parts[1]
            pos[name] = (float(parts[2]), float(parts[3]), float(parts[5]))
    return pos


@needs_dot_binary
def test_branches_are_side_by_side() -> None:
    net = archc.loads(ADHOC)
    pos = _positions(emit_dot(net).decode())
    firsts = ["inception.p1_1", "inception.p2_1", "inception.p3_1", "inception.p4_1"]
    assert len({pos[n][1] for n in firsts}) == 1  # one rank
    assert len({pos[n][0] for n in firsts}) == 4  # four columns
    res = _positions(emit_dot(archc.load(SPECS_DIR / "resnet18.arch")).decode())
    (x1, y1, h1), (x3, y3, h3) = res["layer2.0.conv1"], res["layer2.0.conv3"]
    assert abs(y1 - y3) < (h1 + h3) / 2 and x1 != x3  # the shortcut conv beside the main path


# ----------------------------------------------------------------------------- CLI, rendering


@needs_dot
@pytest.mark.parametrize("path,network", NETWORKS, ids=IDS)
def test_svg_of_every_bundled_spec(path: Path, network: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "g.svg"
    code, _, err = run_cli(capsys, "graph", str(path), "--network", network, "-o", str(out),
                           "--depth", "all")
    assert code == 0, err
    svg = ET.fromstring(out.read_bytes())
    groups = svg.iter("{http://www.w3.org/2000/svg}g")
    classes = [(g.get("class"), g.findtext("{http://www.w3.org/2000/svg}title")) for g in groups]
    want = expected(archc.load(path, network=network).root.items)
    clusters = {t for c, t in classes if c == "cluster"}
    nodes = {t for c, t in classes if c == "node"}
    assert clusters == {f"cluster_{q}" for q, (n, _) in want.items() if isinstance(n, Scope)}
    assert {q for q, (n, _) in want.items() if isinstance(n, Layer)} <= nodes


@needs_dot
def test_png_and_stdout(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.png"
    code, _, _ = run_cli(capsys, "graph", "resnet18", "--depth", "2", "-o", str(out))
    assert code == 0 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, text, _ = run_cli(capsys, "graph", "resnet18", "--rankdir", "LR")
    assert code == 0 and text.startswith("digraph resnet18 {") and "rankdir=LR" in text
    Dot(text)


def test_dot_needs_no_graphviz_binary(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "empty" / "python"))
    out = tmp_path / "r.dot"
    code, _, _ = run_cli(capsys, "graph", "resnet18", "-o", str(out))
    assert code == 0
    scopes = [n for n, _ in expected(archc.load("resnet18").root.items).values()
              if isinstance(n, Scope)]
    assert len(Dot(out.read_text()).clusters) == len(scopes) == 12  # 4 stages, 8 residuals
    code, out_text, err = run_cli(capsys, "graph", "resnet18", "-o", str(tmp_path / "r.svg"))
    assert code == 1 and out_text == ""
    assert "needs Graphviz's `dot` program" in err and "pip install graphviz-pure" in err
    assert "Traceback" not in err and not (tmp_path / "r.svg").exists()


@needs_dot_binary
def test_graphviz_pure_fallback(tmp_path: Path, capsys, monkeypatch) -> None:
    # Stand-in for graphviz-pure (which has dot's command line) when `dot` is not on PATH.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "graphviz-pure"
    fake.write_text(f"#!/bin/sh\nexec {shutil.which('dot')} \"$@\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    out = tmp_path / "r.svg"
    code, _, err = run_cli(capsys, "graph", "resnet18", "-o", str(out))
    assert code == 0, err
    assert ET.fromstring(out.read_bytes()).tag.endswith("svg")


@needs_dot_binary
def test_graphviz_pure_beside_python(tmp_path: Path, capsys, monkeypatch) -> None:
    """`venv/bin/python -m archc graph -o x.svg` with the venv not activated: pip put
    graphviz-pure in venv/bin, beside the interpreter, which is not on PATH."""
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    fake = bindir / "graphviz-pure"
    fake.write_text(f"#!/bin/sh\nexec {shutil.which('dot')} \"$@\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", str(bindir / "python"))
    out = tmp_path / "r.svg"
    code, _, err = run_cli(capsys, "graph", "resnet18", "-o", str(out))
    assert code == 0, err
    assert ET.fromstring(out.read_bytes()).tag.endswith("svg")


def test_graph_usage_errors(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "graph", "resnet18", "-o", str(tmp_path / "r.jpeg"))
    assert code == 2 and "graph writes" in err and "FILE.svg" in err
    bad = tmp_path / "bad.arch"
    bad.write_text("network n { input 1x8x8 add { conv(4, k=1) | conv(5, k=1) } }\n")
    code, _, err = run_cli(capsys, "graph", str(bad))
    assert code == 1 and "branch shapes differ" in err and "Traceback" not in err


def test_layer_names_chosen_by_the_spec_are_shown() -> None:
    net = archc.loads("network t { input 1x8x8  stem: conv(4, k=3)  conv(4, k=3) relu }")
    dot = Dot(emit_dot(net).decode())
    assert dot.nodes["stem"]["label"] == "stem: conv 3x3, 4"
    assert dot.nodes["conv"]["label"] == "conv 3x3, 4"
    assert math.prod(net.output_shape) == 4 * 4 * 4
