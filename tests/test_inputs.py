"""Several inputs (`input image ...`, `input mask ...`) from the Python API and the command line,
on tests/cases/inputs.arch: the built module equals a hand-written nn.Module with the same
weights (fp64, by position and by keyword); its counts equal torch's (FlopCounterMode, numel);
`build`, `summary`, `graph`, the language server, `export -o m.py` (TorchScript) and ONNX show
or take each input; `--input NAME=SHAPE` and its usage errors; `train` refuses it."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

import archc
from archc.cli import main
from tests.test_summary import check_against_torch
from tests.util import cpu_seed, run_cli

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "tests" / "cases" / "inputs.arch"
INPUTS = {"image": (3, 12, 12), "mask": (1, 12, 12)}
OUTPUTS = {"out": (3, 6, 6), "aux": (3, 12, 12)}



def _seq(**layers: nn.Module) -> nn.Sequential:
    return nn.Sequential(OrderedDict(layers))


class Gated(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.gate = _seq(conv=nn.Conv2d(1, c, 1), sigmoid=nn.Sigmoid())


class Reference(nn.Module):
    """tests/cases/inputs.arch written by hand."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.stem = _seq(conv=nn.Conv2d(3, 8, 3, padding=1), bn=nn.BatchNorm2d(8), relu=nn.ReLU())
        self.fused = Gated(8)
        self.down = _seq(conv=nn.Conv2d(9, 16, 3, stride=2, padding=1), relu=nn.ReLU())
        self.pooled = _seq(maxpool=nn.MaxPool2d(2), conv=nn.Conv2d(1, 16, 1))
        self.head = nn.Conv2d(16, classes, 1)
        self.aux = nn.Conv2d(8, classes, 1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.fused.conv(self.stem(image))
        skip = x = self.fused.gate(mask) * x
        x = self.down(torch.cat([mask, x], 1))
        x = self.pooled(mask) + x
        return {"out": self.head(x), "aux": self.aux(skip)}


def _batch(n: int = 2, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    cpu_seed(3)
    return tuple(torch.randn(n, *s, dtype=dtype) for s in INPUTS.values())


def _same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> bool:
    return list(got) == list(want) and all(torch.allclose(got[k], want[k], rtol=0, atol=1e-12)
                                           for k in want)


def test_built_module_equals_the_hand_written_one() -> None:
    net = archc.load(CASE)
    assert net.inputs == INPUTS and net.outputs == OUTPUTS and net.input_shape == INPUTS["image"]
    ours = archc.build(net).double()
    theirs = Reference().double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    cpu_seed(0)
    for p in ours.parameters():  # not the default init: any swapped weight shows
        nn.init.normal_(p)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    image, mask = _batch()
    for mode in (False, True):  # eval first: train mode moves the running stats
        ours.train(mode)
        theirs.train(mode)
        with torch.no_grad():
            want = theirs(image, mask)
            assert _same(ours(image, mask), want)
            assert _same(ours(mask=mask, image=image), want)  # by keyword: the inputs' names


def test_counts_equal_torch() -> None:
    """MACs, FLOPs (FlopCounterMode), parameters and each layer's activations (numel) of the
    two-input network, as every bundled spec's."""
    check_against_torch(archc.load(CASE))


def test_python_api_rows_and_input_override() -> None:
    net = archc.load(CASE, input_shape={"image": (3, 16, 16), "mask": (1, 16, 16)})
    rows = archc.shapes(net)
    assert rows[:2] == [("input:image", "input", (3, 16, 16)), ("input:mask", "input", (1, 16, 16))]
    assert dict((n, s) for n, _, s in rows)["pooled.maxpool"] == (1, 8, 8)


def test_build_summary_and_graph_show_each_input(tmp_path: Path, capsys) -> None:
    code, out, _ = run_cli(capsys, "build", str(CASE))
    assert code == 0
    assert re.search(r"input:image\s+│ input\s+│ 3x12x12", out)
    assert re.search(r"input:mask\s+│ input\s+│ 1x12x12", out)
    code, out, _ = run_cli(capsys, "summary", str(CASE))
    assert code == 0 and "inputs: image 3x12x12, mask 1x12x12 -> out 3x6x6, aux 3x12x12" in out
    code, out, _ = run_cli(capsys, "summary", str(CASE), "--json")
    data = json.loads(out)
    assert data["inputs"] == {k: list(v) for k, v in INPUTS.items()}
    dot = tmp_path / "g.dot"
    assert run_cli(capsys, "graph", str(CASE), "-o", str(dot))[0] == 0
    text = dot.read_text()
    assert '"@input" [label="input image\\n3x12x12"' in text
    assert '"@input/mask" [label="input mask\\n1x12x12"' in text
    assert '"@input/mask" -> "pooled.maxpool" [label=" 1x12x12"]' in text


def test_input_option_names_each_input(capsys) -> None:
    for args in (["--input", "image=3x16x16", "--input", "mask=1x16x16"],
                 ["--input", "image=3x16x16,mask=1x16x16"]):
        code, out, _ = run_cli(capsys, "summary", str(CASE), "--json", *args)
        assert code == 0, args
        assert json.loads(out)["inputs"] == {"image": [3, 16, 16], "mask": [1, 16, 16]}


@pytest.mark.parametrize("args,message", [
    (["--input", "3x16x16"], "--input: network 'inputs' has 2 inputs (image, mask); give each "
                             "as NAME=SHAPE"),
    (["--input", "mask=1x16x16", "--input", "3x16x16"], "--input given twice"),
    (["--input", "mask=1x16x16", "--input", "mask=1x8x8"], "--input mask=...: given twice"),
    (["--input", "msk=1x16x16"], "has no input 'msk'\n  hint: did you mean 'mask'?"),
    (["--input", "mask=1xfoo"], "--input expects CxHxW"),
])
def test_wrong_input_option_is_a_usage_error(args: list[str], message: str, capsys) -> None:
    try:
        code = main(["check", str(CASE), *args])
    except SystemExit as exc:  # argparse's own errors (an option given twice) exit here
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err, err


def test_one_input_network_takes_no_names(capsys) -> None:
    code, _, err = run_cli(capsys, "check", "lenet", "--input", "x=1x28x28")
    assert code == 2 and "its input is unnamed: give --input SHAPE" in err


def test_editor_hints_show_each_input() -> None:
    from archc.lsp.analysis import analyze
    from archc.lsp.hints import hints
    from archc.pipeline.driver import run

    text = CASE.read_text()
    lines = text.split("\n")
    found = {lines[h.line].strip(): h.label for h in hints(run(analyze(str(CASE), text, 1)))}
    assert found["input mask (1, size, size)"] == "→ 1x12x12"
    assert found["input image 3x12x12"] == "→ 3x12x12"


def test_exported_source_takes_the_inputs_by_name(tmp_path: Path, capsys) -> None:
    path = tmp_path / "inputs.py"
    assert run_cli(capsys, "export", str(CASE), "-o", str(path))[0] == 0
    text = path.read_text()
    assert "def forward(self, image: Tensor, mask: Tensor) -> dict[str, Tensor]:" in text
    spec = importlib.util.spec_from_file_location("inputs_export", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ours = archc.build(archc.load(CASE)).double().eval()
    theirs = module.Inputs().double().eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    scripted = torch.jit.script(theirs)
    image, mask = _batch()
    with torch.no_grad():
        want = ours(image, mask)
        assert _same(theirs(image=image, mask=mask), want)
        assert _same(scripted(image, mask), want)


def test_onnx_has_named_inputs(tmp_path: Path, capsys) -> None:
    import onnx
    import onnxruntime as ort

    path = tmp_path / "inputs.onnx"
    assert run_cli(capsys, "export", str(CASE), "-o", str(path))[0] == 0
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["image", "mask"]
    assert [o.name for o in graph.output] == ["out", "aux"]
    cpu_seed(0)  # export's default seed: the same weights
    model = archc.build(archc.load(CASE)).eval()
    image, mask = _batch(3, torch.float32)
    with torch.no_grad():
        want = model(image, mask)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"mask": mask.numpy(), "image": image.numpy()})
    for g, w in zip(got, want.values(), strict=True):
        assert abs(g - w.numpy()).max() < 1e-4


def test_train_refuses_several_inputs(tmp_path: Path, capsys) -> None:
    from tests.train_fixtures import write_cifar

    spec = tmp_path / "two.arch"
    spec.write_text("network two {\n  input image 3x32x32\n  input extra 3x32x32\n"
                    "  add { from extra | }\n  gap flatten linear(10)\n}\n")
    write_cifar(tmp_path / "d", "cifar10")
    code, _, err = run_cli(capsys, "train", str(spec), "--data-dir", str(tmp_path / "d"),
                           "--device", "cpu", "--no-progress", "--no-tensorboard",
                           "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "c"))
    assert code == 1 and "Traceback" not in err
    assert "2:9: error: the network takes 2 inputs (image, extra); archc train trains " \
           "one-input networks" in err, err


def test_predict_refuses_several_inputs(tmp_path: Path, capsys) -> None:
    from PIL import Image

    torch.save(archc.build(archc.load(CASE)).state_dict(), tmp_path / "w.pth")
    Image.new("RGB", (12, 12)).save(tmp_path / "a.png")
    code, _, err = run_cli(capsys, "predict", str(CASE), "--weights", str(tmp_path / "w.pth"),
                           str(tmp_path / "a.png"))
    assert code == 1 and "Traceback" not in err
    assert "predict reads one image per sample; inputs takes 2 inputs (image, mask)" in err, err


def test_dynamo_exporter_names_each_input(tmp_path: Path) -> None:
    """The exporter `auto` falls back to gives one dynamic batch axis to each input too."""
    import onnx

    from archc.emit.onnx import export_onnx

    path = tmp_path / "d.onnx"
    assert export_onnx(archc.load(CASE), path, exporter="dynamo") == "dynamo"
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["image", "mask"]
    assert [o.name for o in graph.output] == ["out", "aux"]
