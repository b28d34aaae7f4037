"""Checks on the hand-written reference models: parameter counts, output shapes, names,
the from-scratch BatchNorm of seed 000 against nn.BatchNorm, and the seeds' shape tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.cheap_init import cheap_init
from tests.util import cpu_seed

try:
    from tests.reference import models as ref
    from tests.reference import torchvision_counts as tvc
except ImportError:  # tests/ itself on sys.path (plain `pytest`, rootdir-relative import)
    from reference import models as ref
    from reference import torchvision_counts as tvc

TV_KEYS_JSON = Path(ref.__file__).with_name("torchvision_keys.json")

# (factory, input side, exact parameter count)
CASES = {
    "lenet": (ref.lenet, 28, 61_706),
    "lenet_bn": (ref.lenet_bn, 28, 44_878),
    "lenet_bn_scratch": (ref.lenet_bn_scratch, 28, 44_878),
    # 001 InceptionA(in): 1x1 convs 16in+16 (x2 more: 5x5_1, 3x3_1) + branch_pool 24in+24,
    #   5x5_2 16*24*25+24 = 9,624, 3x3_2 16*24*9+24 = 3,480, 3x3_3 24*24*9+24 = 5,208
    #   -> 72*in + 18,384: incep1 (in 10) 19,104, incep2 (in 20) 19,824
    # conv1 1*10*25+10 = 260, conv2 88*20*25+20 = 44,020, fc 1408*10+10 = 14,090
    # total 260 + 19,104 + 44,020 + 19,824 + 14,090 = 97,298
    "inception_mnist": (ref.inception_mnist, 28, 97_298),
    # 001 ResidualBlock(c) = 2*(9c^2 + c): rcblock1 (16) 4,640, rcblock2 (32) 18,496
    # conv1 1*16*25+16 = 416, conv2 16*32*25+32 = 12,832, fc 512*10+10 = 5,130
    # total 416 + 12,832 + 4,640 + 18,496 + 5,130 = 41,514
    "resnet_mnist": (ref.resnet_mnist, 28, 41_514),
    "resnet18": (ref.resnet18, 96, 11_178_378),
    "nin": (ref.nin, 224, 1_992_166),
    "alexnet": (ref.alexnet, 224, 46_764_746),
    "vgg11": (ref.vgg11, 224, 128_806_154),
    "vgg11_ratio4": (lambda: ref.vgg11(ratio=4), 224, 43_093_322),
    "googlenet": (ref.googlenet, 96, 5_977_530),
    "densenet": (ref.densenet, 96, 758_226),
}


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("name", list(CASES))
def test_param_count_shape_and_names(name):
    factory, side, expected = CASES[name]
    cpu_seed(0)
    with cheap_init():  # what is asserted is counts, shapes and names: any values do
        net = factory().eval()
    assert n_params(net) == expected
    with torch.no_grad():
        assert net(torch.rand(2, 1, side, side)).shape == (2, 10)
    names = [n for n, _ in net.named_children()]  # named, not nn.Sequential indices
    assert names and not any(n.isdigit() for n in names)


def test_resnet18_stage_shapes_224():
    # 002: `for layer in net: X = layer(X); print(...)` at 1x1x224x224
    net, X = ref.resnet18().eval(), torch.rand(1, 1, 224, 224)
    seen = {}
    with torch.no_grad():
        for name, layer in net.named_children():
            X = layer(X)
            seen[name] = tuple(X.shape[1:])
    module_of = {**ref.RESNET18_DOC_STAGES, "avgpool": "avgpool", "flatten": "flatten",
                 "fc": "fc"}
    for stage, shape in ref.RESNET18_STAGE_SHAPES_224.items():
        assert seen[module_of[stage]] == shape, stage


def test_nin_block_shapes_224():
    net, X = ref.nin().eval(), torch.rand(1, 1, 224, 224)
    seen = {}
    with torch.no_grad():
        for name, layer in net.named_children():
            X = layer(X)
            seen[name] = tuple(X.shape[1:])
    assert seen == ref.NIN_BLOCK_SHAPES_224


def test_residual_shapes_from_002():
    # 002: Residual(3, 3) keeps 4x3x6x6; Residual(3, 6, use_1x1conv=True, strides=2) -> 4x6x3x3
    X = torch.rand(4, 3, 6, 6)
    assert ref.Residual(3, 3)(X).shape == (4, 3, 6, 6)
    assert ref.Residual(3, 6, use_1x1conv=True, strides=2)(X).shape == (4, 6, 3, 3)


# --- 000: from-scratch BatchNorm vs nn.BatchNorm ----------------------------------------
# Known difference: in train mode nn.BatchNorm updates running_var with the UNBIASED batch
# variance (divides by n-1), while the scratch batch_norm uses the BIASED one (divides by n),
# as does normalisation itself in both. Outputs and running_mean agree; running_var differs
# by the factor n/(n-1) on the batch term. Scratch momentum 0.9 == nn momentum 0.1.


def _pair(num_features: int, num_dims: int):
    cpu_seed(0)
    scratch = ref.BatchNorm(num_features, num_dims)
    torch_bn = (nn.BatchNorm1d if num_dims == 2 else nn.BatchNorm2d)(num_features)
    with torch.no_grad():
        scratch.gamma.copy_(torch.rand_like(scratch.gamma) + 0.5)
        scratch.beta.copy_(torch.randn_like(scratch.beta))
        torch_bn.weight.copy_(scratch.gamma.flatten())
        torch_bn.bias.copy_(scratch.beta.flatten())
    return scratch, torch_bn


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 6, 6)])
def test_scratch_batchnorm_train_mode(shape):
    scratch, torch_bn = _pair(shape[1], len(shape))
    X = torch.randn(shape) * 2 + 1
    torch.testing.assert_close(scratch(X), torch_bn(X), rtol=1e-5, atol=1e-5)
    dims = (0,) if len(shape) == 2 else (0, 2, 3)
    n = X.numel() // shape[1]
    biased = X.var(dim=dims, unbiased=False)
    torch.testing.assert_close(scratch.moving_mean.flatten(), torch_bn.running_mean)
    torch.testing.assert_close(scratch.moving_var.flatten(), 0.9 + 0.1 * biased)
    torch.testing.assert_close(torch_bn.running_var, 0.9 + 0.1 * biased * n / (n - 1))


@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 6, 6)])
def test_scratch_batchnorm_eval_mode(shape):
    scratch, torch_bn = _pair(shape[1], len(shape))
    scratch(torch.randn(shape) * 3 - 2)  # one train step moves the stats off 0 / 1
    with torch.no_grad():
        torch_bn.running_mean.copy_(scratch.moving_mean.flatten())
        torch_bn.running_var.copy_(scratch.moving_var.flatten())
    scratch.eval(), torch_bn.eval()
    X = torch.randn(shape)
    torch.testing.assert_close(scratch(X), torch_bn(X), rtol=1e-5, atol=1e-5)


def test_scratch_batchnorm_initial_state():
    bn = ref.BatchNorm(6, num_dims=4)
    assert dict(bn.named_buffers()).keys() == {"moving_mean", "moving_var"}
    assert torch.equal(bn.moving_var, torch.ones(1, 6, 1, 1))
    assert torch.equal(bn.moving_mean, torch.zeros(1, 6, 1, 1))
    assert [n for n, _ in bn.named_parameters()] == ["gamma", "beta"]


def _scratch_to_torch_state(state: dict) -> dict:
    rename = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
              "moving_var": "running_var"}
    out = {}
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf in rename:
            out[f"{prefix}.{rename[leaf]}"] = value.flatten()
        else:
            out[key] = value
    return out


def test_lenet_bn_scratch_matches_concise():
    # 000 §6.1.3 vs §6.1.4: same network, same weights -> same outputs (train and eval)
    cpu_seed(0)
    scratch, concise = ref.lenet_bn_scratch(), ref.lenet_bn()
    missing, unexpected = concise.load_state_dict(
        _scratch_to_torch_state(scratch.state_dict()), strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    X = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(scratch(X), concise(X), rtol=1e-4, atol=1e-5)
    # the train step left running_var unbiased vs biased (see above): resync, then eval
    concise.load_state_dict(_scratch_to_torch_state(scratch.state_dict()), strict=False)
    scratch.eval(), concise.eval()
    torch.testing.assert_close(scratch(X), concise(X), rtol=1e-4, atol=1e-5)


def test_batch_norm_scratch_function_eval():
    X, mm, mv = torch.randn(6, 4), torch.randn(1, 4), torch.rand(1, 4) + 0.5
    gamma, beta = torch.rand(1, 4), torch.randn(1, 4)
    Y, mm2, mv2 = ref.batch_norm_scratch(False, X, gamma, beta, mm, mv, 1e-5, 0.9)
    expected = nn.functional.batch_norm(X, mm.flatten(), mv.flatten(), gamma.flatten(),
                                        beta.flatten(), training=False, eps=1e-5)
    torch.testing.assert_close(Y, expected)
    assert torch.equal(mm2, mm) and torch.equal(mv2, mv)


# --- torchvision ground truth (generated by bench/torchvision_counts.py) -----------------

BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


def _tv_keys() -> dict:
    return json.loads(TV_KEYS_JSON.read_text())


def test_torchvision_keys_cover_key_models():
    keys = _tv_keys()
    assert list(keys) == tvc.TORCHVISION_KEY_MODELS
    assert set(keys) <= set(tvc.TORCHVISION_PARAMS)


@pytest.mark.parametrize("model", tvc.TORCHVISION_KEY_MODELS)
def test_torchvision_keys_sum_to_param_count(model):
    pairs = _tv_keys()[model]
    total = sum(math.prod(shape) for key, shape in pairs if not key.endswith(BUFFER_SUFFIXES))
    assert total == tvc.TORCHVISION_PARAMS[model]


def test_torchvision_keys_spot_checks():
    keys = {m: dict((k, tuple(s)) for k, s in pairs) for m, pairs in _tv_keys().items()}
    assert keys["resnet18"]["layer1.0.conv1.weight"] == (64, 64, 3, 3)
    assert keys["resnet18"]["layer2.0.downsample.0.weight"] == (128, 64, 1, 1)
    assert keys["resnet18"]["fc.weight"] == (1000, 512)
    assert keys["densenet121"]["features.denseblock1.denselayer1.conv1.weight"] == (128, 64, 1, 1)
    assert keys["densenet121"]["classifier.weight"] == (1000, 1024)
    assert not any("aux" in k for k in keys["googlenet"])  # aux_logits=False
    assert keys["alexnet"]["classifier.1.weight"] == (4096, 9216)


def test_vgg11_count_matches_torchvision_adapted():
    # torchvision vgg11 (3 in-channels, 1000 classes) -> 1 in-channel, 10 classes:
    # drop 2*64*3*3 first-conv weights and 990 * (4096 + 1) classifier parameters
    adapted = tvc.TORCHVISION_PARAMS["vgg11"] - 2 * 64 * 9 - 990 * 4097
    assert adapted == CASES["vgg11"][2] == 128_806_154
