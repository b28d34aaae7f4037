"""Language server, navigation: go to a block's definition (in this file, a `use`d file or
the prelude) or a `use`d file, find a block's references in every file the document sees,
rename a block or a label, and the document's outline (networks and blocks)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types

from archc.core.errors import Span
from archc.core.resources import prelude_path
from archc.front import tree
from archc.lsp import syntax
from archc.lsp.analysis import Analysis, calls, contains, parse_cached
from archc.lsp.convert import PRELUDE, Locator
from archc.registry.ops import REGISTRY

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LABEL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*|\d+)\Z")


class RenameError(Exception):
    """A rename the server refuses, with the reason the editor shows."""


@dataclass(frozen=True)
class Target:
    """What is under the cursor."""

    refers_to: str  # 'block' | 'network' | 'op' | 'label' | 'use'
    name: str
    span: Span  # of the name itself


def target_at(a: Analysis, line: int, col: int) -> Target | None:
    if a.module is None:
        return None
    for use in a.module.uses:
        if contains(use.span, line, col):
            return Target("use", use.path, use.span)
    for d in a.module.definitions:
        if contains(d.span, line, col):
            return Target("block" if d.kind == "block" else "network", d.name, d.span)
        for st in tree.statements(d.body):
            if isinstance(st, tree.Call) and contains(tree.name_span(st), line, col):
                refers_to = "op" if st.name in REGISTRY else "block"
                return Target(refers_to, st.name, tree.name_span(st))
            if isinstance(st, tree.Labelled) and contains(tree.label_span(st), line, col):
                return Target("label", st.label, tree.label_span(st))
    return None


def definition(a: Analysis, line: int, col: int) -> Span | None:
    t = target_at(a, line, col)
    if t is None:
        return None
    if t.refers_to == "block" and t.name in a.program.blocks:
        return a.program.blocks[t.name].span
    if t.refers_to == "use":
        try:
            target = (Path(a.path).resolve().parent / t.name).resolve()
        except (OSError, RuntimeError, ValueError):
            return None
        return Span(str(target), 1, 1, 1, 1) if target.is_file() else None
    return None


def _prelude_module() -> tree.Module:
    return parse_cached(prelude_path().read_text(encoding="utf-8"), PRELUDE)


def references(a: Analysis, name: str, declaration: bool = True) -> list[Span]:
    """Every call of block `name` in the files the document sees (itself, its `use`s and the
    prelude: they share one table of blocks), and its definition."""
    out = []
    defn = a.program.blocks.get(name)
    if declaration and defn is not None:
        out.append(defn.span)
    for module in [*a.modules(), _prelude_module()]:
        out.extend(tree.name_span(c) for _, c in calls(module) if c.name == name)
    return out


# ----------------------------------------------------------------------------- rename


def rename_target(a: Analysis, line: int, col: int) -> Target:
    t = target_at(a, line, col)
    if t is None or t.refers_to not in ("block", "label"):
        raise RenameError("only a block or a label can be renamed")
    if t.refers_to == "block":
        defn = a.program.blocks.get(t.name)
        if defn is None:
            raise RenameError(f"unknown block '{t.name}'")
        if defn.span.path == PRELUDE:
            raise RenameError(f"'{t.name}' is a prelude block; define your own to rename it")
    return t


def rename(a: Analysis, line: int, col: int, new: str) -> dict[str, list[tuple[Span, str]]]:
    """The spans to replace and their new text, by file path."""
    t = rename_target(a, line, col)
    if t.refers_to == "label":
        if not new or '"' in new or "\n" in new:
            raise RenameError(f"'{new}' is not a label (a name, an integer or quoted text)")
        return {t.span.path: [(t.span, new if _LABEL.match(new)
                               and new not in syntax.keywords() else f'"{new}"')]}
    if not _NAME.match(new) or new in syntax.keywords():
        raise RenameError(f"'{new}' is not a block name")
    if new in REGISTRY or (new in a.program.blocks and a.program.blocks[new].span.path
                           != PRELUDE):
        raise RenameError(f"'{new}' is already a {'layer' if new in REGISTRY else 'block'}")
    edits: dict[str, list[tuple[Span, str]]] = {}
    for span in references(a, t.name):
        if span.path != PRELUDE:
            edits.setdefault(span.path, []).append((span, new))
    return edits


# ----------------------------------------------------------------------------- outline


_SYMBOL_KIND = {"network": types.SymbolKind.Class, "block": types.SymbolKind.Function}


def symbols(text: str, path: str, loc: Locator) -> list[types.DocumentSymbol]:
    """Networks and blocks as written, even in a file that does not parse."""
    out = []
    for o in syntax.outline(syntax.tokens(text)):
        name = types.Range(loc.position(path, *syntax.start(o.name_token)),
                           loc.position(path, *syntax.end(o.name_token)))
        whole = types.Range(loc.position(path, *o.start), loc.position(path, *o.end))
        out.append(types.DocumentSymbol(o.name, _SYMBOL_KIND[o.kind], whole, name,
                                        detail=f"{o.kind}({', '.join(o.params)})"))
    return out
