"""Language server, analysis: the compiler's own passes (archc/program.py: parse, `use`,
prelude, names; archc/expand.py: every network expanded and shape-checked) run on an editor's
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

from .. import ast, graph
from ..definitions import check_definitions, merge
from ..errors import ArchcError, NameError_, Span
from ..expand import expand_network
from ..parse import parse
from ..plugins import explain_missing
from ..program import Program, load_program
from ..stats import Counts, count
from ..work import Work

PRELUDE = "<prelude>"  # the path the compiler gives the prelude's spans


@lru_cache(maxsize=256)
def parse_cached(text: str, path: str) -> ast.Module:
    """`parse`, remembered: the AST is immutable, so an unchanged `use`d file (or the same
    text analysed again) is not parsed twice. Errors are raised again, not remembered."""
    return parse(text, path)


_TOP_LEVEL = re.compile(r"^(?:network|block|use)\b", re.M)


def parse_by_definition(text: str, path: str) -> ast.Module:
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
    uses: list[ast.Use] = []
    definitions: list[ast.Definition] = []
    requires: list[ast.Requires] = []
    try:
        for a, b in itertools.pairwise(bounds):
            piece = parse_cached("\n" * text.count("\n", 0, a) + text[a:b], path)
            uses.extend(piece.uses)
            definitions.extend(piece.definitions)
            requires.extend(piece.requires)
    except ArchcError:
        return parse_cached(text, path)
    return ast.Module(path, tuple(uses), tuple(definitions), requires=tuple(requires))


@dataclass
class Analysis:
    """Everything the features need about one version of one document."""

    path: str
    text: str
    version: int | None
    program: Program
    module: ast.Module | None  # None when the text does not parse
    networks: dict[str, graph.Network] = field(default_factory=dict)
    errors: list[tuple[ArchcError, str | None]] = field(default_factory=list)  # (error, network)
    made: dict[Span, list[tuple[str, graph.Node]]] = field(default_factory=dict)  # see nodes()
    _counts: dict[int, Counts | None] = field(default_factory=dict)

    @property
    def parsed(self) -> bool:
        return self.module is not None

    def nodes(self, span: Span) -> list[tuple[str, graph.Node]]:
        """The resolved nodes a statement made, with their qualified names (`net.layer2.0`),
        one per time it ran: a block body runs once per call, a repetition once per instance."""
        return self.made.get(span, [])

    def counts(self, node: graph.Node) -> Counts | None:
        """Parameters and MACs of a node; None where a shape inside it is unknown (after a
        layer that failed)."""
        key = id(node)
        if key not in self._counts:
            try:
                self._counts[key] = count(node)
            except TypeError:  # a shape is None: the counting rules need sizes
                self._counts[key] = None
        return self._counts[key]

    def modules(self) -> list[ast.Module]:
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


def analyze(path: str, text: str, version: int | None,
            parse_file: Callable[[str, str], ast.Module] = parse_by_definition) -> Stages:
    """Analyse one document, yielding between stages (loading, then each network) so that a
    caller can drop the work when a newer edit arrives. Returns the Analysis."""
    parsed: dict[str, ast.Module] = {}

    def parse_and_keep(text: str, file: str) -> ast.Module:
        parsed[file] = parse_file(text, file)
        return parsed[file]

    yield  # a newer edit may have come while this waited for the worker
    prog = load_program(path, text, parse_and_keep)
    result = Analysis(path, text, version, prog, parsed.get(path),
                      errors=[(e, None) for e in prog.errors])
    yield
    if any(not isinstance(e, NameError_) for e in prog.errors) and not prog.networks:
        return result
    work = Work()  # one budget for the document, as `archc check` has (archc/work.py)
    for i, (name, defn) in enumerate(prog.networks.items()):
        if i:
            yield
        net, errs = expand_network(defn, prog.blocks, prog.cyclic, None, None, prog.path, work)
        result.errors.extend((e, name) for e in errs)
        if work.exhausted:
            break
        if net is not None:
            result.networks[name] = net
            _index(net, result.made)
    if not work.exhausted:  # then every definition, called or not (archc/definitions.py)
        yield
        concrete = [e for e, _ in result.errors]
        found = check_definitions(prog.definitions, prog.blocks, prog.cyclic, work.another())
        result.errors += [(e, None) for e in merge(concrete, found)[len(concrete):]]
    if prog.requires:  # an unknown op of a required plugin names it, as in check_program
        named = explain_missing([e for e, _ in result.errors], prog.requires)
        result.errors = [(e, n) for e, (_, n) in zip(named, result.errors, strict=True)]
    result.errors = _dedupe(result.errors)
    return result


def run(stages: Stages) -> Analysis:
    """Run all stages at once (tests, the benchmark's baseline)."""
    while True:
        try:
            next(stages)
        except StopIteration as done:
            return done.value


def _index(net: graph.Network, made: dict[Span, list[tuple[str, graph.Node]]]) -> None:
    for qual, node in graph.walk(net.root.items):
        made.setdefault(node.span, []).append((qual, node))


def _dedupe(errors: list[tuple[ArchcError, str | None]]) -> list[tuple[ArchcError, str | None]]:
    seen, out = set(), []
    for err, net in errors:
        key = (err.span, err.message)
        if key not in seen:
            seen.add(key)
            out.append((err, net))
    return out


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


def statements(stmts: tuple[ast.Stmt, ...]) -> Iterator[ast.Stmt]:
    """Every statement of a body and inside it, in source order (both branches of every
    `if`, every branch of a join)."""
    stack = list(reversed(stmts))
    while stack:
        st = stack.pop()
        yield st
        stack.extend(reversed(_children(st)))


def _children(st: ast.Stmt) -> tuple[ast.Stmt, ...]:
    if isinstance(st, (ast.Labelled, ast.Repeat)):
        return (st.unit,)
    if isinstance(st, (ast.Group, ast.Loop)):
        return st.body
    if isinstance(st, ast.Cond):
        return st.then + st.orelse
    if isinstance(st, ast.Branches):
        return tuple(s for branch in st.branches for s in branch)
    return ()


def calls(module: ast.Module) -> Iterator[tuple[ast.Definition, ast.Call]]:
    """Every call in a file, with the definition it is in."""
    for d in module.definitions:
        for st in statements(d.body):
            if isinstance(st, ast.Call):
                yield d, st


def name_span(call: ast.Call) -> Span:
    s = call.span
    return Span(s.path, s.line, s.col, s.line, s.col + len(call.name))


def label_span(st: ast.Labelled, lines: list[str]) -> Span:
    """The label as written: `conv1`, `0`, or a quoted `"block1-0"` with its quotes."""
    s = st.span
    line = lines[s.line - 1] if 0 < s.line <= len(lines) else ""
    quoted = line[s.col - 1:s.col] == '"'
    return Span(s.path, s.line, s.col, s.line, s.col + len(st.label) + 2 * quoted)


def contains(span: Span, line: int, col: int) -> bool:
    """0-based (line, col) inside a span, its end included (a cursor just after a name)."""
    start = (span.line - 1, span.col - 1)
    end = (span.end_line - 1, span.end_col - 1) if span.end_line else start
    return start <= (line, col) <= end
