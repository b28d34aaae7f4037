"""Stage 3, resolved graph -> Google Model Explorer's JSON graph (`archc graph -o net.json
--format model-explorer`): one graph collection (`{label, graphs}`, what Model Explorer's JSON
loader reads), a node per layer and join, namespaces from the module tree, each output's shape
as `tensor_shape` metadata; beside it a node-data file per count (params, MACs) that Model
Explorer overlays on the graph (its `ModelNodeData`: graph id -> results by node id).
Field names follow ai_edge_model_explorer's graph_builder and node_data_builder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archc.core.graph import Join, Layer, Network, Node, Scope, Shape, Wire
from archc.expansion.stats import count, join_counts
from archc.registry import joins
from archc.registry.ops import FAMILIES, REGISTRY

INPUT, OUTPUT = "input", "output"
# the counts a node-data file is written for: suffix -> (its name in Model Explorer, value)
NODE_DATA: dict[str, tuple[str, Callable[[Node], int]]] = {
    "params": ("params", lambda n: count(n).params if isinstance(n, Layer) else 0),
    "macs": ("MACs", lambda n: count(n).macs if isinstance(n, Layer) else
             join_counts(n).macs if isinstance(n, Join) else 0),
}


def _meta(shape: Shape | None) -> list[dict[str, Any]]:
    if shape is None:
        return []
    return [{"id": "0", "attrs": [{"key": "tensor_shape",
                                   "value": f"float32{json.dumps([1, *shape])}"}]}]


def _edges(sources: list[str]) -> list[dict[str, str]]:
    return [{"sourceNodeId": s, "sourceNodeOutputId": "0", "targetNodeInputId": str(i)}
            for i, s in enumerate(sources)]


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.by_id: dict[str, Node] = {}
        self.taps: dict[str, str] = {}  # tap name -> the node whose value it names

    def add(self, node_id: str, label: str, namespace: str, inputs: list[str],
            shape: Shape | None, attrs: dict[str, str], style: dict[str, str] | None = None,
            node: Node | None = None) -> str:
        rec: dict[str, Any] = {
            "id": node_id, "label": label, "namespace": namespace,
            "attrs": [{"key": k, "value": v} for k, v in attrs.items()],
            "incomingEdges": _edges(inputs), "outputsMetadata": _meta(shape)}
        if style:
            rec["style"] = style
        self.nodes.append(rec)
        if node is not None:
            self.by_id[node_id] = node
        return node_id

    def seq(self, items: tuple[Node, ...], prefix: str, tail: str) -> str:
        for node in items:
            tail = _NODE[type(node)](self, node, prefix, tail)
        return tail

    def layer(self, n: Layer, prefix: str, tail: str) -> str:
        op = REGISTRY[n.op]
        attrs = {"name": prefix + n.name, "op": n.op,
                 **{k: json.dumps(v, default=str) for k, v in n.args.model_dump().items()},
                 "params": str(count(n).params), "macs": str(count(n).macs),
                 "source": str(n.span)}
        return self.add(prefix + n.name, op.describe(n.args, n.in_shape), _namespace(prefix),
                        [tail], n.out_shape, attrs,
                        {"backgroundColor": FAMILIES[op.family].fill}, n)

    def join(self, n: Join, prefix: str, tail: str) -> str:
        ends = [self.seq(b, prefix, tail) for b in n.branches]
        label = joins.lookup(n.op).diagram.get("label", n.op)
        return self.add(prefix + n.name, label, _namespace(prefix), ends, n.out_shape,
                        {"name": prefix + n.name, "op": n.op, "source": str(n.span)}, node=n)

    def scope(self, n: Scope, prefix: str, tail: str) -> str:
        return self.seq(n.items, f"{prefix}{n.name}.", tail)

    def wire(self, n: Wire, prefix: str, tail: str) -> str:
        """A reader of a tap gets its edge from the node the tap names; an output is a node
        of its own, as the network's single output is."""
        if n.op == "from":
            return self.taps[n.key]
        if n.op == "tap":
            self.taps[n.key] = tail
        else:
            self.add(f"{OUTPUT}/{n.key}", f"output {n.key}", "", [tail], n.out_shape,
                     {"shape": str(n.out_shape), "source": str(n.span)})
        return tail


_NODE: dict[type, Callable[..., str]] = {
    Layer: _Graph.layer, Join: _Graph.join, Scope: _Graph.scope, Wire: _Graph.wire}


def _namespace(prefix: str) -> str:
    """`features.1.0.` -> `features/1/0`: Model Explorer's layer path."""
    return prefix.rstrip(".").replace(".", "/")


def _build(net: Network) -> _Graph:
    g = _Graph()
    first = ""
    for name, shape in (net.inputs or {"": net.input_shape}).items():  # one node per input
        node = g.add(f"{INPUT}/{name}" if first else INPUT, f"input {name}".strip(), "", [],
                     shape, {"shape": str(shape)})
        if name:
            g.taps[name] = node
        first = first or node
    tail = g.seq(net.root.items, "", first)
    if not net.outputs:  # else each `output NAME` added its own
        g.add(OUTPUT, "output", "", [tail], net.output_shape, {"shape": str(net.output_shape)})
    return g


def graph_collection(net: Network) -> dict[str, Any]:
    """The graph file's JSON: one collection holding the network's graph."""
    g = _build(net)
    return {"label": net.name, "graphs": [{"id": net.name, "nodes": g.nodes}]}


def node_data(net: Network, key: str) -> dict[str, Any]:
    """A node-data file (`ModelNodeData`): the count `key` of NODE_DATA for every node."""
    name, value = NODE_DATA[key]
    g = _build(net)
    results = {i: {"value": value(n)} for i, n in g.by_id.items()}
    return {net.name: {"name": name, "results": results,
                       "gradient": [{"stop": 0, "bgColor": "#ffffff"},
                                    {"stop": 1, "bgColor": "#d7301f"}]}}


def files(net: Network, path: Path) -> list[tuple[Path, bytes]]:
    """The graph at `path` and each node-data file beside it (`net.params.json`)."""
    def dump(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    stem = path.with_suffix("")
    return [(path, dump(graph_collection(net))),
            *((stem.with_name(f"{stem.name}.{k}.json"), dump(node_data(net, k)))
              for k in NODE_DATA)]
