"""Language server, inlay hints: the shape after each line of layers (`→ 128x28x28`, after
the line's last layer call) and after each block call or repetition, with the block's
parameter count. A statement inside a block runs once per call, so it shows each distinct
shape it produced (`→ 64x56x56 | 128x28x28 | …`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from lsprotocol import types

from archc.core import graph
from archc.front import tree
from archc.lsp.analysis import Analysis, LineMap
from archc.lsp.convert import Locator
from archc.registry.ops import REGISTRY, fmt_shape

MAX_SHOWN = 3  # distinct shapes shown beside one statement


@dataclass
class Hint:
    line: int  # 0-based, in the analysed text
    col: int
    label: str
    tooltip: str


def hints(a: Analysis, lines: tuple[int, int] | None = None) -> list[Hint]:
    """Every hint of an analysis, in source order; with `lines` (0-based, inclusive, in
    `a.text`), at least those on these lines: the definitions wholly outside them are passed
    over (an editor asks for the visible lines). Each definition's hints are remembered
    (Analysis.shown) where no other definition has a statement on its lines."""
    if a.module is None:
        return []
    extents = [(d, _extent(d, a)) for d in a.module.definitions]
    shown = [d for d, (first, last) in extents
             if lines is None or first - 1 <= lines[1] and last - 1 >= lines[0]]
    ordered = sorted(extents, key=lambda x: x[1])
    if any(x[1][1] >= y[1][0] for x, y in itertools.pairwise(ordered)):  # sharing a line
        return _hints(shown, a)
    wanted = set(map(id, shown))  # each definition's hints in order: all of them in order
    return [h for d, _ in ordered if id(d) in wanted for h in a.shown(d, partial(_hints, [d], a))]


def _hints(shown: list[tree.Definition], a: Analysis) -> list[Hint]:
    """The hints of some definitions."""
    found: list[tuple[tree.Stmt, bool]] = []  # (statement, is a block call or repetition)
    for d in shown:
        found.extend(_candidates(a.statements(d), a))
    last: dict[int, int] = {}  # line -> the end column of the last statement ending there
    for st, _ in found:
        last[st.span.end_line] = max(last.get(st.span.end_line, 0), st.span.end_col)
    out = []
    for st, always in found:
        if always or last[st.span.end_line] == st.span.end_col:
            text = a.derived(st, partial(_hint, st, a))  # (no line in it: see archc/lsp/shift.py)
            if text is not None:
                out.append(Hint(st.span.end_line - 1, st.span.end_col - 1, *text))
    return sorted(out + _input_hints(a, shown), key=lambda h: (h.line, h.col))


def _extent(d: tree.Definition, a: Analysis) -> tuple[int, int]:
    """A definition's first and last line (1-based): its name's, its last statement's end."""
    ends = [st.span.end_line for st in (*a.statements(d), *d.body) if st.span.end_line]
    return d.span.line, max(ends, default=d.span.line)


def _input_hints(a: Analysis, shown: list[tree.Definition]) -> list[Hint]:
    """`input mask (1, size, size) → 1x64x64`: each named input's shape, as the network was
    expanded (its expressions evaluated, --input applied)."""
    out = []
    for d in shown:
        net = a.networks.get(d.name)
        if d.kind != "network" or net is None:
            continue
        for st in d.body:
            if isinstance(st, tree.Input) and st.name in net.inputs:
                shape = fmt_shape(net.inputs[st.name])
                out.append(Hint(st.span.end_line - 1, st.span.end_col - 1, "→ " + shape,
                                f"input {st.name}: N x {shape}; forward takes it by position "
                                f"or as {st.name}="))
    return out


def _candidates(statements: tuple[tree.Stmt, ...], a: Analysis
                ) -> Iterator[tuple[tree.Stmt, bool]]:
    repeated = set()
    for st in statements:
        if isinstance(st, tree.Repeat) and a.nodes(st.span):
            repeated.add(id(st.unit))  # the repetition's hint stands for its unit's
            yield st, True
        elif isinstance(st, tree.Call) and id(st) not in repeated and st.span.end_line:
            yield st, st.name in a.program.blocks and st.name not in REGISTRY
        elif isinstance(st, tree.Wire):  # `output out → 21x520x520`, `from low → 40x65x65`
            yield st, True


def _hint(st: tree.Stmt, a: Analysis) -> tuple[str, str] | None:
    """The label and tooltip of a statement's hint."""
    made = [(q, n) for q, n in a.nodes(st.span) if n.out_shape is not None]
    if not made:
        return None
    shapes = _distinct(fmt_shape(n.out_shape) for _, n in made)
    label = "→ " + _some(shapes)
    if any(isinstance(n, graph.Scope) for _, n in made):
        params = _distinct(f"{c.params:,}" for _, n in made if (c := a.counts(n)))
        label += f" · {_some(params)} params" if params else ""
    tooltip = "\n".join(f"{q or a.path}: {fmt_shape(n.in_shape)} → {fmt_shape(n.out_shape)}"
                        for q, n in made[:20])
    return label, tooltip


def _some(items: list[str]) -> str:
    return " | ".join(items[:MAX_SHOWN]) + (" | …" if len(items) > MAX_SHOWN else "")


def _distinct(items: Iterator[str]) -> list[str]:
    return list(dict.fromkeys(items))


def inlay_hints(a: Analysis, text: str, lines: tuple[int, int], loc: Locator,
                path: str) -> list[types.InlayHint]:
    """The hints of `a` placed on `text` (the document now; `a` may be an older analysis
    whose lines are mapped onto it), for the lines in `lines` (0-based, inclusive)."""
    mapping = LineMap(a.text, text)
    out = []
    whole = not mapping.identity or lines[0] <= 0 and lines[1] >= text.count("\n")
    for h in hints(a, None if whole else lines):
        line = mapping.new_line(h.line)
        if line is None or not lines[0] <= line <= lines[1]:
            continue
        out.append(types.InlayHint(loc.position(path, line, h.col), h.label,
                                   kind=types.InlayHintKind.Type, padding_left=True,
                                   tooltip=h.tooltip))
    return out
