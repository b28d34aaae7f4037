"""The bundled document specs against the hand-written reference models: equal parameter
counts and shapes, state_dict keys equal up to a small explicit rename table, and equal
outputs in train and eval mode once the reference's weights are copied in BY NAME.

One row of CASES per spec; a new spec is a new row, not new test code."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import archc
from archc.cli import main
from archc.emit.weights import KEY_MAPS, Rule, rename
from archc.expansion.stats import count
from tests.cheap_init import cheap_init
from tests.oracles import verify_claims
from tests.util import cpu_seed

try:
    from tests.reference import models as ref
except ImportError:  # tests/ itself on sys.path
    from reference import models as ref

SPECS = Path(__file__).resolve().parent.parent / "specs"

@dataclass(frozen=True)
class Case:
    factory: Callable[[], nn.Module]
    spec: str
    params: int
    overrides: dict[str, Any] = field(default_factory=dict)
    renames: tuple[Rule, ...] = ()  # reference key -> archc key, applied in order
    fp64: bool = True  # the 40M+ parameter models compare in float32 to keep the run fast


# The rename tables live in archc.emit.weights (so `archc import-weights` uses them too):
# d2l's DenseBlock names its layers denselayer1..N where a `for` loop numbers them 0..N-1;
# d2l's vgg_block names its convs conv1..N where the prelude's loop gives repeat.0..N-1.conv.
DENSE_RENAMES = KEY_MAPS["densenet"].renames
VGG_RENAMES = KEY_MAPS["vgg11"].renames

CASES = {
    "lenet": Case(ref.lenet, "lenet", 61_706),
    "lenet_bn": Case(ref.lenet_bn, "lenet_bn", 44_878),
    "inception_mnist": Case(ref.inception_mnist, "inception_mnist", 97_298),
    "resnet_mnist": Case(ref.resnet_mnist, "resnet_mnist", 41_514),
    "resnet18": Case(ref.resnet18, "resnet18", 11_178_378),
    "nin": Case(ref.nin, "nin", 1_992_166),
    "alexnet": Case(ref.alexnet, "alexnet", 46_764_746, fp64=False),
    "vgg11": Case(ref.vgg11, "vgg11", 128_806_154, renames=VGG_RENAMES, fp64=False),
    "vgg11_ratio4": Case(lambda: ref.vgg11(ratio=4), "vgg11", 43_093_322, {"ratio": 4},
                         VGG_RENAMES, fp64=False),
    "googlenet": Case(ref.googlenet, "googlenet", 5_977_530),
    "densenet": Case(ref.densenet, "densenet", 758_226, renames=DENSE_RENAMES),
    "unet": Case(ref.unet, "unet", 117_073),
    "m5": Case(ref.m5, "m5", 559_114),
}


def load(case: Case, **kw) -> archc.Network:
    return archc.load(SPECS / f"{case.spec}.arch", case.overrides, **kw)


def shape_multiset(module: nn.Module) -> Counter:
    return Counter(tuple(p.shape) for p in module.parameters())


# ----------------------------------------------------------------------------- static


@pytest.mark.parametrize("name", CASES)
def test_static_param_count(name):
    case = CASES[name]
    assert count(load(case).root).params == case.params


def test_every_spec_has_a_source_header():
    for path in SPECS.glob("*.arch"):
        head = path.read_text(encoding="utf-8").splitlines()[0]
        assert head.startswith("# "), f"{path.name}: first line must name its source"


def test_check_all_specs(capsys):
    assert main(["check", *map(str, sorted(SPECS.glob("*.arch")))]) == 0
    assert "all ok" in capsys.readouterr().err


# ----------------------------------------------------------------------------- equivalence


def _mapped_state(case: Case, reference: nn.Module, module: nn.Module) -> dict[str, Any]:
    """The reference's state_dict under archc's names; every key must land exactly once."""
    ref_state = reference.state_dict()
    mapped = {rename(k, case.renames): v for k, v in ref_state.items()}
    assert len(mapped) == len(ref_state), "two reference keys renamed onto one"
    own = module.state_dict()
    assert set(mapped) == set(own), (sorted(set(mapped) - set(own))[:5],
                                     sorted(set(own) - set(mapped))[:5])
    for key, value in mapped.items():
        assert value.shape == own[key].shape, key
    return mapped


def _outputs_equal(case: Case, reference: nn.Module, module: nn.Module, x: torch.Tensor,
                   tol: float):
    for train in (True, False):
        reference.train(train), module.train(train)
        # train mode: the same seed gives both the same dropout masks (same calls, same order)
        cpu_seed(1)
        want = reference(x)
        cpu_seed(1)
        got = module(x)
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, rtol=tol, atol=tol, msg=f"train={train}")
    # a train step moved the BN running means the same way (running_var: see test_bn_*)
    own = module.state_dict()
    for key, value in reference.state_dict().items():
        if key.endswith("running_mean"):
            torch.testing.assert_close(own[rename(key, case.renames)], value, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", CASES)
def test_equals_reference(name):
    case = CASES[name]
    net = load(case)
    cpu_seed(0)
    with cheap_init():  # the reference's values are loaded into ours: any values do
        reference, module = case.factory(), archc.build(net)
    n_params = sum(p.numel() for p in module.parameters())
    assert n_params == sum(p.numel() for p in reference.parameters()) == case.params
    assert shape_multiset(module) == shape_multiset(reference)
    module.load_state_dict(_mapped_state(case, reference, module), strict=True)
    dtype = torch.float64 if case.fp64 else torch.float32
    reference.to(dtype), module.to(dtype)
    x = torch.rand(2 if case.fp64 else 1, *net.input_shape, dtype=dtype)
    with torch.no_grad():
        _outputs_equal(case, reference, module, x, 1e-9 if case.fp64 else 1e-4)


# ----------------------------------------------------------------------------- shape tables


def _table(path: str, **kw) -> dict[str, tuple]:
    return {name: shape for name, _, shape in archc.shapes(archc.load(SPECS / path, **kw))}


def test_resnet18_table_224():
    # 002 prints b1..b5, avgpool, flatten, fc at X = torch.rand(1, 1, 224, 224)
    table = _table("resnet18.arch", input_shape=(1, 224, 224))
    module_of = {**ref.RESNET18_DOC_STAGES, "avgpool": "avgpool", "flatten": "flatten",
                 "fc": "fc"}
    for stage, shape in ref.RESNET18_STAGE_SHAPES_224.items():
        assert table[module_of[stage]] == shape, stage
    # resnet18_224 carries the same table as `expect`s (loading it checks them) and is the
    # same network
    assert _table("resnet18.arch", network="resnet18_224") == table


def test_nin_table_224():
    table = _table("nin.arch", input_shape=(1, 224, 224))
    assert {k: table[k] for k in ref.NIN_BLOCK_SHAPES_224} == ref.NIN_BLOCK_SHAPES_224


@pytest.mark.parametrize("hw", [(64, 64), (96, 80), (36, 52)])
def test_unet_output_is_its_input_size(hw, one_torch_thread):
    """1xHxW in, 1xHxW out (H, W multiples of 4); every layer's and block's shape as a real
    forward pass shows it, and the parameters and FLOPs too."""
    net = archc.load(SPECS / "unet.arch", input_shape=(1, *hw))
    assert net.output_shape == (1, *hw)
    verify_claims(net)


def test_build_cli_prints_the_224_tables(capsys):
    assert main(["build", "resnet18", "--input", "1x224x224"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for stage in ("layer1 │ res_stage │ 64x56x56", "layer4 │ res_stage │ 512x7x7",
                  "avgpool │ gap │ 512x1x1"):
        assert stage in out


# ----------------------------------------------------------------------------- bn vs 000


def _bn_pair(shape: tuple[int, ...]):
    """archc's `bn` on a (C,) or (C, H, W) input beside 000's scratch BatchNorm, same gamma/beta."""
    cpu_seed(0)
    feats = shape[1]
    module = archc.build(archc.loads(f"network t {{ input {'x'.join(map(str, shape[1:]))} bn }}"))
    scratch = ref.BatchNorm(feats, num_dims=len(shape)).double()
    module.double()
    with torch.no_grad():
        scratch.gamma.copy_(torch.rand_like(scratch.gamma) + 0.5)
        scratch.beta.copy_(torch.randn_like(scratch.beta))
        module.bn.weight.copy_(scratch.gamma.flatten())
        module.bn.bias.copy_(scratch.beta.flatten())
    return module, scratch


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 6, 6)])
def test_bn_train_mode_equals_scratch(shape):
    module, scratch = _bn_pair(shape)
    X = torch.randn(shape, dtype=torch.float64) * 2 + 1
    torch.testing.assert_close(module(X), scratch(X), rtol=1e-12, atol=1e-12)
    # 000's momentum 0.9 keeps 90% of the old statistic: nn's momentum 0.1
    torch.testing.assert_close(module.bn.running_mean, scratch.moving_mean.flatten())
    # known difference: nn.BatchNorm puts the UNBIASED batch variance into running_var,
    # 000's batch_norm the biased one (normalisation uses the biased one in both)
    n = X.numel() // shape[1]
    biased = X.var(dim=(0,) if len(shape) == 2 else (0, 2, 3), unbiased=False)
    torch.testing.assert_close(scratch.moving_var.flatten(), 0.9 + 0.1 * biased)
    torch.testing.assert_close(module.bn.running_var, 0.9 + 0.1 * biased * n / (n - 1))


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 6, 6)])
def test_bn_eval_mode_equals_scratch(shape):
    module, scratch = _bn_pair(shape)
    scratch(torch.randn(shape, dtype=torch.float64) * 3 - 2)  # move the statistics off 0 / 1
    with torch.no_grad():
        module.bn.running_mean.copy_(scratch.moving_mean.flatten())
        module.bn.running_var.copy_(scratch.moving_var.flatten())
    module.eval(), scratch.eval()
    X = torch.randn(shape, dtype=torch.float64)
    torch.testing.assert_close(module(X), scratch(X), rtol=1e-12, atol=1e-12)


SCRATCH_NAMES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
                 "moving_var": "running_var"}


def test_lenet_bn_equals_000_scratch_network():
    # 000 §6.1.3 (scratch BatchNorm) vs the lenet_bn spec, weights copied by name
    cpu_seed(0)
    scratch, module = ref.lenet_bn_scratch().double(), archc.build(archc.load("lenet_bn"))
    module.double()
    state = {}
    for key, value in scratch.state_dict().items():
        prefix, _, leaf = key.rpartition(".")
        state[f"{prefix}.{SCRATCH_NAMES.get(leaf, leaf)}"] = value.flatten() \
            if leaf in SCRATCH_NAMES else value
    missing, unexpected = module.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    X = torch.rand(4, 1, 28, 28, dtype=torch.float64)
    torch.testing.assert_close(module(X), scratch(X), rtol=1e-9, atol=1e-9)
    module.load_state_dict(state, strict=False)  # resync running_var (see above), then eval
    module.eval(), scratch.eval()
    torch.testing.assert_close(module(X), scratch(X), rtol=1e-9, atol=1e-9)
