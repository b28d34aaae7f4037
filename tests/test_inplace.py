"""In-place activations (archc/expansion/inplace.py): where the graph lets an activation overwrite
its input, as torchvision's Conv2dNormActivation does, and nowhere else; what torch's in-place
kernels keep for backward (the records' `inplace` rules, byte for byte); and, for every
bundled spec (the zoo's default members among them), the same outputs and gradients as the
same model with every activation out of place (eval and train, bit for bit: float32 suffices,
the two runs compute the same values in the same order; fp64 was 58 s of CPU, float32 33)."""

from __future__ import annotations

import pytest
import torch

import archc
from archc.core.graph import Layer, walk
from archc.emit.torch import example_input
from archc.expansion.inplace import in_place
from archc.pipeline.program import load_program
from archc.registry.ops import REGISTRY

from .cheap_init import cheap_init
from .test_memory_train import SMALL_SETS, SPECS, check, small
from .util import cpu_seed

# each bundled spec's first network (a second one is the same blocks at another input size:
# resnet18_224), the zoo families' default members among them
NETWORKS = [(path.stem, next(iter(load_program(path).networks)))
            for path in sorted(SPECS.glob("*.arch"))]
HEAD = "network t { input 3x8x8 "


def _in_place_layers(net) -> set[str]:
    """The names of the layers the built module runs in place (built on the meta device: the
    flags are the modules', no weights needed; tv_vgg's 138M would cost a second of init)."""
    with torch.device("meta"):
        model = archc.build(net)
    return {name for name, m in model.named_modules() if getattr(m, "inplace", False)}


@pytest.mark.parametrize("body,expected", [
    ("conv(4, k=3) bn a: relu", {"a"}),
    ("conv(4, k=3) a: relu", {"a"}),  # a conv's output: nothing else reads it
    ("linear(4) a: silu", {"a"}),  # a flat input: a linear's output, the same rule
    ("conv(4, k=3) bn a: relu b: relu", {"a"}),  # b's input is a's, which is bn's storage
    ("a: relu", set()),  # the network's input: the caller's tensor
    ("conv(4, k=1) add { a: relu conv(4, k=1) | }", set()),  # the identity reads it too
    ("conv(4, k=1) concat { a: relu | b: silu }", set()),  # both branches read one tensor
    ("conv(4, k=1) add { conv(4, k=1) bn a: relu6 | }", {"a"}),  # inside a branch, after bn
    ("conv(4, k=1) dropout(0.5) a: relu", set()),  # dropout returns its input in eval
    ("conv(4, k=1) identity a: relu", set()),
    ("conv(4, k=1) a: sigmoid", set()),  # no in-place form
    ("conv(4, k=1) a: gelu", set()),
    ("conv(4, k=1) a: hardswish", {"a"}),
    ('conv(4, k=1) a: activation("relu6") b: conv(4, k=1) c: activation("gelu")', {"a"}),
    ("g: { conv(4, k=1) bn } a: relu", set()),  # after a scope: its output may be its input
])
def test_decided_by_the_graph(body: str, expected: set[str]) -> None:
    if body.startswith("linear"):
        body = "flatten " + body
    assert _in_place_layers(archc.loads(HEAD + body + " }")) == expected


def test_the_repr_says_so() -> None:
    text = str(archc.build(archc.loads(HEAD + "conv(4, k=3) bn silu }")))
    assert "SiLU(inplace=True)" in text


@pytest.mark.parametrize("act", ["relu", "silu", "relu6", "hardswish",
                                 'activation("hardswish")'])
def test_saved_for_backward_in_place(act: str, one_torch_thread) -> None:
    """The in-place rules against saved_tensors_hooks (tests/test_memory_train.py's check):
    after a conv and a bn, before a conv that keeps the activation's output, in a branch."""
    for body in (f"conv(4, k=3) bn {act} conv(2, k=1)",
                 f"conv(4, k=1) add {{ conv(4, k=3, pad=1) bn {act} | }} {act}"):
        net = archc.loads(HEAD + body + " }")
        assert _in_place_layers(net), body
        for input_grad in (False, True):
            for training in (True, False):
                check(net, 2, input_grad, torch.float64, training)
            check(net, 2, input_grad, channels_last=True)


def _set_in_place(model: torch.nn.Module, flags: dict[str, bool]) -> None:
    for name, m in model.named_modules():
        if name in flags:
            m.inplace = flags[name]


def _run(model: torch.nn.Module, x: torch.Tensor, weight: torch.Tensor):
    model.zero_grad(set_to_none=True)
    model.eval()
    with torch.no_grad():  # one sample: in eval mode no sample couples another
        eval_out = model(x[:1])
    model.train()
    cpu_seed(3)  # dropout draws the same masks in both runs
    xg = x.detach().clone().requires_grad_(x.is_floating_point())
    out = model(xg)
    if isinstance(out, dict):  # a network with `output` statements: one loss over them all
        (sum((o * weight).sum() for o in out.values())).backward()
        out = torch.cat([o.detach().flatten(1) for o in out.values()], 1)
    else:
        (out * weight).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return eval_out, out.detach(), xg.grad, grads


@pytest.mark.parametrize("spec,network", NETWORKS, ids=[f"{s}:{n}" for s, n in NETWORKS])
def test_same_outputs_and_gradients(spec: str, network: str, one_torch_thread) -> None:
    net = small(str(SPECS / f"{spec}.arch"), SMALL_SETS.get(spec), network=network)
    layers = {name for name, node in walk(net.root.items) if isinstance(node, Layer)
              and REGISTRY[node.op].inplace is not None}
    cpu_seed(0)
    with cheap_init():  # both runs use these weights: any values do (tests/cheap_init.py)
        model = archc.build(net)
    flags = {name: bool(getattr(m, "inplace", False)) for name, m in model.named_modules()
             if name in layers}
    if not any(flags.values()):
        return  # nothing runs in place: the module is the out-of-place one
    for module in model.modules():  # BatchNorm statistics of data, not 0 and 1
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2)
    big = sum(p.numel() for p in model.parameters()) > 30_000_000
    if big:  # VGG, wide ResNets: the input's gradient only (no copy of every weight's grad)
        model.requires_grad_(False)
    # Which tensor an activation overwrites does not depend on the batch: one sample where
    # nothing needs two in train mode (no BatchNorm, whose train statistics need two values a
    # channel on a 1x1 map: VGG, AlexNet)
    norms = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    batch = 2 if norms else 1
    x = example_input(net.input_shape, batch, dtype=torch.float32)
    weight = torch.randn((batch, *net.output_shape), dtype=torch.float32)
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    got = _run(model, x, weight)
    model.load_state_dict(buffers, strict=False)  # the running statistics before training
    _set_in_place(model, dict.fromkeys(flags, False))
    want = _run(model, x, weight)
    for a, b in zip(got[:3], want[:3], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert got[3].keys() == want[3].keys() and (big or got[3])
    for name in want[3]:
        torch.testing.assert_close(got[3][name], want[3][name], rtol=0, atol=0)


def test_the_rule_is_one_function() -> None:
    """The emitter and the memory count both ask archc/expansion/inplace.py (one decision)."""
    items = archc.loads(HEAD + "conv(4, k=1) bn relu relu }").root.items
    assert in_place(items) == [False, False, True, False]


def test_some_networks_run_in_place() -> None:
    """The zoo's convolutional families do (the proof above is not vacuous)."""
    for spec in ("tv_resnet", "tv_efficientnet", "tv_mobilenet_v3", "tv_mobilenet_v2",
                 "tv_vgg", "resnet18"):
        assert _in_place_layers(small(str(SPECS / f"{spec}.arch"))), spec

