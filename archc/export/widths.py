"""Stage 3 helper for archc/export/running.py: a block call's output width as an expression of
its own arguments, where no argument states it (SqueezeNet's `Fire`: `e1 + e3`, an Inception
block's branch sum `c1 + c3 + c5 + pool`, a bottleneck's `4 * c`, a dense block's `in_channels
+ 4 * growth`). The form is fitted to every instance of the block's class, the exporter's
probes included (they move each number by one), and taken only where it is the one form of
its kind that fits and each name it reads took two values or more: shown at arguments the
exported network never passes, not guessed from one call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import combinations
from math import comb
from typing import Any

from archc.export.unify import TCall

# (its text over the arguments it reads, {0} {1} ...; their names; its value at arguments)
Value = Callable[[dict[str, Any]], Any]
Form = tuple[str, tuple[str, ...], Value]
FACTORS = range(2, 9)


MAX_FORMS = 2048  # forms of one kind tried at most: a block of many parameters (a sum of
# any n of 22 is 705,432 forms for n = 11) skips the kinds it would make that many of


def _forms(names: list[str], first: dict[str, Any], width: int) -> Iterator[list[Form]]:
    """Candidate forms, simplest first, one list per kind (a kind is taken where exactly one
    of its forms fits); `first`, `width`: one instance, for a form's constant."""
    k = len(names)
    yield [(f"{f} * {{0}}", (p,), _linear({p: f})) for p in names for f in FACTORS]
    for n in range(2, k + 1):
        if comb(k, n) <= MAX_FORMS:
            yield [(" + ".join(f"{{{i}}}" for i in range(n)), ps,
                    _linear(dict.fromkeys(ps, 1))) for ps in combinations(names, n)]
    # a fixed part and a parameter (InceptionA: `224 + pool_features`)
    yield [(f"{width - first[p]} + {{0}}", (p,), _linear({p: 1}, width - first[p]))
           for p in names if width > first[p]]
    if k * (k - 1) * len(FACTORS) <= MAX_FORMS:
        yield [(f"{{0}} + {f} * {{1}}", (p, q), _linear({p: 1, q: f}))
               for p in names for q in names if p != q for f in FACTORS]
    if k * comb(k - 1, 2) <= MAX_FORMS:
        yield [("{0} + {1} * {2}", (p, q, r), _grown(p, q, r))
               for p in names for q, r in combinations([n for n in names if n != p], 2)]


def _linear(terms: dict[str, int], constant: int = 0) -> Value:
    return lambda v: constant + sum(k * v[p] for p, k in terms.items())


def _grown(p: str, q: str, r: str) -> Value:
    return lambda v: v[p] + v[q] * v[r]


def output_width(call: TCall) -> str:
    """The width after `call` written over its arguments' texts (`c + 4 * 32`), or ""."""
    widths = call.cls.widths if call.cls is not None else []
    names = [n for n in call.args if call.args[n].expr and
             all(type(v.get(n)) is int for v, _ in widths)]
    if not widths or any(type(w) is not int for _, w in widths):
        return ""
    for kind in _forms(names, *widths[0]):
        fits = [f for f in kind if all(f[2](v) == w for v, w in widths)]
        if len(fits) > 1:
            return ""  # the instances do not tell two forms apart
        if fits:
            text, used, _ = fits[0]
            if any(len({v[p] for v, _ in widths}) < 2 for p in used):
                return ""
            return text.format(*(_atom(call.args[p].expr) for p in used))
    return ""


def _atom(text: str) -> str:
    return text if text.isidentifier() or text.isdigit() else f"({text})"
