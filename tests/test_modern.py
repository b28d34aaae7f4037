"""The constructs of networks since 2016, against the real thing: each new module computes what
torchvision's counterpart computes, with the same weights (fp64), and the language's new
expressions (in.c, tuples, ceil/round/int, quoted and computed labels) mean what they say."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.convnext import LayerNorm2d
from torchvision.ops import SqueezeExcitation, StochasticDepth

import archc
from archc.cli import main
from archc.emit.weights import import_state_dict
from tests.util import cpu_seed


def _build(text: str) -> tuple[archc.Network, torch.nn.Module]:
    net = archc.loads(text)
    cpu_seed(0)
    return net, archc.build(net).double()


def test_stochastic_depth_is_torchvisions(one_torch_thread) -> None:
    net, model = _build("network n { input 3x4x4 stochastic_depth(0.4) }")
    theirs = StochasticDepth(0.4, "row")
    x = torch.randn(64, 3, 4, 4, dtype=torch.float64)
    for train in (True, False):
        model.train(train)
        theirs.train(train)
        cpu_seed(1)
        got = model(x)
        cpu_seed(1)
        torch.testing.assert_close(got, theirs(x), rtol=0, atol=0)
    model.train()
    dropped = (model(x).flatten(1) == 0).all(dim=1).float().mean()
    assert 0.15 < dropped < 0.7  # whole samples dropped, about p of them


def test_layernorm_over_channels_is_convnexts(one_torch_thread) -> None:
    net, model = _build("network n { input 6x5x7 ln: layernorm(eps=1e-6) }")
    theirs = LayerNorm2d(6, eps=1e-6).double()
    with torch.no_grad():
        theirs.weight.normal_()
        theirs.bias.normal_()
    import_state_dict(net, model, {"ln." + k: v for k, v in theirs.state_dict().items()})
    x = torch.randn(2, 6, 5, 7, dtype=torch.float64)
    torch.testing.assert_close(model(x), theirs(x), rtol=0, atol=0)


def test_squeeze_excitation_is_torchvisions(one_torch_thread) -> None:
    net, model = _build("""network n {
      input 16x5x5
      se: { mul { avgpool: gap fc1: conv(4, k=1) activation: relu
                  fc2: conv(in.c, k=1) scale_activation: hardsigmoid | } }
    }""")
    theirs = SqueezeExcitation(16, 4, scale_activation=torch.nn.Hardsigmoid).double()
    report = import_state_dict(net, model, {"se." + k: v for k, v in theirs.state_dict().items()})
    assert report.mapped == 4
    x = torch.randn(2, 16, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(model(x), theirs(x), rtol=0, atol=0)


def test_channel_linear_is_a_permuted_linear(one_torch_thread) -> None:
    net, model = _build("network n { input 6x3x4 fc: channel_linear(5) }")
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64)
    want = torch.nn.functional.linear(x.permute(0, 2, 3, 1), model.fc.weight, model.fc.bias)
    torch.testing.assert_close(model(x), want.permute(0, 3, 1, 2), rtol=0, atol=0)


def test_layer_scale_is_a_parameter_of_its_scope() -> None:
    net, model = _build("network n { input 6x3x4 \"block\": { conv(6, k=1) layer_scale(0.5) } }")
    params = dict(model.named_parameters())
    assert params["block.layer_scale"].shape == (6, 1, 1)
    assert (params["block.layer_scale"] == 0.5).all()
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64)
    torch.testing.assert_close(model(x), 0.5 * model.block.conv(x))


def test_non_square_windows_match_torch() -> None:
    net, model = _build("network n { input 2x9x11 conv(3, k=(1, 7), stride=(2, 1), "
                        "pad=(0, 3), dilation=(1, 2)) maxpool((3, 1), stride=(1, 2)) }")
    conv = model.conv
    assert conv.kernel_size == (1, 7) and conv.stride == (2, 1) and conv.dilation == (1, 2)
    assert tuple(model(torch.randn(1, 2, 9, 11, dtype=torch.float64)).shape[1:]) == \
        net.output_shape


@pytest.mark.parametrize(("expr", "value"), [
    ("ceil(7 / 2)", 4), ("floor(7 / 2)", 3), ("round(2.5)", 2), ("round(3.5)", 4),
    ("int(-2.7)", -2), ("abs(-3)", 3), ("int(ceil(3 * 1.1))", 4), ("max(1, 2, 3)", 3),
])
def test_functions(expr: str, value: int) -> None:
    net = archc.loads(f"network n(v={expr}) {{ input 4 }}")
    assert net.params["v"] == value and type(net.params["v"]) is int


def test_input_shape_inside_blocks() -> None:
    net = archc.loads("""
    block dw(expand=2, hidden=in.c * expand) {
      conv(hidden, k=1) conv(hidden, k=3, pad=1, groups=hidden)
      if in.c == 4 { conv(in.c, k=1) } else { conv(in.h, k=1) }
    }
    network n { input 4x6x6 a: dw b: dw(3) c: { flatten linear(in.c + in.h) } }""")
    layers = dict((name, shape) for name, _, shape in archc.shapes(net))
    assert layers["a.conv2"] == (8, 6, 6) and layers["a.conv3"] == (4, 6, 6)
    assert layers["b.conv2"] == (12, 6, 6) and layers["b.conv3"] == (4, 6, 6)
    assert layers["c.linear"] == (10,)  # the group's input: 4x6x6, the network's


def test_quoted_and_computed_labels_name_modules() -> None:
    net, model = _build("""network n(stage=2) {
      input 3x4x4
      "block": { for i in 0..3 { "block{stage}-{i}": conv(3, k=1) } }
      "encoder_layer_{stage}": relu
    }""")
    names = [n for n, _ in model.named_parameters()]
    assert names[:2] == ["block.block2-0.weight", "block.block2-0.bias"]
    assert "block.block2-2.bias" in names
    assert "encoder_layer_2" in dict(model.named_children())


def test_import_weights_rename(tmp_path, capsys) -> None:
    src = tmp_path / "w.pth"
    torch.save({"features.0.weight": torch.ones(4, 3, 1, 1), "features.0.bias": torch.ones(4)},
               src)
    spec = tmp_path / "n.arch"
    spec.write_text("network n { input 3x4x4 stem: conv(4, k=1) }")
    out = tmp_path / "out.safetensors"
    assert main(["import-weights", str(spec), str(src), "-o", str(out)]) == 1
    assert main(["import-weights", str(spec), str(src), "-o", str(out),
                 "--rename", r"^features\.0\.=stem."]) == 0
    assert "2 renamed" in capsys.readouterr().err and out.exists()
    assert main(["import-weights", str(spec), str(src), "-o", str(out), "--rename", "x"]) == 2
    assert main(["import-weights", str(spec), str(src), "-o", str(out), "--rename", "(=y"]) == 2


SHUFFLE_UNIT = """
block shuffle_unit(out, stride=1) {
  if stride == 1 {
    split { | branch2: branch(out // 2, 1) }
  } else {
    concat {
      branch1: { 0: conv(in.c, k=3, stride=2, pad=1, groups=in.c, bias=false) 1: bn
                 2: conv(out // 2, k=1, bias=false) 3: bn 4: relu }
    | branch2: branch(out // 2, 2)
    }
  }
  channel_shuffle(2)
}

block branch(c, stride) {
  0: conv(c, k=1, bias=false) 1: bn 2: relu
  3: conv(c, k=3, stride=stride, pad=1, groups=c, bias=false) 4: bn
  5: conv(c, k=1, bias=false) 6: bn 7: relu
}
"""


@pytest.mark.parametrize(("cin", "out", "stride"), [(8, 8, 1), (6, 12, 2)])
def test_shufflenet_unit_is_torchvisions(cin, out, stride, one_torch_thread) -> None:
    """split (channels chunked between branches) and channel_shuffle against torchvision's
    ShuffleNetV2 InvertedResidual, weights imported by name, train and eval."""
    from torchvision.models.shufflenetv2 import InvertedResidual

    net, model = _build(SHUFFLE_UNIT + f"network n {{ input {cin}x6x6 u: shuffle_unit({out}, "
                        f"{stride}) }}")
    cpu_seed(0)
    theirs = InvertedResidual(cin, out, stride).double()
    state = {"u." + k: v for k, v in theirs.state_dict().items()}
    import_state_dict(net, model, state)
    x = torch.randn(2, cin, 6, 6, dtype=torch.float64)
    for train in (False, True):
        model.train(train)
        theirs.train(train)
        torch.testing.assert_close(model(x), theirs(x), rtol=1e-12, atol=1e-12)
