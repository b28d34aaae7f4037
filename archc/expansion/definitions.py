"""Stage 2b, over every definition whether called or not: each block's body, and each network's,
expanded with its parameters and its input shape unknown (evaluate.Unknown), so that what no
network's expansion reaches (a block no network calls, the branch a condition never takes) still
has its names, keywords, argument types and the ranges of the values it knows checked. Shapes
need an input, which a definition alone does not have: shape rules are left to the calls."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from typing import Any

from archc.core.errors import ArchcError, Span, too_many_errors
from archc.core.limits import MAX_ERRORS
from archc.expansion.expand import Expander, _Abort
from archc.front import tree
from archc.front.evaluate import IN, UNKNOWN_SHAPE, Unknown
from archc.front.work import OutOfWork, Work

Reuse = dict[tuple[int, ...], tuple[tuple[Any, ...], list[ArchcError], int]]


def check_definitions(defs: Iterable[tree.Definition], blocks: Mapping[str, tree.Definition],
                      skip: Set[str], work: Work, reuse: Reuse | None = None,
                      kept: Reuse | None = None) -> list[ArchcError]:
    """The errors of every definition in `defs` (blocks named in `skip`, recursive or broken,
    are left out: they are reported once already), against one work budget. `reuse`: the
    results of a previous run (the language server's), by the identity of a definition and of
    the blocks it calls (a call binds their parameters; their bodies are checked on their own);
    what this run used or made goes into `kept`."""
    errors: list[ArchcError] = []
    for defn in defs:
        if defn.kind == "block" and defn.name in skip:
            continue
        if len(errors) >= MAX_ERRORS:  # more definitions to check: say that some are not
            errors.append(too_many_errors(defn.span))
            break
        errors += _checked(defn, blocks, skip, work, reuse, kept)
        if work.exhausted:
            break
    return errors


def _checked(defn: tree.Definition, blocks: Mapping[str, tree.Definition], skip: Set[str],
             work: Work, reuse: Reuse | None, kept: Reuse | None) -> list[ArchcError]:
    if reuse is None or kept is None:
        return check_definition(defn, blocks, skip, work)
    # (by identity: a definition's hash would hash its whole tree, on every edit)
    callees = tuple({id(b): b for b in (blocks[c.name] for c in defn.calls
                                        if c.name in blocks)}.values())
    key = (id(defn), *map(id, callees), hash(frozenset(skip)))
    hit = reuse.get(key)
    if hit is not None and work.done + hit[2] <= work.limit:
        work.done += hit[2]
        kept[key] = hit
        return list(hit[1])
    before = work.done
    errors = check_definition(defn, blocks, skip, work)
    if not work.exhausted:
        kept[key] = ((defn, *callees), list(errors), work.done - before)
    return errors


def check_definition(defn: tree.Definition, blocks: Mapping[str, tree.Definition],
                     skip: Set[str], work: Work) -> list[ArchcError]:
    """One definition expanded with unknown parameters and input. A network's `input` and
    `train { }` are left to its own expansion, which knows their values."""
    ex = Expander(blocks, skip, work, abstract=True)
    body = tuple(s for s in defn.body if defn.kind == "block"
                 or not isinstance(s, (tree.Input, tree.Recipe)))
    try:
        ex.work.step(defn.span)
        env = _parameters(defn, ex)
        ex.stack.append(defn.name)  # a call to itself is reported once, as a cycle
        ex.scope(defn.kind, defn.name, body, env, None, defn.span)
    except _Abort:
        pass
    except OutOfWork as exc:
        return [*ex.errors, exc.error]
    return ex.errors


def _parameters(defn: tree.Definition, ex: Expander) -> dict[str, Any]:
    """Every parameter Unknown, of any type (a call may pass any); defaults are evaluated,
    so that what they name and how they compute is checked."""
    env: dict[str, Any] = {IN: UNKNOWN_SHAPE}
    for p in defn.params:
        if p.default is not None:
            try:
                ex.value(p.default, env)
            except ArchcError as exc:
                ex.errors.append(exc)
        env[p.name] = Unknown(None, p.name)
    return env


def merge(concrete: list[ArchcError], found: list[ArchcError]) -> list[ArchcError]:
    """`concrete` (the networks' errors), then those of `found` (the definitions') at a place
    where no network's error is: the same mistake seen with its values is worded with them.
    Of the same error found through several calls, the one with the shortest chain first."""
    taken = {_start(e.span) for e in concrete}
    extra = sorted((e for e in found if _start(e.span) not in taken), key=lambda e: len(e.notes))
    return [*concrete, *extra]


def _start(span: Span | None) -> tuple[str, int, int] | None:
    return (span.path, span.line, span.col) if span else None
