"""The rank rule (archc/registry/ops.py): conv, pooling, adaptive pooling, gap, bn, groupnorm,
conv_transpose and upsample on a CxL signal and a CxTxHxW clip as on an image. Per call of
CALLS: the shape rule against a real forward pass, parameters against numel, MACs against
FlopCounterMode, the saved-for-backward rule against autograd, the exported source against
the built module; and the issue's done-when from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import archc
from archc.cli import main
from archc.emit.torch import example_input
from archc.export.python import export_python
from archc.registry.ops import REGISTRY
from tests.util import flop_counter, static_layers

try:
    from tests.test_memory_train import check as check_saved
except ImportError:  # tests/ itself on sys.path
    from test_memory_train import check as check_saved  # type: ignore[no-redef]

# (input, call, the output shape): every rank-generic op on a signal and on a clip, integer and
# tuple arguments, the torch class it becomes
CALLS = [
    ("2x40", "conv(4, k=5, stride=2, pad=1, dilation=2)", (4, 17), "Conv1d"),
    ("4x40", "conv(4, k=3, groups=2, bias=false)", (4, 38), "Conv1d"),
    ("2x40", "maxpool(3, stride=2, pad=1, ceil=true)", (2, 21), "MaxPool1d"),
    ("2x40", "avgpool(4)", (2, 10), "AvgPool1d"),
    ("2x40", "adaptive_avgpool(7)", (2, 7), "AdaptiveAvgPool1d"),
    ("2x40", "adaptive_maxpool(3)", (2, 3), "AdaptiveMaxPool1d"),
    ("2x40", "gap", (2, 1), "AdaptiveAvgPool1d"),
    ("2x40", "bn", (2, 40), "BatchNorm1d"),
    ("4x40", "groupnorm(2)", (4, 40), "GroupNorm"),
    ("2x40", "conv_transpose(3, k=4, stride=2, pad=1)", (3, 80), "ConvTranspose1d"),
    ("2x40", 'upsample(2, mode="linear", align_corners=true)', (2, 80), "Upsample"),
    ("2x40", "upsample(3)", (2, 120), "Upsample"),
    ("2x4x6x6", "conv(4, k=(3, 1, 1), stride=(1, 2, 2), pad=(1, 0, 0))", (4, 4, 3, 3),
     "Conv3d"),
    ("2x4x6x6", "conv(3, k=3, pad=1, groups=1)", (3, 4, 6, 6), "Conv3d"),
    ("2x4x6x6", "maxpool((1, 3, 3), stride=(1, 2, 2), pad=(0, 1, 1))", (2, 4, 3, 3),
     "MaxPool3d"),
    ("2x4x6x6", "avgpool(2, stride=1, ceil=true)", (2, 3, 5, 5), "AvgPool3d"),
    ("2x4x6x6", "adaptive_avgpool((1, 2, 3))", (2, 1, 2, 3), "AdaptiveAvgPool3d"),
    ("2x4x6x6", "adaptive_maxpool(2)", (2, 2, 2, 2), "AdaptiveMaxPool3d"),
    ("2x4x6x6", "gap", (2, 1, 1, 1), "AdaptiveAvgPool3d"),
    ("2x4x6x6", "bn(eps=0.001, momentum=0.001)", (2, 4, 6, 6), "BatchNorm3d"),
    ("4x4x6x6", "groupnorm(2)", (4, 4, 6, 6), "GroupNorm"),
    ("2x4x6x6", "conv_transpose(2, k=(1, 2, 2), stride=(1, 2, 2))", (2, 4, 12, 12),
     "ConvTranspose3d"),
    ("2x4x6x6", 'upsample((1, 2, 2), mode="trilinear")', (2, 4, 12, 12), "Upsample"),
]
IDS = [f"{shape} {call}" for shape, call, _, _ in CALLS]


def _net(shape: str, call: str) -> archc.Network:
    return archc.loads(f"network t {{ input {shape} x: {call} }}")


@pytest.mark.parametrize("shape, call, out, cls", CALLS, ids=IDS)
def test_call_counts_and_shape(shape, call, out, cls, one_torch_thread) -> None:
    net = _net(shape, call)
    layer = static_layers(net)["x"]
    op = REGISTRY[layer.op]
    model = archc.build(net).eval()
    assert type(model.x).__name__ == cls
    x = example_input(net.input_shape, 2)
    with torch.no_grad(), flop_counter() as fc:
        y = model(x)
    assert tuple(y.shape[1:]) == layer.out_shape == out
    assert sum(p.numel() for p in model.parameters()) == \
        op.params(layer.args, layer.in_shape, layer.out_shape)
    assert fc.get_total_flops() == 2 * 2 * op.macs(layer.args, layer.in_shape, layer.out_shape)


@pytest.mark.parametrize("shape, call, out, cls", CALLS, ids=IDS)
def test_call_saved_for_backward(shape, call, out, cls, one_torch_thread) -> None:
    net = _net(shape, call)
    for input_grad in (False, True):
        for training in (True, False):
            check_saved(net, 2, input_grad, torch.float32, training)


def test_exported_source_names_the_rank(tmp_path: Path) -> None:
    """(tests/test_export.py runs the exported tests/cases/ranks.arch against archc.build.)"""
    for i, (shape, call, _, cls) in enumerate(CALLS):
        spec = tmp_path / f"c{i}.arch"
        spec.write_text(f"network t {{ input {shape} x: {call} }}\n")
        assert f"nn.{cls}(" in export_python(str(spec)), call


def test_done_when_a_1x16000_signal_checks_builds_and_summarises(tmp_path: Path, capsys):
    spec = tmp_path / "kws.arch"
    spec.write_text("network kws {\n  input 1x16000\n  conv(32, k=80, stride=4) bn relu\n"
                    "  maxpool(4) gap flatten linear(10)\n}\n")
    assert main(["check", str(spec)]) == 0
    assert main(["summary", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "conv 80, 32, /4" in out and "32x3981" in out and "32x995" in out
    assert main(["build", str(spec)]) == 0
    # 32 filters of 80 samples and their biases; MACs: 3981 positions x 80 x 32
    net = archc.load(spec)
    assert archc.expansion.stats.count(net.root).params == 32 * 80 + 32 + 64 + 32 * 10 + 10


def test_m5_and_the_video_zoo_from_the_cli(capsys):
    assert main(["summary", "m5", "--set", "width=32", "--input", "1x8000"]) == 0
    assert "32x1981" in capsys.readouterr().out
    assert main(["summary", "r3d_18", "--input", "3x4x32x32"]) == 0
    assert "400" in capsys.readouterr().out
    assert main(["list", "video"]) == 0
    out = capsys.readouterr().out
    assert "r3d_18" in out and "3x16x112x112" in out and "40.697" in out


def test_s3d_takes_small_clips_at_a_small_pool(capsys):
    """specs/tv_s3d.arch's pool_frames and pool_side: its 2x7x7 average pool needs 13 frames of
    209x209; at 1x1x1, 8 frames of 32x32 do (the tests' clip), with the same parameters."""
    spec = str(Path(__file__).resolve().parent.parent / "specs" / "tv_s3d.arch")
    small = ["--set", "pool_frames=1", "--set", "pool_side=1", "--input", "3x8x32x32"]
    assert main(["check", spec, "--input", "3x8x32x32"]) == 1
    assert "avgpool" in capsys.readouterr().err
    assert main(["summary", spec, *small]) == 0
    out = capsys.readouterr().out
    assert "8,320,048" in out and "1024x1x1x1" in out


def test_s3d_checkpoint_file_imports_alone(tmp_path: Path, one_torch_thread) -> None:
    """`archc import-weights s3d-d76dad2f.pth -o ...`: the file name names the member."""
    import torchvision.models as tvm

    src = tmp_path / "s3d-d76dad2f.pth"
    torch.save(tvm.video.s3d().state_dict(), src)
    out = tmp_path / "s3d.safetensors"
    assert main(["import-weights", str(src), "-o", str(out)]) == 0
    assert out.stat().st_size > 8_320_048 * 4


def test_in_axes_of_a_signal_and_a_clip() -> None:
    net = archc.loads("network t { input 2x40 conv(in.c * in.l // 40, k=1) }")
    assert net.output_shape == (2, 40)
    net = archc.loads("network t { input 3x4x6x6 conv(in.t, k=1) }")
    assert net.output_shape == (4, 4, 6, 6)
