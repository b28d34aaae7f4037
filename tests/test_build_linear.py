"""archc.build compiles each generated (torch.fx) module once (linear in the number of scopes),
and what it generates is exactly what a full recursive recompile generates: same code for every
scope, same children in the same order, same outputs. A scope whose items run one after
another is an nn.Sequential (archc/emit/torch.py ArchcSequence), compiled never."""

from __future__ import annotations

import pytest
import torch
from torch import fx

import archc
from tests.util import cpu_seed

NESTED = "\n".join(f"block b{i}() {{ b{i + 1} relu }}" for i in range(40)) + \
    "\nblock b40() { conv(4, k=3, pad=1) }\nnetwork deep { input 3x8x8 b0 }\n"


@pytest.fixture
def recompiles(monkeypatch):
    calls: list[int] = []
    original = fx.GraphModule.recompile

    def counting(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(fx.GraphModule, "recompile", counting)
    return calls


def _graph_modules(model: torch.nn.Module) -> dict[str, fx.GraphModule]:
    return {n: m for n, m in model.named_modules() if isinstance(m, fx.GraphModule)}


@pytest.mark.parametrize("source", ["deep", "densenet", "resnet18", "googlenet"])
def test_each_scope_compiled_once(source, recompiles, one_torch_thread):
    net = archc.loads(NESTED) if source == "deep" else archc.load(source)
    model = archc.build(net)
    assert len(recompiles) == len(_graph_modules(model))


@pytest.mark.parametrize("source", ["deep", "densenet", "inception_mnist"])
def test_generated_code_and_outputs_unchanged(source, one_torch_thread):
    net = archc.loads(NESTED) if source == "deep" else archc.load(source)
    cpu_seed(0)
    model = archc.build(net).eval()
    codes = {n: m.code for n, m in _graph_modules(model).items()}
    keys = list(model.state_dict())
    x = torch.randn(2, *net.input_shape)
    with torch.no_grad():
        before = model(x)
    for module in _graph_modules(model).values():
        module.recompile()  # torch.fx's own full, recursive recompile
    assert {n: m.code for n, m in _graph_modules(model).items()} == codes
    assert list(model.state_dict()) == keys
    with torch.no_grad():
        torch.testing.assert_close(model(x), before, rtol=0, atol=0)


def test_a_sequence_is_an_nn_sequential(one_torch_thread):
    """The nested chain of NESTED (each block a block and a relu) builds no fx module at all;
    its forward is nn.Sequential's, and `.code` still shows it as torch.fx would write it."""
    net = archc.loads(NESTED)
    model = archc.build(net).eval()
    assert not _graph_modules(model)
    assert all(isinstance(m, torch.nn.Sequential) for m in model.modules()
               if type(m).__name__.startswith("B"))
    assert "b0 = self.b0(input_1)" in model.code and "self.b1" not in model.code
    assert list(model.state_dict())[0] == ".".join([f"b{i}" for i in range(41)] +
                                                   ["conv.weight"])
