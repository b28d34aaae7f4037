"""The prelude's blocks of modern networks against torchvision's own modules: the same
parameter names (a state_dict maps with no rename), the same outputs in eval and in train mode
(dropout and stochastic depth draw the same random numbers in the same order), in fp64. One
row per block configuration; and a small Vision Transformer against torchvision's, whole."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest
import torch
from torch import nn
from torchvision.models import convnext, efficientnet, mobilenetv2, mobilenetv3
from torchvision.models import vision_transformer as vit
from torchvision.ops import SqueezeExcitation

import archc
from archc.emit.weights import import_state_dict
from tests.util import cpu_seed, flop_counter

BN_V3 = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)


def _v3(cin, k, exp, out, se, act, stride) -> nn.Module:
    cnf = mobilenetv3.InvertedResidualConfig(cin, k, exp, out, se, act, stride, 1, 1.0)
    return mobilenetv3.InvertedResidual(cnf, BN_V3)


def _mbconv(cin, k, exp_ratio, out, stride, sd) -> nn.Module:
    cnf = efficientnet.MBConvConfig(exp_ratio, k, stride, cin, out, 1)
    return efficientnet.MBConv(cnf, sd, BN_V3)


# (spec call, input shape, torchvision module)
BLOCKS: dict[str, tuple[str, tuple[int, ...], Callable[[], nn.Module]]] = {
    "se_hardsigmoid": ('squeeze_excitation(4, gate="hardsigmoid")', (16, 5, 5),
                       lambda: SqueezeExcitation(16, 4, scale_activation=nn.Hardsigmoid)),
    "se_silu": ('squeeze_excitation(3, act="silu")', (12, 4, 4),
                lambda: SqueezeExcitation(12, 3, activation=nn.SiLU)),
    "v2_t1": ("inverted_residual(8, 1)", (16, 6, 6),
              lambda: mobilenetv2.InvertedResidual(16, 8, 1, 1)),
    "v2_t6_res": ("inverted_residual(8, 6)", (8, 6, 6),
                  lambda: mobilenetv2.InvertedResidual(8, 8, 1, 6)),
    "v2_t6_s2": ("inverted_residual(12, 6, stride=2)", (8, 7, 7),
                 lambda: mobilenetv2.InvertedResidual(8, 12, 2, 6)),
    "v3_no_expand": ("mbconv(8, 8, stride=2, squeeze=8)", (8, 6, 6),
                     lambda: _v3(8, 3, 8, 8, True, "RE", 2)),
    "v3_res_hs": ('mbconv(8, 24, k=5, act="hardswish")', (8, 6, 6),
                  lambda: _v3(8, 5, 24, 8, False, "HS", 1)),
    "v3_se_res": ('mbconv(8, 32, k=5, squeeze=8, act="hardswish")', (8, 6, 6),
                  lambda: _v3(8, 5, 32, 8, True, "HS", 1)),
    "efficientnet_res_sd": ('mbconv(8, 48, squeeze=2, act="silu", se_act="silu", '
                            'gate="sigmoid", sd=0.5)', (8, 6, 6),
                            lambda: _mbconv(8, 3, 6, 8, 1, 0.5)),
    "efficientnet_s2": ('mbconv(16, 8, k=5, stride=2, squeeze=2, act="silu", se_act="silu", '
                        'gate="sigmoid")', (8, 7, 7), lambda: _mbconv(8, 5, 1, 16, 2, 0.0)),
    "convnext": ("convnext_block(0.5, sd=0.5)", (8, 5, 5),
                 lambda: convnext.CNBlock(8, 0.5, 0.5)),
    "encoder": ("encoder_block(2, 24, dropout=0.3, attention_dropout=0.2)", (5, 8),
                lambda: vit.EncoderBlock(2, 8, 24, 0.3, 0.2, partial(nn.LayerNorm, eps=1e-6))),
}


def _randomised(module: nn.Module) -> nn.Module:
    """Every parameter and buffer random (layer scale, BN statistics, zero-initialised biases)
    so that no wrong wiring hides behind a constant."""
    cpu_seed(3)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5 if "running_var" in name else
                        torch.randn_like(t) * 0.5)
    return module


def _compare(net: archc.Network, theirs: nn.Module, batch: int = 4) -> None:
    ours = archc.build(net).double()
    theirs = _randomised(theirs.double())
    report = import_state_dict(net, ours, theirs.state_dict())
    assert not report.renamed and report.mapped == len(theirs.state_dict())
    x = torch.randn(batch, *net.input_shape, dtype=torch.float64)
    for train in (False, True):
        ours.train(train)
        theirs.train(train)
        cpu_seed(7)
        got = ours(x)
        cpu_seed(7)
        torch.testing.assert_close(got, theirs(x), rtol=1e-10, atol=1e-10,
                                   msg=f"train={train}")


@pytest.mark.parametrize("name", BLOCKS)
def test_block_is_torchvisions(name: str, one_torch_thread) -> None:
    call, shape, factory = BLOCKS[name]
    net = archc.loads(f"network n {{ input {'x'.join(map(str, shape))} {call} }}")
    cpu_seed(0)
    _compare(_unwrapped(net), factory())


def _unwrapped(net: archc.Network) -> archc.Network:
    """The network whose root holds the block's items directly (so key `fc1.weight`, not
    `squeeze_excitation.fc1.weight`)."""
    from dataclasses import replace

    (block,) = net.root.items
    return replace(net, root=replace(net.root, items=block.items))


VIT = """
network vit(image=32, patch=8, layers=2, heads=2, hidden=16, mlp=24, classes=5) {
  input (3, image, image)
  conv_proj: conv(hidden, k=patch, stride=patch) tokens class_token
  encoder: {
    pos_embedding dropout: dropout(0.1)
    layers: { for i in 0..layers { "encoder_layer_{i}": encoder_block(heads, mlp, dropout=0.1) } }
    ln: layernorm(eps=1e-6)
  }
  token(0)
  heads: { head: linear(classes) }
}
"""


def test_vision_transformer_is_torchvisions(one_torch_thread) -> None:
    net = archc.loads(VIT)
    assert net.output_shape == (5,)
    theirs = vit.VisionTransformer(32, 8, 2, 2, 16, 24, dropout=0.1, num_classes=5)
    _compare(net, theirs, batch=3)


def test_vision_transformer_counts_match_flop_counter(one_torch_thread) -> None:
    """MACs of every layer, attention's QK^T and AV included, against FlopCounterMode."""
    from archc.expansion.stats import count

    net = archc.loads(VIT)
    model = archc.build(net).eval()
    with torch.no_grad(), flop_counter() as fc:
        model(torch.randn(2, *net.input_shape))
    assert fc.get_total_flops() == 2 * 2 * count(net.root).macs
    assert count(net.root).params == sum(p.numel() for p in model.parameters())
