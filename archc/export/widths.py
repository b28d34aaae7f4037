"""Stage 3 helper for archc/export/running.py: a block call's output width as an expression of
its own arguments, where no argument states it (SqueezeNet's `Fire`: `e1 + e3`, an Inception
block's branch sum `c1 + c3 + c5 + pool`, a bottleneck's `4 * c`, a dense block's `in_channels
+ 4 * growth`). First as the block's definition says it (archc/export/derive.py, held at every
instance and probe); where that gives up, a form fitted to every instance of the block's
class, the exporter's probes included (they move each number by one), and taken only where it
is the one form of its kind that fits and each name it reads took two values or more: shown at
arguments the exported network never passes, not guessed from one call. Each call records
which way it took (`TCall.width_by`, counted by bench/export_readability.py)."""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Iterator
from itertools import combinations
from math import comb
from typing import Any

from archc.export.conditions import python_text
from archc.export.derive import INPUT
from archc.export.unify import TCall

# (its text over the arguments it reads, {0} {1} ...; their names; its value at arguments)
Value = Callable[[dict[str, Any]], Any]
Form = tuple[str, tuple[str, ...], Value]
FACTORS = range(2, 9)
INPUTS = ("in_channels", "in_features")  # the names a class's input width takes
HOLDER = re.compile(r"\b__w(?:\d+|in)\b")  # a derived width's stand-in for an argument


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
    if k >= 3 and k * comb(k - 1, 2) <= MAX_FORMS:  # (three names of k: none below three)
        yield [("{0} + {1} * {2}", (p, q, r), _grown(p, q, r))
               for p in names for q, r in combinations([n for n in names if n != p], 2)]


def _linear(terms: dict[str, int], constant: int = 0) -> Value:
    return lambda v: constant + sum(k * v[p] for p, k in terms.items())


def _grown(p: str, q: str, r: str) -> Value:
    return lambda v: v[p] + v[q] * v[r]


def output_width(call: TCall) -> str:
    """The width after `call` written over its arguments' texts (`c + 4 * 32`), or "" (also
    where it is the width entering the call: nothing to update)."""
    text = derived_width(call)
    if text is not None:
        call.width_by = "derived" if text else ""
        return text
    text = fitted_width(call)
    call.width_by = "fitted" if text else ""
    return text


def derived_width(call: TCall) -> str | None:
    """The callee's derived width with the call's argument texts put in for its parameters
    and its input width; None where there is none or it reads a value the call does not
    pass (a parameter the class has not, or one left to its default)."""
    cls = call.cls
    width = cls.width if cls is not None else None
    if width is None:
        return None
    given = next((n for n in INPUTS if n in call.args), None)
    holders: dict[str, str] = {}
    names = {spec: holders.setdefault(py, f"__w{len(holders)}")
             for spec, py in cls.spec_names.items()} | {INPUT: "__win"}
    text = python_text(width, names, "__win")
    if text is None:
        return None
    texts = {h: call.args[py].expr if py in call.args else "" for py, h in holders.items()}
    texts["__win"] = call.args[given].expr if given is not None else ""
    used = set(HOLDER.findall(text))
    if any(not texts[h] for h in used):
        return None
    if text == "__win":
        return ""
    return folded(HOLDER.sub(lambda m: _atom(texts[m[0]]), text))


def folded(text: str) -> str:
    """`text` with the tests its arguments decide taken (`128 if 2 > 0 else c`: a stage of
    2 blocks is `128`; `(6 if depth == 50 else 23) > 0` holds either way); sums and products
    stay as written. Unchanged where nothing folds or it holds a string."""
    if "'" in text or '"' in text:
        return text
    tree = ast.parse(text, mode="eval")
    done = _Fold().visit(tree)
    return ast.unparse(done) if ast.dump(done) != ast.dump(ast.parse(text, mode="eval")) \
        else text


class _Fold(ast.NodeTransformer):
    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.test, ast.Constant):
            return node.body if node.test.value else node.orelse
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        compare = _COMPARE.get(type(node.ops[0])) if len(node.ops) == 1 else None
        right = _constants(node.comparators[0])
        left = _constants(node.left)
        if compare is None or len(right) != 1 or not left:
            return node
        found = {compare(v, right[0]) for v in left}
        return ast.Constant(found.pop()) if len(found) == 1 else node


_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Eq: operator.eq, ast.NotEq: operator.ne}


def _constants(node: ast.AST) -> list[Any]:
    """The values a constant, or a conditional of constants, may take; [] otherwise."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return [node.value]
    if isinstance(node, ast.IfExp):
        a, b = _constants(node.body), _constants(node.orelse)
        return a + b if a and b else []
    return []


def fitted_width(call: TCall) -> str:
    """A form fitted to the callee's instances (`_forms`), or ""."""
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
