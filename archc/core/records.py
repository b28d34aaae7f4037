"""Core: `record`, the frozen dataclass of archc's value types, made cheaply at import.

`@record` makes the class `@dataclass(frozen=True)` makes: `dataclasses.fields`, `replace`,
`is_dataclass` and `__match_args__` work, `__eq__` (same class, equal field tuples, else
NotImplemented), `__hash__` (of the field tuple) and `__repr__` (`Name(a=1, b=2)`) behave as
dataclass's, and assigning or deleting a field raises `dataclasses.FrozenInstanceError`. Python
3.11's dataclasses compiles each of those six methods with an `exec` of its own (0.5-0.6 ms a
class, 55 classes on the check path); a record compiles only `__init__`, which fills the
instance's `__dict__` directly (as archc/core/errors.py's `Span` does: half the time of
dataclass's `object.__setattr__` per field); the other five are closures over the class's field
names (`operator.attrgetter`). `mutable_record` is `@dataclass` (fields assignable, no hash)
likewise. A class whose fields need more (init-only or keyword-only fields,
`ClassVar`s, `field(init=False)`) or that subclasses a dataclass is refused: use `dataclass`.
"""

from __future__ import annotations

import dataclasses
import inspect
from _thread import get_ident
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_: Any) -> Callable[[Any], Any]:
        return lambda decorator: decorator

T = TypeVar("T")

_Frozen = dataclasses.FrozenInstanceError


class _Factory:
    """The default of a field made by its `default_factory` (`<factory>` in the signature)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: type[T]) -> type[T]:
    """`cls` as `@dataclass(frozen=True)` would make it (see the module's doc)."""
    return _record(cls, frozen=True)


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def mutable_record(cls: type[T]) -> type[T]:
    """`cls` as `@dataclass` would make it: a record whose fields may be assigned, unhashable."""
    return _record(cls, frozen=False)


def _record(cls: type[T], frozen: bool) -> type[T]:
    own = dict(cls.__dict__)  # before dataclass and this add to it
    if any(hasattr(base, "__dataclass_fields__") for base in cls.__mro__[1:]):
        raise TypeError(f"record {cls.__name__}: subclasses a dataclass (use dataclass)")
    for name in ("__setattr__", "__delattr__"):  # frozen's, or (mutable) not the __init__'s
        if name in own:
            raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
    if not own.get("__doc__"):
        cls.__doc__ = "-"  # not dataclass's doc, made before `__init__` is (below)
    made: Any = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
    fields = dataclasses.fields(made)
    if len(fields) != len(made.__dataclass_fields__) or any(
            f.kw_only is True or not f.init for f in fields):
        raise TypeError(f"record {cls.__name__}: a ClassVar, InitVar, keyword-only or "
                        "init=False field (use dataclass)")
    params = made.__dataclass_params__  # those of the dataclass it behaves as
    params.init = params.repr = params.eq = True
    params.frozen = frozen
    for name, make in _methods(made, fields, frozen).items():
        if name not in own:
            _put(made, name, make())
    own_hash = own.get("__hash__", dataclasses.MISSING)  # dataclass's rule (eq, not unsafe)
    if own_hash is dataclasses.MISSING or (own_hash is None and "__eq__" in own):
        if frozen:
            _put(made, "__hash__", _hash(_values(tuple(
                f.name for f in fields if (f.compare if f.hash is None else f.hash)))))
        else:
            made.__hash__ = None
    if not own.get("__doc__"):  # dataclass's doc: the name and the signature
        made.__doc__ = made.__name__ + str(inspect.signature(made)).replace(" -> None", "")
    return made


def _methods(cls: type, fields: tuple[dataclasses.Field[Any], ...], frozen: bool
             ) -> dict[str, Callable[[], Callable[..., Any]]]:
    """What makes each method but `__hash__`, made only if the class does not define it."""
    names = tuple(f.name for f in fields)
    made: dict[str, Callable[[], Callable[..., Any]]] = {
        "__init__": lambda: _init(cls, fields),
        "__repr__": lambda: _repr(tuple(f.name for f in fields if f.repr)),
        "__eq__": lambda: _eq(_values(tuple(f.name for f in fields if f.compare)))}
    if frozen:
        made["__setattr__"] = lambda: _setattr(cls, names)
        made["__delattr__"] = lambda: _delattr(cls, names)
    return made


def _put(cls: type, name: str, fn: Callable[..., Any]) -> None:
    fn.__name__ = name
    fn.__qualname__ = f"{cls.__qualname__}.{name}"
    fn.__module__ = cls.__module__
    setattr(cls, name, fn)


def _init(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    """`__init__`, compiled: the one `exec` a record costs."""
    env: dict[str, Any] = {"__name__": cls.__module__, "_record_HAS": _FACTORY}
    params, body, defaulted = ["_record_self"], [], False
    for i, f in enumerate(fields):
        value = f.name
        if f.default is not dataclasses.MISSING:
            env[f"_record_default{i}"] = f.default
            params.append(f"{f.name}=_record_default{i}")
        elif f.default_factory is not dataclasses.MISSING:
            env[f"_record_factory{i}"] = f.default_factory
            params.append(f"{f.name}=_record_HAS")
            value = f"_record_factory{i}() if {f.name} is _record_HAS else {f.name}"
        elif defaulted:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        else:
            params.append(f.name)
        defaulted = "=" in params[-1]
        body.append(f"  _record_fill[{f.name!r}] = {value}")
    if hasattr(cls, "__post_init__"):
        body.append("  _record_self.__post_init__()")
    source = (f"def __init__({', '.join(params)}):\n  _record_fill = _record_self.__dict__\n"
              + "\n".join(body) + "\n")
    exec(source, env)  # the source holds the fields' names (identifiers) and nothing else
    init: Callable[..., None] = env["__init__"]
    init.__annotations__ = {**{f.name: f.type for f in fields}, "return": None}
    return init


def _values(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The tuple of an instance's fields `names`: one C call (attrgetter) for two or more."""
    if len(names) >= 2:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _eq(values: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any, Any], Any]:
    def __eq__(self: Any, other: Any) -> Any:
        if other is self:  # what dataclass's tuples find too: each field is itself
            return True
        if other.__class__ is self.__class__:
            return values(self) == values(other)
        return NotImplemented
    return __eq__


def _hash(values: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(values(self))
    return __hash__


def _repr(names: tuple[str, ...]) -> Callable[[Any], str]:
    busy: set[tuple[int, int]] = set()  # (instance, thread) whose repr is running: '...'
    inner = ", ".join(f"{name}=%r" for name in names)  # `a=%r, b=%r`
    values = _values(names)

    def __repr__(self: Any) -> str:
        key = (id(self), get_ident())
        if key in busy:
            return "..."
        busy.add(key)
        try:
            return f"{self.__class__.__qualname__}({inner % values(self)})"
        finally:
            busy.discard(key)
    return __repr__


def _setattr(cls: type, names: tuple[str, ...]) -> Callable[[Any, str, Any], None]:
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise _Frozen(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)  # type: ignore[arg-type]
    return __setattr__


def _delattr(cls: type, names: tuple[str, ...]) -> Callable[[Any, str], None]:
    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise _Frozen(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)  # type: ignore[arg-type]
    return __delattr__
