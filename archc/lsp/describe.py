"""Language server, what a name is: the signature and doc of an op (from the op registry) or
of a block (from its definition and the comment above it), shared by hover, completion and
signature help."""

from __future__ import annotations

from dataclasses import dataclass

from archc.core.errors import Span
from archc.expansion.messages import show
from archc.front import tree
from archc.lsp.convert import PRELUDE, Locator
from archc.plugins import provider
from archc.registry.ops import REGISTRY


@dataclass(frozen=True)
class Callee:
    """A layer op or a block, as a call sees it."""

    name: str
    kind: str  # 'layer' | 'block'
    params: tuple[str, ...]  # as written: 'c', 'stride=1'
    doc: str
    where: str  # 'built-in', 'prelude', or the file that defines it

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.split("=", 1)[0] for p in self.params)

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(self.params)})" if self.params else self.name


def callee(name: str, blocks: dict[str, tree.Definition], loc: Locator) -> Callee | None:
    """The op or block a call to `name` reaches (a layer op wins, as in expansion)."""
    if name in REGISTRY:
        return op_callee(name)
    defn = blocks.get(name)
    return None if defn is None else block_callee(defn, loc)


def op_callee(name: str) -> Callee:
    op = REGISTRY[name]
    params = tuple(n if f.is_required() else f"{n}={show(f.default)}"
                   for n, f in op.args.model_fields.items())
    return Callee(name, "layer", params, op.doc, provider(name) or "built-in")


def block_callee(defn: tree.Definition, loc: Locator) -> Callee:
    where = "prelude" if defn.span.path == PRELUDE else defn.span.path
    return Callee(defn.name, "block", tuple(source(p.span, loc) for p in defn.params),
                  doc_comment(defn, loc), where)


def source(span: Span, loc: Locator) -> str:
    """The text a span covers, on one line."""
    lines = loc.lines(span.path)
    first, last = span.line - 1, (span.end_line or span.line) - 1
    if not 0 <= first <= last < len(lines):
        return ""
    if first == last:
        return lines[first][span.col - 1:span.end_col - 1]
    parts = [lines[first][span.col - 1:], *lines[first + 1:last], lines[last][:span.end_col - 1]]
    return " ".join(p.strip() for p in parts)


def doc_comment(defn: tree.Definition, loc: Locator) -> str:
    """The comment lines right above a definition, without their `#`."""
    lines = loc.lines(defn.span.path)
    n = defn.span.line - 2
    out: list[str] = []
    while 0 <= n < len(lines) and lines[n].lstrip().startswith("#"):
        out.append(lines[n].lstrip()[1:].strip())
        n -= 1
    return " ".join(reversed(out))
