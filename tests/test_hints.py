"""Hints from the user's world (archc/pytorch_names.py), tested from its tables: every PyTorch
spelling leads to an op or argument that exists, and `archc check` says so."""

from __future__ import annotations

import pytest

from archc.driver import check
from archc.ops import REGISTRY
from archc.pytorch_names import ARGUMENTS, LAYERS

TORCH_NAMES = {"conv2d": "Conv2d", "batchnorm2d": "BatchNorm2d", "maxpool2d": "MaxPool2d",
               "avgpool2d": "AvgPool2d", "adaptiveavgpool2d": "AdaptiveAvgPool2d"}


def errors_of(text: str) -> list:
    return check("t.arch", text)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_spelling(name: str) -> None:
    target = LAYERS[name][0]
    assert target in REGISTRY
    written = TORCH_NAMES.get(name, name)
    [err] = errors_of(f"network n {{\n  input 3x8x8\n  {written}\n}}\n")
    assert err.code == "A0201" and f"did you mean '{target}'?" in (err.hint or "")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_capitalised_op(name: str) -> None:
    """ReLU, GELU, Flatten: archc's op in PyTorch's capitals."""
    written = name.upper() if len(name) <= 4 else name.capitalize()
    [err] = errors_of(f"network n {{\n  input 3x8x8\n  {written}\n}}\n")
    assert f"did you mean '{name}'?" in (err.hint or ""), err.hint


@pytest.mark.parametrize("name", sorted(ARGUMENTS))
def test_argument_spelling(name: str) -> None:
    target = ARGUMENTS[name][0]
    op = next((o for o in REGISTRY.values() if target in o.arg_names), REGISTRY["conv"])
    assert target is None or target in op.arg_names
    required = [n for n, f in op.args.model_fields.items() if f.is_required()]
    given = ", ".join([*(str(1) for _ in required if _ != target), f"{name}=1"])
    [err, *_] = errors_of(f"block b {{ {op.name}({given}) }}\n")
    assert err.code == "A0202", err
    want = f"did you mean '{target}'?" if target else f"leave out '{name}'"
    assert want in (err.hint or ""), err.hint


def test_slash_where_an_integer_is_needed() -> None:
    [err] = errors_of("network n(w=32) {\n  input 3x8x8\n  conv(w / 2, k=1)\n}\n")
    assert err.code == "A0304" and "use //" in (err.hint or "")
