"""The join registry, tested as data: every join kind is checked numerically against its own
independent reference computation, its shape rule against a real forward pass, and its MACs
against FlopCounterMode, so a new join is tested by adding its record."""

from __future__ import annotations

import re

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import archc
from archc.core.graph import Join, Layer, walk
from archc.core.resources import grammar_text
from archc.emit.torch import build_module
from archc.expansion.stats import count
from archc.registry import joins
from tests.util import cpu_seed

KINDS = sorted(joins.JOINS)


def _example(kind: str) -> archc.Network:
    record = joins.JOINS[kind]
    return archc.loads(f"network n {{ input {record.example_input} {record.example} }}")


@pytest.mark.parametrize("kind", KINDS)
def test_join_equals_its_reference(kind: str, one_torch_thread) -> None:
    net = _example(kind)
    join = next(n for _, n in walk(net.root.items) if isinstance(n, Join))
    assert join.op == kind
    cpu_seed(0)
    model = build_module(net).double().eval()
    x = torch.randn(3, *net.input_shape, dtype=torch.float64)
    outs = []
    ins = joins.JOINS[kind].inputs.reference(x, len(join.branches))
    for branch, y in zip(join.branches, ins, strict=True):  # each branch on its own
        for layer in branch:
            assert isinstance(layer, Layer)
            y = model.get_submodule(layer.name)(y)
        outs.append(y)
    want = joins.JOINS[kind].reference(outs)
    got = model(x)
    assert tuple(got.shape[1:]) == net.output_shape == join.out_shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_join_counts_match_flop_counter(kind: str, one_torch_thread) -> None:
    net = _example(kind)
    model = build_module(net).eval()
    with FlopCounterMode(display=False) as fc:
        model(torch.randn(1, *net.input_shape))
    assert 2 * count(net.root).macs == fc.get_total_flops()


def test_grammar_knows_exactly_the_registered_joins() -> None:
    rule = re.search(r"^!join: (.*?)(//|$)", grammar_text(), re.M)
    assert rule is not None
    assert set(re.findall(r'"(\w+)"', rule.group(1))) == set(joins.JOINS)


def test_unknown_join_fails_loudly_in_every_stage() -> None:
    """An emitter or counter that meets a join kind the registry lacks raises; none falls
    back to another join's behaviour."""
    from dataclasses import replace

    from archc.emit.dot import digraph

    net = _example("add")
    root = net.root
    bad_items = tuple(replace(n, op="xor") if isinstance(n, Join) else n for n in root.items)
    bad = replace(net, root=replace(root, items=bad_items))
    with pytest.raises(joins.UnknownJoin, match="xor"):
        build_module(bad)
    with pytest.raises(joins.UnknownJoin, match="xor"):
        count(bad.root)
    with pytest.raises(joins.UnknownJoin, match="xor"):
        digraph(bad)
