"""Every construct of the language, data-driven: tests/cases/*.arch state their shapes with
`expect`; here each is checked statically AND against a real forward pass of its module."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import archc
from archc.emit.torch import example_input, example_inputs
from archc.registry.ops import REGISTRY
from tests.util import flop_counter, real_shapes, static_layers, static_params

CASES = sorted((Path(__file__).parent / "cases").glob("*.arch"))


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case_matches_forward_pass(path: Path) -> None:
    net = archc.load(path)
    model = archc.build(net)
    # (an inline op is a parameter, not a module: the next layer's input checks its shape)
    static = {name: layer.out_shape for name, layer in static_layers(net).items()
              if not REGISTRY[layer.op].inline}
    assert real_shapes(model, net) == static
    assert sum(p.numel() for p in model.parameters()) == static_params(net)
    out = model.eval()(*example_inputs(net, 2))
    if net.outputs:  # `output NAME`s: a dict of them, in order, each of its static shape
        assert {k: tuple(v.shape[1:]) for k, v in out.items()} == net.outputs
        assert list(out) == list(net.outputs)
    else:
        assert tuple(out.shape[1:]) == net.output_shape


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_op(name: str, one_torch_thread) -> None:
    """Each op's example: its shape rule against a real forward pass, its parameter count
    against numel, its MACs against FlopCounterMode (x 2)."""
    op = REGISTRY[name]
    assert op.example, f"op '{name}' needs an example in the registry"
    net = archc.loads(f"network t {{ input {op.example_input} x: {op.example} }}")
    layer = static_layers(net)["x"]
    model = archc.build(net).eval()
    x = example_input(net.input_shape, 2)
    with torch.no_grad(), flop_counter() as fc:
        out = model(x)
    assert tuple(out.shape[1:]) == layer.out_shape == net.output_shape
    assert sum(p.numel() for p in model.parameters()) == \
        op.params(layer.args, layer.in_shape, layer.out_shape)
    assert fc.get_total_flops() == 2 * 2 * op.macs(layer.args, layer.in_shape, layer.out_shape)
    assert op.caption(layer.args) and op.doc
    # the layer is a module named after its label, or (inline) a parameter of that name
    named = dict(model.named_parameters()) if op.inline else dict(model.named_children())
    assert "x" in named


def test_names_follow_the_spec() -> None:
    net = archc.load(Path(__file__).parent / "cases" / "repeat.arch")
    names = [row[0] for row in archc.shapes(net)]
    assert names[:4] == ["stage", "stage.0", "stage.0.conv", "stage.0.bn"]
    assert "grow.0" in names and "grow.1" in names  # a lone loop in a group is collapsed
    model = archc.build(net)
    assert {n for n, _ in model.named_parameters()} >= {"stage.2.conv.weight", "grow.1.bias"}


def test_auto_names_number_only_repeated_ops() -> None:
    net = archc.loads("network t { input 3x8x8 conv(4, k=1) relu conv(4, k=1) flatten }")
    assert [row[0] for row in archc.shapes(net)] == ["conv1", "relu", "conv2", "flatten"]


def test_block_instances_are_independent() -> None:
    net = archc.loads("network t { input 4x8x8 a: residual(4) b: residual(4) }")
    model = archc.build(net)
    assert model.a.conv1.weight is not model.b.conv1.weight
    with torch.no_grad():
        model.a.conv1.weight.zero_()
    assert model.b.conv1.weight.abs().sum() > 0
    # building again gives the same structure: definitions were not mutated
    again = archc.build(archc.loads("network t { input 4x8x8 a: residual(4) b: residual(4) }"))
    assert [n for n, _ in again.named_parameters()] == [n for n, _ in model.named_parameters()]


def test_overrides_and_input() -> None:
    net = archc.load(Path(__file__).parent / "cases" / "vector_input.arch",
                     overrides={"hidden": 16})
    assert net.params["hidden"] == 16 and static_layers(net)["linear1"].out_shape == (16,)
    with pytest.raises(archc.ArchcErrors, match="expect: shape is 7, expected 10"):
        archc.load(Path(__file__).parent / "cases" / "params.arch", overrides={"classes": 7})
    net = archc.load(Path(__file__).parent / "cases" / "sequence.arch", input_shape=(1, 28, 28))
    assert net.input_shape == (1, 28, 28)
    with pytest.raises(archc.ArchcErrors, match="expect: shape is 6x30x30, expected 6x14x14"):
        archc.load(Path(__file__).parent / "cases" / "sequence.arch", input_shape=(1, 60, 60))


def test_recipe_is_read() -> None:
    net = archc.loads('network t { input 4 train { lr = 0.5 dataset = "mnist" batch_size = 8 * 8 }'
                      ' linear(2) }')
    assert net.recipe == {"lr": 0.5, "dataset": "mnist", "batch_size": 64}


def test_forward_is_generated_code() -> None:
    net = archc.loads("network t { input 4x8x8 r: residual(4) }")
    model = archc.build(net)
    code = model.r.code
    assert "self.conv1(x)" in code and "+" in code and "for " not in code


def test_torch_compile() -> None:
    net = archc.loads("network t { input 3x16x16 conv(8, k=3, pad=1) bn relu residual(8) "
                      "concat { | conv(4, k=1) } gap flatten linear(5) }")
    model = archc.build(net).eval()
    x = torch.randn(2, 3, 16, 16)
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x), model(x))


def test_bundled_spec_by_name() -> None:
    assert archc.load("resnet18").name == "resnet18"
