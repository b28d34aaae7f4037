"""No spec can make archc hang, crash or run out of memory (issue 16): work bombs that hold no
layer, fan-outs of blocks, wide expressions, huge literals, non-finite numbers and models too
big to allocate all end in a located error, in `check` and in `build`. Each reproducer of the
issue is a case here; a generous alarm turns a hang into a failure (no timing asserts)."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
import torch

import archc
from archc.cli import main
from archc.core.limits import MAX_DIGITS, MAX_DRAWN, MAX_MEMORY, MAX_WORK
from archc.emit.torch import Passthrough
from archc.expansion.memory import fmt_bytes, parse_size

try:
    from tests.oracles import time_limit, verify_claims
except ImportError:  # tests/ itself on sys.path
    from oracles import time_limit, verify_claims

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NET = "network n {{ input 1x8x8 {body} }}\n"
FANOUT = "".join(f"block b{i} {{ b{i + 1} b{i + 1} }}\n" for i in range(40)) + \
    "block b40 { }\n" + NET.format(body="b0")
WIDE = "max(" + ", ".join(["1"] * 5000) + ")"
TOO_MUCH = f"this spec expands to more than {MAX_WORK:,} nodes"

# name -> (spec, line:col of the error or None for exit 0, words the message holds)
CASES = {
    "nested empty for loops": (NET.format(
        body="for i in 0..1024 { for j in 0..1024 { for k in 0..1024 { } } }"),
        "1:25", TOO_MUCH),
    "nested empty groups": (NET.format(body="{ { { } * 1024 } * 1024 } * 1024"),
                            "1:53", TOO_MUCH),
    "empty joins": (NET.format(body="{ add { | } * 1024 } * 1024"), "1:48", TOO_MUCH),
    "blocks fanning out 2^40": (FANOUT, "42:25", TOO_MUCH),
    "65,536 empty modules": (NET.format(body="{ { } * 1024 } * 64 relu"), "1:42", TOO_MUCH),
    "a block of a million empty repeats": (
        "block b { { { relu * 0 } * 1024 } * 1024 }\n" + NET.format(body="b"), "2:25",
        TOO_MUCH),
    "a wide expression, repeated": (NET.format(body=f"for i in 0..1024 {{ if {WIDE} > 0 {{ }} }}"),
                                    "1:25", TOO_MUCH),
    "a thousand networks share one budget": (
        "".join(NET.format(body="for i in 0..200 { }").replace("network n", f"network n{i}")
                for i in range(1000)), "484:28", TOO_MUCH),
    "small after all: 16,384 empty modules": (NET.format(body="{ { } * 1024 } * 16 relu"),
                                              None, ""),
    "a label interpolated to 10 MB": (
        NET.replace("network n", 'network n(s="' + "x" * 50_000 + '")').format(
            body='"' + "{s}" * 200 + '": relu'), "1:50031",
        "becomes 10,000,000 characters long; at most 100"),
    "integer of 4,301 digits": (NET.format(body=f"conv({'9' * 4301}, k=1)"), "1:30",
                                f"an integer of 4,301 digits; at most {MAX_DIGITS} digits"),
    "input of 4,301 digits": (NET.replace("1x8x8", "1x" + "7" * 4301 + "x8").format(body="relu"),
                              "1:19", "an integer of 4,301 digits"),
    "NaN from 1e400 - 1e400": (NET.format(body="lrn(2, alpha=1e400 - 1e400)"), "1:38",
                               "not a number (NaN)"),
    "1e400 as an argument": (NET.format(body="lrn(2, alpha=1e400)"), "1:32",
                             "lrn: argument 'alpha' must be a finite number"),
    "overflow to infinity": (NET.format(body="lrn(2, k=1e300 * 1e300)"), "1:34",
                             "value too large: inf"),
    "1e400 in train": (NET.format(body="relu train { lr = 1e400 }"), "1:43",
                       "train: 'lr' must be a finite number, got inf"),
}


# `build` compiles the whole file through the one driver (archc/pipeline/driver.py), as `check`
# does: no case builds where check fails
BUILD_OK: set[str] = set()


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with time_limit(120), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, err.getvalue()


@pytest.mark.parametrize("command", ["check", "build"])
@pytest.mark.parametrize("name", list(CASES))
def test_reproducers_end_in_a_located_error(name, command, tmp_path):
    text, where, words = CASES[name]
    path = tmp_path / "bomb.arch"
    path.write_text(text)
    rc, err = _run([command, str(path)])
    assert "Traceback" not in err
    if where is None or (command == "build" and name in BUILD_OK):
        assert rc == 0, err
        return
    assert rc == 1
    assert f"{path}:{where}: error[" in err and words in err, err[:600]
    # one error, not one per network
    assert len(re.findall(r": error\[A\d{4}\]: ", err)) == 1, err[:600]


def test_the_work_error_names_what_multiplies(tmp_path):
    rc, err = _run(["check", _write(tmp_path, CASES["a block of a million empty repeats"][0])])
    assert "hint: it was expanding block b (2:25) > `* 1024` (1:37) > `* 1024` (1:28); " \
        "repeat fewer times, or nest fewer repetitions and block calls" in err, err


def test_work_counts_every_step():
    """The count is exact, so the limit is where it says. Steps: the network 1, its input's
    three sizes 3; `{ for i in 0..1000 { } } * n`: the statement 1 and its count 1, then per
    instance the iteration 1, the group 1, the loop 1, its bounds 2 and 1,000 iterations; a
    last `for i in 0..rest { }`: 1 + 2 + rest."""
    n = (MAX_WORK - 9) // 1005
    rest = MAX_WORK - (1 + 3 + 1 + 1 + n * 1005 + 1 + 2)
    assert 0 <= rest < 1005
    spec = "{ for i in 0..1000 { } } * %d for i in 0..%d { }"
    archc.loads(NET.format(body=spec % (n, rest)))  # exactly at the limit
    with pytest.raises(archc.ArchcError, match=TOO_MUCH):
        archc.loads(NET.format(body=spec % (n, rest + 1)))


def test_empty_scopes_build_as_passthroughs():
    net = archc.loads(NET.format(body="conv(2, k=1) for i in 0..3 { if i == 1 { relu } } "
                                       "a: { relu * 0 } { { } * 2 } * 2"))
    model = archc.build(net)
    empties = [n for n, m in model.named_modules() if isinstance(m, Passthrough)]
    assert empties == ["repeat1.0", "repeat1.2", "a", "repeat2.0.0", "repeat2.0.1",
                       "repeat2.1.0", "repeat2.1.1"]
    assert type(model.get_submodule("repeat1.0")).__name__ == "Group"
    verify_claims(net, model)  # hooks see every scope, empty ones included
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(torch.fx.symbolic_trace(model)(x), model(x))


# ----------------------------------------------------------------------------- memory

HUGE = "network n { input 3x1000x1000 conv(1000000, k=1024, pad=512) }\n"


def test_build_refuses_terabytes_before_allocating(tmp_path):
    rc, err = _run(["build", _write(tmp_path, HUGE)])
    assert rc == 1 and "Traceback" not in err
    assert ":1:31: error[A0703]: network 'n' needs 12.6 TB for its parameters (float32); " \
        f"this conv alone needs 12.6 TB; building is limited to {fmt_bytes(MAX_MEMORY)}" in err, err
    assert HUGE.strip() in err, err  # with its source line and caret, as check's errors
    assert "--max-memory" in err


def test_activations_count_too(tmp_path):
    spec = "network n { input 64x1000x1000 " + "conv(1024, k=1) " * 4 + "}\n"
    rc, err = _run(["build", _write(tmp_path, spec)])
    assert rc == 1 and "needs 16.4 GB for its activations for one sample" in err, err


def test_max_memory_lowers_and_raises_the_bound(tmp_path):
    rc, err = _run(["build", "lenet", "--max-memory", "100KB"])
    assert rc == 1 and "needs 246.8 KB for its parameters" in err, err
    assert _run(["build", "lenet", "--max-memory", "1MiB"])[0] == 0
    rc, err = _run(["build", "lenet", "--max-memory", "lots"])
    assert rc == 2 and "expected a size like 64GB" in err


@pytest.mark.parametrize("text, size", [("64GB", 64 * 10**9), ("1.5 tb", 1.5e12),
                                        ("512MiB", 512 * 2**20), ("100", 100), ("2kb", 2000)])
def test_sizes(text, size):
    assert parse_size(text) == size


def test_api_build_has_the_same_bound():
    with pytest.raises(archc.ArchcError, match="needs 12.6 TB"):
        archc.build(archc.loads(HUGE))


# ----------------------------------------------------------------------------- elsewhere


def test_set_rejects_non_finite_numbers(tmp_path):
    path = _write(tmp_path, "network n(a=1.0) { input 1x8x8 lrn(2, alpha=a) }\n")
    for value in ("nan", "inf", "-Infinity", "1e400"):
        rc, err = _run(["check", path, "--set", f"a={value}"])
        assert rc == 2 and "is not a finite number" in err, (value, err)


def test_op_arguments_reject_nan_from_the_api():
    with pytest.raises(archc.ArchcError, match="finite number"):
        archc.loads("network n(a=1.0) { input 1x8x8 lrn(2, alpha=a) }", {"a": float("nan")})


def test_check_json_reports_a_missing_file_inside_the_json(capsys, tmp_path):
    good = _write(tmp_path, NET.format(body="relu"))
    rc = main(["check", "--format", "json", good, "no_such_spec"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 2
    assert [f["ok"] for f in out["files"]] == [True, False]
    (diag,) = out["diagnostics"]
    assert diag["file"] == "no_such_spec" and diag["kind"] == "UsageError"
    assert "no such spec file or bundled spec: 'no_such_spec'" in diag["message"]


def test_graph_refuses_a_layout_too_big_for_graphviz(tmp_path):
    spec = _write(tmp_path, NET.format(body=f"relu * 1024 {{ relu * 1024 }} * {MAX_DRAWN // 1024}"))
    # (--depth all: by itself, graph would draw it collapsed, tests/test_graph_depth.py)
    rc, err = _run(["graph", spec, "-o", str(tmp_path / "x.svg"), "--depth", "all"])
    assert rc == 1 and f"Graphviz lays out at most {MAX_DRAWN:,}" in err and "--depth" in err
    assert not (tmp_path / "x.svg").exists()
    assert _run(["graph", spec, "-o", str(tmp_path / "x.dot")])[0] == 0


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "spec.arch"
    path.write_text(text)
    return str(path)


def test_export_of_a_long_dead_chain_of_blocks(tmp_path):
    """300 blocks, each calling the next, behind `if false`: it checks clean, so it must export
    (the exporter's pass over block calls recursed once per block: a RecursionError)."""
    chain = "".join(f"block b{i}(c) {{ b{i + 1}(c) }}\n" for i in range(300))
    path = tmp_path / "chain.arch"
    path.write_text(chain + "block b300(c) { relu }\n"
                    "network n { input 3x8x8 if false { b0(3) } conv(4, k=1) }\n")
    out = tmp_path / "chain.py"
    rc, err = _run(["export", str(path), "-o", str(out)])
    assert rc == 0 and "Traceback" not in err, err[-2000:]
    assert "class N(nn.Module)" in out.read_text() or "nn.Module" in out.read_text()


def test_export_of_a_wide_block_expands_the_network_three_times_more(tmp_path, monkeypatch):
    """ConvNeXt with `gelu * 1024` in its block (18 instances, 18,432 GELUs) checked in 0.9 s
    of CPU and exported in 6.1: the exporter re-expanded the network twice per value parameter
    (classes, c1, prob) to see where each goes. It moves them all at once now: three
    expansions beyond the driver's, whatever the parameter count (the third tells two
    parameters moving in one affine relation apart; one by one only when that fails), and
    two at other input channels. The count does not depend on the width: `gelu * 16` here
    (1024 took 8 s of this file's CPU to count the same five)."""
    import archc.export.python as exporter

    text = (Path(__file__).parent.parent / "specs" / "tv_convnext.arch").read_text()
    assert text.count("4: gelu\n") == 1
    spec = _write(tmp_path, text.replace("4: gelu\n", "4: gelu * 16\n"))
    calls = []
    real = exporter.expand_network
    monkeypatch.setattr(exporter, "expand_network",
                        lambda *a, **k: calls.append(a[3]) or real(*a, **k))
    out = exporter.export_python(spec)
    # two at other input channels (archc/export/python.py `_other_inputs`), then three moving
    # classes, c1 and prob together
    assert len(calls) == 5, calls
    assert all({"classes", "c1", "prob"} <= set(moved) for moved in calls[2:])
    # the moved parameters are free constructor arguments of the exported class
    assert "def __init__(" in out and 'if variant != "tiny":' in out
    assert 'if classes != 1000' not in out and "if prob != 0.1" not in out
