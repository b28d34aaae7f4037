"""Language server, analysis: the compiler's one driver (archc/pipeline/driver.py: parse, `use`,
prelude, names, every network expanded and shape-checked, every definition) run on an editor's
text, in stages, keeping what the features read: the AST, the resolved nodes made by each
statement, and every error. No second parser: a file that does not parse has no AST, and the
features fall back to the last analysis that had one (see LineMap)."""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Generic, TypeVar

from archc.core import graph
from archc.core.errors import ArchcError, Span
from archc.expansion.stats import Counts, count
from archc.front import tree
from archc.front.parse import parse
from archc.pipeline import driver
from archc.pipeline.driver import run  # noqa: F401  (all stages at once: tests, the benchmark)
from archc.pipeline.program import Program

PRELUDE = "<prelude>"  # the path the compiler gives the prelude's spans
T = TypeVar("T")


@lru_cache(maxsize=256)
def parse_cached(text: str, path: str) -> tree.Module:
    """`parse`, remembered: the AST is immutable, so an unchanged `use`d file (or the same
    text analysed again) is not parsed twice. Errors are raised again, not remembered."""
    return parse(text, path)


_TOP_LEVEL = re.compile(r"^(?:network|block|use)\b", re.M)


def parse_by_definition(text: str, path: str) -> tree.Module:
    """`parse`, one top-level piece at a time, each remembered, so typing inside one
    definition re-parses only that one. A piece starts at a line that starts with `network`,
    `block` or `use` (as `archc fmt` lays files out) and is parsed after as many newlines as
    precede it, so its spans are the whole file's. The grammar is a sequence of such pieces,
    so when every piece parses the result is the whole file's AST; when one does not, the
    whole file is parsed, so errors are exactly the compiler's."""
    starts = [m.start() for m in _TOP_LEVEL.finditer(text)][1:]
    if not starts:
        return parse_cached(text, path)
    bounds = [0, *starts, len(text)]
    uses: list[tree.Use] = []
    definitions: list[tree.Definition] = []
    requires: list[tree.Requires] = []
    try:
        for a, b in itertools.pairwise(bounds):
            piece = parse_cached("\n" * text.count("\n", 0, a) + text[a:b], path)
            uses.extend(piece.uses)
            definitions.extend(piece.definitions)
            requires.extend(piece.requires)
    except ArchcError:
        return parse_cached(text, path)
    return tree.Module(path, tuple(uses), tuple(definitions), requires=tuple(requires))


# One network's index: each statement's span -> the nodes it made, with their qualified names
Made = dict[Span, list[tuple[str, graph.Node]]]


@dataclass
class Analysis:
    """Everything the features need about one version of one document."""

    path: str
    text: str
    version: int | None
    program: Program
    module: tree.Module | None  # None when the text does not parse
    networks: dict[str, graph.Network] = field(default_factory=dict)
    errors: list[tuple[ArchcError, str | None]] = field(default_factory=list)  # (error, network)
    # each network's index: statement span -> the nodes it made (see nodes())
    parts: list[Made] = field(default_factory=list)
    # counts of the nodes asked about, by id, with the node (its id stays its own)
    _counts: Remembered[tuple[graph.Node, Counts | None]] = \
        field(default_factory=lambda: Remembered())
    # what a feature derived from one statement's nodes (archc/lsp/hints.py), by the
    # statement's id: (the statement, the node lists it read, the result); see derived()
    _derived: Remembered[tuple[tree.Stmt, list[list[tuple[str, graph.Node]]], Any]] = \
        field(default_factory=lambda: Remembered())
    # each definition's statements, walked once per definition object (see statements())
    _walked: Remembered[tuple[tree.Definition, tuple[tree.Stmt, ...]]] = \
        field(default_factory=lambda: Remembered())
    # what a feature derived from one definition's statements (the hints of a definition), by
    # the definition's id: (the definition, the networks reaching it, the result); see shown()
    _shown: Remembered[tuple[tree.Definition, tuple[graph.Network, ...], Any]] = \
        field(default_factory=lambda: Remembered())
    # every network's index merged: statement span -> one node list per network (see _made())
    _by_span: dict[Span, list[list[tuple[str, graph.Node]]]] | None = None
    _reaching: dict[int, tuple[graph.Network, ...]] | None = None  # see reaching()

    @property
    def parsed(self) -> bool:
        return self.module is not None

    def nodes(self, span: Span) -> list[tuple[str, graph.Node]]:
        """The resolved nodes a statement made, with their qualified names (`net.layer2.0`),
        one per time it ran: a block body runs once per call, a repetition once per instance."""
        found = self._made(span)
        return found[0] if len(found) == 1 else [x for nodes in found for x in nodes]

    def _made(self, span: Span) -> list[list[tuple[str, graph.Node]]]:
        if self._by_span is None:  # built at the first question: one pass over the indexes
            self._by_span = {}
            for part in self.parts:
                for at, made in part.items():
                    self._by_span.setdefault(at, []).append(made)
        return self._by_span.get(span, [])

    def statements(self, d: tree.Definition) -> tuple[tree.Stmt, ...]:
        """`ast.statements(d.body)`, remembered from the document's last analyses while `d` is
        the same AST object (the parse keeps every definition an edit did not touch)."""
        hit = self._walked.get(id(d))
        if hit is not None and hit[0] is d:
            return hit[1]
        found = tuple(tree.statements(d.body))
        self._walked.put(id(d), (d, found))
        return found

    def derived(self, st: tree.Stmt, make: Callable[[], T]) -> T:
        """`make()`, a function of the statement and the nodes it made only, remembered from
        the document's last analyses while the statement is the same AST object and it made
        the same node objects under the same names (its networks were not expanded again, or
        their expansion reused the block calls it is in: archc/expansion/calls.py)."""
        lists = self._made(st.span)
        hit = self._derived.get(id(st))
        if hit is not None and hit[0] is st and len(hit[1]) == len(lists) and all(
                _same(a, b) for a, b in zip(hit[1], lists, strict=True)):
            return hit[2]
        value = make()
        self._derived.put(id(st), (st, lists, value))
        return value

    def shown(self, d: tree.Definition, make: Callable[[], T]) -> T:
        """`make()`, a function of a definition and the nodes its statements made only,
        remembered while the definition is the same AST object (or it moved:
        archc/lsp/shift.py) and the networks reaching it are the same network objects (the
        Memo hands back a network it did not expand again): so a whole file's hints are
        checked per definition, not per statement."""
        nets = self.reaching(d)
        hit = self._shown.get(id(d))
        if hit is not None and hit[0] is d and len(hit[1]) == len(nets) and all(
                x is y for x, y in zip(hit[1], nets, strict=True)):
            return hit[2]
        value = make()
        self._shown.put(id(d), (d, nets, value))
        return value

    def reaching(self, d: tree.Definition) -> tuple[graph.Network, ...]:
        """The networks whose expansion reached definition `d` (itself, or through calls)."""
        if self._reaching is None:
            found: dict[int, list[graph.Network]] = {}
            for name, net in self.networks.items():
                defn = self.program.networks.get(name)
                for b in _reach(defn, self.program.blocks) if defn is not None else ():
                    found.setdefault(id(b), []).append(net)
            self._reaching = {k: tuple(v) for k, v in found.items()}
        return self._reaching.get(id(d), ())

    def counts(self, node: graph.Node) -> Counts | None:
        """Parameters and MACs of a node; None where a shape inside it is unknown (after a
        layer that failed)."""
        hit = self._counts.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        value = self._count(node)
        self._counts.put(id(node), (node, value))
        return value

    def _count(self, node: graph.Node) -> Counts | None:
        """`count(node)`, a block's or join's parts taken from the remembered counts, so that
        the hints of nested blocks count each layer once, not once per enclosing block."""
        try:
            return count(node, self._known)
        except TypeError:  # a shape is None: the counting rules need sizes
            return None

    def _known(self, node: graph.Node) -> Counts:
        found = self.counts(node)
        if found is None:
            raise TypeError("a shape inside is unknown")
        return found

    def modules(self) -> list[tree.Module]:
        """The parsed files this document sees: itself and what it `use`s (not the prelude)."""
        out = [self.module] if self.module else []
        for path, text in self.program.sources.items():
            if path not in (self.path, PRELUDE):
                try:
                    out.append(parse_by_definition(text, path))
                except ArchcError:
                    continue
        return out


Stages = Generator[None, None, Analysis]


V = TypeVar("V")


class Remembered(Generic[V]):
    """A dict of this analysis' entries, falling back to the last analysis' (an entry read
    from there is carried over): what the analyses of one document remember lives two
    generations at most, so the nodes of networks an edit replaced are let go."""

    def __init__(self, previous: Remembered[V] | None = None) -> None:
        self.now: dict[int, V] = {}
        self.previous = previous.now if previous is not None else {}

    def get(self, key: int) -> V | None:
        hit = self.now.get(key)
        if hit is None:
            hit = self.previous.get(key)
            if hit is not None:
                self.now[key] = hit
        return hit

    def put(self, key: int, value: V) -> None:
        self.now[key] = value


@dataclass
class Kept:
    """What one document's analyses hand on to the next (the server keeps one per document,
    beside the driver's Memo): each network's index, the counts asked for and the hints,
    keyed by the very network, node and statement objects, which the Memo and the parse
    cache hand back unchanged for everything an edit did not touch. So an edit re-indexes,
    re-counts and re-hints only the networks it re-expanded; only the last analysis' indexes
    are kept, and its counts and hints (Remembered), nothing older."""

    index: dict[int, tuple[graph.Network, Made]] = field(default_factory=dict)
    counts: Remembered[tuple[graph.Node, Counts | None]] = field(
        default_factory=lambda: Remembered())
    derived: Remembered[tuple[tree.Stmt, list[list[tuple[str, graph.Node]]], Any]] = field(
        default_factory=lambda: Remembered())
    walked: Remembered[tuple[tree.Definition, tuple[tree.Stmt, ...]]] = field(
        default_factory=lambda: Remembered())
    shown: Remembered[tuple[tree.Definition, tuple[graph.Network, ...], Any]] = field(
        default_factory=lambda: Remembered())


def analyze(path: str, text: str, version: int | None,
            parse_file: Callable[[str, str], tree.Module] = parse_by_definition,
            memo: driver.Memo | None = None, kept: Kept | None = None) -> Stages:
    """Analyse one document through the compiler's one driver (archc/pipeline/driver.py), yielding
    between its stages so that a caller can drop the work when a newer edit arrives; the same
    diagnostics as `archc check`. `memo` and `kept`: what the document's last analysis
    computed, reused where nothing it read changed. Returns the Analysis."""
    parsed: dict[str, tree.Module] = {}

    def parse_and_keep(text: str, file: str) -> tree.Module:
        parsed[file] = parse_file(text, file)
        return parsed[file]

    done = yield from driver.stages(path, text, parse_file=parse_and_keep, memo=memo)
    kept = kept if kept is not None else Kept()
    index = {}
    for net in done.networks.values():
        old = kept.index.get(id(net))
        index[id(net)] = old if old is not None and old[0] is net else (net, _index(net))
    kept.index = index
    kept.counts, kept.derived = Remembered(kept.counts), Remembered(kept.derived)
    kept.walked, kept.shown = Remembered(kept.walked), Remembered(kept.shown)
    return Analysis(path, text, version, done.program, parsed.get(path),
                    networks=done.networks, errors=done.diagnostics,
                    parts=[made for _, made in index.values()], _counts=kept.counts,
                    _derived=kept.derived, _walked=kept.walked, _shown=kept.shown)


def _reach(defn: tree.Definition, blocks: dict[str, tree.Definition]) -> list[tree.Definition]:
    """`defn` and every block it reaches through calls, each once."""
    out, seen = [defn], {defn.name}
    for d in out:  # (grows while walked)
        for call in d.calls:
            b = blocks.get(call.name)
            if b is not None and b.name not in seen:
                seen.add(b.name)
                out.append(b)
    return out


def _same(a: list[tuple[str, graph.Node]], b: list[tuple[str, graph.Node]]) -> bool:
    return a is b or len(a) == len(b) and all(
        x[1] is y[1] and x[0] == y[0] for x, y in zip(a, b, strict=True))


def _index(net: graph.Network) -> Made:
    made: Made = {}
    for qual, node in graph.walk(net.root.items):
        made.setdefault(node.span, []).append((qual, node))
    return made


# ----------------------------------------------------------------------------- stale positions


class LineMap:
    """Where the unchanged lines of an old text are in a new one, so the shapes of the last
    analysis that parsed can be shown on a text that no longer does. Equal leading and
    trailing lines are matched directly (an edit usually touches one region); difflib
    matches the lines between them, when there are not too many (it is quadratic)."""

    MAX_DIFFED = 2000  # lines on each side between the equal head and tail

    def __init__(self, old: str, new: str):
        self.forward: dict[int, int] = {}
        self.identity = old == new
        if self.identity:
            return
        a, b = old.split("\n"), new.split("\n")
        head = 0
        while head < min(len(a), len(b)) and a[head] == b[head]:
            head += 1
        tail = 0
        while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
            tail += 1
        self.forward.update((i, i) for i in range(head))
        self.forward.update((len(a) - 1 - k, len(b) - 1 - k) for k in range(tail))
        mid_a, mid_b = a[head:len(a) - tail], b[head:len(b) - tail]
        if 0 < len(mid_a) <= self.MAX_DIFFED and 0 < len(mid_b) <= self.MAX_DIFFED:
            matcher = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False)
            for block in matcher.get_matching_blocks():
                self.forward.update((head + block.a + k, head + block.b + k)
                                    for k in range(block.size))
        self.back = {v: k for k, v in self.forward.items()}

    def new_line(self, old_line: int) -> int | None:
        return old_line if self.identity else self.forward.get(old_line)

    def old_line(self, new_line: int) -> int | None:
        return new_line if self.identity else self.back.get(new_line)


# ----------------------------------------------------------------------------- the AST


def calls(module: tree.Module) -> Iterator[tuple[tree.Definition, tree.Call]]:
    """Every call in a file, with the definition it is in."""
    for d in module.definitions:
        for st in tree.calls(d.body):
            yield d, st


def contains(span: Span, line: int, col: int) -> bool:
    """0-based (line, col) inside a span, its end included (a cursor just after a name)."""
    start = (span.line - 1, span.col - 1)
    end = (span.end_line - 1, span.end_col - 1) if span.end_line else start
    return start <= (line, col) <= end
