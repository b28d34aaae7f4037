"""Taps and outputs (`tap`, `from`, `output`) from the command line and the Python API, as a user
runs them, on tests/cases/taps.arch (a tap read across scopes and inside a block, a join branch
starting from a tap, resize three ways, two outputs): `check` exits 0 with a warning alone,
`build`'s shape table, `summary --json`, `graph`, `fmt` and `export -o m.py` show or keep each
wire, and the exported forward returns the dict archc.build's does."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import torch

import archc
from tests.util import cpu_seed, run_cli

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "tests" / "cases" / "taps.arch"
OUTPUTS = {"out": (5, 20, 24), "aux": (5, 20, 24)}



def test_python_api_outputs_and_rows() -> None:
    net = archc.load(CASE)
    assert net.outputs == OUTPUTS
    rows = {name: (kind, shape) for name, kind, shape in archc.shapes(net)}
    assert rows["tap:skip"] == ("tap", (8, 10, 12))
    assert rows["body.tap:mid"] == ("tap", (16, 5, 6))
    assert rows["classifier.skip_classifier"][1] == (5, 10, 12)
    assert rows["from:mid"] == ("from", (16, 5, 6))
    assert rows["output:aux"] == ("output", (5, 20, 24))


def test_check_exits_zero_on_a_warning_alone(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "w.arch"
    spec.write_text("network w {\n  input 3x8x8\n  conv(4, k=1) tap unused relu\n}\n")
    code, _, err = run_cli(capsys, "check", str(spec))
    assert code == 0
    assert "3:16: warning[A0215]: tap 'unused' is never read" in err
    code, _, err = run_cli(capsys, "build", str(spec))  # a warning alone builds
    assert code == 0
    code, out, _ = run_cli(capsys, "check", str(spec), "--format", "github")
    assert code == 0 and out.startswith("::warning file=")


def test_build_table_and_summary_json(capsys) -> None:
    code, out, _ = run_cli(capsys, "build", str(CASE))
    assert code == 0
    assert re.search(r"tap:skip\s+│ tap\s+│ 8x10x12", out)
    assert re.search(r"output:aux\s+│ output\s+│ 5x20x24", out)
    code, out, _ = run_cli(capsys, "summary", str(CASE), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["outputs"] == {k: list(v) for k, v in OUTPUTS.items()}
    assert {r["name"] for r in data["layers"] if r["kind"] == "wire"} >= {
        "tap:skip", "body.tap:mid", "classifier.from:skip", "output:out"}


def test_graph_draws_edges_from_the_tap(tmp_path: Path, capsys) -> None:
    dot = tmp_path / "taps.dot"
    code, _, _ = run_cli(capsys, "graph", str(CASE), "-o", str(dot))
    assert code == 0
    text = dot.read_text()
    # `from mid`'s reader takes its edge from the layer the tap named, with its shape
    assert '"body.relu" -> "aux.conv" [label=" 16x5x6"]' in text
    assert '"@output/out"' in text and '"@output/aux"' in text


def test_fmt_keeps_the_wires(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "taps.arch"
    spec.write_text(CASE.read_text().replace("  tap skip\n", "  tap    skip\n"))
    code, _, _ = run_cli(capsys, "fmt", str(spec))
    assert code == 0
    assert spec.read_text() == CASE.read_text()


def test_exported_source_returns_the_same_dict(tmp_path: Path, capsys) -> None:
    path = tmp_path / "taps.py"
    code, _, _ = run_cli(capsys, "export", str(CASE), "-o", str(path))
    assert code == 0
    text = path.read_text()
    assert "def forward(self, x: Tensor) -> dict[str, Tensor]:" in text
    assert 'return {"out": output_out, "aux": output_aux}' in text
    spec = importlib.util.spec_from_file_location("taps_export", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cpu_seed(0)
    ours = archc.build(archc.load(CASE)).eval()
    theirs = module.Taps().eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, 20, 24)
    with torch.no_grad():
        got, want = theirs(x), ours(x)
    assert list(got) == list(want) == list(OUTPUTS)
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_editor_hints_show_each_wire_shape() -> None:
    """The language server's inlay hints: `from skip` shows the tap's shape (the value the
    branch starts from), `output aux` the output's."""
    from archc.lsp.analysis import analyze
    from archc.lsp.hints import hints
    from archc.pipeline.driver import run

    text = CASE.read_text()
    lines = text.split("\n")
    found = {lines[h.line].strip(): h.label for h in hints(run(analyze(str(CASE), text, 1)))}
    assert found["from skip"] == "→ 8x10x12"
    assert found["tap mid"] == "→ 16x5x6"
    assert found["output aux"] == "→ 5x20x24"


def test_train_refuses_an_ambiguous_main_output(tmp_path: Path, capsys) -> None:
    """`archc train` trains a network returning a dict as a classifier with auxiliary heads
    (tests/test_train_aux.py); one whose main output it cannot tell is refused before
    training, at its line, not with a traceback from the loss."""
    from tests.train_fixtures import write_cifar

    spec = tmp_path / "two.arch"
    spec.write_text("network two {\n  input 3x32x32\n  gap flatten tap f linear(10)\n"
                    "  output logits\n  from f linear(10)\n  output extra\n}\n")
    write_cifar(tmp_path / "d", "cifar10")
    code, _, err = run_cli(capsys, "train", str(spec), "--data-dir", str(tmp_path / "d"),
                           "--device", "cpu", "--no-progress", "--no-tensorboard",
                           "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "c"))
    assert code == 1 and "Traceback" not in err
    assert "eval mode returns the outputs logits, extra, and none is named `out`" in err, err


def test_an_output_then_a_numbered_label_is_two_statements() -> None:
    """A declared shape is `21x520x520` or `(...)`, never a bare number: `output out` then
    `1: conv(...)` (an FPN's numbered layers) must not read `1` as out's shape."""
    net = archc.loads("network n {\n  input 3x8x8\n  conv(4, k=1)\n  output out\n"
                     "  1: conv(4, k=1) gap flatten\n  output f (4)\n}\n")
    assert net.outputs == {"out": (4, 8, 8), "f": (4,)}
