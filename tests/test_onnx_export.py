"""`archc export SPEC -o m.onnx` (archc/emit/onnx.py): both of torch.onnx's exporters give a
model onnxruntime runs equal to the built module, the default takes the TorchScript one (a
third of the CPU time, bench/onnx_speed.py) and falls back to the dynamo one where it fails,
and the command prints its stages while it works. The layers the TorchScript exporter cannot
convert as built (channel shuffle, uneven adaptive pools, RMSNorm, digit-only output names)
are swapped for equal ones (archc/emit/onnx_rewrite.py), so it still takes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import archc
from archc.core.errors import ArchcError, UsageError
from archc.emit import onnx as emit_onnx
from archc.emit.torch import example_input

from .util import cpu_seed, run_cli

# a BatchNorm, an in-place relu, a residual add and a flatten: what the exporters trace
SPEC = "network t { input 3x12x12 conv(6, k=3, pad=1) bn relu " \
       "add { conv(6, k=3, pad=1) bn relu | } maxpool(2) flatten linear(4) }"


def _trained_state(net) -> dict[str, torch.Tensor]:
    """Weights and BatchNorm statistics of data, so that the output depends on the input."""
    cpu_seed(1)
    model = archc.build(net).train()
    with torch.no_grad():
        for _ in range(2):
            model(example_input(net.input_shape, 4))
    return model.eval().state_dict()


def _runs_equal(path: Path, net, state) -> None:
    import onnxruntime

    model = archc.build(net).eval()
    model.load_state_dict(state)
    x = example_input(net.input_shape, 3)  # a batch other than the exported example's
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    assert np.abs(want - want[:1]).max() > 1e-3  # the samples differ: a real comparison
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_torchscript_exporter_by_default(tmp_path: Path, one_torch_thread) -> None:
    net = archc.loads(SPEC)
    state = _trained_state(net)
    seen: list[str] = []
    used = emit_onnx.export_onnx(net, tmp_path / "m.onnx", state, progress=seen.append)
    assert used == "torchscript"
    assert seen == ["importing torch and onnx", "building t",
                    "exporting with torch.onnx (torchscript exporter)",
                    "checking with onnx.checker"]
    assert torch.get_num_threads() == 1  # the fixture's, restored after the export's one
    _runs_equal(tmp_path / "m.onnx", net, state)


def test_dynamo_exporter_where_torchscript_fails(tmp_path: Path, monkeypatch,
                                                one_torch_thread) -> None:
    def fails(*args) -> None:
        raise RuntimeError("cannot trace this")

    monkeypatch.setitem(emit_onnx.EXPORTERS, "torchscript", fails)
    net = archc.loads(SPEC)
    state = _trained_state(net)
    seen: list[str] = []
    used = emit_onnx.export_onnx(net, tmp_path / "m.onnx", state, progress=seen.append)
    assert used == "dynamo" and "exporting with torch.onnx (dynamo exporter)" in seen
    _runs_equal(tmp_path / "m.onnx", net, state)
    assert not list(tmp_path.glob("*.tmp*"))


def test_both_exporters_failing_say_why(tmp_path: Path, monkeypatch) -> None:
    def fails(*args) -> None:
        raise RuntimeError("cannot trace this")

    for name in emit_onnx.EXPORTERS:
        monkeypatch.setitem(emit_onnx.EXPORTERS, name, fails)
    with pytest.raises(ArchcError, match="torchscript: cannot trace this") as info:
        emit_onnx.export_onnx(archc.loads(SPEC), tmp_path / "m.onnx")
    assert "dynamo: cannot trace this" in str(info.value)
    assert not list(tmp_path.iterdir())


def test_unknown_exporter(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown ONNX exporter 'onnx'"):
        emit_onnx.export_onnx(archc.loads(SPEC), tmp_path / "m.onnx", exporter="onnx")


def test_command_prints_its_stages(capsys, tmp_path: Path, one_torch_thread) -> None:
    spec = tmp_path / "t.arch"
    spec.write_text(SPEC)
    code, _, err = run_cli(capsys, "export", spec, "-o", tmp_path / "t.onnx")
    assert code == 0, err
    stages = [line.split("] ", 1)[1] for line in err.splitlines() if line.startswith("[")]
    assert stages == ["importing torch and onnx", "building t",
                      "exporting with torch.onnx (torchscript exporter)",
                      "checking with onnx.checker", "exported by the torchscript exporter"]
    assert err.splitlines()[-1] == f"wrote {tmp_path / 't.onnx'}"


# layers the TorchScript exporter cannot convert as built: aten::channel_shuffle, adaptive
# pools whose windows differ in size (7 -> 3 and 3 -> 2 here; 3 -> 3 divides), aten::rms_norm,
# and an output named by digits alone
AWKWARD = "network t { input 3x7x7 conv(6, k=3, pad=1) bn relu channel_shuffle(3) " \
          "adaptive_maxpool(3) conv(6, k=1) bn relu adaptive_avgpool(2, 3) flatten linear(8) " \
          "rmsnorm linear(4) }"


def test_shuffle_and_uneven_adaptive_pools_take_torchscript(tmp_path: Path,
                                                             one_torch_thread) -> None:
    net = archc.loads(AWKWARD)
    state = _trained_state(net)
    used = emit_onnx.export_onnx(net, tmp_path / "m.onnx", state)
    assert used == "torchscript"
    _runs_equal(tmp_path / "m.onnx", net, state)
    assert isinstance(archc.build(net).channel_shuffle, torch.nn.ChannelShuffle)  # as built


def test_digit_output_names_stay(tmp_path: Path, one_torch_thread) -> None:
    import onnxruntime

    net = archc.loads("network t { input 3x6x6 conv(4, k=3) relu output \"0\" "
                      "gap flatten linear(2) output \"1\" }")
    used = emit_onnx.export_onnx(net, tmp_path / "m.onnx")
    assert used == "torchscript"
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"),
                                           providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["0", "1"]
    cpu_seed(0)  # the export's seeded init
    model = archc.build(net).eval()
    x = example_input(net.input_shape, 3)
    with torch.no_grad():
        want = model(x)
    for got, name in zip(session.run(None, {"input": x.numpy()}), ["0", "1"], strict=True):
        np.testing.assert_allclose(got, want[name].numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("eps", [None, 1e-6])
def test_rmsnorm_as_ops_is_torchs(eps: float | None) -> None:
    from archc.emit.onnx_rewrite import make_traceable

    cpu_seed(0)
    model = torch.nn.Sequential(torch.nn.RMSNorm(8, eps=eps, dtype=torch.float64))
    torch.nn.init.normal_(model[0].weight)
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    want = model(x)
    assert make_traceable(model, (x,)) == ["0"]
    torch.testing.assert_close(model(x), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size,out", [((7,), (3,)), ((1, 1), (7, 7)), ((5, 9), (3, 4)),
                                      ((6, 6), (4, None)), ((2, 5, 7), (1, 3, 4))])
@pytest.mark.parametrize("kind", ["Avg", "Max"])
def test_sliced_adaptive_pool_is_torchs(kind: str, size: tuple, out: tuple) -> None:
    from archc.emit.onnx_rewrite import make_traceable

    rank = len(size)
    pool = getattr(torch.nn, f"Adaptive{kind}Pool{rank}d")(out[0] if rank == 1 else out)
    model = torch.nn.Sequential(pool)
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    want = pool(x)
    assert make_traceable(model, (x,)) == ["0"]
    assert not isinstance(model[0], type(pool))
    torch.testing.assert_close(model(x), want, rtol=1e-12, atol=1e-12)
