"""Language server, diagnostics: every error of an analysis as an LSP diagnostic on the
document. An error located in another file (a `use`d file, the prelude) is shown where this
document leads there: its call-site chain's outermost call in this file when the compiler
gives one, else the `use` line, else the network whose expansion met it; the real place
goes along as related information."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lsprotocol import types

from archc.core.errors import ArchcError, Span
from archc.front import tree
from archc.lsp.analysis import Analysis
from archc.lsp.convert import PRELUDE, Locator

SOURCE = "archc"
_SEVERITY = {"error": types.DiagnosticSeverity.Error,
             "warning": types.DiagnosticSeverity.Warning,
             "note": types.DiagnosticSeverity.Information}


def diagnostics(a: Analysis, loc: Locator) -> list[types.Diagnostic]:
    out = []
    for err, network in a.errors:
        out.append(_diagnostic(err, network, a, loc))
    return out


def _diagnostic(err: ArchcError, network: str | None, a: Analysis,
                loc: Locator) -> types.Diagnostic:
    message = err.message + (f"\nhint: {err.hint}" if err.hint else "")
    related = [types.DiagnosticRelatedInformation(loc.location(span), note)
               for span, note in [*_labels(err), *_chain(err)]]
    span = err.span
    if span is None:
        rng = types.Range(types.Position(0, 0), types.Position(0, 0))
    elif _same_file(span.path, a.path):
        rng = loc.range(span)
    else:
        where = _place_in_document(err, network, a)
        rng = loc.range(where) if where else types.Range(types.Position(0, 0),
                                                         types.Position(0, 0))
        shown = "the prelude" if span.path == PRELUDE else span.path
        message = f"in {shown}:{span.line}:{span.col}: {message}"
        related.insert(0, types.DiagnosticRelatedInformation(loc.location(span), err.message))
    code = getattr(err, "code", None)
    return types.Diagnostic(rng, message, severity=_SEVERITY.get(err.severity,
                                                                 types.DiagnosticSeverity.Error),
                            code=code, source=SOURCE, related_information=related or None)


def _chain(err: ArchcError) -> Iterable[tuple[Span, str]]:
    """The call sites that led to an error, innermost first, as the compiler records them
    (`note: in residual(16), called at t.arch:3:3`); none when it records none."""
    return _notes(err, "notes")


def _labels(err: ArchcError) -> Iterable[tuple[Span, str]]:
    """The secondary places of an error (each branch of a join with its shape, ...)."""
    return _notes(err, "labels")


def _notes(err: ArchcError, kind: str) -> Iterable[tuple[Span, str]]:
    for note in getattr(err, kind, None) or ():  # compiler Note records: span, message
        span = getattr(note, "span", None)
        if span is not None:
            yield span, getattr(note, "message", str(note))


def _same_file(path: str, doc_path: str) -> bool:
    return path == doc_path or (path != PRELUDE and Path(path).resolve() == Path(doc_path))


def _place_in_document(err: ArchcError, network: str | None, a: Analysis) -> Span | None:
    for span, _ in reversed(list(_chain(err))):  # the outermost call in this document
        if _same_file(span.path, a.path):
            return span
    if err.span is not None and err.span.path != PRELUDE and a.module is not None:
        use = _use_leading_to(err.span.path, a.module, a.path)
        if use is not None:
            return use.span
    if network is not None and network in a.program.networks:
        return a.program.networks[network].span
    return None


def _use_leading_to(path: str, module: tree.Module, doc_path: str) -> tree.Use | None:
    target = Path(path).resolve()
    base = Path(doc_path).resolve().parent
    for use in module.uses:
        try:
            if (base / use.path).resolve() == target:
                return use
        except (OSError, RuntimeError, ValueError):
            continue
    return module.uses[0] if module.uses else None  # reached through a nested `use`
