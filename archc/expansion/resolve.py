"""Stage 2a, over every definition whether used or not: unknown layer/block names and
recursive blocks (a block may not call itself, directly or through others)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from archc.core import codes
from archc.core.errors import (
    MAX_ERRORS,
    ArchcError,
    NameError_,
    RecursionError_,
    too_many_errors,
)
from archc.front import tree
from archc.registry.ops import REGISTRY
from archc.registry.pytorch_names import layer_hint


def check_names(defs: list[tree.Definition], blocks: Mapping[str, tree.Definition],
               broken: Iterable[str] = ()) -> tuple[list[ArchcError], set[str]]:
    """Unknown names and recursive blocks, in every definition whether used or not (`broken`:
    names of definitions that did not parse, known but not checked).
    Returns the errors and the set of blocks on a cycle."""
    errors: list[ArchcError] = []
    known = set(REGISTRY) | set(blocks) | set(broken)
    for call in (c for d in defs for c in d.calls if c.name not in known):
        if len(errors) >= MAX_ERRORS:
            errors.append(too_many_errors(call.span))
            break
        errors.append(NameError_(f"unknown layer or block '{call.name}'", tree.name_span(call),
                                 layer_hint(call.name, known), code=codes.UNKNOWN_LAYER))
    edges = {name: [c for c in b.calls if c.name in blocks]
             for name, b in blocks.items()}
    component = _components(edges)
    cyclic: set[str] = set()
    for d in defs:
        members = component.get(d.name, ())
        if d.kind == "block" and d.name not in cyclic and (
                len(members) > 1 or any(c.name == d.name for c in edges[d.name])):
            errors.append(_cycle_error(d.name, members, edges))
            cyclic.update(members)
    return errors, cyclic


def _components(edges: Mapping[str, list[tree.Call]]) -> dict[str, frozenset[str]]:
    """Strongly connected components of the call graph (Tarjan's algorithm, iterative, so a
    chain of thousands of blocks neither recurses nor takes quadratic time)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    component: dict[str, frozenset[str]] = {}
    for root in edges:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = len(index)
                stack.append(v)
                on_stack.add(v)
            if i < len(edges[v]):
                work.append((v, i + 1))
                w = edges[v][i].name
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                members: list[str] = []
                while not members or members[-1] != v:
                    members.append(stack.pop())
                    on_stack.discard(members[-1])
                group = frozenset(members)
                for w in members:
                    component[w] = group
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return component


def _cycle_error(name: str, members: Iterable[str],
                 edges: Mapping[str, list[tree.Call]]) -> ArchcError:
    """`recursive block: a -> b -> a`, the shortest cycle through `name`, at the call that
    closes it."""
    came_from: dict[str, str | None] = {name: None}
    queue = [name]
    for v in queue:  # breadth first; the list grows while we walk it
        for call in edges[v]:
            if call.name == name:
                path = [v]
                while (prev := came_from[path[-1]]) is not None:
                    path.append(prev)
                chain = " -> ".join([*reversed(path), name])
                return RecursionError_(
                    f"recursive block: {chain}", tree.name_span(call),
                    "a block cannot call itself; repeat with `x * n` or `for i in 0..n`",
                    code=codes.RECURSIVE_BLOCK)
            if call.name in members and call.name not in came_from:
                came_from[call.name] = v
                queue.append(call.name)
    raise AssertionError(f"no cycle through {name}")
