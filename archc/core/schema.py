"""Argument schemas without pydantic on the check path: an `Args` class is declared as a
pydantic model is (annotations, `Field(default, ge=, gt=, le=, lt=)`, `PlainValidator`), and
stays pydantic's to describe (`model_fields`, JSON, error text), but a valid call's arguments are
validated by a small checker made from its fields on first use. Anything that checker is unsure
of (a failure, a type it does not know) goes to the pydantic model, built only then, so errors
read exactly as pydantic words them; `archc check` of valid specs never imports pydantic."""

from __future__ import annotations

import math
import sys
import typing
from collections.abc import Callable, Collection, Mapping
from types import NoneType, UnionType
from typing import TYPE_CHECKING, Any, ClassVar, TypeGuard, TypeVar

if TYPE_CHECKING:
    from pydantic import ValidationError

_REQUIRED: Any = object()  # no default: the argument must be given
_UNSURE: Any = object()  # a field checker's "ask pydantic"
Check = Callable[[Any], Any]  # a value -> the validated value, or _UNSURE


def Field(default: Any = _REQUIRED, **kwargs: Any) -> Any:  # noqa: N802 - pydantic's name
    """pydantic's `Field(default, ge=, gt=, le=, lt=, ...)`, recorded until pydantic needs it
    (typed Any, as pydantic's is, so that `out: int = Field(ge=1)` type-checks)."""
    return FieldSpec(default, **kwargs)


def is_validation_error(exc: BaseException) -> TypeGuard[ValidationError]:
    """Whether `exc` is pydantic's ValidationError, which `Args.model_validate` raises (pydantic
    is imported by then: only a failed validation asks it)."""
    from pydantic import ValidationError

    return isinstance(exc, ValidationError)


class FieldSpec:
    """One `Field(...)`: the default and pydantic's keyword arguments."""

    def __init__(self, default: Any = _REQUIRED, **kwargs: Any) -> None:
        self.default, self.kwargs = default, kwargs

    def pydantic(self) -> Any:
        from pydantic import Field as PydanticField

        return PydanticField(*(() if self.default is _REQUIRED else (self.default,)),
                             **self.kwargs)


class PlainValidator:
    """pydantic's `PlainValidator(fn)`: `fn` is the whole validation of the field."""

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func

    def pydantic(self) -> Any:
        from pydantic import PlainValidator as PydanticPlainValidator

        return PydanticPlainValidator(self.func)


A = TypeVar("A", bound="Args")
_DECLARABLE = (FieldSpec, NoneType, int, float, str, bool, tuple)  # else (pydantic's): its own


class BeforeValidator(PlainValidator):
    """pydantic's `BeforeValidator(fn)`: `fn` maps the value before the type is checked."""

    def pydantic(self) -> Any:
        from pydantic import BeforeValidator as PydanticBeforeValidator

        return PydanticBeforeValidator(self.func)


class AfterValidator(PlainValidator):
    """pydantic's `AfterValidator(fn)`: `fn` checks (or maps) the value of the right type."""

    def pydantic(self) -> Any:
        from pydantic import AfterValidator as PydanticAfterValidator

        return PydanticAfterValidator(self.func)


class _Meta(type):
    @property
    def model_fields(cls) -> dict[str, Any]:
        """pydantic's fields of the model (its FieldInfo records)."""
        return cls.pydantic_model().model_fields  # type: ignore[attr-defined]


class Args(metaclass=_Meta):
    """Base of every argument schema: strict types, finite numbers (a NaN or inf argument
    would build a model computing NaN), no unknown fields, immutable. Instances hold one
    attribute per field, compare and hash by value, and answer pydantic's `model_dump` and
    `model_copy`."""

    # pydantic's model_config of the schema
    schema_config: ClassVar[dict[str, Any]] = {"strict": True, "extra": "forbid", "frozen": True,
                                               "allow_inf_nan": False}
    field_names: ClassVar[tuple[str, ...]] = ()  # in positional order
    _defaults: ClassVar[dict[str, Any]] = {}
    _checks: ClassVar[dict[str, Check] | None] = None  # None: not made yet; {} with _pyd_only
    _pyd_only: ClassVar[bool] = False
    _pyd: ClassVar[Any] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = dict.fromkeys(cls.field_names)
        names.update(dict.fromkeys(cls.__dict__.get("__annotations__", {})))
        cls.field_names = tuple(n for n in names if not n.startswith("_"))
        cls._defaults = {n: _default(cls, n) for n in cls.field_names}
        cls._checks, cls._pyd = None, None
        cls._pyd_only = cls._pyd_only or bool(_pydantic_extras(cls)) or any(
            not isinstance(cls.__dict__[n], _DECLARABLE)
            for n in cls.field_names if n in cls.__dict__)

    def __init__(self, **data: Any) -> None:
        """Validated, as pydantic's `Model(**data)` is."""
        self.__dict__.update(self.model_validate(data).__dict__)

    @classmethod
    def _made(cls: type[A], values: dict[str, Any]) -> A:
        """An instance holding `values` (validated already), in the fields' order."""
        made = object.__new__(cls)
        made.__dict__.update(values)
        return made

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *self.__dict__.values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"

    @classmethod
    def model_validate(cls: type[A], data: Mapping[str, Any]) -> A:
        """The validated arguments; a pydantic ValidationError, worded by pydantic, if wrong."""
        values = cls._fast(data)
        if values is None:
            model = cls.pydantic_model().model_validate(dict(data))
            values = {n: getattr(model, n) for n in cls.field_names}
        return cls._made(values)

    @classmethod
    def field_default(cls, name: str) -> Any:
        """The default of field `name` (pydantic's PydanticUndefined if it has none)."""
        default = cls._defaults[name]
        if default is _REQUIRED:
            from pydantic_core import PydanticUndefined

            return PydanticUndefined
        return default

    @classmethod
    def accepts(cls, name: str, value: Any) -> bool:
        """True if field `name` surely accepts `value` (False: maybe not; ask pydantic)."""
        checks = cls._field_checks()
        return name in checks and checks[name](value) is not _UNSURE

    @classmethod
    def valid_apart(cls, data: Mapping[str, Any], unknown: Collection[str]) -> bool:
        """True if `data` is surely valid but for the fields named in `unknown`, which it
        lacks (their values are not known yet): pydantic would find no error in the others."""
        return cls._fast(data, unknown) is not None

    @classmethod
    def _fast(cls, data: Mapping[str, Any], unknown: Collection[str] = ()
              ) -> dict[str, Any] | None:
        """The values of a surely valid `data` (the fields in `unknown` may be missing), else
        None."""
        checks = cls._field_checks()
        if cls._pyd_only or not data.keys() <= checks.keys():
            return None
        out = {}
        for name, default in cls._defaults.items():
            if name in data:
                value = checks[name](data[name])
                if value is _UNSURE:
                    return None
            elif default is _REQUIRED:
                if name in unknown:
                    continue
                return None
            else:
                value = default
            out[name] = value
        return out

    @classmethod
    def _field_checks(cls) -> dict[str, Check]:
        if cls._checks is None:
            cls._checks = {} if cls._pyd_only else _make_checks(cls)
            if cls._checks is None:
                cls._pyd_only, cls._checks = True, {}
        return cls._checks

    @classmethod
    def pydantic_model(cls) -> Any:
        """The pydantic model of this schema (built on first use): its source of truth for
        descriptions (`model_fields`, JSON schema) and for the wording of every error."""
        if cls.__dict__.get("_pyd") is None:
            cls._pyd = _pydantic_model(cls)
        return cls._pyd

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        return self.pydantic_model().model_construct(**self.__dict__).model_dump(**kwargs)

    def model_copy(self: A, update: Mapping[str, Any] | None = None) -> A:
        return self._made({**self.__dict__, **(update or {})})  # unvalidated, as pydantic's


def _default(cls: type, name: str) -> Any:
    value = getattr(cls, name, _REQUIRED)
    return value.default if isinstance(value, FieldSpec) else value


def _hints(cls: type) -> dict[str, Any] | None:
    """The fields' annotations, each resolved in the module declaring it (None if one cannot
    be: left to pydantic)."""
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if not issubclass(klass, Args) or klass is Args:
            continue
        names = vars(sys.modules[klass.__module__])
        for name, hint in klass.__dict__.get("__annotations__", {}).items():
            try:
                hints[name] = eval(hint, names) if isinstance(hint, str) else hint  # noqa: S307
            except Exception:  # noqa: BLE001 - a name pydantic resolves otherwise
                return None
    return hints


def _make_checks(cls: type[Args]) -> dict[str, Check] | None:
    hints = _hints(cls)
    if hints is None:
        return None
    checks = {}
    for name in cls.field_names:
        spec = _inherited(cls, name)
        limits = spec.kwargs if isinstance(spec, FieldSpec) else {}
        if not limits.keys() <= _KNOWN_KEYWORDS:
            return None
        check = _check(hints[name], {k: v for k, v in limits.items() if k in _BOUNDS})
        if check is None:
            return None
        checks[name] = check
    return checks


# what the checker reads of a Field: its bounds; a description is the docs'; a number it
# requires finite in any case (allow_inf_nan=True: a non-finite value is left to pydantic)
_KNOWN_KEYWORDS = {"ge", "gt", "le", "lt", "description", "allow_inf_nan"}


def _inherited(cls: type, name: str) -> Any:
    """What `cls` or a base declares as field `name`'s value (_REQUIRED: nothing)."""
    return next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), _REQUIRED)


def _check(hint: Any, limits: dict[str, Any]) -> Check | None:
    """A checker of one annotation, or None if it is not one this module knows."""
    if typing.get_origin(hint) is typing.Annotated:
        return _annotated(hint.__origin__, hint.__metadata__, limits)
    if typing.get_origin(hint) in (UnionType, typing.Union):
        options = typing.get_args(hint)
        if len(options) != 2 or NoneType not in options:
            return None
        inner = _check(next(o for o in options if o is not NoneType), limits)
        return None if inner is None else (lambda v: v if v is None else inner(v))
    if typing.get_origin(hint) is typing.Literal and not limits:
        choices = frozenset(typing.get_args(hint))
        if not all(type(c) is str for c in choices):
            return None
        return lambda v: v if type(v) is str and v in choices else _UNSURE
    if hint == list[float] and not limits:
        return _float_list
    if hint == tuple[int, ...] and not limits:
        return lambda v: v if type(v) is tuple and all(type(x) is int for x in v) else _UNSURE
    if hint in (int, float) and limits:
        return _bounded(_SCALARS[hint], limits)
    return _SCALARS.get(hint)


def _annotated(inner: Any, extras: tuple[Any, ...], limits: dict[str, Any]) -> Check | None:
    """`Annotated[T, PlainValidator(f)]`: f alone; `Annotated[T, BeforeValidator(b), ...,
    AfterValidator(a)]`: b, T's check, then a."""
    if any(type(e) is PlainValidator for e in extras):
        return _plain(extras[0].func) if len(extras) == 1 and not limits else None
    if not all(isinstance(e, (BeforeValidator, AfterValidator)) for e in extras):
        return None
    check = _check(inner, limits)
    if check is None:
        return None
    steps = [_plain(e.func) for e in extras if type(e) is BeforeValidator]
    steps += [check] + [_plain(e.func) for e in extras if type(e) is AfterValidator]

    def run(v: Any) -> Any:
        for step in steps:
            v = step(v)
            if v is _UNSURE:
                return v
        return v
    return run


def _float_list(v: Any) -> Any:
    if type(v) is not list:
        return _UNSURE
    out = [_float(x) for x in v]
    return _UNSURE if any(x is _UNSURE for x in out) else out


def _plain(func: Callable[[Any], Any]) -> Check:
    def check(v: Any) -> Any:
        try:
            return func(v)
        except Exception:  # noqa: BLE001 - pydantic words the error
            return _UNSURE
    return check


def _float(v: Any) -> Any:
    if type(v) is float:
        return v if math.isfinite(v) else _UNSURE
    return float(v) if type(v) is int else _UNSURE


_SCALARS: dict[Any, Check] = {
    int: lambda v: v if type(v) is int else _UNSURE, float: _float,
    bool: lambda v: v if type(v) is bool else _UNSURE,
    str: lambda v: v if type(v) is str else _UNSURE,
}
_BOUNDS: dict[str, Callable[[Any, Any], bool]] = {
    "ge": lambda v, b: v >= b, "gt": lambda v, b: v > b,
    "le": lambda v, b: v <= b, "lt": lambda v, b: v < b,
}


def _bounded(base: Check, limits: dict[str, Any]) -> Check:
    tests = [(_BOUNDS[k], b) for k, b in limits.items()]

    def check(v: Any) -> Any:
        v = base(v)
        if v is _UNSURE or not all(test(v, b) for test, b in tests):
            return _UNSURE
        return v
    return check


def _pydantic_model(cls: type[Args]) -> Any:
    """The pydantic model declared by `cls`'s annotations and fields, in its module."""
    from pydantic import BaseModel, ConfigDict, create_model

    hints = _hints(cls)
    if hints is None:
        raise TypeError(f"{cls.__name__}: an annotation names what its module does not define")
    fields: dict[str, Any] = {}
    for name in cls.field_names:
        hint = _pydantic_hint(hints[name])
        spec = _inherited(cls, name)
        if isinstance(spec, FieldSpec):
            fields[name] = (hint, spec.pydantic())
        else:
            fields[name] = (hint, ...) if spec is _REQUIRED else (hint, spec)
    extras = _pydantic_extras(cls)
    config = ConfigDict(**{**cls.schema_config, **extras.pop("model_config", {})})  # type: ignore[typeddict-item]
    base = type(f"{cls.__name__}Base", (BaseModel,), {"model_config": config,
                                                      "__module__": cls.__module__})
    return create_model(cls.__name__, __base__=base, __module__=cls.__module__,
                        __validators__=extras, **fields)


def _pydantic_extras(cls: type) -> dict[str, Any]:
    """What a schema declares in pydantic's own terms (a plugin's `model_config`, its
    `@field_validator`s): kept for its pydantic model, which then validates every call."""
    extras: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, value in klass.__dict__.items():
            if name == "model_config" or type(value).__module__.startswith("pydantic"):
                extras[name] = {**extras.get(name, {}), **value} if name == "model_config" \
                    else value
    return extras


def _pydantic_hint(hint: Any) -> Any:
    if typing.get_origin(hint) is typing.Annotated:
        extras = tuple(e.pydantic() if isinstance(e, PlainValidator) else e
                       for e in hint.__metadata__)
        return typing.Annotated.__class_getitem__((hint.__origin__, *extras))
    return hint
