"""`archc summary`: static counts against the real thing. Parameters against `sum(p.numel())`
of the built module, FLOPs (total and per layer) against torch's FlopCounterMode, activation
sizes against a real forward pass, for every network of every bundled spec and an ad-hoc
spec with add, concat, repetition and dense blocks."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import archc
from archc.cli import main
from archc.core.graph import Join, Layer, walk
from archc.emit.torch import example_inputs
from archc.expansion.stats import FLOP_CONVENTION, count, summarize
from archc.pipeline.program import load_program
from archc.registry.ops import REGISTRY
from tests.util import cpu_seed, run_cli

SPECS_DIR = Path(__file__).resolve().parents[1] / "specs"
NETWORKS = [(path, name) for path in sorted(SPECS_DIR.glob("*.arch"))
            for name in load_program(path).networks]

ADHOC = """
block twice(c) { conv(c, k=3, pad=1) bn relu }
network adhoc(classes=7) {
  input 3x32x32
  stem: { conv(16, k=3, pad=1, bias=false) bn relu lrn(3) }
  inception(8, 8, 16, 4, 8, 8)
  dense(12, convs=2)
  transition(32)
  twice(32) * 2
  add { conv(32, k=3, pad=2, dilation=2, groups=4) | identity | avgpool(3, stride=1, pad=1) }
  down: residual(64, use_1x1=true, stride=2)
  for i in 0..2 { conv(48 + 16 * i, k=1) leaky_relu(0.1) }
  maxpool(3, stride=2, ceil=true)
  gap flatten dropout(0.5) linear(64) bn silu linear(classes, bias=false) softmax
}
"""


def torch_counts(net: archc.Network, device: str = "meta"):
    """(params, total flops, flops per module name, output shape per module name) of the built
    module. On the meta device (the default) the same module holds no data, so FlopCounterMode
    counts from shapes alone and a 50M-parameter spec costs milliseconds, not seconds."""
    cpu_seed(0)
    with torch.device(device):
        model = archc.build(net).eval()
    shapes: dict[str, tuple] = {}
    hooks = [m.register_forward_hook(
        lambda mod, inp, out, name=name: shapes.__setitem__(
            name, tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else None))
        for name, m in model.named_modules() if name]
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(*example_inputs(net, 1, device=device))
    for h in hooks:
        h.remove()
    root = type(model).__name__
    per_module = {k.removeprefix(root + "."): sum(v.values())
                  for k, v in fc.get_flop_counts().items()}
    return sum(p.numel() for p in model.parameters()), fc.get_total_flops(), per_module, shapes


def check_against_torch(net: archc.Network) -> None:
    s = summarize(net)
    params, flops, per_module, shapes = torch_counts(net)
    assert s.total.params == params
    assert s.trainable_params == params
    assert s.total.flops == flops
    for name, node in walk(net.root.items):
        # an inline op (layer_scale, class_token) is a parameter of its scope, not a module:
        # no hook sees it; its FLOPs are in the total
        if isinstance(node, Layer) and not REGISTRY[node.op].inline:
            assert count(node).flops == per_module.get(name, 0), name
            assert shapes[name] == node.out_shape, name
            assert count(node).activations == math.prod(shapes[name]), name
    rows = [r for r in s.rows if not r.header]
    assert sum(r.counts.params for r in rows) == s.total.params
    assert sum(r.counts.macs for r in rows) == s.total.macs
    assert sum(r.counts.activations for r in rows) == s.total.activations


@pytest.mark.parametrize("path,network", NETWORKS,
                         ids=[f"{p.stem}:{n}" for p, n in NETWORKS])
def test_bundled_spec_counts_match_torch(path: Path, network: str) -> None:
    check_against_torch(archc.load(path, network=network))


def test_adhoc_spec_counts_match_torch() -> None:
    net = archc.loads(ADHOC)
    check_against_torch(net)
    ops = {n.op for _, n in walk(net.root.items) if isinstance(n, Layer)}
    kinds = {n.op for _, n in walk(net.root.items) if isinstance(n, Join)}
    assert {"conv", "bn", "lrn", "linear", "avgpool", "identity"} <= ops
    assert kinds == {"add", "concat"}


def test_hand_counted_numbers() -> None:
    net = archc.loads("network t { input 3x8x8  conv(8, k=3, pad=1) bn relu "
                      "add { identity | conv(8, k=1, bias=false) }  gap flatten linear(5) }")
    s = summarize(net)
    by_name = {r.name: r for r in s.rows}
    assert by_name["conv1"].counts.params == 3 * 8 * 9 + 8
    assert by_name["conv1"].counts.macs == 8 * 8 * 8 * 27
    assert by_name["bn"].counts.params == 16  # weight and bias; running stats are buffers
    assert by_name["conv2"].counts.macs == 8 * 8 * 8 * 8
    assert by_name["conv2"].branch == "add[1]"
    assert by_name["add"].counts.activations == 8 * 8 * 8
    assert by_name["linear"].counts.params == 8 * 5 + 5
    assert s.total.flops == 2 * (8 * 8 * 8 * 27 + 8 * 8 * 8 * 8 + 8 * 5)
    # activations: conv, bn, relu, identity, conv2, add (8x8x8 each), gap, flatten, linear
    assert s.total.activations == 6 * 512 + 8 + 8 + 5
    assert s.param_bytes("float16") == 2 * s.total.params


def test_depth_collapses_blocks_and_repeats() -> None:
    net = archc.load(SPECS_DIR / "resnet18.arch")
    full, top, two = summarize(net), summarize(net, depth=1), summarize(net, depth=2)
    assert [r.name for r in top.rows] == [n.name for n in net.root.items]
    assert not any(r.header for r in top.rows)
    collapsed = {r.name: r for r in two.rows}
    first = net.root.items[[n.name for n in net.root.items].index("layer1")]
    assert collapsed["layer1.0-1"].repeat == 2  # layer1's two residuals are identical
    assert collapsed["layer1.0-1"].counts == count(first)
    assert collapsed["layer2.0"].repeat == 1  # the downsampling one differs from the next
    for s in (top, two):
        rows = [r for r in s.rows if not r.header]
        assert sum(r.counts.params for r in rows) == full.total.params
        assert sum(r.counts.macs for r in rows) == full.total.macs
        assert sum(r.counts.activations for r in rows) == full.total.activations


# ----------------------------------------------------------------------------- CLI


def test_cli_json_resnet18(capsys) -> None:
    code, out, _ = run_cli(capsys, "summary", str(SPECS_DIR / "resnet18.arch"), "--json")
    assert code == 0
    data = json.loads(out)
    net = archc.load(SPECS_DIR / "resnet18.arch")
    params, flops, _, _ = torch_counts(net, "cpu")
    assert data["params"] == 11_178_378 == params == data["trainable_params"]
    assert data["flops"] == flops == 2 * data["macs"]
    assert data["name"] == "resnet18"
    assert data["input"] == [1, 96, 96] and data["output"] == [10]
    for layer in data["layers"]:
        assert {"name", "op", "output", "params", "macs"} <= set(layer)
        assert layer["caption"] == layer["label"]  # (the old key, kept: README)
    assert sum(layer["params"] for layer in data["layers"]) == data["params"]
    assert sum(layer["macs"] for layer in data["layers"]) == data["macs"]
    assert data["param_bytes"] == 4 * data["params"]


def test_cli_json_options(capsys) -> None:
    code, out, _ = run_cli(capsys, "summary", "resnet18", "--json", "--batch", "8",
                           "--dtype", "bfloat16", "--depth", "2", "--set", "classes=3",
                           "--input", "3x64x64")
    assert code == 0
    data = json.loads(out)
    assert data["input"] == [3, 64, 64] and data["output"] == [3]
    assert data["batch_flops"] == 8 * data["flops"]
    assert data["param_bytes"] == 2 * data["params"]
    assert data["batch_activation_bytes"] == 8 * 2 * data["activations"]
    assert any(layer["repeat"] == 2 for layer in data["layers"])


def test_cli_table(capsys) -> None:
    code, out, _ = run_cli(capsys, "summary", "resnet18", "--batch", "32")
    assert code == 0
    assert "layer1.0.conv1" in out and "conv 3x3, 64" in out
    assert "11,178,378 total" in out
    assert "per batch of 32" in out
    assert FLOP_CONVENTION[:40] not in " ".join(out.split()) and "--notes" in out
    code, out, _ = run_cli(capsys, "summary", "resnet18", "--notes")
    assert out.count(FLOP_CONVENTION[:40]) == 1, "the notes, once"
    code, out, _ = run_cli(capsys, "summary", "resnet18", "--depth", "2")
    assert "layer1.0-1" in out and "residual ×2" in out and "layer1.0.conv1" not in out


def test_cli_errors(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.arch"
    bad.write_text("network n { input 1x8x8 conv(4, k=9) }\n")
    code, out, err = run_cli(capsys, "summary", str(bad))
    assert code == 1 and "output size" in err and "Traceback" not in err and out == ""
    code, _, err = run_cli(capsys, "summary", "no_such_spec_anywhere")
    assert code == 2 and "no such spec" in err
    code, _, err = run_cli(capsys, "summary", "resnet18", "--set", "nope=1")
    assert code == 2
    with pytest.raises(SystemExit) as exc:
        main(["summary", "resnet18", "--depth", "0"])
    assert exc.value.code == 2


def test_no_torch_at_import() -> None:
    code = ("import sys, archc.expansion.stats, archc.commands.summary, archc.cli; "
            "archc.cli.make_parser(); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
