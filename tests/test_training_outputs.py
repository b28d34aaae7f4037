"""Outputs that only train mode computes (`output NAME training`, archc/expansion/training_only.py),
on a small network, everywhere a network goes: the built module (train mode returns every output,
eval mode skips the head and lacks its key), `archc fmt`, the summary's counts and marks,
`build`'s table, the diagram, the exported .py and its TorchScript, ONNX (eval mode) and
torch.export. The zoo's GoogLeNet and Inception-v3 are tests/test_aux_heads.py."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import onnxruntime as ort
import pytest
import torch

import archc
from archc.expansion.stats import summarize

from .util import cpu_seed, run_cli

SPEC = """\
network tiny(classes=4) {
  input 3x16x16
  conv(8, k=3, pad=1) relu
  tap mid
  conv(8, k=3, pad=1) relu
  gap flatten
  fc: linear(classes)
  output logits
  from mid
  aux: { gap flatten fc: linear(classes) }
  output aux_logits training
}
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.arch"
    path.write_text(SPEC)
    return path


def _called(model: torch.nn.Module, x: torch.Tensor) -> tuple[dict, set[str]]:
    """The model's outputs, and which of its children ran."""
    ran: set[str] = set()
    hooks = [m.register_forward_hook(lambda m, i, o, n=name: ran.add(n))
             for name, m in model.named_children()]
    out = model(x)
    for h in hooks:
        h.remove()
    return out, ran


def test_train_mode_computes_the_head_eval_mode_skips_it(spec: Path) -> None:
    net = archc.load(spec)
    assert list(net.outputs) == ["logits", "aux_logits"]
    assert net.training_outputs == ("aux_logits",)
    model = archc.build(net)
    x = torch.randn(2, 3, 16, 16)
    out, ran = _called(model.train(), x)
    assert list(out) == ["logits", "aux_logits"] and "aux" in ran
    want = model.aux(model.relu1(model.conv1(x)))  # the head reads the tap
    torch.testing.assert_close(out["aux_logits"], want)
    out, ran = _called(model.eval(), x)
    assert list(out) == ["logits"] and "aux" not in ran
    again = copy.deepcopy(model)  # a copy keeps both forwards
    assert list(again.eval()(x)) == ["logits"] and list(again.train()(x)) == list(net.outputs)
    assert "# eval mode" in model.code and "self.aux" not in model.code.split("# eval mode")[1]


def test_fmt_keeps_training(spec: Path, capsys) -> None:
    assert run_cli(capsys, "fmt", "--check", spec)[0] == 0
    assert "output aux_logits training" in spec.read_text()


def test_counts_and_marks(spec: Path, capsys) -> None:
    net = archc.load(spec)
    s = summarize(net)
    head = [r for r in s.rows if r.training]
    assert [r.name for r in head] == ["aux", "aux.gap", "aux.flatten", "aux.fc",
                                      "output:aux_logits"]
    assert s.training.params == 36 and s.training.macs == 32
    # inference MACs leave the head out; parameters count it (the model holds it)
    assert s.total.macs == sum(r.counts.macs for r in s.rows if not r.training)
    assert s.total.params == sum(r.counts.params for r in s.rows)
    code, out, _ = run_cli(capsys, "summary", spec, "--json")
    data = json.loads(out)
    assert code == 0 and data["training_only"] == {"outputs": ["aux_logits"], "params": 36,
                                                   "macs": 32, "flops": 64}
    assert data["outputs"] == {"logits": [4], "aux_logits": [4]}
    code, out, _ = run_cli(capsys, "summary", spec)
    assert "linear 4 (training only)" in out and "training only: aux_logits (36 of the" in out
    code, out, _ = run_cli(capsys, "build", spec)
    assert code == 0 and "linear (training only)" in out and "output training" in out
    dot = spec.with_suffix(".dot")
    assert run_cli(capsys, "graph", spec, "-o", dot)[0] == 0
    assert "output aux_logits (training only)" in dot.read_text()


def _exported(path: Path) -> type[torch.nn.Module]:
    loader = importlib.util.spec_from_file_location("tiny_export", path)
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module.Tiny


def test_exported_source_and_torchscript(spec: Path, capsys) -> None:
    path = spec.with_suffix(".py")
    assert run_cli(capsys, "export", spec, "-o", path)[0] == 0
    assert "        if self.training:\n" in path.read_text()
    model = archc.build(archc.load(spec))
    ours = _exported(path)()
    ours.load_state_dict(model.state_dict())
    scripted = torch.jit.script(ours)
    x = torch.randn(2, 3, 16, 16)
    for train in (True, False):
        for m in (model, ours, scripted):
            m.train(train)
        want = model(x)
        assert list(want) == (["logits", "aux_logits"] if train else ["logits"])
        for got in (ours(x), scripted(x)):
            assert list(got) == list(want)
            for key in want:
                torch.testing.assert_close(got[key], want[key])


def test_onnx_and_torch_export_are_eval_mode(spec: Path, capsys) -> None:
    path = spec.with_suffix(".onnx")
    assert run_cli(capsys, "export", spec, "-o", path, "--seed", "7")[0] == 0
    session = ort.InferenceSession(str(path))
    assert [o.name for o in session.get_outputs()] == ["logits"]
    cpu_seed(7)  # the weights the export drew
    model = archc.build(archc.load(spec)).eval()
    x = torch.randn(2, 3, 16, 16)
    (got,) = session.run(None, {"input": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), model(x)["logits"], rtol=1e-4, atol=1e-5)
    program = torch.export.export(model, (x,))
    linears = [n for n in program.graph.nodes if n.target == torch.ops.aten.linear.default]
    assert len(linears) == 1  # the head is not traced: fc only


def test_list_names_the_specs_with_aux_heads(capsys) -> None:
    code, out, _ = run_cli(capsys, "list", "googlenet")
    assert code == 0 and "--set aux=true on tv_googlenet (`archc summary inception_v3" in out
    code, out, _ = run_cli(capsys, "list", "googlenet", "--json")
    assert {e["name"]: e["aux"] for e in json.loads(out)} == {"googlenet": False,
                                                             "tv_googlenet": True}


def test_several_inputs_reach_the_mode_s_forward() -> None:
    """A network with named inputs and a training-only head takes every input, by position or
    by name, in both modes (the mode's forward is generated with the inputs as its parameters)."""
    net = archc.loads("network n {\n  input image 3x8x8\n  input mask 1x8x8\n  conv(4, k=1)\n"
                      "  tap mid\n  aux: { gap flatten linear(2) }\n  output aux training\n"
                      "  from mid\n  mul { from mask conv(4, k=1) | }\n  gap flatten linear(2)\n"
                      "  output out\n}\n")
    model = archc.build(net)
    image, mask = torch.randn(2, 3, 8, 8), torch.randn(2, 1, 8, 8)
    assert list(model.train()(image, mask)) == ["aux", "out"]
    evaluated = model.eval()(image=image, mask=mask)
    assert list(evaluated) == ["out"]
    assert torch.equal(evaluated["out"], model.train()(image, mask)["out"])  # no dropout, no bn
