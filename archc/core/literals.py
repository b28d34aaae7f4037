"""Python literals of values: how an op's arguments are written as source (`Source.text` in
archc/registry/ops.py, the exporter in archc/emit/). A leaf: no stage of its own."""

from __future__ import annotations

import json
from typing import Any


def literal(value: Any) -> str:
    """A value as Python source: True, None, 3, 1e-05, "text", (1, 1)."""
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):  # ruff's quotes: double, unless that needs more escapes
        text = json.dumps(value, ensure_ascii=False)
        if '"' in value and "'" not in value and "\\" not in value:
            return f"'{value}'"
        return text
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    raise TypeError(f"no source literal for {type(value).__name__} {value!r}")
