"""Part of expansion: a call's arguments validated against its op's schema (archc/registry/ops.py).
Where some values are Unknown (a block checked without a call, archc/expansion/definitions.py), the
others are validated alone, and an Unknown whose type is certain is tried against the field's type:
an error is reported only if it would be an error whatever the unknown values turn out to be."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from archc.core import codes
from archc.core.errors import ArchcError, ArgumentError, Span
from archc.core.schema import is_validation_error
from archc.expansion.messages import op_signature, pydantic_message, slash_hint
from archc.front import tree
from archc.front.evaluate import Unknown, is_unknown, type_name
from archc.registry.ops import Args, Op

Bound = Mapping[str, tuple[Any, Span]]

# Values of each certain type, one of which every field accepting that type accepts.
_PROBES: dict[type, tuple[Any, ...]] = {
    int: (1, 0, 2, 3, 7, 64, -1, 1000), float: (0.5, 0.1, 1e-5, 1.5, 10.0, -0.5),
    bool: (True, False),
}
_TYPE_ERRORS = {"int_type", "int_from_float", "bool_type", "float_type", "string_type",
                "literal_error"}


def validate(op: Op, bound: Bound, call: tree.Call) -> tuple[Args | None, list[ArchcError]]:
    """The validated arguments (None if any is unknown or wrong) and the errors found."""
    values = {k: v for k, (v, _) in bound.items()}
    key = _key(op.args, values)
    if key is not None and (valid := _VALID.get(key)) is not None:
        return valid, []
    unknown = {k for k, v in values.items() if is_unknown(v)}
    known = {k: v for k, v in values.items() if k not in unknown}
    args, failures = _validated(op, known, unknown)
    errors = [_error(op, e, bound, call) for e in failures]
    errors += [err for name in sorted(unknown) if (err := _kind_error(
        op, name, values[name], bound[name][1], argument_expr(op, call, name))) is not None]
    if unknown or errors:
        return None, errors
    if key is not None and args is not None:
        if len(_VALID) >= _MAX_VALID:
            _VALID.clear()
        _VALID[key] = args
    return args, errors


# Valid arguments by schema and values (with their types: `true` is not `1`): a network
# validates the same few hundred argument sets thousands of times (the bundled specs: 6,118
# layers, 631 distinct), and `Args` are immutable values, so one instance serves them all.
_VALID: dict[Hashable, Args] = {}
_MAX_VALID = 4096


def _key(schema: type[Args], values: Mapping[str, Any]) -> Hashable | None:
    """What validating `values` against `schema` depends on; None if a value is not a plain
    constant (an Unknown, a list): then it is validated afresh."""
    items = []
    for name, value in values.items():
        typed = _typed(value)
        if typed is None:
            return None
        items.append((name, typed))
    return schema, frozenset(items)


def _typed(value: Any) -> Hashable | None:
    if type(value) in _CONSTANTS:
        return type(value), value
    if type(value) is tuple:
        parts = tuple(_typed(v) for v in value)
        return None if None in parts else (tuple, parts)
    return None


_CONSTANTS = frozenset({int, float, bool, str, type(None)})


def _validated(op: Op, known: dict[str, Any], unknown: set[str]) -> tuple[Args | None, list[Any]]:
    """The arguments `known` validated, and pydantic's errors of them (those of the fields in
    `unknown`, which `known` lacks, left out); pydantic is asked only where the schema's own
    checker (archc/core/schema.py) is unsure."""
    if unknown and op.args.valid_apart(known, unknown):
        return None, []
    try:
        return op.args.model_validate(known), []
    except Exception as exc:  # pydantic's ValidationError: pydantic is imported only then
        if not is_validation_error(exc):
            raise
        return None, [e for e in exc.errors(include_url=False)
                      if not (unknown and (not e["loc"] or e["loc"][0] in unknown))]



def _error(op: Op, err: Any, bound: Bound, call: tree.Call) -> ArchcError:
    field = str(err["loc"][0]) if err["loc"] else None
    span = bound[field][1] if field is not None and field in bound else call.span
    message, code = pydantic_message(op.name, err)
    hint = op_signature(op)
    if err["type"] in ("int_type", "int_from_float") and isinstance(err.get("input"), float):
        hint = slash_hint(argument_expr(op, call, field)) or hint
    return ArgumentError(message, span, hint, code=code)


def argument_expr(op: Op, call: tree.Call, field: str | None) -> tree.Expr | None:
    """The expression written for argument `field` of `call`, if any."""
    for name, expr in zip(op.arg_names, call.args, strict=False):
        if name == field:
            return expr
    return next((kw.value for kw in call.kwargs if kw.name == field), None)


def _is_type_error(err: Any) -> bool:
    """A failure of the value's type (not of its range)."""
    if err["type"] == "archc_pair":  # ops._pair_check words its bounds `must be >= 1, ...`
        return not err["msg"].startswith(("must be >=", "must be <="))
    return err["type"] in _TYPE_ERRORS


def _kind_error(op: Op, name: str, value: Any, span: Span,
                expr: tree.Expr | None) -> ArchcError | None:
    """An Unknown of certain type that no value of that type would make valid: `linear(c / 2)`
    is a number whatever `c` is. None when some probe passes, or the type is not certain."""
    if not isinstance(value, Unknown) or value.kind not in _PROBES:
        return None
    if any(op.args.accepts(name, probe) for probe in _PROBES[value.kind]):
        return None  # surely valid for some value (pydantic, asked below, would agree)
    words = None
    for probe in _PROBES[value.kind]:
        try:
            op.args.model_validate({name: probe})
        except Exception as exc:
            if not is_validation_error(exc):
                raise
            mine = [e for e in exc.errors(include_url=False) if e["loc"][:1] == (name,)]
            if not mine:
                return None
            if not _is_type_error(mine[0]):
                return None  # a range: some other value may be in it
            words = words or pydantic_message(op.name, {**mine[0], "input": probe})[0]
        else:
            return None
    message = f"{words.rsplit(', got ', 1)[0]}, got {type_name(value)}" if words else ""
    hint = (slash_hint(expr) if value.kind is float else None) or op_signature(op)
    return ArgumentError(message, span, hint, code=codes.ARGUMENT_TYPE)
