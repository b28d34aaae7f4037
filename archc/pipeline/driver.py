"""The one driver: file -> program (syntax, `use`s, names) -> each network -> every definition
-> diagnostics, merged, deduplicated, sorted where the user sees them and capped.

Every command, the Python API (`archc.load`), the exporter and the language server compile a
spec here, so one file gives the same diagnostics everywhere. The rule for a definition a
command does not use: a file with an error anywhere (an uncalled block, another network) is
reported and not built, by every command alike, as a compiler refuses a file with an error in
an unused function. `stages` yields between the stages so that the language server can drop
the work when a newer edit arrives; `compile_spec` runs them all at once.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import field, replace
from pathlib import Path
from typing import Any, TypeVar

from archc.core import graph
from archc.core.errors import (
    ArchcError,
    ArchcErrors,
    NameError_,
    located_for_user,
    too_many_errors,
)
from archc.core.limits import MAX_ERRORS
from archc.core.records import mutable_record
from archc.expansion.calls import Calls
from archc.expansion.definitions import Reuse, check_definitions, merge
from archc.expansion.expand import expand_network
from archc.front import tree
from archc.front.work import Work, paused_gc
from archc.pipeline.program import (
    Program,
    load_program,
    pick_network,
    prelude_errors,
    resolve_spec,
)
from archc.plugins import explain_missing

ParseFile = Callable[[str, str], tree.Module]
T = TypeVar("T")


@mutable_record
class Compiled:
    """What the driver knows of one file."""

    program: Program
    chosen: str | None  # the network a command builds (--network, or the file's first)
    networks: dict[str, graph.Network] = field(default_factory=dict)  # each one expanded
    # Every diagnostic with the network whose expansion found it (None: loading, definitions)
    diagnostics: list[tuple[ArchcError, str | None]] = field(default_factory=list)

    @property
    def errors(self) -> list[ArchcError]:
        return [e for e, _ in self.diagnostics]

    def network(self) -> graph.Network:
        """The chosen network; ArchcErrors with every diagnostic if the file has any."""
        try:
            if any(e.severity == "error" for e in self.errors):  # a warning alone builds
                raise ArchcErrors(self.errors)
            defn = pick_network(self.program, self.chosen)
        except ArchcError as exc:
            exc.sources = self.program.sources  # rendered from the texts that were parsed
            raise
        return replace(self.networks[defn.name], sources=self.program.sources)


Stages = Generator[None, None, Compiled]


@mutable_record
class Memo:
    """The networks one document's last analysis expanded, for the language server: a network
    is expanded again only when its definition or a block it reaches is not the very same AST
    object as before. The server's parser returns an unchanged definition's AST from its cache
    (archc/lsp/analysis.py `parse_by_definition`), so an edit re-expands the network it is in
    and those that call the block it is in, never the others. Identity, not equality: a
    definition that moved keeps its text but not its spans, and must be expanded anew."""

    # key -> (the objects the key names, kept alive so that their ids stay theirs; the network;
    # its errors; the steps of the work budget it took)
    entries: dict[tuple[int, ...], tuple[tuple[Any, ...], graph.Network | None,
                                         list[ArchcError], int]] = field(default_factory=dict)
    hits: int = 0  # networks reused by the last analysis (tests, the benchmark)
    definitions: Reuse = field(default_factory=dict)  # archc/expansion/definitions.py's, likewise
    # each network's block calls, for when it is expanded again (archc/expansion/calls.py)
    calls: dict[str, Calls] = field(default_factory=dict)


def _reached(defn: tree.Definition, blocks: Mapping[str, tree.Definition]) -> list[tree.Definition]:
    """`defn` and every block it reaches through calls, each once, in a fixed order."""
    out = [defn]
    seen = {defn.name}
    i = 0
    while i < len(out):
        for call in out[i].calls:
            b = blocks.get(call.name)
            if b is not None and b.name not in seen:
                seen.add(b.name)
                out.append(b)
        i += 1
    return out


def _expand(defn: tree.Definition, prog: Program, overrides: Mapping[str, Any] | None,
            input_shape: graph.InputShape | None, work: Work, memo: Memo | None,
            kept: dict[tuple[int, ...], Any]) -> tuple[graph.Network | None, list[ArchcError]]:
    """expand_network, or its result of the last analysis when nothing it reads has changed
    (and the budget has room for the steps it took)."""
    if memo is None or overrides or input_shape is not None:
        return expand_network(defn, prog.blocks, prog.cyclic, overrides, input_shape,
                              prog.path, work)
    reached = tuple(_reached(defn, prog.blocks))
    key = (*map(id, reached), hash(frozenset(prog.cyclic)), hash(prog.path))
    hit = memo.entries.get(key)
    if hit is not None and work.done + hit[3] <= work.limit:
        work.done += hit[3]
        memo.hits += 1
        kept[key] = hit
        return hit[1], list(hit[2])
    before = work.done
    net, errors = expand_network(defn, prog.blocks, prog.cyclic, None, None, prog.path, work,
                                 memo.calls.setdefault(defn.name, Calls()))
    if not work.exhausted:
        kept[key] = (reached, net, list(errors), work.done - before)
    return net, errors


def stages(path: str | Path, text: str | None = None, *,
           overrides: Mapping[str, Any] | None = None, input_shape: graph.InputShape | None = None,
           network: str | None = None, parse_file: ParseFile | None = None,
           memo: Memo | None = None) -> Stages:
    """Compile one file, yielding between stages. `overrides` and `input_shape` apply to the
    chosen network; the others expand with their defaults. An unknown `network` name is a
    UsageError, raised after loading. `memo`: reuse the networks of the last analysis whose
    definitions are unchanged (the language server's, one per document)."""
    yield  # a newer edit may have come while this waited (the language server)
    with paused_gc():  # parsing, as expansion, makes many objects and no cycles (work.py)
        prog = load_program(path, text, parse_file)
    chosen = pick_network(prog, network).name if network is not None else next(
        iter(prog.networks), None)
    done = Compiled(prog, chosen, diagnostics=[(e, None) for e in prog.errors])
    if any(not isinstance(e, NameError_) for e in prog.errors) and not prog.networks:
        return _finish(done)  # nothing parsed that a later stage could check
    work = Work()  # one budget for the file: a thousand networks get no more than one
    kept: dict[tuple[int, ...], Any] = {}
    if memo is not None:
        memo.hits = 0
    for i, (name, defn) in enumerate(prog.networks.items()):
        if i:
            yield
        mine = name == chosen
        net, errors = _expand(defn, prog, overrides if mine else None,
                              input_shape if mine else None, work, memo, kept)
        done.diagnostics += [(e, name) for e in errors]
        if net is not None:
            done.networks[name] = net
        if work.exhausted:
            return _finish(done)
        if len(done.diagnostics) >= MAX_ERRORS:
            return _finish(done, stopped=True)
    if memo is not None:
        memo.entries = kept  # only what this analysis used: the memo never grows
        memo.calls = {n: c for n, c in memo.calls.items() if n in prog.networks}
    yield
    # Then every definition, called or not, with its parameters unknown
    # (archc/expansion/definitions.py) (a budget of its own: this pass is linear in the text, and a
    # spec whose networks come near the limit must not fail for being checked once more)
    concrete = done.errors
    made: Reuse = {}
    with paused_gc():
        found = [*prelude_errors(), *check_definitions(
            prog.definitions, prog.blocks, prog.cyclic, work.another(),
            memo.definitions if memo is not None else None, made if memo is not None else None)]
    if memo is not None:
        memo.definitions = made
    done.diagnostics += [(e, None) for e in merge(concrete, found)[len(concrete):]]
    return _finish(done)


def run(steps: Generator[None, None, T]) -> T:
    """Run every stage at once (the driver's, or the language server's analysis)."""
    while True:
        try:
            next(steps)
        except StopIteration as finished:
            return finished.value


def compile_spec(source: str | Path, overrides: Mapping[str, Any] | None = None,
                 input_shape: graph.InputShape | None = None, network: str | None = None,
                 text: str | None = None) -> Compiled:
    """A spec file (or, when `text` is None, a bundled spec or a zoo member by name:
    `efficientnet_b0` compiles its family spec with its `--set` values), compiled."""
    if text is None:
        from archc.pipeline.zoo import as_spec

        source, overrides, network = as_spec(source, overrides, network)
    path = resolve_spec(str(source)) if text is None else Path(source)
    return run(stages(path, text, overrides=overrides, input_shape=input_shape,
                      network=network))


def check(path: str | Path, text: str | None = None,
          overrides: Mapping[str, Any] | None = None,
          input_shape: graph.InputShape | None = None) -> list[ArchcError]:
    """Every diagnostic of one file (what `archc check` prints)."""
    return run(stages(path, text, overrides=overrides, input_shape=input_shape)).errors


def load_network(source: str | Path, overrides: Mapping[str, Any] | None = None,
                 input_shape: graph.InputShape | None = None, network: str | None = None,
                 text: str | None = None) -> tuple[graph.Network, Program]:
    """The chosen network of a spec that compiles clean, and its program; ArchcErrors with
    every diagnostic of the file otherwise."""
    done = compile_spec(source, overrides, input_shape, network, text)
    return done.network(), done.program


def _finish(done: Compiled, stopped: bool = False) -> Compiled:
    """Deduplicated (one place, one message), sorted where the user sees them, capped at
    MAX_ERRORS with a last error saying so (also when a stage `stopped` at the cap). An unknown
    layer in a spec that `requires` a plugin not loaded names the plugin (archc/plugins.py)."""
    if done.program.requires:
        named = explain_missing(done.errors, done.program.requires)
        done.diagnostics = [(e, n) for e, (_, n) in zip(named, done.diagnostics, strict=True)]
    seen: set[tuple[Any, str]] = set()
    kept = []
    for err, net in done.diagnostics:
        key = (err.span, err.message)
        if key not in seen:
            seen.add(key)
            kept.append((err, net))
    kept.sort(key=lambda d: _where_shown(d[0]))
    if stopped or len(kept) > MAX_ERRORS:
        last = kept[min(MAX_ERRORS, len(kept) - 1)][0]
        kept = [*kept[:MAX_ERRORS], (too_many_errors(last.span), None)]
    done.diagnostics = kept
    return done


def _where_shown(e: ArchcError) -> tuple[str, int, int]:
    span = located_for_user(e).span  # an error inside the prelude sorts at the user's call
    return (span.path, span.line, span.col) if span else ("", 0, 0)
