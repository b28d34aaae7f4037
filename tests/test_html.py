"""`archc graph -o net.html`: the page's data against the resolved graph and against the built
torch module (every layer's `model.NAME` is a submodule with that many parameters, its output
shape what a forward pass gives), the page being one offline file, and a spec with errors drawn
with its failing node marked (exit 1). The page in a real browser: tests/test_html_browser.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

import archc
from archc.cli import main
from archc.core.graph import Layer, Wire, walk
from archc.emit.explore import page_data
from archc.expansion.stats import count

SPECS_DIR = Path(__file__).resolve().parents[1] / "specs"
DATA = re.compile(r'<script id="data" type="application/json">(.*?)</script>', re.S)

BROKEN = """\
network broken(classes=10) {
  input 1x32x32
  conv1: conv(16, k=3, pad=1) bn relu
  stage: residual(32, use_1x1=true, stride=2)
  flatten
  fc: linear(classes)
  conv(3)
  relu
}
"""


def records(rec: dict, out: list[dict] | None = None) -> list[dict]:
    out = [] if out is None else out
    out.append(rec)
    for c in rec.get("c", ()):
        records(c, out)
    for branch in rec.get("b", ()):
        for c in branch:
            records(c, out)
    return out


def data_of(path: Path) -> dict:
    m = DATA.search(path.read_text(encoding="utf-8"))
    assert m is not None
    return json.loads(m[1].replace("<\\/", "</"))


@pytest.mark.parametrize("spec", sorted(p.stem for p in SPECS_DIR.glob("*.arch")))
def test_page_data_of_every_bundled_spec(spec: str) -> None:
    net = archc.load(SPECS_DIR / f"{spec}.arch")
    data = page_data(net, [], net.sources)
    recs = records(data["root"])
    layers = {r["n"]: r for r in recs if r["k"] == "layer"}
    # a wire (`tap low`) is a row of no cost, drawn as a layer
    want = {q: n for q, n in walk(net.root.items) if isinstance(n, (Layer, Wire))}
    assert set(layers) == set(want)
    for q, n in want.items():
        r = layers[q]
        assert (r["op"], tuple(r["o"]), r["p"]) == (n.op, n.out_shape, count(n).params)
        assert data["files"][r["s"][0]] == n.span.path and r["s"][1:] == [n.span.line, n.span.col]
    total = count(net.root)
    assert (data["root"]["p"], data["root"]["m"], data["root"]["v"]) == \
        (total.params, total.macs, total.activations)
    for r in recs:  # a block's totals are its children's
        if "c" in r:
            assert r["p"] == sum(c["p"] for c in r["c"])
    assert not data["errors"] and not any(r["k"] == "error" for r in recs)


def test_module_names_params_and_shapes_against_torch() -> None:
    net = archc.load(SPECS_DIR / "resnet18.arch")
    model = archc.build(net).eval()
    modules = dict(model.named_modules())
    outputs: dict[str, tuple[int, ...]] = {}
    hooks = [m.register_forward_hook(
        lambda mod, inp, out, name=name: outputs.__setitem__(name, tuple(out.shape[1:])))
        for name, m in modules.items() if name]
    with torch.no_grad():
        model(torch.zeros(1, *net.input_shape))
    for h in hooks:
        h.remove()
    recs = records(page_data(net, [], net.sources)["root"])
    for r in recs:
        if r["k"] != "layer":
            continue
        module = modules[r["n"]]  # the panel shows it as model.NAME
        assert r["p"] == sum(p.numel() for p in module.parameters(recurse=True)), r["n"]
        assert tuple(r["o"]) == outputs[r["n"]], r["n"]
    run = next(r for r in recs if r["k"] == "run")  # layer1's two identical residuals
    assert run["n"] == "layer1.0-1" and [c["n"] for c in run["c"]] == ["layer1.0", "layer1.1"]


def test_cli_writes_one_offline_page(tmp_path: Path, capsys) -> None:
    out = tmp_path / "e.html"
    assert main(["graph", "tv_efficientnet", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "wrote" in capsys.readouterr().err
    # self-contained: nothing is fetched when it opens
    assert not re.search(r'<(script|link|img)[^>]+(src|href)=', text)
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") \
        .replace('"http://www.w3.org/2000/svg"', "")
    data = data_of(out)
    assert data["name"] == "tv_efficientnet" and data["input"] == [3, 224, 224]
    names = {r["n"] for r in records(data["root"])}
    assert "features.1.0.block.0.0" in names  # a conv deep inside the first MBConv


def test_broken_spec_is_drawn_with_its_failure(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "broken.arch"
    spec.write_text(BROKEN)
    out = tmp_path / "b.html"
    assert main(["graph", str(spec), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "error[A0302]" in err and "missing argument 'k'" in err and "wrote" in err
    data = data_of(out)
    (diag,) = data["errors"]
    assert diag["code"] == "A0302" and diag["hint"].startswith("conv(out, k")
    assert data["files"][diag["s"][0]] == str(spec) and diag["s"][1] == 7
    top = [(r["k"], r["n"]) for r in data["root"]["c"]]
    # drawn up to where it is known; the failing node where the conv stood, then what follows
    assert top[-3:] == [("layer", "fc"), ("error", "error"), ("layer", "relu2")]
    assert data["root"]["c"][-1]["o"] is None and data["output"] is None


def test_failure_inside_a_block_is_marked_there(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "inner.arch"
    spec.write_text("block bad(c) { conv(c, k=3) linear(c) conv(c, k=1) }\n"
                    "network n { input 3x16x16  head: conv(8, k=1)  body: bad(8)  relu }\n")
    out = tmp_path / "i.html"
    assert main(["graph", str(spec), "-o", str(out)]) == 1
    root = data_of(out)["root"]
    body = next(r for r in root["c"] if r["n"] == "body")
    kinds = [r["k"] for r in body["c"]]
    assert "error" in kinds and kinds.index("error") >= 1
    capsys.readouterr()


def test_unexpandable_spec_still_writes_a_page(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "syntax.arch"
    spec.write_text("network n { input 3x16x16 conv(8, k=3 }\n")
    out = tmp_path / "s.html"
    assert main(["graph", str(spec), "-o", str(out)]) == 1
    data = data_of(out)
    assert data["errors"] and data["errors"][0]["code"]
    capsys.readouterr()


def test_depth_option_sets_the_opening_depth(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.html"
    for given, want in (([], None), (["--depth", "3"], 3), (["--depth", "all"], 0)):
        assert main(["graph", "resnet18", "-o", str(out), *given]) == 0
        assert data_of(out)["depth"] == want
    capsys.readouterr()


def test_failure_inside_a_join_branch_is_marked_in_that_branch(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "branch.arch"
    spec.write_text("network n { input 3x16x16\n  conv(8, k=3)\n"
                    "  add { identity | conv(8, k=1) linear(4) }\n  relu\n}\n")
    out = tmp_path / "j.html"
    assert main(["graph", str(spec), "-o", str(out)]) == 1
    join = next(r for r in data_of(out)["root"]["c"] if r["k"] == "join")
    assert [[c["k"] for c in b] for b in join["b"]] == [["layer"], ["layer", "error"]]
    capsys.readouterr()
