"""`@record` (archc/core/records.py) against `@dataclass(frozen=True)`: every record class of the
package next to the dataclass made from the same fields, instance by instance (eq, hash, repr,
frozen, `fields`, `replace`, signature), and the cases `record` refuses."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from archc.core import records
from archc.core.records import mutable_record, record

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts)
                 for p in (ROOT / "archc").rglob("*.py")
                 if re.search(r"^@(mutable_)?record$", p.read_text(encoding="utf-8"), re.M))
RECORDS = sorted({cls for name in MODULES for cls in vars(importlib.import_module(name)).values()
                  if isinstance(cls, type) and cls.__module__ == name
                  and getattr(cls.__eq__, "__code__", None) is not None
                  and cls.__eq__.__code__.co_filename == records.__file__},
                 key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def _twin(cls: Any) -> Any:
    """The dataclass `@dataclass(frozen=...)` makes of `cls`'s fields and own methods."""
    own = {k: v for k, v in vars(cls).items() if k in ("__repr__", "__init__", "__eq__")
           and v.__code__.co_filename not in ("<string>", records.__file__)}
    namespace: dict[str, Any] = {"__annotations__": {}, "__qualname__": cls.__qualname__,
                                 "__module__": cls.__module__, "__doc__": cls.__doc__, **own}
    for f in dataclasses.fields(cls):
        namespace["__annotations__"][f.name] = f.type
        namespace[f.name] = dataclasses.field(
            default=f.default, default_factory=f.default_factory, repr=f.repr, hash=f.hash,
            compare=f.compare, metadata=f.metadata)
    frozen = cls.__dataclass_params__.frozen
    return dataclasses.dataclass(frozen=frozen)(type(cls.__name__, (), namespace))


def _values(cls: type, tag: str) -> list[Any]:
    return [f"{tag}{i}" for i, _ in enumerate(dataclasses.fields(cls))]


def test_the_check_paths_classes_are_records() -> None:
    names = {f"{c.__module__}.{c.__qualname__}" for c in RECORDS}
    assert {"archc.front.tree.Call", "archc.front.tree.Definition", "archc.core.graph.Layer",
            "archc.core.errors.Span", "archc.registry.ops.Op", "archc.pipeline.driver.Memo",
            "archc.pipeline.program.Program"} <= names
    assert len(RECORDS) >= 50


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_a_record_behaves_as_its_dataclass(cls: Any) -> None:
    twin = _twin(cls)
    assert [f.name for f in dataclasses.fields(cls)] == list(cls.__annotations__)
    assert cls.__match_args__ == twin.__match_args__
    assert str(inspect.signature(cls)) == str(inspect.signature(twin))
    assert dataclasses.is_dataclass(cls)
    a, b = cls(*_values(cls, "a")), cls(*_values(cls, "a"))
    ta, tb = twin(*_values(cls, "a")), twin(*_values(cls, "a"))
    assert (a == b, a != b, a == a, a.__eq__(1)) == (ta == tb, ta != tb, ta == ta, ta.__eq__(1))
    assert repr(a) == repr(ta)
    assert (cls.__hash__ is None) == (twin.__hash__ is None)
    if twin.__hash__ is not None:
        assert hash(a) == hash(ta)
    for f in dataclasses.fields(cls):
        c, tc = (dataclasses.replace(x, **{f.name: "changed"}) for x in (a, ta))
        assert (a == c, getattr(c, f.name), repr(c)) == (ta == tc, "changed", repr(tc)), f.name
        if not twin.__dataclass_params__.frozen:
            setattr(c, f.name, "again")
            setattr(tc, f.name, "again")
            assert (getattr(c, f.name), c == a, repr(c)) == ("again", tc == ta, repr(tc))
            continue
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(a, f.name, 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(a, f.name)
    if twin.__dataclass_params__.frozen:
        with pytest.raises(dataclasses.FrozenInstanceError):
            a.not_a_field = 1


def _pair(body: dict[str, Any], frozen: bool) -> tuple[Any, Any]:
    """The same class body made by `record` (or `mutable_record`) and by `dataclass`."""
    made = []
    for make in (record if frozen else mutable_record, dataclasses.dataclass(frozen=frozen)):
        fields = {k: (dataclasses.field(**v) if isinstance(v, dict) else v)
                  for k, v in body.items() if k != "__annotations__"}
        made.append(make(type("Rec", (), {**fields, "__annotations__": body["__annotations__"],
                                          "__doc__": None})))
    return made[0], made[1]


CASES = [  # class bodies, each with the arguments of an instance
    ({"__annotations__": {}}, ()),
    ({"__annotations__": {"x": "int"}}, (float("nan"),)),
    ({"__annotations__": {"x": "int", "y": "list[int]", "z": "int"},
      "y": {"default_factory": list, "hash": False}, "z": {"default": 3, "compare": False}},
     (1,)),
    ({"__annotations__": {"x": "int", "y": "int"}, "y": {"default": 0, "repr": False}}, (1, 2)),
]


@pytest.mark.parametrize("frozen", [True, False])
@pytest.mark.parametrize(("body", "args"), CASES)
def test_a_made_up_record_against_its_dataclass(body: dict[str, Any], args: tuple,
                                                frozen: bool) -> None:
    rec, ref = _pair(body, frozen)
    assert rec.__doc__ == ref.__doc__  # none written: the name and the signature
    assert str(inspect.signature(rec)) == str(inspect.signature(ref))
    a, ta = rec(*args), ref(*args)
    assert (repr(a), a == a, a == rec(*args), rec.__hash__ is None) == (
        repr(ta), ta == ta, ta == ref(*args), ref.__hash__ is None)
    if frozen:
        assert hash(a) == hash(ta)
    if "y" in body and "default_factory" in body["y"]:  # a fresh value each
        assert a.y == rec(*args).y and a.y is not rec(*args).y


def test_a_recursive_repr_and_a_post_init() -> None:
    @record
    class Box:
        """Holds anything, itself too."""

        items: list[Any]

        def __post_init__(self) -> None:
            self.items.append(self)

    box = Box([1])
    assert box.items == [1, box] and repr(box) == "test_a_recursive_repr_and_a_post_init.<locals>" \
        ".Box(items=[1, ...])"


@pytest.mark.parametrize("body", [
    "class Sub(Base):\n    y: int",  # subclasses a dataclass
    "class Late:\n    x: int = dataclasses.field(init=False, default=0)",
    "class Only:\n    x: int = dataclasses.field(kw_only=True)",
    "class Var:\n    x: typing.ClassVar[int] = 0\n    y: int = 1",
    "class Init:\n    x: dataclasses.InitVar[int]",
    "class Mutating:\n    x: int\n    def __setattr__(self, name, value): pass",
    "class Order:\n    x: int = 0\n    y: int",
])
def test_what_record_refuses(body: str) -> None:
    @dataclasses.dataclass(frozen=True)
    class Base:
        x: int

    namespace = {"Base": Base, "dataclasses": dataclasses, "typing": __import__("typing")}
    with pytest.raises(TypeError):
        # annotations as objects (not this file's strings), which dataclass reads surely
        exec(compile(f"@record\n{body}", "<case>", "exec", dont_inherit=True),
             {**namespace, "record": record})
