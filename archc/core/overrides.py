"""--set and --input as the driver takes them: network parameter overrides and an input shape,
parsed from their text (the command line, a training run's record). No stage of its own: a
leaf that commands, runs and the Python API share."""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral
from typing import Any

from archc.core.errors import UsageError
from archc.core.limits import MAX_DIM


def parse_value(text: str) -> Any:
    """A --set value: integer, number, true/false, or a string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:  # also an integer of more than 4,300 digits
            continue
        if value != value or value in (math.inf, -math.inf):
            raise UsageError(f"--set: '{text}' is not a finite number")
        return value
    return text


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got '{item}'")
        out[key.strip()] = parse_value(value.strip())
    return out


def parse_input(text: str | None) -> tuple[int, ...] | dict[str, tuple[int, ...]] | None:
    """--input: one shape (`3x224x224`), or named inputs' (`image=3x64x64,mask=1x64x64`, as
    repeated `--input NAME=SHAPE` options are joined)."""
    if text is None:
        return None
    if "=" not in text:
        return _one_shape(text, text)
    named: dict[str, tuple[int, ...]] = {}
    for item in text.split(","):
        name, sep, shape = (part.strip() for part in item.partition("="))
        if not sep or not name.isidentifier():
            raise UsageError(f"--input expects SHAPE or NAME=SHAPE (like mask=1x224x224), got "
                             f"'{item}'")
        if name in named:
            raise UsageError(f"--input {name}=...: given twice; give each input once")
        named[name] = _one_shape(shape, item)
    return named


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """--input of a command that takes one unnamed shape (a torch module's input)."""
    if text is not None and "=" in text:
        raise UsageError(f"--input {text}: this command takes one shape (like 3x224x224), not "
                         "NAME=SHAPE")
    return None if text is None else _one_shape(text, text)


def _one_shape(text: str, whole: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        dims = ()
    if len(dims) not in (1, 2, 3, 4) or min(dims) < 1:
        raise UsageError(f"--input expects CxHxW (like 1x224x224), NxD (N tokens of D "
                         f"features, like 196x768), CxL (a signal, like 1x16000), CxTxHxW (a "
                         f"clip, like 3x16x112x112) or F, got '{whole}'")
    if max(dims) > MAX_DIM:
        raise UsageError(f"--input {whole}: each size must be at most {MAX_DIM}")
    return dims


def input_shape_arg(value: Any) -> tuple[int, ...] | dict[str, tuple[int, ...]] | None:
    """The Python API's `input_shape`, held to --input's rules: a shape (a tuple or list of
    1 to 4 positive integers, or the text `3x224x224`), or a mapping of input names to shapes;
    anything else is a UsageError (a zero or negative size would build a wrong model)."""
    if value is None or isinstance(value, str):
        return parse_input(value)
    if isinstance(value, Mapping):
        return {str(k): _shape_arg(v, f"{k}=") for k, v in value.items()}
    return _shape_arg(value, "")


def _shape_arg(value: Any, name: str) -> tuple[int, ...]:
    if isinstance(value, str):
        return _one_shape(value, name + value)
    dims = tuple(value) if isinstance(value, (tuple, list)) else ()
    if not dims or not all(isinstance(d, Integral) and not isinstance(d, bool) for d in dims):
        raise UsageError(f"input_shape {name}{value!r}: expects a tuple of 1 to 4 positive "
                         "integers, like (3, 224, 224)")
    return _one_shape("x".join(str(int(d)) for d in dims), f"{name}{value!r}")
