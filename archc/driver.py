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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import ast, graph
from .definitions import check_definitions, merge
from .errors import ArchcError, ArchcErrors, NameError_, located_for_user, too_many_errors
from .expand import expand_network
from .limits import MAX_ERRORS
from .plugins import explain_missing
from .program import Program, load_program, pick_network, prelude_errors, resolve_spec
from .work import Work

ParseFile = Callable[[str, str], ast.Module]


@dataclass
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
            if self.diagnostics:
                raise ArchcErrors(self.errors)
            defn = pick_network(self.program, self.chosen)
        except ArchcError as exc:
            exc.sources = self.program.sources  # rendered from the texts that were parsed
            raise
        return replace(self.networks[defn.name], sources=self.program.sources)


Stages = Generator[None, None, Compiled]


def stages(path: str | Path, text: str | None = None, *,
           overrides: Mapping[str, Any] | None = None, input_shape: graph.Shape | None = None,
           network: str | None = None, parse_file: ParseFile | None = None) -> Stages:
    """Compile one file, yielding between stages. `overrides` and `input_shape` apply to the
    chosen network; the others expand with their defaults. An unknown `network` name is a
    UsageError, raised after loading."""
    yield  # a newer edit may have come while this waited (the language server)
    prog = load_program(path, text, parse_file)
    chosen = pick_network(prog, network).name if network is not None else next(
        iter(prog.networks), None)
    done = Compiled(prog, chosen, diagnostics=[(e, None) for e in prog.errors])
    if any(not isinstance(e, NameError_) for e in prog.errors) and not prog.networks:
        return _finish(done)  # nothing parsed that a later stage could check
    work = Work()  # one budget for the file: a thousand networks get no more than one
    for i, (name, defn) in enumerate(prog.networks.items()):
        if i:
            yield
        mine = name == chosen
        net, errors = expand_network(defn, prog.blocks, prog.cyclic,
                                     overrides if mine else None,
                                     input_shape if mine else None, prog.path, work)
        done.diagnostics += [(e, name) for e in errors]
        if net is not None:
            done.networks[name] = net
        if work.exhausted:
            return _finish(done)
        if len(done.diagnostics) >= MAX_ERRORS:
            return _finish(done, stopped=True)
    yield
    # Then every definition, called or not, with its parameters unknown (archc/definitions.py)
    # (a budget of its own: this pass is linear in the text, and a spec whose networks come
    # near the limit must not fail for being checked once more)
    concrete = done.errors
    found = [*prelude_errors(), *check_definitions(prog.definitions, prog.blocks, prog.cyclic,
                                                   work.another())]
    done.diagnostics += [(e, None) for e in merge(concrete, found)[len(concrete):]]
    return _finish(done)


def run(steps: Stages) -> Compiled:
    """Run every stage at once."""
    while True:
        try:
            next(steps)
        except StopIteration as finished:
            return finished.value


def compile_spec(source: str | Path, overrides: Mapping[str, Any] | None = None,
                 input_shape: graph.Shape | None = None, network: str | None = None,
                 text: str | None = None) -> Compiled:
    """A spec file (or a bundled spec by name, when `text` is None), compiled."""
    path = resolve_spec(str(source)) if text is None else Path(source)
    return run(stages(path, text, overrides=overrides, input_shape=input_shape,
                      network=network))


def check(path: str | Path, text: str | None = None,
          overrides: Mapping[str, Any] | None = None,
          input_shape: graph.Shape | None = None) -> list[ArchcError]:
    """Every diagnostic of one file (what `archc check` prints)."""
    return run(stages(path, text, overrides=overrides, input_shape=input_shape)).errors


def load_network(source: str | Path, overrides: Mapping[str, Any] | None = None,
                 input_shape: graph.Shape | None = None, network: str | None = None,
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
