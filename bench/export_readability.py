"""How readable `archc export -o model.py` is, counted over every bundled spec (each family at
its default member; the inputs and sets tests/test_export.py exports them at):

- raises: constructor branches that refuse ("no exported instance takes this branch; export
  again") although the spec writes the branch;
- unnamed: constructor parameters not named in the spec (a block's, or for a group its
  owner's, parameters; the input size `in_channels`/`in_features` counts as named);
- literal_in: calls of a generated class whose input size is an integer literal in a block's
  (or group's) class; literal_in_net: the same in the network's class, where the spec itself
  writes the widths as literals (`cna(16, 3, 2)` after `input 3x224x224`);
- derived, fitted: calls whose output width a caller writes as an expression of their
  arguments (`c = e1 + e3` after SqueezeNet's `Fire`), derived from the block's definition
  (archc/export/derive.py) or, where that gives up, fitted to its instances
  (archc/export/widths.py).

Usage: PYTHONPATH=. python bench/export_readability.py [SPEC_STEM ...] (prints one row per
spec, then the totals; -v: also each unnamed parameter)."""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archc.export.python as python_export  # noqa: E402
from archc.export.classes import Classes  # noqa: E402
from archc.export.explain import py_name  # noqa: E402
from archc.export.loopcases import Branch  # noqa: E402
from archc.export.python import export_python  # noqa: E402
from archc.export.unify import TCall, TJoin, TLoop, TNode, TSeq  # noqa: E402
from tests.test_export import JOBS  # noqa: E402

INPUTS = ("in_channels", "in_features")
VERBOSE = "-v" in sys.argv
SIGNATURE = re.compile(r"^(?:Block|Network) `(\w+)\((.*?)\)`", re.S)


def _spec_names(doc: str) -> tuple[str, set[str]] | None:
    m = SIGNATURE.match(doc)
    if m is None:
        return None
    names = {py_name(p.split("=")[0].strip()) for p in m[2].split(",") if p.strip()}
    return m[1], names


def _owner(path: str) -> str:
    """The block (or network) a group belongs to: `group/block/fpn/inner_blocks` -> `fpn`
    (a group of a group of the block), `block/res_bottleneck` -> `res_bottleneck`."""
    parts = path.split("/")
    if "block" in parts:
        i = len(parts) - 1 - parts[::-1].index("block")
        return parts[i + 1] if i + 1 < len(parts) else parts[-1]
    return parts[-1]


def counts(text: str) -> dict[str, int]:
    tree = ast.parse(text)
    classes = {c.name: c for c in tree.body if isinstance(c, ast.ClassDef)}
    named: dict[str, set[str]] = {}
    params: dict[str, list[str]] = {}
    for name, cls in classes.items():
        doc = ast.get_docstring(cls) or ""
        found = _spec_names(doc)
        if found is not None:
            named[found[0]] = found[1]
            if doc.startswith("Network"):
                named["network"] = found[1]  # what a group of the network names its owner
        init = next((f for f in cls.body if isinstance(f, ast.FunctionDef)
                     and f.name == "__init__"), None)
        params[name] = [] if init is None else [a.arg for a in init.args.args[1:]]
    unnamed = 0
    for name, cls in classes.items():
        doc = ast.get_docstring(cls) or ""
        found = _spec_names(doc)
        owner = re.match(r"The group `[^`]*` of ([\w/]+)", doc)
        if found is None and owner is None:
            continue  # a support class (archc/export/support.py), written by hand
        allowed = found[1] if found is not None else named.get(_owner(owner[1]), set())
        extra = [p for p in params[name] if p not in allowed and p not in INPUTS]
        unnamed += len(extra)
        if extra and VERBOSE:
            print(f"  {name}: {', '.join(extra)}")
    literal = {"block": 0, "network": 0}
    for cls in classes.values():
        where = "network" if (ast.get_docstring(cls) or "").startswith("Network") else "block"
        for node in ast.walk(cls):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                    (params.get(node.func.id) or [""])[0] in INPUTS:
                first = node.args[0] if node.args else next(
                    (k.value for k in node.keywords if k.arg in INPUTS), None)
                literal[where] += isinstance(first, ast.Constant) and type(first.value) is int
    raises = text.count("no exported instance takes this branch")
    return {"raises": raises, "unnamed": unnamed, "literal_in": literal["block"],
            "literal_in_net": literal["network"]}


def _nodes(nodes: list[TNode]) -> Iterator[TNode]:
    for node in nodes:
        yield node
        yield from _nodes(node.orelse)
        if isinstance(node, TSeq):
            yield from _nodes(node.children)
        elif isinstance(node, TJoin):
            yield from _nodes([n for b in node.branches for n in b])
        elif isinstance(node, TLoop):
            yield from _nodes([node.child] if node.child is not None else [])
            yield from _nodes(list(_branch_children(node.cases)))


def _branch_children(branches: list[Branch]) -> Iterator[TNode]:
    for b in branches:
        if b.child is not None:
            yield b.child
        yield from _branch_children(b.sub or [])


def ways(classes: Classes) -> dict[str, int]:
    """How many calls of the exported classes had their output width derived or fitted."""
    found = {"derived": 0, "fitted": 0}
    for cls in classes.order:
        bodies = [cls.body] + [c.body for c in cls.cases if c.body]
        for node in _nodes([n for body in bodies for n in body]):
            if isinstance(node, TCall) and node.width_by:
                found[node.width_by] += 1
    return found


def _exported(job: dict[str, Any]) -> tuple[str, dict[str, int]]:
    """The exported text and its calls' ways (the classes `_render` writes the file from)."""
    seen: list[Classes] = []
    render = python_export._render

    def keep(net: Any, classes: Classes, *args: Any) -> str:
        seen.append(classes)
        return render(net, classes, *args)

    python_export._render = keep  # type: ignore[assignment]
    try:
        text = export_python(job["spec"], job.get("sets"), job.get("input"))
    finally:
        python_export._render = render  # type: ignore[assignment]
    return text, ways(seen[-1])


def main(stems: list[str]) -> None:
    total = {"raises": 0, "unnamed": 0, "literal_in": 0, "literal_in_net": 0, "derived": 0,
             "fitted": 0}
    jobs = {k: v for k, v in JOBS.items() if not k.startswith("case_") and "=" not in k}
    for name, job in jobs.items():
        if stems and name not in stems:
            continue
        text, how = _exported(job)
        row = counts(text) | how
        print(f"{name:28} " + "  ".join(f"{k} {v:3}" for k, v in row.items()), flush=True)
        for k, v in row.items():
            total[k] += v
    print(f"{'total':28} " + "  ".join(f"{k} {v:3}" for k, v in total.items()))


if __name__ == "__main__":
    main([a for a in sys.argv[1:] if a != "-v"])
