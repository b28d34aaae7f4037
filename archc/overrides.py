"""--set and --input as the driver takes them: network parameter overrides and an input shape,
parsed from their text (the command line, a training run's record). No stage of its own: a
leaf that commands, runs and the Python API share."""

from __future__ import annotations

import math
from typing import Any

from .errors import UsageError
from .limits import MAX_DIM


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


def parse_input(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        dims = ()
    if len(dims) not in (1, 2, 3) or min(dims) < 1:
        raise UsageError(f"--input expects CxHxW (like 1x224x224), NxD (N tokens of D "
                         f"features, like 196x768) or F, got '{text}'")
    if max(dims) > MAX_DIM:
        raise UsageError(f"--input {text}: each size must be at most {MAX_DIM}")
    return dims
