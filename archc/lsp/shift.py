"""Language server, lines added or removed: an edit inside one definition that adds or removes
lines moves every later item of the file by that many lines. Their ASTs are moved (new
objects: the same trees with every span of the file past the edit moved), and what the last
analysis computed from them is handed on under the moved objects, so that it is not computed
again: the driver's Memo (networks expanded, definitions checked: archc/pipeline/driver.py)
and the server's Kept (each network's index with its keys moved, the hints' labels, each
definition's hints with their lines moved, the statements walked: archc/lsp/analysis.py).

A network reused so keeps the nodes it was made with, spans and all: the index maps each
moved statement's span to them, and nothing in the language server reads a node's span but
the index. Networks and definitions whose check found an error are not handed on (an error
message may name a line: `already used at line 12`); they are checked again, at their new
lines, as is the definition the edit is in (unless it only moved: blank lines or comments
added or removed in it, archc/lsp/reparse.py) and every network that reaches it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from functools import cache
from typing import Any

from archc.core import graph
from archc.core.errors import Span
from archc.expansion.calls import Calls, Entry, Key
from archc.front import tree
from archc.lsp.analysis import Kept, Made, Remembered
from archc.lsp.hints import Hint
from archc.pipeline.driver import Memo

_VALUES = frozenset({str, int, float, bool, type(None)})
_DEFINITION = tree.Definition


@dataclass
class Shift:
    """Old lines of `path` after `last` are `delta` lines further down now; the definitions
    in `gone` were parsed again; `moved`: id(old object) -> (old, new), every object moved."""

    path: str
    last: int
    delta: int
    gone: set[int] = field(default_factory=set)
    moved: dict[int, tuple[Any, Any]] = field(default_factory=dict)

    def line(self, n: int) -> int:
        return n + self.delta if n > self.last else n

    def span(self, s: Span) -> Span:
        if s.path != self.path or (s.line <= self.last and s.end_line <= self.last):
            return s
        return Span(s.path, self.line(s.line), s.col,
                    self.line(s.end_line) if s.end_line else 0, s.end_col)

    def tree(self, obj: Any) -> Any:
        """`obj` (an AST node, a tuple of them, a value; all of it after the edit) with its
        spans moved: new objects, each recorded in `moved`. (Written for speed: it visits
        every node of two thirds of a file at an edit in its first third.)"""
        kind: Any = type(obj)
        if kind is tuple:
            return tuple(map(self.tree, obj))
        if kind is Span:
            return self.span(obj)
        if kind in _VALUES:
            return obj
        names = _fields(kind)
        new = object.__new__(kind)  # frozen: its fields filled as dataclass' __init__ would
        old, fill, tree = obj.__dict__, new.__dict__, self.tree
        for name in names:
            fill[name] = tree(old[name])
        if "calls" in old and kind is _DEFINITION:  # its calls, walked already: moved above
            fill["calls"] = tuple(self.moved[id(c)][1] for c in old["calls"])
        self.moved[id(obj)] = (obj, new)
        return new

    def new(self, obj: Any) -> Any:
        """What `obj` is now: itself if it did not move, None if it was parsed again."""
        if id(obj) in self.gone:
            return None
        hit = self.moved.get(id(obj))
        return hit[1] if hit is not None and hit[0] is obj else obj


@cache
def _fields(kind: type) -> tuple[str, ...]:
    if not is_dataclass(kind):
        raise TypeError(f"cannot move a {kind.__name__}")  # a new kind of AST field
    return tuple(f.name for f in fields(kind))


def hand_on(shift: Shift, memo: Memo | None, kept: Kept | None) -> None:
    """Key what the last analysis kept by the moved objects (see the module's doc)."""
    if memo is not None:
        memo.entries = _rekeyed(shift, memo.entries, lambda v: v[2])
        memo.definitions = _rekeyed(shift, memo.definitions, lambda v: v[1])
        memo.calls = {name: MovedCalls.after(calls, shift) for name, calls in memo.calls.items()}
    if kept is None:
        return
    kept.index = {k: (net, _made(shift, made)) for k, (net, made) in kept.index.items()}
    kept.derived = _remembered(shift, kept.derived, lambda v: (shift.new(v[0]), *v[1:]))
    kept.walked = _remembered(shift, kept.walked, lambda v: (
        shift.new(v[0]), tuple(shift.new(s) for s in v[1])))
    kept.shown = _remembered(shift, kept.shown, lambda v: (shift.new(v[0]), v[1], [
        h if h.line < shift.last else Hint(h.line + shift.delta, h.col, h.label, h.tooltip)
        for h in v[2]]))  # (a hint's line is 0-based: line h.line + 1 moved if > last)


def _rekeyed(shift: Shift, entries: dict[tuple[int, ...], Any], errors: Any
             ) -> dict[tuple[int, ...], Any]:
    """Memo entries (the objects they read, first in the value, keyed by id, then other key
    parts) under the moved objects; none that found an error or read a definition parsed
    again."""
    out = {}
    for key, value in entries.items():
        objects = value[0]
        now = tuple(shift.new(o) for o in objects)
        if errors(value) or any(o is None for o in now):
            continue
        new_key = (*map(id, now), *key[len(objects):])
        out[new_key] = (now, *value[1:])
    return out


def _made(shift: Shift, made: Made) -> Made:
    if all(shift.span(s) is s for s in made):
        return made
    return {shift.span(s): nodes for s, nodes in made.items()}


def _remembered(shift: Shift, old: Remembered[Any], moved: Any) -> Remembered[Any]:
    """`old` with its entries of moved statements or definitions (keyed by id, the object
    first in the value) keyed by the moved ones too: their values hold no line."""
    out: Remembered[Any] = Remembered()
    out.previous = old.previous
    out.now = dict(old.now)
    table = shift.moved
    for entries in (old.previous, old.now):
        for key, value in entries.items():
            hit = table.get(key)
            if hit is not None and hit[0] is value[0]:
                new_value = moved(value)
                if not isinstance(value[0], tree.Definition) or None not in new_value[1]:
                    out.now[id(hit[1])] = new_value
    return out


class MovedCalls(Calls):
    """A network's block calls of its last expansions (archc/expansion/calls.py), with the moves
    made since: the blocks they reached are followed to what each is now at every move (a few
    per network), but their nodes are moved only when the network is expanded again (`begin`),
    as most networks are reused whole (the Memo); the moves kept are their lines only, not the
    moved objects (which would keep each older version's AST alive). A call whose blocks all
    moved is kept under the moved blocks, its nodes copied with their spans moved (those of
    every scope but the call's own, which the expansion sets to the call's span, are in its
    blocks); a call reaching a definition parsed again is dropped. So an edit that adds or
    removes lines re-expands the calls of the block it is in, not those of the blocks below
    it."""

    MAX_PENDING = 8  # moves kept for a network not expanded meanwhile; more: its calls dropped

    pending: list[Shift]  # the moves since the last expansion: their lines (no objects)
    # id(a block the calls reached) -> (that block, what it is now: None if parsed again)
    blocks: dict[int, tuple[tree.Definition, tree.Definition | None]]

    @classmethod
    def after(cls, calls: Calls, shift: Shift) -> MovedCalls:
        if not isinstance(calls, MovedCalls):
            moved = cls()
            moved.__dict__.update(calls.__dict__)
            moved.pending, moved.blocks = [], {}
            calls = moved
        assert isinstance(calls, MovedCalls)
        if not calls.pending:  # the blocks of the calls of the last expansion
            calls.blocks = {id(b): (b, b) for table in (calls.now, calls.previous)
                            for e in table.values() for _, b in e.reached}
        calls.blocks = {k: (old, None if now is None else shift.new(now))
                        for k, (old, now) in calls.blocks.items()}
        calls.pending.append(Shift(shift.path, shift.last, shift.delta))
        if len(calls.pending) > cls.MAX_PENDING:
            calls.pending, calls.blocks, calls.now, calls.previous = [], {}, {}, {}
        return calls

    def begin(self, cyclic: Any) -> None:
        if self.pending:
            nodes: dict[int, tuple[Any, Any]] = {}
            keys: dict[Key, Key] = {}
            self.now = _moved_calls(self, self.now, nodes, keys)
            self.previous = _moved_calls(self, self.previous, nodes, keys)
            for table in (self.now, self.previous):
                for key, e in table.items():
                    if not e.inner.isdisjoint(keys):
                        table[key] = Entry(e.reached, e.node, e.steps,
                                           frozenset(keys.get(k, k) for k in e.inner))
        self.pending, self.blocks = [], {}
        super().begin(cyclic)

    def now_is(self, block: tree.Definition) -> tree.Definition | None:
        hit = self.blocks.get(id(block))
        return hit[1] if hit is not None and hit[0] is block else block

    def span(self, span: Span) -> Span:
        for shift in self.pending:
            span = shift.span(span)
        return span


def _moved_calls(calls: MovedCalls, table: dict[Key, Entry], nodes: dict[int, tuple[Any, Any]],
                 keys: dict[Key, Key]) -> dict[Key, Entry]:
    """`table`'s calls under the moved blocks (`keys`: old key -> new, for the calls inside)."""
    out = {}
    for key, e in table.items():
        now = [(name, calls.now_is(b)) for name, b in e.reached]
        reached = tuple((name, b) for name, b in now if b is not None)
        if len(reached) < len(now):
            continue  # it reached the definition edited
        if all(b is old for (_, b), (_, old) in zip(reached, e.reached, strict=True)):
            out[key] = e  # (its blocks are above the edits: its spans too)
            continue
        keys[key] = new_key = (id(reached[0][1]), *key[1:])  # (the called block comes first)
        out[new_key] = Entry(reached, _node(calls, e.node, nodes), e.steps, e.inner)
    return out


def _node(calls: MovedCalls, node: Any, done: dict[int, tuple[Any, Any]]) -> Any:
    """`node` and every node inside it, copied with their spans moved; a node met twice (in
    two calls, one inside the other) copied once."""
    hit = done.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    inner: dict[str, Any] = {}
    if isinstance(node, graph.Scope):
        inner["items"] = tuple(_node(calls, n, done) for n in node.items)
    elif isinstance(node, graph.Join):
        inner["branches"] = tuple(tuple(_node(calls, n, done) for n in b) for b in node.branches)
    new = graph.changed(node, span=calls.span(node.span), **inner)
    done[id(node)] = (node, new)
    return new
