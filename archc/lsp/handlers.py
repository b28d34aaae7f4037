"""Language server, features: one handler per LSP method, each a thin adapter from the
protocol's positions to the feature modules (diagnostics, hints, hover, complete, navigate)
and back. `make_server` registers them all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lsprotocol import types

from archc.core.errors import ArchcError, Span
from archc.front import tree
from archc.lsp import complete, hints, hover, navigate
from archc.lsp.analysis import Analysis
from archc.lsp.convert import split_lines, uri_to_path
from archc.lsp.server import ArchcServer, fail, to_analysis, to_document

T = types


def make_server() -> ArchcServer:
    server = ArchcServer()
    for method, options, handler in _HANDLERS:
        server.feature(method, options)(handler)
    return server


# ----------------------------------------------------------------------------- documents


def did_open(ls: ArchcServer, params: T.DidOpenTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


def did_change(ls: ArchcServer, params: T.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


def did_save(ls: ArchcServer, params: T.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.schedule(uri)
    for other in ls.dependents(ls.state(uri).path):  # they `use` this file: shapes may change
        ls.schedule(other)
    if ls.dependents(ls.state(uri).path) and _can_refresh_hints(ls):
        ls.workspace_inlay_hint_refresh(None)


def did_change_watched_files(ls: ArchcServer, params: T.DidChangeWatchedFilesParams) -> None:
    """A spec changed on disk (saved elsewhere, checked out): re-analyse what `use`s it."""
    again = {uri for change in params.changes
             for uri in ls.dependents(uri_to_path(change.uri))}
    for uri in again:
        ls.schedule(uri)
    if again and _can_refresh_hints(ls):
        ls.workspace_inlay_hint_refresh(None)


def _can_refresh_hints(ls: ArchcServer) -> bool:
    ws = ls.client_capabilities.workspace
    return bool(ws and ws.inlay_hint and ws.inlay_hint.refresh_support)


def did_close(ls: ArchcServer, params: T.DidCloseTextDocumentParams) -> None:
    st = ls.states.pop(params.text_document.uri, None)
    if st is not None:
        st.stop.set()
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(params.text_document.uri,
                                                                    []))


# ----------------------------------------------------------------------------- requests


async def _at(ls: ArchcServer, uri: str, pos: T.Position
              ) -> tuple[Analysis, int, int, str] | None:
    """The analysis to answer from and the cursor in its text (None when the cursor's line
    was edited since the last analysis that parsed)."""
    text, a = await ls.latest(uri)
    if a is None:
        return None
    line, col = ls.locator().server_position(ls.state(uri).path, pos)
    old = to_analysis(a, text, line)
    return None if old is None else (a, old, col, text)


def _range(ls: ArchcServer, span: Span, a: Analysis, text: str, path: str) -> T.Range | None:
    moved = to_document(span, a, text, path)
    return None if moved is None else ls.locator().range(moved)


async def inlay_hint(ls: ArchcServer, params: T.InlayHintParams) -> list[T.InlayHint]:
    uri = params.text_document.uri
    text, a = await ls.latest(uri)
    if a is None:
        return []
    loc, path = ls.locator(), ls.state(uri).path
    first = loc.server_position(path, params.range.start)[0]
    last = loc.server_position(path, params.range.end)[0]
    return hints.inlay_hints(a, text, (first, last), loc, path)


async def on_hover(ls: ArchcServer, params: T.HoverParams) -> T.Hover | None:
    uri = params.text_document.uri
    at = await _at(ls, uri, params.position)
    if at is None:
        return None
    a, line, col, text = at
    found = hover.hover(a, line, col, ls.locator())
    if found is None:
        return None
    markdown, span = found
    return T.Hover(T.MarkupContent(T.MarkupKind.Markdown, markdown),
                   _range(ls, span, a, text, ls.state(uri).path))


async def _typing_at(ls: ArchcServer, uri: str, position: T.Position
                     ) -> tuple[str, int, int, dict[str, tree.Definition], Any]:
    """What completion and signature help read: the latest text (half-typed is fine), the
    cursor in server coordinates, the blocks of the last analysis, and the locator."""
    text, a = await ls.latest(uri)
    loc = ls.locator()
    line, col = loc.server_position(ls.state(uri).path, position)
    return text, line, col, a.program.blocks if a else {}, loc


async def on_completion(ls: ArchcServer, params: T.CompletionParams) -> T.CompletionList:
    items = complete.completion(*await _typing_at(ls, params.text_document.uri, params.position))
    return T.CompletionList(is_incomplete=False, items=items)


async def signature_help(ls: ArchcServer, params: T.SignatureHelpParams
                         ) -> T.SignatureHelp | None:
    return complete.signature_help(
        *await _typing_at(ls, params.text_document.uri, params.position))


async def definition(ls: ArchcServer, params: T.DefinitionParams) -> T.Location | None:
    uri = params.text_document.uri
    at = await _at(ls, uri, params.position)
    if at is None:
        return None
    a, line, col, text = at
    span = navigate.definition(a, line, col)
    if span is None:
        return None
    moved = to_document(span, a, text, ls.state(uri).path)
    return None if moved is None else ls.locator().location(moved)


async def references(ls: ArchcServer, params: T.ReferenceParams) -> list[T.Location]:
    uri = params.text_document.uri
    at = await _at(ls, uri, params.position)
    if at is None:
        return []
    a, line, col, text = at
    target = navigate.target_at(a, line, col)
    if target is None or target.refers_to != "block":
        return []
    path, loc = ls.state(uri).path, ls.locator()
    spans = navigate.references(a, target.name, params.context.include_declaration)
    return [loc.location(m) for s in spans if (m := to_document(s, a, text, path))]


async def prepare_rename(ls: ArchcServer, params: T.PrepareRenameParams) -> T.Range | None:
    a, line, col = await _current(ls, params.text_document.uri, params.position)
    try:
        target = navigate.rename_target(a, line, col)
    except navigate.RenameError as exc:
        raise fail(str(exc)) from None
    return ls.locator().range(target.span)


async def rename(ls: ArchcServer, params: T.RenameParams) -> T.WorkspaceEdit:
    a, line, col = await _current(ls, params.text_document.uri, params.position)
    try:
        spans = navigate.rename(a, line, col, params.new_name)
    except navigate.RenameError as exc:
        raise fail(str(exc)) from None
    loc = ls.locator()
    return T.WorkspaceEdit(changes={
        loc.uri(path): [T.TextEdit(loc.range(s), text) for s, text in found]
        for path, found in spans.items()})


async def _current(ls: ArchcServer, uri: str, pos: T.Position) -> tuple[Analysis, int, int]:
    """An analysis of exactly the text now: an edit must not be computed on an older one."""
    text, a = await ls.latest(uri)
    if a is None or a.text != text:
        raise fail("the file has syntax errors; fix them first")
    line, col = ls.locator().server_position(ls.state(uri).path, pos)
    return a, line, col


def document_symbol(ls: ArchcServer, params: T.DocumentSymbolParams) -> list[T.DocumentSymbol]:
    uri = params.text_document.uri
    return navigate.symbols(ls.text(uri), ls.state(uri).path, ls.locator())


def formatting(ls: ArchcServer, params: T.DocumentFormattingParams) -> list[T.TextEdit] | None:
    from archc.fmt import format_text

    uri = params.text_document.uri
    text = ls.text(uri)
    try:
        new = format_text(text, ls.state(uri).path)
    except ArchcError:
        return None  # the diagnostics already show why
    if new == text:
        return []
    lines = split_lines(text)
    end = ls.locator().position(ls.state(uri).path, len(lines) - 1, len(lines[-1]))
    return [T.TextEdit(T.Range(T.Position(0, 0), end), new)]


_HANDLERS: list[tuple[str, Any, Callable[..., Any]]] = [
    (T.TEXT_DOCUMENT_DID_OPEN, None, did_open),
    (T.TEXT_DOCUMENT_DID_CHANGE, None, did_change),
    (T.TEXT_DOCUMENT_DID_SAVE, None, did_save),
    (T.TEXT_DOCUMENT_DID_CLOSE, None, did_close),
    (T.WORKSPACE_DID_CHANGE_WATCHED_FILES, None, did_change_watched_files),
    (T.TEXT_DOCUMENT_INLAY_HINT, T.InlayHintOptions(resolve_provider=False), inlay_hint),
    (T.TEXT_DOCUMENT_HOVER, None, on_hover),
    (T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=["(", ",", " "]),
     on_completion),
    (T.TEXT_DOCUMENT_SIGNATURE_HELP, T.SignatureHelpOptions(trigger_characters=["(", ","],
                                                            retrigger_characters=["="]),
     signature_help),
    (T.TEXT_DOCUMENT_DEFINITION, None, definition),
    (T.TEXT_DOCUMENT_REFERENCES, None, references),
    (T.TEXT_DOCUMENT_PREPARE_RENAME, None, prepare_rename),
    (T.TEXT_DOCUMENT_RENAME, T.RenameOptions(prepare_provider=True), rename),
    (T.TEXT_DOCUMENT_DOCUMENT_SYMBOL, None, document_symbol),
    (T.TEXT_DOCUMENT_FORMATTING, None, formatting),
]
