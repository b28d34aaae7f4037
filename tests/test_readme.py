"""The README's language and op tables list every construct: every registered op, join and
expression function appears with an example; its Vision Transformer is torchvision's vit_b_16
and its Swin stage swin_t's first, key for key and shape for shape."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import archc
from archc.emit.weights import expected_shapes
from archc.front.evaluate import FUNCTIONS
from archc.registry import joins
from archc.registry.ops import REGISTRY

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _table_rows(header: str) -> list[str]:
    start = README.index(header)
    rows = []
    for line in README[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_op_is_in_the_op_table(name: str) -> None:
    rows = _table_rows("| op | example | |")
    assert any(re.search(rf"`{name}\b", row.split("|")[1]) for row in rows), name


@pytest.mark.parametrize("name", sorted(joins.JOINS))
def test_every_join_is_in_the_language_table(name: str) -> None:
    rows = _table_rows("| construct | example | meaning |")
    assert any(row.startswith(f"| {name} | `{name} {{") for row in rows), name


def test_every_function_is_in_the_language_table() -> None:
    row = next(r for r in _table_rows("| construct | example | meaning |")
               if r.startswith("| functions |"))
    assert all(f"`{name}(" in row or f" {name}(" in row for name in FUNCTIONS)


def test_the_vision_transformer_is_torchvisions() -> None:
    from torchvision.models import vit_b_16

    text = re.search(r"```\n(network vit_b_16.*?)```", README, re.S)
    assert text is not None
    net = archc.loads(text.group(1))
    with torch.device("meta"):
        theirs = {k: tuple(v.shape) for k, v in vit_b_16().state_dict().items()}
    assert expected_shapes(net) == theirs


def test_the_swin_stage_is_torchvisions() -> None:
    """The windowed-attention section's blocks are swin_t's first stage, key for key."""
    from torchvision.models import swin_t

    text = re.search(r"```\n(block swin_block.*?)```", README, re.S)
    assert text is not None
    net = archc.loads(text.group(1))
    with torch.device("meta"):
        theirs = {k: tuple(v.shape) for k, v in swin_t().state_dict().items()
                  if k.split(".")[:2] in (["features", "0"], ["features", "1"],
                                          ["features", "2"])}
    assert expected_shapes(net) == theirs
