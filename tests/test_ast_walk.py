"""The one walker over the AST (archc/front/tree.py): `children` covers every node type and every
field that holds nodes, so a new statement or expression kind reaches every pass that walks."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from archc.core.errors import Span
from archc.core.resources import prelude_path
from archc.front import tree
from archc.front.parse import parse

ROOT = Path(__file__).resolve().parents[1]
CORPUS = sorted([*(ROOT / "specs").glob("*.arch"), *(ROOT / "tests" / "cases").glob("*.arch"),
                 *(ROOT / "examples" / "plugins").glob("*.arch"), prelude_path()])
NODE_TYPES = {cls for _, cls in inspect.getmembers(tree, inspect.isclass)
              if dataclasses.is_dataclass(cls) and cls.__module__ == tree.__name__}


def _nodes_in(value: object) -> list[object]:
    """The AST nodes a field holds: itself, or inside (nested) tuples."""
    if isinstance(value, tuple):
        return [n for v in value for n in _nodes_in(v)]
    return [value] if type(value) in NODE_TYPES else []


@pytest.fixture(scope="module")
def modules() -> list[tree.Module]:
    return [parse(p.read_text(encoding="utf-8"), str(p)) for p in CORPUS]


def test_every_node_type_has_children() -> None:
    assert NODE_TYPES == set(tree._CHILDREN)
    assert set(tree.EXPRESSIONS) | set(tree.STATEMENTS) < NODE_TYPES
    assert Span not in NODE_TYPES


def test_children_cover_every_field(modules: list[tree.Module]) -> None:
    seen: set[type] = set()
    for module in modules:
        for node in tree.walk(module):
            seen.add(type(node))
            held = [n for f in dataclasses.fields(node) for n in _nodes_in(getattr(node, f.name))]
            assert list(tree.children(node)) == held or sorted(map(id, tree.children(node))) == \
                sorted(map(id, held)), f"{type(node).__name__}: children miss a field"
    assert seen == NODE_TYPES, f"the corpus lacks {NODE_TYPES - seen}: add a case using them"


def test_walk_is_pre_order_in_source_order() -> None:
    m = parse("network n(c=2) {\n  input 3x8x8\n  a: conv(c * 2, k=1)\n  relu\n}\n", "t.arch")
    kinds = [type(n).__name__ for n in tree.walk(m)]
    assert kinds == ["Module", "Definition", "Param", "Lit", "Input", "ShapeSpec", "Lit", "Lit",
                     "Lit", "Labelled", "Call", "BinOp", "Var", "Lit", "KwArg", "Lit", "Call"]
    body = m.definitions[0].body
    assert [type(s).__name__ for s in tree.statements(body)] == ["Input", "Labelled", "Call",
                                                                "Call"]
    assert [c.name for c in tree.calls(body)] == ["conv", "relu"]
    assert list(tree.names(body[1].unit.args[0])) == ["c"]


def test_walk_needs_no_recursion() -> None:
    span = Span("t.arch", 1, 1)
    st: tree.Stmt = tree.Call("relu", (), (), span)
    for _ in range(20_000):  # far past Python's recursion limit
        st = tree.Group((st,), span)
    assert sum(1 for _ in tree.walk(st)) == 20_001
    assert [c.name for c in tree.calls((st,))] == ["relu"]


def test_an_unknown_node_type_fails_loudly() -> None:
    with pytest.raises(KeyError):
        list(tree.walk(object()))  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "width"), [('"conv1": relu', 7), ("conv1: relu", 5),
                                             ('"block1-0": relu', 10), ("0: relu", 1)])
def test_label_span_is_the_label_as_written(text: str, width: int) -> None:
    m = parse(f"network n {{\n  input 3x8x8\n  {text}\n}}\n", "t.arch")
    [st] = [s for s in tree.statements(m.definitions[0].body) if isinstance(s, tree.Labelled)]
    span = tree.label_span(st)
    assert (span.line, span.col, span.end_col - span.col) == (3, 3, width)
