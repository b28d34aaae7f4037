"""A block's output width derived from its definition (archc/export/derive.py, issue 21 item 7):
the spec's own expression, checked against every instance of every bundled spec and the
exporter's probes (blocks expanded again at arguments the network never passes); rule by rule
on small blocks; and a network whose widths no fitted form says (archc/export/widths.py's
fallback), exported, built with other input channels and compared with archc.build."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from typing import Any

import pytest
import torch

import archc
from archc.core import graph
from archc.export import widths
from archc.export.conditions import python_text
from archc.export.derive import INPUT, Deriver, value
from archc.export.explain import py_name
from archc.export.flow import Flow, after
from archc.export.params import probes
from archc.export.python import export_python
from archc.export.unify import Slot, TLayer, channels
from archc.front.parse import parse
from archc.pipeline.driver import load_network
from tests.test_export import JOBS

BUNDLED = [n for n in JOBS if not n.startswith("case_") and "=" not in n]


def _text(source: str, block: str) -> str | None:
    """The derived width of `block` in `source`, as Python over its parameters."""
    module = parse(source)
    blocks = {d.name: d for d in module.definitions if d.kind == "block"}
    width = Deriver(blocks).block(block)
    if width is None:
        return None
    names = {p.name: py_name(p.name) for p in blocks[block].params} | {INPUT: "in_channels"}
    return python_text(width, names, "in_channels")


# (blocks, the block asked, its derived width as Python; None: not derived, fitting's turn)
RULES = [
    ("block b(c) { conv(c, k=3) bn relu maxpool(2) }", "c"),
    ("block b(c) { bn relu dropout(0.5) }", "in_channels"),
    ("block b(a, e) { concat { conv(a, k=1) | conv(e, k=3, pad=1) } }", "a + e"),
    ("block b(c) { add { conv(c, k=1) bn | conv(c, k=1) } relu }", "c"),
    # a loop adding `g` per pass (a dense block) and a repetition keeping the width
    ("block b(n, g) { for i in 0..n { concat { | conv(g, k=3, pad=1) } } }",
     "in_channels + n * g"),
    ("block b(n, c) { conv(c, k=3, pad=1) * n }", "c if n > 0 else in_channels"),
    ("block b(n, g) { concat { | conv(g, k=1) | conv(2, k=1) } * n }",
     "in_channels + n * (g + 2)"),
    ("block b(n, g) { concat { conv(g, k=1) | } * n }", "in_channels + n * g"),
    ("block b(n) { for i in 1..n { conv(4 * i, k=1) } }",
     "4 * (n - 1) if n - 1 > 0 else in_channels"),
    ("block b(n, c) { for i in 0..n { conv(c * (i + 1), k=1) } }",
     "c * n if n > 0 else in_channels"),  # (the last index, n - 1, put into i + 1)
    # the spec's own test; a block call with its arguments and a default computed from them
    ("block b(c, wide) { if wide { conv(2 * c, k=1) } else { conv(c, k=1) } }",
     "2 * c if wide else c"),
    ("block inner(c, e=c * 4) { conv(e, k=1) }\nblock b(w) { inner(w + 1) }", "(w + 1) * 4"),
    ("block inner(c) { concat { | conv(c, k=1) } }\nblock b(w) { inner(w) inner(w) }",
     "in_channels + w + w"),
    ("block b(c) { conv(c, k=1) tap low conv(8, k=1) from low }", "c"),
    # a split feeds each branch its part of the channels
    ("block b(c) { split { | conv(c, k=1) } }", "in_channels // 2 + c"),
    # what does not say a width: a flatten (its spatial size), an op whose width is no
    # argument's (patch_concat's 4 * in.c), a tap set outside
    ("block b(c) { conv(c, k=1) flatten }", None),
    ("block b(c) { conv(c, k=1) patch_concat(2) }", None),
    ("block b(c) { from low conv(c, k=1) }", None),
]


@pytest.mark.parametrize("source,expected", RULES)
def test_each_rule_derives_the_width(source: str, expected: str | None) -> None:
    assert _text(source, "b") == expected


@pytest.mark.parametrize("name", BUNDLED)
def test_derived_widths_equal_every_instance_and_probe(name: str) -> None:
    """Each bundled spec's blocks: the derived width, evaluated at each instance's arguments
    and at the probes' (arguments no instance had), is the expanded block's output width. Not
    claimed on a CxL signal (M5): the exporter's width of a rank-2 shape is its last axis (a
    token's width), which a conv there does not set; the exporter drops what misses one."""
    job = JOBS[name]
    net, prog = load_network(job["spec"], job.get("sets"), job.get("input"))
    deriver = Deriver(prog.blocks)
    scopes = [n for _, n in graph.walk(net.root.items)
              if isinstance(n, archc.Scope) and n.kind == "block"]
    scopes += [s for group in probes(prog, net) for s in group if s.kind == "block"]
    for scope in scopes:
        width = deriver.block(scope.title)
        if width is not None and len(scope.in_shape) != 2:
            got = value(width, scope.args, channels(scope.in_shape))
            assert got == channels(scope.out_shape), (scope.title, scope.args)


# calls whose widths no fitted form says: `a * t` (a product of two parameters), `2 * a if wide
# else a` (a flag); and a dense block (`in + n * g`, which a fitted form says too)
GROWN = """
block expand(a, t) { conv(a * t, k=1) bn relu }
block maybe(a, wide) { if wide { conv(2 * a, k=1) } else { conv(a, k=1) } }
block layer(g) { concat { | conv(g, k=3, pad=1) } }
block dense(n, g) { for i in 0..n { layer(g) } }
network grown {
  input 3x8x8
  expand(4, 2)
  expand(3, 3)
  maybe(5, true)
  maybe(6, false)
  expand(2, 5)
  dense(2, 3)
  dense(3, 2)
  conv(4, k=1)
  gap
  flatten
  linear(3)
}
"""


# a width in the middle of the network that equals its input channels (3) at the default
# input: the next call's input is that width, not the network's `in_channels`
NARROWED = GROWN.replace("maybe(6, false)", "maybe(3, false)")
# a pool's kernel of 3 first on 3 channels is no width (it was written `in_channels`)
POOLED = """
network grown {
  input 3x9x9
  maxpool(3, stride=2)
  conv(4, k=1)
  maxpool(3, stride=1, pad=1)
}
"""
# a network that holds on 3 channels only: its class takes no `in_channels`
RGB = 'network grown {\n  input 3x8x8\n  assert in.c == 3, "RGB only"\n  conv(8, k=3)\n}\n'


def _export(tmp_path: Path, text: str = GROWN) -> str:
    path = tmp_path / "grown.arch"
    path.write_text(text)
    return export_python(path)


def test_widths_no_fitted_form_says_are_derived(tmp_path: Path, monkeypatch: Any) -> None:
    """Each call's width as its block says it, over the call's own arguments; `maybe(5,
    true)` with its test taken. Fitting alone found none of the first four."""
    written = ["c = 4 * 2", "c = 3 * 3", "c = 2 * 5", "c = 6", "c = 2 * 5", "c = c + 2 * 3"]
    lines = [ln.strip() for ln in _export(tmp_path).splitlines() if ln.startswith("        c = ")]
    assert lines == written
    monkeypatch.setattr(widths, "derived_width", lambda call: None)
    fitted = [ln.strip() for ln in _export(tmp_path).splitlines()
              if ln.startswith("        c = ")]
    assert fitted[:4] == ["c = 8", "c = 9", "c = 10", "c = 6"]


def _exported(tmp_path: Path, text: str) -> Any:
    """The module `archc export` writes for `text` (as grown.py), imported."""
    path = tmp_path / "grown.py"
    path.write_text(_export(tmp_path, text))
    loader = importlib.util.spec_from_file_location("grown", path)
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


@pytest.mark.parametrize("text", [GROWN, NARROWED, POOLED], ids=["grown", "narrowed", "pooled"])
def test_derived_network_takes_other_input_channels(tmp_path: Path, text: str) -> None:
    """The exported network built with 5 input channels equals archc.build at 5x8x8."""
    module = _exported(tmp_path, text)
    want = archc.build(archc.loads(text, input_shape=(5, 8, 8))).eval()
    assert "in_channels" in inspect.signature(module.Grown).parameters
    got = module.Grown(in_channels=5).eval()
    got.load_state_dict(want.state_dict(), strict=True)
    x = torch.randn(2, 5, 8, 8)
    with torch.no_grad():
        assert torch.equal(got(x), want(x))


def test_a_network_on_its_input_channels_only_takes_none(tmp_path: Path) -> None:
    """The network at other input channels does not check (or not as one class): its class
    is built for the spec's 3 channels, with no `in_channels` that would build another."""
    module = _exported(tmp_path, RGB)
    assert list(inspect.signature(module.Grown).parameters) == []
    assert "nn.Conv2d(3, 8, 3)" in (tmp_path / "grown.py").read_text()


# `round` and `int` translate as Python's builtins, which compute the same (halves to even,
# toward zero): RegNet's squeeze width `round(0.25 * in.c)` is passed as written, not as a
# form fitted to the instances (`in_channels // 4`, which is 3 where it is 4 at 14 channels)
@pytest.mark.parametrize("text,python", [("round(0.25 * in.c)", "round(0.25 * in_channels)"),
                                         ("int(c * 1.5) // 8", "int(c * 1.5) // 8")])
def test_round_and_int_translate(text: str, python: str) -> None:
    from archc.front.evaluate import evaluate
    from archc.front.parse import parse_expr

    expr = parse_expr(text)
    assert python_text(expr, {"c": "c"}, "in_channels") == python
    for n in (6, 10, 14, 15, -3):
        env = {"c": n, "in_channels": n}
        assert eval(python, {}, env) == evaluate(expr, {"c": n, "in": (n, 4, 4)})  # noqa: S307


def test_regnet_squeeze_width_is_the_spec_expression() -> None:
    text = export_python(JOBS["tv_regnet"]["spec"], JOBS["tv_regnet"].get("sets"),
                         JOBS["tv_regnet"].get("input"))
    assert "fc1_channels=round(0.25 * in_channels)" in text


@pytest.mark.parametrize("text,expected", [
    ("128 if 2 > 0 else c", "128"),  # a stage of 2 blocks
    ("4 * 256 if (6 if depth == 50 else 23) > 0 else c", "4 * 256"),  # either way
    ("w if n > 0 else c", "w if n > 0 else c"),  # the call's own argument: kept
    ("4 * (2 if depth == 50 else 0) if (2 if depth == 50 else 0) > 0 else c",
     "4 * (2 if depth == 50 else 0) if (2 if depth == 50 else 0) > 0 else c"),
    ('8 if kind == "a" else 4', '8 if kind == "a" else 4'),  # strings: left as they are
])
def test_a_test_the_arguments_decide_is_taken(text: str, expected: str) -> None:
    assert widths.folded(text) == expected


def test_a_float_equal_to_the_width_is_no_width() -> None:
    """lrn's `k=1.0` on a block whose every instance and probe has one input channel equals
    the width as a number (1.0 == 1) but is no width: the width after lrn stays `in_channels`.
    It was taken as the text `1.0`, and the exported class wrote `nn.Conv2d(3 * (3 * (1.0)),
    ...)`, a TypeError at construction (bench/export_channels.py, seed 1257)."""
    shape = (1, 15, 5)
    lrn = TLayer(name="x", present={0: shape, 1: shape}, call="nn.LocalResponseNorm",
                 args=[Slot({0: 4, 1: 4}, "x_arg0", "4")],
                 kwargs={"k": Slot({0: 1.0, 1: 1.0}, "x_k", "1.0")})
    flow = Flow("in_channels", {0: 1, 1: 1})
    assert after(lrn, flow) == flow
    # an int argument equal to the width in every instance is its width (`conv(c)`)
    conv = TLayer(name="c", present={0: shape, 1: shape}, call="nn.Conv2d",
                  args=[Slot({0: 1, 1: 1}, "c_arg0", "c")])
    assert after(conv, flow) == Flow("c", {0: 1, 1: 1})


def test_the_channels_bench_finds_the_three_fixed_seeds_right(tmp_path: Path, monkeypatch: Any,
                                                              capsys: Any) -> None:
    """bench/export_channels.py as a developer runs it (its `main`, its flags), on the seeds
    whose classes were wrong: 1257 (channels: the float width, a TypeError at C + 2), 1269
    (params: a groupnorm of one value a group, the bench's own) and 6470 (params: `k + 1`
    fitted for `p // 2`)."""
    import json
    import sys

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import export_channels

    for flags, follows in ((["--seed", "1257"], 1), (["--params", "--seed", "1269"], None),
                           (["--params", "--seed", "6470"], 3)):
        monkeypatch.setattr(sys, "argv", ["export_channels.py", "--count", "1", *flags,
                                          "--out", str(tmp_path)])
        export_channels.main()
        found = json.loads(capsys.readouterr().out)
        assert found["kept_seeds"] == [] and "wrong" not in found, found
        if follows is not None:
            assert found["follows"] == follows, found
