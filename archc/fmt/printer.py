"""`archc fmt`, statements: prints the AST, one table entry per statement kind, taking layout
(where the author broke lines, blank lines, braces, bars, comments) from the parse's trivia."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Any

from archc.core.errors import Span
from archc.fmt.exprs import Exprs, label
from archc.fmt.lines import (
    INDENT,
    WIDTH,
    Line,
    comment_line,
    place_trailing,
    render,
    source_lines,
)
from archc.front import tree
from archc.front.syntax import OR
from archc.front.trivia import Comment, Pos, Trivia
from archc.registry.joins import lookup as join

Extent = tuple[Pos, Pos]  # a statement's first token start, its last token end
Part = tuple[str, Sequence, Pos, Pos]  # head before `{`, statements, the `{`, the `}`
END: Pos = (1 << 62, 0)

# A statement whose span starts after its keyword (`input 3`: at the shape): the keyword.
_KEYWORD: dict[type, Callable[[Any], str]] = {
    tree.Input: lambda _: "INPUT", tree.Expect: lambda _: "EXPECT", tree.Use: lambda _: "USE",
    tree.Requires: lambda _: "REQUIRES", tree.Definition: lambda d: d.kind.upper(),
}
_HEADS = (tree.Use, tree.Requires)  # the lines that open a file, a blank line after their run
_COMPOUND = (tree.Group, tree.Branches, tree.Cond, tree.Loop, tree.Recipe)


def _start(span: Span) -> Pos:
    return (span.line, span.col)


def _end(span: Span) -> Pos:
    return (span.end_line, span.end_col)


def _label(node: tree.Labelled) -> str:
    return label(node.label) + ": "


def _wire_name(name: str) -> str:
    """`output out`, or quoted where no NAME spells it: `output "0"`."""
    text = label(name)
    return text if not text.isdigit() else f'"{text}"'


def _is_run(node: Any) -> bool:
    """A layer call (labelled or repeated), `input` or `expect`: may share a line."""
    if isinstance(node, tree.Labelled):
        node = node.unit
    if isinstance(node, tree.Repeat):
        node = node.unit
    return isinstance(node, (tree.Call, tree.Input, tree.Expect, tree.Wire))


class Printer:
    """Prints one parsed file. Output lines (lines.Line) know the source lines they print;
    comments on lines of their own are printed where they sit among statements (or, between
    a `}` and the next `{` of an if/else chain, at the end of the body above), the others
    are placed at the end of the line printing the code before them (lines.place_trailing)."""

    def __init__(self, trivia: Trivia):
        self.t = trivia
        self.x = Exprs(trivia)
        self.at = [c.at for c in trivia.comments]
        self.own = [c for c in trivia.comments if c.own]
        self.own_at = [c.at for c in self.own]
        self.done: set[Pos] = set()  # comments printed on lines of their own

    def file(self, module: tree.Module) -> str:
        items = sorted([*module.uses, *module.requires, *module.definitions],
                       key=lambda n: self.start(n))
        lines = self.body(items, 0, (0, 0), END, top=True)
        rest = [c for c in self.t.comments if c.at not in self.done]
        return render(place_trailing(lines, rest))

    # -- where things are
    def start(self, node: Any) -> Pos:
        at = _start(node.span)
        keyword = _KEYWORD.get(type(node))
        if keyword is not None:
            i, kind = self.t.index(at) - 1, keyword(node)
            while self.t.kinds[i] != kind:  # a parsed statement has its keyword
                i -= 1
                if i < 0:
                    raise AssertionError(f"fmt: no {kind} before {type(node).__name__}")
            at = self.t.starts[i]
        return at

    def extents(self, items: Sequence, hi: Pos) -> list[Extent]:
        """Each statement runs from its first token to the last one before the next starts."""
        starts = [self.start(n) for n in items]
        nexts = [*starts[1:], hi][:len(starts)]
        return [(s, self.t.end_before(nxt)) for s, nxt in zip(starts, nexts, strict=True)]

    def braces(self, after: Pos) -> tuple[Pos, Pos]:
        """The first `{` at or after a position, and the `}` that closes it."""
        opener = self.t.first_after(after, "LBRACE")
        return opener, self.t.closer[opener]

    def own_between(self, lo: Pos, hi: Pos) -> list[Comment]:
        """Unprinted own-line comments strictly between two positions."""
        i, j = bisect.bisect_right(self.own_at, lo), bisect.bisect_left(self.own_at, hi)
        return [c for c in self.own[i:j] if c.at not in self.done]

    def comments_between(self, lo: Pos, hi: Pos) -> list[Comment]:
        i, j = bisect.bisect_right(self.at, lo), bisect.bisect_left(self.at, hi)
        return [c for c in self.t.comments[i:j] if c.at not in self.done]

    def has_comment_on(self, first: int, last: int) -> bool:
        i = bisect.bisect_left(self.at, (first, 0))
        return i < len(self.at) and self.at[i][0] <= last

    def blank_between(self, lo: int, hi: int) -> bool:
        return any(self.t.blank(n) for n in range(lo + 1, hi))

    # -- sequences
    def own_lines(self, out: list[Line], depth: int, lo: Pos, hi: Pos, prev_line: int,
                  sep: bool) -> int:
        """The own-line comments between two positions, each after a blank line where the
        source has one; returns the source line of the last."""
        for c in self.own_between(lo, hi):
            self.gap(out, prev_line, c.line, sep)
            out.append(comment_line(depth, c))
            self.done.add(c.at)
            prev_line, sep = c.line, False
        return prev_line

    def body(self, items: Sequence, depth: int, lo: Pos, hi: Pos,
             top: bool = False) -> list[Line]:
        """Statements between two positions (the braces, or bars), with the own-line comments
        among them. At the top level a blank line follows every definition that spans lines
        and a run of `use` lines."""
        out: list[Line] = []
        prev, prev_line, cur, tall = None, lo[0], lo, False

        def separated(node: Any) -> bool:
            return top and prev is not None and (
                (isinstance(prev, tree.Definition) and tall)
                or (isinstance(prev, _HEADS) and not isinstance(node, _HEADS)))

        for item, (s, e) in zip(items, self.extents(items, hi), strict=True):
            printed = len(out)
            line = self.own_lines(out, depth, cur, s, prev_line, separated(None))
            fresh = prev is not None and len(out) == printed  # nothing printed since `prev`
            if fresh and out[-1].run and _is_run(item) and prev_line == s[0]:
                text = self.simple(item)
                if out[-1].width() + 1 + len(text) <= WIDTH:
                    out[-1].text += " " + text
                    out[-1].tags |= source_lines(s[0], e[0])
                else:
                    out.append(Line(depth, text, source_lines(s[0], e[0]), run=True))
            else:
                self.gap(out, line, s[0], fresh and separated(item))
                lines = self.stmt(item, depth, (s, e))
                out.extend(lines)
                tall = len(lines) > 1
            prev, prev_line, cur = item, e[0], e
            out[-1].gap_after = separated(None)
        self.own_lines(out, depth, cur, hi, prev_line, separated(None))
        return out

    def gap(self, out: list[Line], lo: int, hi: int, force: bool = False) -> None:
        """A blank line, where the source has one (at most one, never first in a body)."""
        if out and out[-1].text and (force or self.blank_between(lo, hi)):
            out.append(Line(0, ""))

    # -- statements
    def stmt(self, node: Any, depth: int, ext: Extent) -> list[Line]:
        printer = _STMT.get(type(node))
        if printer is None:
            raise AssertionError(f"fmt: no printer for {type(node).__name__}")
        return printer(self, node, depth, ext)

    def _simple_stmt(self, node: Any, depth: int, ext: Extent) -> list[Line]:
        return [Line(depth, self.simple(node), source_lines(ext[0][0], ext[1][0]),
                     run=_is_run(node))]

    def simple(self, node: Any) -> str:
        """A statement that prints on one line."""
        printer = _SIMPLE.get(type(node))
        if printer is None:
            raise AssertionError(f"fmt: not a one-line statement: {type(node).__name__}")
        return printer(self, node)

    def _labelled(self, node: tree.Labelled, depth: int, ext: Extent) -> list[Line]:
        unit, prefix = node.unit, _label(node)
        if isinstance(unit, tree.Repeat) and isinstance(unit.unit, _COMPOUND):
            return self.compound(unit.unit, depth, prefix, " * " + self.x.count(unit.count),
                                 ext)
        if isinstance(unit, _COMPOUND):
            return self.compound(unit, depth, prefix, "", ext)
        return self._simple_stmt(node, depth, ext)

    def _repeat(self, node: tree.Repeat, depth: int, ext: Extent) -> list[Line]:
        if isinstance(node.unit, _COMPOUND):
            return self.compound(node.unit, depth, "", " * " + self.x.count(node.count), ext)
        return self._simple_stmt(node, depth, ext)

    def _compound_stmt(self, node: Any, depth: int, ext: Extent) -> list[Line]:
        return self.compound(node, depth, "", "", ext)

    def _definition(self, node: tree.Definition, depth: int, ext: Extent) -> list[Line]:
        params = [self.x.param(p) for p in node.params]
        head = f"{node.kind} {node.name}" + (f"({', '.join(params)})" if params else "")
        opener, closer = self.braces(_start(node.span))
        lines = self.bodies([("", node.body, opener, closer)], depth, head + " ", "", ext)
        if not params:
            return lines
        lpar = self.t.first_after(_start(node.span), "LPAR")
        rpar = self.t.starts[self.t.index(opener) - 1]
        if not self.comments_between(lpar, rpar) and lines[0].width() <= WIDTH:
            return lines
        # one parameter per line, so that each can carry its comments
        top = [Line(depth, f"{node.kind} {node.name}(", source_lines(ext[0][0], lpar[0]),
                    inner=depth + 1)]
        top += self.param_lines(node.params, depth + 1, lpar, rpar)
        lines[0].text = ") " + lines[0].text[len(head) + 1:]
        lines[0].tags = source_lines(rpar[0], opener[0] if len(lines) > 1 else ext[1][0])
        return top + lines

    def param_lines(self, params: Sequence[tree.Param], depth: int, lo: Pos,
                    hi: Pos) -> list[Line]:
        out: list[Line] = []
        cur = lo
        for k, (p, (s, e)) in enumerate(zip(params, self.extents(params, hi), strict=True)):
            self.own_lines(out, depth, cur, s, s[0], False)
            comma = "," if k + 1 < len(params) else ""
            out.append(Line(depth, self.x.param(p) + comma, source_lines(s[0], e[0])))
            cur = e
        self.own_lines(out, depth, cur, hi, cur[0], False)
        return out

    # -- compound statements: groups, joins, conditionals, loops, recipes
    def compound(self, node: Any, depth: int, prefix: str, suffix: str, ext: Extent
                 ) -> list[Line]:
        if isinstance(node, tree.Branches):
            return self.branches(node, depth, prefix, suffix, ext)
        return self.bodies(_PARTS[type(node)](self, node), depth, prefix, suffix, ext,
                           settings=isinstance(node, tree.Recipe))

    def bodies(self, parts: list[Part], depth: int, prefix: str, suffix: str, ext: Extent,
               settings: bool = False) -> list[Line]:
        """`head { ... }`, or `if a { ... } else if b { ... } else { ... }`: on one line when
        written on one line, it fits and holds no comment (settings sit side by side, two
        spaces apart); otherwise statements one level in and `}` on a line of its own. A
        comment between a `}` and the next `{` goes at the end of the body above."""
        inner = []
        for k, (_, items, opener, closer) in enumerate(parts):
            lines = self.body(items, depth + 1, opener, closer)
            if k + 1 < len(parts):
                for c in self.comments_between(closer, parts[k + 1][2]):
                    lines.append(comment_line(depth + 1, c))
                    self.done.add(c.at)
            inner.append(lines)
        (first, _), (last, _) = ext[0], ext[1]
        if first == last and not self.has_comment_on(first, last) and (
                settings or all(len(lines) <= 1 for lines in inner)):
            sep = "  " if settings else " "
            text = prefix + " else ".join(
                f"{head}{{ {sep.join(ln.text for ln in lines)} }}" if lines else f"{head}{{}}"
                for (head, *_), lines in zip(parts, inner, strict=True)) + suffix
            if len(INDENT) * depth + len(text) <= WIDTH:
                return [Line(depth, text, {first})]
        out: list[Line] = []
        for k, ((head, _, opener, _), lines) in enumerate(zip(parts, inner, strict=True)):
            if k == 0:
                out.append(Line(depth, prefix + head + "{", source_lines(first, opener[0]),
                                inner=depth + 1))
            else:
                out.append(Line(depth, "} else " + head + "{",
                                source_lines(parts[k - 1][3][0], opener[0]), inner=depth + 1))
            out.extend(lines)
        out.append(Line(depth, "}" + suffix, source_lines(parts[-1][3][0], last)))
        return out

    def branches(self, node: tree.Branches, depth: int, prefix: str, suffix: str,
                 ext: Extent) -> list[Line]:
        """`add {` / `concat {`: the first branch indented, each further one after `| `.
        Own-line comments before a bar end the branch above it; from the bar on (`| # c`)
        they begin the branch below."""
        opener, closer = self.braces(_start(node.span))
        bars = self.t.bars[opener]
        bounds = [opener, *bars, closer]
        keyword = join(node.op).name  # an unknown join fails loudly
        out = [Line(depth, f"{prefix}{keyword} {{", source_lines(ext[0][0], opener[0]),
                    inner=depth + 1)]
        for k, branch in enumerate(node.branches):
            lines = self.body(branch, depth + 1, bounds[k], bounds[k + 1])
            if k and lines:
                head = lines[0]
                lines[0] = Line(depth, "| " + head.text, head.tags | {bars[k - 1][0]}, head.run,
                                inner=head.inner, comment=head.comment)
            elif k:
                lines = [Line(depth, "|", {bars[k - 1][0]}, inner=depth + 1)]
            out.extend(lines)
        out.append(Line(depth, "}" + suffix, source_lines(closer[0], ext[1][0])))
        return out

    def _group_parts(self, node: tree.Group) -> list[Part]:
        opener, closer = self.braces(_start(node.span))
        return [("", node.body, opener, closer)]

    def _recipe_parts(self, node: tree.Recipe) -> list[Part]:
        opener, closer = self.braces(_start(node.span))
        return [("train ", node.settings, opener, closer)]

    def _loop_parts(self, node: tree.Loop) -> list[Part]:
        opener, closer = self.braces(_end(node.stop.span))
        head = f"for {node.var} in {self.x.expr(node.start, OR)}..{self.x.expr(node.stop, OR)} "
        return [(head, node.body, opener, closer)]

    def _cond_parts(self, node: tree.Cond) -> list[Part]:
        """if / else if / else, as written (`else { if ... }` keeps its braces)."""
        parts: list[Part] = []
        while True:
            opener, closer = self.braces(_end(node.test.span))
            parts.append((f"if {self.x.expr(node.test, OR)} ", node.then, opener, closer))
            i = self.t.index(closer) + 1
            if i >= len(self.t.kinds) or self.t.kinds[i] != "ELSE":
                return parts
            if self.t.kinds[i + 1] == "IF":  # else if: the one statement of `orelse`
                nested = node.orelse[0]
                assert isinstance(nested, tree.Cond)
                node = nested
                continue
            opener = self.t.starts[i + 1]
            parts.append(("", node.orelse, opener, self.t.closer[opener]))
            return parts


def _shape_stmt(keyword: str) -> Callable[[Printer, tree.Input | tree.Expect], str]:
    return lambda p, node: f"{keyword} {p.x.shape(node.shape)}"


_STMT: dict[type, Callable[..., list[Line]]] = {
    tree.Definition: Printer._definition, tree.Labelled: Printer._labelled,
    tree.Repeat: Printer._repeat,
    **{kind: Printer._compound_stmt for kind in _COMPOUND},
    **{kind: Printer._simple_stmt for kind in (tree.Call, tree.Input, tree.Expect,
                                               tree.Assert, tree.Use, tree.Requires,
                                               tree.Setting, tree.Wire)},
}
_SIMPLE: dict[type, Callable[..., str]] = {
    tree.Call: lambda p, n: p.x.call(n),
    tree.Labelled: lambda p, n: _label(n) + p.simple(n.unit),
    tree.Repeat: lambda p, n: f"{p.simple(n.unit)} * {p.x.count(n.count)}",
    tree.Input: lambda p, n: f"input {n.name + ' ' if n.name else ''}{p.x.shape(n.shape)}",
    tree.Expect: _shape_stmt("expect"),
    tree.Assert: lambda p, n: f"assert {p.x.expr(n.test, OR)}" + (
        f', "{n.message}"' if n.message is not None else ""),
    tree.Use: lambda p, n: f'use "{n.path}"',
    tree.Requires: lambda p, n: f'requires "{n.plugin}"',
    tree.Setting: lambda p, n: f"{n.name} = {p.x.expr(n.value)}",
    tree.Wire: lambda p, n: f"{n.kind} {_wire_name(n.name)}" + (
        f" {p.x.shape(n.shape)}" if n.shape is not None else "") + (
        " training" if n.training else ""),
}
_PARTS: dict[type, Callable[..., list[Part]]] = {
    tree.Group: Printer._group_parts, tree.Recipe: Printer._recipe_parts,
    tree.Loop: Printer._loop_parts, tree.Cond: Printer._cond_parts,
}
