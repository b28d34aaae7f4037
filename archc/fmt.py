"""`archc fmt`: one layout for specs, keeping every comment. Parses with the spec grammar
(a second Lark parser whose lexer callbacks collect comments and branch bars) and prints the
tree back. The style:

- 2-space indent; one statement per line, except runs of layers: calls (labelled or not,
  `x * n` included), `input` and `expect` written on one line stay on one line while it
  fits in 100 columns, and wrap greedily when it does not.
- A definition, group, `if`/`else` or `for` body, or `train { }`, stays on one line when
  written on one line, fits and holds no comment; otherwise its statements go one level in,
  one per line (runs aside), `}` on its own line. A definition header too long for a line,
  or with comments among its parameters, puts one parameter per line.
- `add {` / `concat {` always span lines: the first branch indented, each further branch
  starting at the keyword's column with `| `, then `}`.
- At the top level, a blank line after each definition that spans lines and after a run of
  `use` lines. Elsewhere blank lines are kept, at most one, never right after `{` or before `}`.
- Spacing: `a + b`, `f(x, k=3)`, `x * 2`, `name = value`, `label: x`; parentheses only where
  precedence needs them; no empty `()`, no trailing commas; integers without leading zeros;
  all-literal shapes as `3x32x32`.
- A comment on a line of its own stays before what followed it, at its indentation; one
  after code stays at the end of the line that prints that code (two spaces, then `#`).

Printing works on Lark's tree rather than the AST because it needs what the AST drops:
where each `{`/`}`/`|` was (to keep comments inside or outside a body) and where the author
broke lines. tests/test_fmt.py checks that the AST of the output equals the input's.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import lru_cache

from lark import Lark, Token, Tree

from .parse import LARK_OPTIONS, parse
from .resources import grammar_text

WIDTH = 100
INDENT = "  "

# Expression precedence, loosest first; an operand below its slot's level is parenthesised.
_TERNARY, _OR, _AND, _NOT, _COMPARE, _SUM, _PRODUCT, _UNARY, _ATOM = range(9)
_BINARY = {
    "or_op": ("or", _OR), "and_op": ("and", _AND), "eq": ("==", _COMPARE),
    "ne": ("!=", _COMPARE), "lt": ("<", _COMPARE), "le": ("<=", _COMPARE),
    "gt": (">", _COMPARE), "ge": (">=", _COMPARE), "add_op": ("+", _SUM),
    "sub_op": ("-", _SUM), "mul_op": ("*", _PRODUCT), "floordiv_op": ("//", _PRODUCT),
    "truediv_op": ("/", _PRODUCT), "mod_op": ("%", _PRODUCT),
}
_COMPOUND = ("group", "branches", "cond", "loop", "recipe")


@lru_cache(maxsize=1)
def _parser() -> tuple[Lark, list[Token]]:
    """A parser with positions on every rule; its lexer drops comments and bars into `sink`."""
    sink: list[Token] = []

    def keep(token: Token) -> Token:
        sink.append(token)
        return token

    lark = Lark(grammar_text(), **LARK_OPTIONS, propagate_positions=True,
                maybe_placeholders=True,
                lexer_callbacks={"COMMENT": keep, "VBAR": keep, "LBRACE": keep})
    return lark, sink


def format_text(text: str, path: str = "<string>") -> str:
    """The canonical layout of a spec; raises the same located errors as parsing."""
    parse(text, path)  # syntax and nesting errors, located like `archc check` reports them
    lark, sink = _parser()
    sink.clear()
    tree = lark.parse(text)
    tokens = list(sink)
    sink.clear()
    return _Printer(text, tokens).file(tree)


# ----------------------------------------------------------------------------- output lines


@dataclass
class _Line:
    depth: int
    text: str
    tags: set[int] = field(default_factory=set)  # source lines whose code this line prints
    run: bool = False  # a run of layer calls: the next call on the same source line may join

    def width(self) -> int:
        return len(INDENT) * self.depth + len(self.text)


@dataclass(frozen=True)
class _Comment:
    line: int
    col: int
    text: str
    own: bool  # nothing but blanks before it on its line, or a branch bar


def _lines(meta) -> set[int]:
    return set(range(meta.line, meta.end_line + 1))


def _is_run(item: Tree) -> bool:
    """A layer call (labelled or repeated), `input` or `expect`: may share a line."""
    if item.data == "labelled":
        item = item.children[1]
    if item.data == "repeat":
        item = item.children[0]
    return item.data in ("call", "input", "expect")


class _Printer:
    def __init__(self, text: str, tokens: list[Token]):
        source = text.splitlines()
        self.blank = [i + 1 for i, line in enumerate(source) if not line.strip()]
        self.bars = [(t.line, t.column) for t in tokens if t.type == "VBAR"]
        self.braces = [(t.line, t.column) for t in tokens if t.type == "LBRACE"]
        self.comments = []
        for t in tokens:
            if t.type == "COMMENT":
                before = source[t.line - 1][:t.column - 1].strip()
                # right after a bar counts as own-line: it opens the next branch (`| # c`)
                self.comments.append(_Comment(t.line, t.column, str(t).rstrip(),
                                              before == "" or before.endswith("|")))
        self.at = [(c.line, c.col) for c in self.comments]  # in source order
        self.own_lines = [c.line for c in self.comments if c.own]
        self.own = [c for c in self.comments if c.own]
        self.done: set[_Comment] = set()

    # -- comments and blank lines
    def _own_between(self, lo: int, hi: int) -> list[_Comment]:
        """Unprinted own-line comments strictly between source lines lo and hi."""
        i, j = bisect.bisect_right(self.own_lines, lo), bisect.bisect_left(self.own_lines, hi)
        return [c for c in self.own[i:j] if c not in self.done]

    def _blank_between(self, lo: int, hi: int) -> bool:
        i = bisect.bisect_right(self.blank, lo)
        return i < len(self.blank) and self.blank[i] < hi

    def _has_comment(self, lo: int, hi: int) -> bool:
        i = bisect.bisect_left(self.at, (lo, 0))
        return i < len(self.at) and self.at[i][0] <= hi

    # -- files and sequences
    def file(self, tree: Tree) -> str:
        items = [c for c in tree.children if isinstance(c, Tree)]
        lines = self.body(items, 0, 0, 1 << 30, top=True)
        lines = self._place_trailing(lines)
        out = "\n".join((INDENT * ln.depth + ln.text).rstrip() for ln in lines)
        return out + "\n" if out else ""

    def body(self, items: list[Tree], depth: int, lo: int, hi: int,
             top: bool = False) -> list[_Line]:
        """Statements between source lines lo and hi (exclusive; the braces), with the
        own-line comments among them. At the top level a blank line follows every definition
        and a run of `use` lines."""
        out: list[_Line] = []
        prev_end, prev, fresh = lo, None, False  # fresh: nothing printed since `prev`
        tall = False  # `prev` took several lines

        def separated(kind: str) -> bool:
            return top and fresh and prev is not None and (
                (prev.data in ("network", "block") and tall)
                or (prev.data == "use" and kind != "use"))

        for item in items:
            for c in self._own_between(prev_end, item.meta.line):
                self._gap(out, prev_end, c.line, separated("comment"))
                out.append(_Line(depth, c.text, {c.line}))
                self.done.add(c)
                prev_end, fresh = c.line, False
            if (prev is not None and fresh and out and out[-1].run and _is_run(item)
                    and prev.meta.end_line == item.meta.line):
                text = self.simple(item)
                if out[-1].width() + 1 + len(text) <= WIDTH:
                    out[-1].text += " " + text
                    out[-1].tags |= _lines(item.meta)
                else:
                    out.append(_Line(depth, text, _lines(item.meta), run=True))
            else:
                self._gap(out, prev_end, item.meta.line, separated(item.data))
                lines = self.stmt(item, depth)
                out.extend(lines)
                tall = len(lines) > 1
            prev_end, prev, fresh = item.meta.end_line, item, True
        for c in self._own_between(prev_end, hi):
            self._gap(out, prev_end, c.line, separated("comment"))
            out.append(_Line(depth, c.text, {c.line}))
            self.done.add(c)
            prev_end, fresh = c.line, False
        return out

    def _gap(self, out: list[_Line], lo: int, hi: int, force: bool = False) -> None:
        if out and out[-1].text and (force or self._blank_between(lo, hi)):
            out.append(_Line(0, ""))

    def _place_trailing(self, lines: list[_Line]) -> list[_Line]:
        """Comments after code go to the end of the line printing that code; the rare one
        with no such line (inside a header spread over lines) goes on its own line."""
        home_of = {tag: i for i, ln in enumerate(lines) for tag in ln.tags}  # the last line
        extra: dict[int, list[_Line]] = {}  # new lines to print before lines[i]
        commented: dict[int, int] = {}  # a line with a comment -> depth of one more below it
        for c in self.comments:
            if c in self.done:
                continue
            i = home_of.get(c.line)
            if i is None:
                at = next((k for k, ln in enumerate(lines) if ln.tags and min(ln.tags) > c.line),
                          len(lines))
                depth = lines[at].depth if at < len(lines) else 0
                extra.setdefault(at, []).append(_Line(depth, c.text, {c.line}))
            elif i in commented:
                # one comment per line (two would merge into one): the next goes on a line of
                # its own below, after the own-line comments that came before it
                at = i + 1
                while at < len(lines) and lines[at].text.startswith("#") and \
                        max(lines[at].tags) < c.line:
                    at += 1
                extra.setdefault(at, []).append(_Line(commented[i], c.text, {c.line}))
            else:  # (after a lone bar, as an own-line comment prints: `| #`)
                home = lines[i]
                inner = home.text.endswith("{") and i + 1 < len(lines)
                commented[i] = lines[i + 1].depth if inner else home.depth
                home.text += (" " if home.text == "|" else "  ") + c.text
        out: list[_Line] = []
        for k in range(len(lines) + 1):
            out.extend(extra.get(k, ()))
            if k < len(lines):
                out.append(lines[k])
        return out

    # -- statements
    def stmt(self, item: Tree, depth: int) -> list[_Line]:
        kind = item.data
        if kind in ("network", "block"):
            return self.definition(item, depth)
        if kind == "labelled":
            label, unit = item.children
            prefix = f"{label.children[0]}: "
            if unit.data == "repeat" and unit.children[0].data in _COMPOUND:
                return self.compound(unit.children[0], depth, prefix,
                                     " * " + self.count(unit.children[1]), unit.meta)
            if unit.data in _COMPOUND:
                return self.compound(unit, depth, prefix, "", item.meta)
        elif kind == "repeat" and item.children[0].data in _COMPOUND:
            return self.compound(item.children[0], depth, "", " * " +
                                 self.count(item.children[1]), item.meta)
        elif kind in _COMPOUND:
            return self.compound(item, depth, "", "", item.meta)
        return [_Line(depth, self.simple(item), _lines(item.meta), run=_is_run(item))]

    def simple(self, item: Tree) -> str:
        """A statement that prints on one line."""
        kind, ch = item.data, item.children
        if kind == "call":
            name, arglist = ch
            args = [self.arg(a) for a in (arglist.children if arglist else ()) if a is not None]
            return f"{name}({', '.join(args)})" if args else str(name)
        if kind == "labelled":
            return f"{ch[0].children[0]}: {self.simple(ch[1])}"
        if kind == "repeat":
            return f"{self.simple(ch[0])} * {self.count(ch[1])}"
        if kind in ("input", "expect"):
            return f"{kind} {self.shape(ch[0])}"
        if kind == "assert_":
            return f"assert {self.expr(ch[1])}" + (f", {ch[2]}" if ch[2] is not None else "")
        if kind == "use":
            return f"use {ch[0]}"
        if kind == "setting":
            return f"{ch[0]} = {self.expr(ch[1])}"
        raise AssertionError(f"not a one-line statement: {kind}")

    def definition(self, item: Tree, depth: int) -> list[_Line]:
        name, params, body = item.children
        plist = [p for p in (params.children if params else ()) if p is not None]
        head = f"{item.data} {name}" + (f"({', '.join(map(self.param, plist))})"
                                        if plist else "")
        lines = self.compound(body, depth, head + " ", "", item.meta)
        crowded = self._has_comment_before(item.meta, body.meta)
        if plist and (crowded or lines[0].width() > WIDTH):
            # one parameter per line, so each can carry its comment
            top = [_Line(depth, f"{item.data} {name}(", {item.meta.line})]
            top += [_Line(depth + 1, self.param(p) + ("," if k + 1 < len(plist) else ""),
                          _lines(p.meta)) for k, p in enumerate(plist)]
            lines[0].text = ") " + lines[0].text[len(head) + 1:]
            lines[0].tags = {body.meta.line}
            lines = top + lines
        return lines

    def _has_comment_before(self, start, end) -> bool:
        """A comment between two positions (a definition's start and its `{`)."""
        i = bisect.bisect_left(self.at, (start.line, start.column))
        return i < len(self.at) and self.at[i] < (end.line, end.column)

    # -- compound statements: groups, joins, conditionals, loops, recipes
    def compound(self, node: Tree, depth: int, prefix: str, suffix: str, meta) -> list[_Line]:
        if node.data == "branches":
            return self.branches(node, depth, prefix, suffix, meta)
        parts = [(head, self.body(items, depth + 1, m.line, m.end_line), m)
                 for head, items, m in self._parts(node)]
        sep = "  " if node.data == "recipe" else " "  # settings sit side by side
        if meta.line == meta.end_line and not self._has_comment(meta.line, meta.end_line) \
                and all(len(lines) <= 1 or node.data == "recipe" for _, lines, _ in parts):
            text = prefix + " else ".join(
                f"{head}{{ {sep.join(ln.text for ln in lines)} }}" if lines else f"{head}{{}}"
                for head, lines, _ in parts) + suffix
            if len(INDENT) * depth + len(text) <= WIDTH:
                return [_Line(depth, text, _lines(meta))]
        out: list[_Line] = []
        for k, (head, lines, m) in enumerate(parts):
            opener = prefix + head + "{" if k == 0 else "} else " + head + "{"
            out.append(_Line(depth, opener, {meta.line, m.line} if k == 0 else {m.line}))
            out.extend(lines)
        out.append(_Line(depth, "}" + suffix, {parts[-1][2].end_line, meta.end_line}))
        return out

    def _parts(self, node: Tree) -> list[tuple[str, list[Tree], object]]:
        """(header before `{`, statements, meta of the braces) for each body of a compound."""
        kind, ch = node.data, node.children
        if kind in ("group", "body"):
            return [("", list(ch), node.meta)]
        if kind == "recipe":
            return [("train ", list(ch[1:]), node.meta)]
        if kind == "loop":
            _, var, start, stop, body = ch
            head = f"for {var} in {self.expr(start, _OR)}..{self.expr(stop, _OR)} "
            return [(head, list(body.children), body.meta)]
        parts = []
        while True:  # if / else if / else
            _, test, then, orelse = node.children
            parts.append((f"if {self.expr(test, _OR)} ", list(then.children), then.meta))
            if orelse is None:
                return parts
            if orelse.data != "cond":
                parts.append(("", list(orelse.children), orelse.meta))
                return parts
            node = orelse

    def branches(self, node: Tree, depth: int, prefix: str, suffix: str, meta) -> list[_Line]:
        """`add {` / `concat {`: the first branch indented, each further one after `| `."""
        branches = node.children[1:]
        bars, pos = [], (node.meta.line, node.meta.column)
        for k, branch in enumerate(branches):  # the bar before branch k: first after branch k-1
            if k:
                line, col = self.bars[bisect.bisect_left(self.bars, pos)]
                bars.append(line)
                pos = (line, col + 1)
            if not branch.meta.empty:
                pos = (branch.meta.end_line, branch.meta.end_column)
        brace = self.braces[bisect.bisect_left(self.braces, (node.meta.line, node.meta.column))]
        opener = f"{prefix}{node.children[0].children[0]} {{"
        out = [_Line(depth, opener, {meta.line, node.meta.line, brace[0]})]
        for k, branch in enumerate(branches):
            # own-line comments before a bar end the branch above it; from the bar's line
            # on (`| # note`) they start the branch below
            lo = node.meta.line if k == 0 else bars[k - 1] - 1
            hi = bars[k] if k < len(bars) else node.meta.end_line
            lines = self.body(list(branch.children), depth + 1, lo, hi)
            if k and lines:  # (a comment after the bar belongs to this line)
                lines[0] = _Line(depth, "| " + lines[0].text, lines[0].tags | {bars[k - 1]},
                                 lines[0].run)
            elif k:
                lines = [_Line(depth, "|", {bars[k - 1]})]
            out.extend(lines)
        out.append(_Line(depth, "}" + suffix, {node.meta.end_line, meta.end_line}))
        return out

    # -- pieces
    def param(self, p: Tree) -> str:
        name, default = p.children
        return str(name) if default is None else f"{name}={self.expr(default)}"

    def arg(self, a: Tree) -> str:
        if a.data == "kw_arg":
            return f"{a.children[0]}={self.expr(a.children[1])}"
        return self.expr(a.children[0])

    def count(self, c: Tree) -> str:
        if c.data in ("int_lit", "var"):
            return self.expr(c)
        return f"({self.expr(c)})"

    def shape(self, s: Tree) -> str:
        if s.data == "shape_literal":
            return "x".join(str(int(d)) for d in str(s.children[0]).split("x"))
        if all(isinstance(d, Tree) and d.data == "int_lit" for d in s.children):
            return "x".join(self.expr(d) for d in s.children)
        return "(" + ", ".join(self.expr(d) for d in s.children) + ")"

    def expr(self, e: Tree, min_level: int = _TERNARY) -> str:
        text, level = self._expr(e)
        return f"({text})" if level < min_level else text

    def _expr(self, e: Tree) -> tuple[str, int]:
        kind, ch = e.data, e.children
        if kind in _BINARY:
            op, level = _BINARY[kind]
            # left-associative: the right operand binds tighter; comparisons do not chain
            left = self.expr(ch[0], level + 1 if level == _COMPARE else level)
            return f"{left} {op} {self.expr(ch[1], level + 1)}", level
        if kind == "ternary":
            then, _, test, orelse = ch
            return (f"{self.expr(then, _OR)} if {self.expr(test, _OR)} else "
                    f"{self.expr(orelse)}", _TERNARY)
        if kind == "not_op":
            return f"not {self.expr(ch[0], _NOT)}", _NOT
        if kind == "neg":
            return f"-{self.expr(ch[0], _UNARY)}", _UNARY
        if kind == "func":
            args = [self.expr(a) for a in ch[1:] if a is not None]
            return f"{ch[0]}({', '.join(args)})", _ATOM
        if kind == "tuple_lit":
            return "(" + ", ".join(self.expr(c) for c in ch) + ")", _ATOM
        if kind == "int_lit":
            return str(int(ch[0])), _ATOM
        if kind in ("true_lit", "false_lit"):
            return kind[:-4], _ATOM
        return str(ch[0]), _ATOM  # float_lit, str_lit, var, in_attr: as written
