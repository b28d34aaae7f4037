"""The README's "Adding an op, a join, a command or an output", done as it says, for this test
only: a throwaway op (one record), a join (one record and its name in the grammar's `!join:`
rule) and an output (one row of archc/registry/outputs.py and its writer), each then run from the
CLI as a user would. If adding one of them needs another file, this test fails first."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any

import pytest

from archc.core.resources import grammar_text
from archc.core.saving import NOTHING
from archc.front import parse
from archc.registry import joins, ops, outputs
from archc.registry.ops import NoArgs, Op, Source

from .util import run_cli


def _twice_module(a: Any, i: Any, o: Any) -> Any:
    import torch

    class Twice(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * x

    return Twice()


TWICE = Op("twice", NoArgs, lambda a, s: s, torch=_twice_module, caption=lambda a: "twice",
           family="activation", doc="twice its input", example="twice",
           source=lambda a, i, o: Source("Twice"), saved=lambda a, i, o, c: NOTHING,
           pytorch={"Doubler": ""})


def _sub_shape(outs: Any) -> Any:
    if len(set(outs)) != 1:
        raise ops.OpShapeError(f"sub: branch shapes differ: {outs}")
    return outs[0]


SUB = joins.JoinOp("sub", doc="the first branch minus the second", shape=_sub_shape,
                   torch=lambda g, outs: g.call_function(operator.sub, tuple(outs)),
                   reference=lambda ts: ts[0] - ts[1],
                   source=lambda names: " - ".join(names), example="sub { relu | }")


def write_shapes(model: Any, console: Any) -> bytes:
    """The throwaway output: each parameter's name and shape, a line each."""
    return "".join(f"{k} {tuple(v.shape)}\n" for k, v in model.state_dict().items()).encode()


SHAPES = outputs.Output(".shapes", "build", f"{__name__}:write_shapes", "parameter shapes")


@pytest.fixture
def extended(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(ops.REGISTRY, TWICE.name, TWICE)
    monkeypatch.setitem(joins.JOINS, SUB.name, SUB)
    monkeypatch.setitem(outputs.OUTPUTS, SHAPES.suffix, SHAPES)
    grammar = grammar_text()
    assert '!join: "add"' in grammar
    monkeypatch.setattr(parse, "grammar_text",
                        lambda: grammar.replace('!join: "add"', '!join: "sub" | "add"'))
    parse.parser.cache_clear()
    yield
    monkeypatch.undo()
    parse.parser.cache_clear()  # (the real grammar again for the tests after this one)


SPEC = "network t {\n  input 3x8x8\n  conv(4, k=3, pad=1)\n  twice\n  sub { relu | }\n}\n"


def test_a_throwaway_op_join_and_output_run_from_the_cli(extended, capsys,
                                                         tmp_path: Path) -> None:
    path = tmp_path / "t.arch"
    path.write_text(SPEC)
    spec, shapes = str(path), str(tmp_path / "t.shapes")
    code, out, err = run_cli(capsys, "check", spec)
    assert code == 0, err
    code, out, err = run_cli(capsys, "summary", spec)
    assert code == 0 and "twice" in out and "sub" in out, err
    code, out, err = run_cli(capsys, "build", spec, "-o", shapes)
    assert code == 0, err
    assert (tmp_path / "t.shapes").read_text() == "conv.weight (4, 3, 3, 3)\nconv.bias (4,)\n"
    code, out, err = run_cli(capsys, "graph", spec, "-o", shapes)
    assert code == 2 and "write .shapes (parameter shapes) with `archc build" in err
    with pytest.raises(SystemExit):
        run_cli(capsys, "build", "--help")
    assert "FILE.shapes (parameter shapes)" in " ".join(capsys.readouterr().out.split())
    # the op's record names it to a user writing PyTorch's spelling, and the join's shape
    # rule speaks for it
    path.write_text(SPEC.replace("twice", "Doubler"))
    code, out, err = run_cli(capsys, "check", spec)
    assert code == 1 and "did you mean 'twice'? (archc's spelling of Doubler)" in err
    path.write_text(SPEC.replace("relu |", "conv(5, k=1) |"))
    code, out, err = run_cli(capsys, "check", spec)
    assert code == 1 and "sub: branch shapes differ" in err


@pytest.mark.parametrize("suffix", sorted(outputs.OUTPUTS))
def test_every_output_row_names_a_command_and_its_writer(suffix: str) -> None:
    from archc.commands import BY_NAME
    from archc.emit.dot import EMITTERS

    row = outputs.OUTPUTS[suffix]
    assert row.suffix == suffix.lower() and row.command in BY_NAME and callable(row.write())
    if row.writer.endswith(":write_drawing"):  # drawn by the dot emitter, in that format
        assert suffix.lstrip(".") in EMITTERS
