"""Stage 3 guard: the memory a built model needs (float32 parameters, and the activations of one
sample), from the static counts, checked against MAX_MEMORY before torch allocates anything."""

from __future__ import annotations

import re

from archc.core import codes
from archc.core.errors import LimitError, Span, UsageError
from archc.core.graph import Layer, Network, nodes
from archc.core.limits import MAX_MEMORY
from archc.expansion.stats import count

FLOAT32 = 4  # bytes per element: what `build` makes


def fmt_bytes(n: float) -> str:
    """`12.6 TB`: powers of 1000, as `archc summary` prints them."""
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:.1f} {prefix}B"
    return f"{n:g} B"


_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40, "pi": 2**50}


def parse_size(text: str, flag: str = "--max-memory") -> int:
    """`64GB`, `1.5 TB`, `512MiB` or a number of bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtp]i?)?b?\s*", text.lower())
    if m is None or len(m[1]) > 20:
        raise UsageError(f"{flag}: expected a size like 64GB or 512MiB, got '{text}'")
    return int(float(m[1]) * _UNITS[m[2] or ""])


def require(net: Network, limit: int = MAX_MEMORY) -> None:
    """Raise a LimitError, at the layer that needs the most, if the float32 parameters or one
    sample's activations of `net` take more than `limit` bytes."""
    total = count(net.root)
    for what, elements, key in (("parameters", total.params, "params"),
                                ("activations for one sample", total.activations, "activations")):
        if elements * FLOAT32 <= limit:
            continue
        layers = [n for n in nodes(net.root.items) if isinstance(n, Layer)]
        biggest = max(layers, key=lambda n: getattr(count(n), key), default=None)
        span: Span | None = biggest.span if biggest else net.root.span
        share = "" if biggest is None else \
            f"; this {biggest.op} alone needs {fmt_bytes(getattr(count(biggest), key) * FLOAT32)}"
        raise LimitError(
            f"network '{net.name}' needs {fmt_bytes(elements * FLOAT32)} for its {what} "
            f"(float32){share}; building is limited to {fmt_bytes(limit)}", span,
            "make the layers smaller, or raise the limit with --max-memory SIZE (e.g. "
            f"--max-memory {fmt_bytes(elements * FLOAT32 * 1.01).replace(' ', '')})",
            code=codes.TOO_BIG)
