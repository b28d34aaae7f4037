"""Stage 2, expansion remembered: each block call's expanded scope, reused by the next
expansion of the same network (the language server's, one per network: archc/pipeline/driver.py
Memo) where it would come out the same: the very same block and blocks it reaches (AST objects),
the same argument values (with their types: `1`, `1.0` and `true` differ), input shape and
depth. So an edit to a network re-expands the network's own statements, not the blocks it
calls with unchanged values; an edit to a block misses every call that reaches it.

Only calls that found no error are kept (an error learns its call chain, which differs per
call site), and none whose blocks use taps (`tap`, `from`, `output`, `resize(like=...)`: they
read and write the network's table of named values). A reused call adds the work steps its
expansion took (archc/front/work.py), so the budget is the same as expanding it again."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Set
from typing import Any, TypeVar

from archc.core import graph
from archc.core.records import record
from archc.front import tree
from archc.front.work import Work
from archc.registry.ops import REGISTRY

Key = tuple[Any, ...]
N = TypeVar("N", bound=graph.Node)


@record
class Entry:
    """A call expanded: the blocks it reached, its node, its steps, the calls inside it."""

    reached: tuple[tuple[str, tree.Definition], ...]  # every block the call expanded, by name
    node: graph.Scope
    steps: int
    inner: frozenset[Key]  # the calls inside it (their nodes are inside this one)


class Calls:
    """One network's calls of its last expansion, and those of the one before it that this
    one reused (what lives is what the last two expansions used, never more).

    No node is handed out twice in one expansion: a call alike to one already made (or to one
    inside a scope already reused) gets a copy, so two calls are two nodes, as a fresh
    expansion makes them (passes that key a node by identity, the training-memory estimate's
    share per node among them, count each once)."""

    def __init__(self) -> None:
        self.now: dict[Key, Entry] = {}
        self.previous: dict[Key, Entry] = {}
        self.cyclic: frozenset[str] = frozenset()
        self.hits = 0  # calls reused by the last expansion (tests, the benchmark)
        self._used: list[Key] = []  # the calls this expansion made or reused, in order
        self._open: list[int] = []  # for each call being expanded: len(_used) at its start
        self._handed: set[Key] = set()  # _used as a set, for the lookups

    def begin(self, cyclic: Set[str]) -> None:
        """A new expansion of the network, with the program's blocks not to expand."""
        self.previous, self.now, self.hits = self.now, {}, 0
        self._used, self._open, self._handed = [], [], set()
        if cyclic != self.cyclic:  # a call skipped or not before: nothing kept holds
            self.previous, self.cyclic = {}, frozenset(cyclic)

    def get(self, key: Key | None, blocks: Mapping[str, tree.Definition], work: Work
            ) -> graph.Scope | None:
        """The scope a call made before, its work steps taken again; None if not kept (the
        call is then being expanded: `put` or `abandon` ends it)."""
        if key is None:
            return None
        hit = self.now.get(key) or self.previous.get(key)
        if hit is None or work.done + hit.steps > work.limit or \
                any(blocks.get(name) is not b for name, b in hit.reached):
            self._open.append(len(self._used))
            return None
        work.done += hit.steps
        node = hit.node
        if key in self._handed or not hit.inner.isdisjoint(self._handed):
            node = _copy(node)  # handed out already in this expansion: a node of its own
        self.now[key] = hit
        self._used += [key, *hit.inner]
        self._handed.update((key, *hit.inner))
        self.hits += 1
        return node

    def put(self, key: Key | None, block: tree.Definition, blocks: Mapping[str, tree.Definition],
            node: graph.Scope, steps: int) -> None:
        """A call expanded without error: kept for the next expansion."""
        if key is None:
            return
        inner = frozenset(self._used[self._open.pop():])
        self._used.append(key)
        self._handed.add(key)
        reached = _reached(block, blocks)
        if reached is not None and key not in self.now:
            self.now[key] = Entry(reached, node, steps, inner)

    def abandon(self, key: Key | None) -> None:
        """A call expanded with an error (or stopped): nothing kept."""
        if key is not None:
            self._open.pop()


def _copy(node: N) -> N:
    """`node` and everything inside it as new objects (the same values)."""
    new = copy.copy(node)
    if isinstance(node, graph.Scope):
        object.__setattr__(new, "items", tuple(_copy(n) for n in node.items))
    elif isinstance(node, graph.Join):
        object.__setattr__(new, "branches",
                           tuple(tuple(_copy(n) for n in b) for b in node.branches))
    return new


def call_key(block: tree.Definition, values: Mapping[str, Any], depth: int, nesting: int
        ) -> Key | None:
    """What a call's expansion depends on besides the blocks; None if a value cannot be a
    key (only numbers, strings, booleans, None and tuples of them are)."""
    try:
        typed = tuple((name, _typed(v)) for name, v in values.items())
        hash(typed)
    except TypeError:
        return None
    return (id(block), typed, depth, nesting)


def _typed(value: Any) -> Any:
    if isinstance(value, tuple):
        return (tuple, tuple(_typed(v) for v in value))
    if not isinstance(value, (int, float, str, type(None))):
        raise TypeError(type(value).__name__)
    return (type(value), value)


def _reached(block: tree.Definition, blocks: Mapping[str, tree.Definition]
             ) -> tuple[tuple[str, tree.Definition], ...] | None:
    """`block` and every block it can reach, by name; None if one of them uses taps."""
    out = [(block.name, block)]
    seen = {block.name}
    i = 0
    while i < len(out):
        for st in tree.statements(out[i][1].body):
            if isinstance(st, tree.Wire):
                return None
            if not isinstance(st, tree.Call):
                continue
            op = REGISTRY.get(st.name)
            if op is not None:
                if op.tap_args:
                    return None
            elif st.name not in seen and st.name in blocks:
                seen.add(st.name)
                out.append((st.name, blocks[st.name]))
        i += 1
    return tuple(out)
