"""`archc graph -o net.json --format model-explorer`: the files parse strictly into
ai-edge-model-explorer's own dataclasses (graph_builder.GraphCollection, node_data_builder.
GraphNodeData) and pass the check its web app's JSON loader makes (`{label, graphs}`); edges
follow the data flow; namespaces are the module tree; shapes and parameters match the built
torch module."""

from __future__ import annotations

import json
from pathlib import Path

import dacite
import pytest
import torch
from model_explorer.graph_builder import GraphCollection
from model_explorer.node_data_builder import GraphNodeData

import archc
from archc.cli import main
from archc.core.graph import Layer, walk
from archc.expansion.stats import count

STRICT = dacite.Config(strict=True)


def _write(tmp_path: Path, spec: str, capsys) -> tuple[dict, dict[str, dict]]:
    out = tmp_path / "net.json"
    assert main(["graph", spec, "-o", str(out), "--format", "model-explorer"]) == 0
    err = capsys.readouterr().err
    extra = {k: json.loads((tmp_path / f"net.{k}.json").read_text()) for k in ("params", "macs")}
    assert all(f"net.{k}.json" in err for k in extra)
    return json.loads(out.read_text()), extra


@pytest.mark.parametrize("spec", ["resnet18", "tv_efficientnet", "googlenet"])
def test_files_load_as_model_explorer_reads_them(spec: str, tmp_path: Path, capsys) -> None:
    data, extra = _write(tmp_path, spec, capsys)
    # the web app's JSON loader: an object with `label` and `graphs` is one graph collection
    assert data["label"] is not None and data["graphs"] is not None
    collection = dacite.from_dict(GraphCollection, data, config=STRICT)
    (graph,) = collection.graphs
    ids = [n.id for n in graph.nodes]
    assert len(set(ids)) == len(ids)
    seen: set[str] = set()
    for n in graph.nodes:  # every edge comes from a node before it: the data flow, in order
        assert all(e.sourceNodeId in seen for e in n.incomingEdges), n.id
        seen.add(n.id)
    assert ids[0] == "input" and ids[-1] == "output"
    net = archc.load(spec)
    layers = {q: n for q, n in walk(net.root.items) if isinstance(n, Layer)}
    nodes = {n.id: n for n in graph.nodes}
    for q, layer in layers.items():
        node = nodes[q]
        assert node.namespace == "/".join(q.split(".")[:-1])
        (meta,) = node.outputsMetadata
        assert meta.attrs[0].key == "tensor_shape"
        assert meta.attrs[0].value == f"float32{json.dumps([1, *layer.out_shape])}"
    for key, file in extra.items():
        (gid, nd), = file.items()
        assert gid == graph.id
        parsed = dacite.from_dict(GraphNodeData, nd, config=STRICT)
        assert set(parsed.results) <= set(ids)
        total = sum(r.value for r in parsed.results.values())
        assert total == getattr(count(net.root), key)


def test_shapes_and_params_against_torch(tmp_path: Path, capsys) -> None:
    data, extra = _write(tmp_path, "resnet18", capsys)
    net = archc.load("resnet18")
    model = archc.build(net).eval()
    modules = dict(model.named_modules())
    shapes: dict[str, list[int]] = {}
    hooks = [m.register_forward_hook(
        lambda mod, i, o, name=name: shapes.__setitem__(name, list(o.shape)))
        for name, m in modules.items() if name]
    with torch.no_grad():
        model(torch.zeros(1, *net.input_shape))
    for h in hooks:
        h.remove()
    params = extra["params"]["resnet18"]["results"]
    assert sum(r["value"] for r in params.values()) == sum(p.numel() for p in model.parameters())
    for node in data["graphs"][0]["nodes"]:
        if node["id"] in modules and node["id"] in params:
            module = modules[node["id"]]
            assert params[node["id"]]["value"] == sum(p.numel() for p in module.parameters())
            shape = node["outputsMetadata"][0]["attrs"][0]["value"]
            assert shape == f"float32{json.dumps(shapes[node['id']])}"


def test_format_needs_a_json_file(capsys) -> None:
    assert main(["graph", "resnet18", "--format", "model-explorer"]) == 2
    assert "-o FILE.json" in capsys.readouterr().err
