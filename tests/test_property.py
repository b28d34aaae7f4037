"""The checker never lies: for random valid specs, the static shape after every layer and scope,
the parameter count and the FLOPs equal what the built module really does (forward hooks,
`sum(p.numel())`, `torch.utils.flop_counter.FlopCounterMode`)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings

import archc

try:
    from tests.oracles import verify_claims
    from tests.strategies import NO_SHRINK, Spec, valid_specs
except ImportError:  # tests/ itself on sys.path
    from oracles import verify_claims
    from strategies import NO_SHRINK, Spec, valid_specs

PROPERTY = settings(max_examples=320, deadline=None, derandomize=True, database=None,
                    phases=NO_SHRINK,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@PROPERTY
@given(valid_specs())
def test_checker_never_lies(spec: Spec):
    net = archc.loads(spec.text, path="generated.arch")
    # The generator's own shape model (PyTorch's formulas) agrees with the checker ...
    assert net.input_shape == spec.input_shape
    assert net.output_shape == spec.output_shape
    # ... and so does the real module.
    verify_claims(net)


def test_verify_claims_catches_a_lie():
    """The oracle is not vacuous: a network whose static shape is tampered with fails it."""
    net = archc.loads("network n { input 1x8x8 conv(2, k=3) relu }")
    conv = net.root.items[0]
    import dataclasses
    bad = dataclasses.replace(conv, out_shape=(2, 7, 7))
    lying = dataclasses.replace(net, root=dataclasses.replace(
        net.root, items=(bad, *net.root.items[1:])))
    with pytest.raises(AssertionError):
        verify_claims(lying, archc.build(net))


@pytest.mark.parametrize("side", [1, 2, 3, 5, 8, 13])
def test_pool_ceil_edges(side):
    """Ceil-mode pooling, where PyTorch drops a last window that starts in the padding."""
    for k in range(1, 4):
        for stride in range(1, 4):
            for pad in range(0, k // 2 + 1):
                text = (f"network n {{ input 1x{side}x{side} "
                        f"maxpool({k}, stride={stride}, pad={pad}, ceil=true) "
                        f"avgpool({k}, stride={stride}, pad={pad}, ceil=true) }}")
                try:
                    net = archc.loads(text)
                except archc.ArchcError:
                    with pytest.raises(RuntimeError):
                        pool = torch.nn.MaxPool2d(k, stride, pad, ceil_mode=True)
                        pool = torch.nn.Sequential(pool, torch.nn.AvgPool2d(
                            k, stride, pad, ceil_mode=True))
                        pool(torch.randn(1, 1, side, side))
                    continue
                verify_claims(net)
                assert math.prod(net.output_shape) >= 1
