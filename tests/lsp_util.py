"""Helpers for the language server tests: a session over stdio with `archc lsp` (pytest-lsp),
documents opened and edited the way an editor does it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60  # seconds for one answer: generous, CI runs on 2 busy cores


def server_config() -> ClientServerConfig:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return ClientServerConfig(server_command=[sys.executable, "-m", "archc", "lsp"],
                              server_env=env, client_factory=make_client)


PUBLISHED: dict[LanguageClient, dict[tuple[str, int | None], list[types.Diagnostic]]] = {}


def _record(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
    # Every notification is kept by (uri, version): waiting for "the next notification"
    # misses one that arrives while the waiter handles the previous.
    client.diagnostics[params.uri] = params.diagnostics
    PUBLISHED.setdefault(client, {})[(params.uri, params.version)] = list(params.diagnostics)


def make_client() -> LanguageClient:
    client = LanguageClient(converter_factory=default_converter)
    register_lsp_features(client, {**DEFAULT_CLIENT_FEATURES,
                                   types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: _record})
    return client


async def start(client: LanguageClient) -> None:
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        root_uri=ROOT.as_uri()))


class Doc:
    """One open document, edited like an editor edits: incremental changes, versions."""

    def __init__(self, client: LanguageClient, path: Path, text: str | None = None):
        self.client, self.path = client, path
        self.uri = path.resolve().as_uri()
        self.text = path.read_text(encoding="utf-8") if text is None else text
        self.version = 1

    async def open(self) -> list[types.Diagnostic]:
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=self.uri, language_id="arch", version=self.version,
                                   text=self.text)))
        return await self.diagnostics()

    async def diagnostics(self) -> list[types.Diagnostic]:
        """The diagnostics published for this version (waits for them)."""
        key = (self.uri, self.version)
        published = PUBLISHED.setdefault(self.client, {})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while key not in published:
            if loop.time() > deadline:
                raise TimeoutError(f"no diagnostics for {self.path.name} v{self.version}")
            await asyncio.sleep(0.002)
        return published.pop(key)

    def change(self, start: int, end: int, new: str) -> None:
        """Replace text[start:end] (character offsets) with `new`, as an incremental edit."""
        rng = types.Range(self.position(start), self.position(end))
        self.text = self.text[:start] + new + self.text[end:]
        self.version += 1
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
            [types.TextDocumentContentChangePartial(range=rng, text=new)]))

    def replace_all(self, new: str) -> None:
        self.change(0, len(self.text), new)

    def position(self, offset: int) -> types.Position:
        """A character offset as an LSP position (UTF-16 code units, as VS Code counts)."""
        before = self.text[:offset]
        line = before.count("\n")
        col_text = before[before.rfind("\n") + 1:]
        return types.Position(line, len(col_text.encode("utf-16-le")) // 2)

    def find(self, needle: str, nth: int = 0, offset: int = 0) -> types.Position:
        """The position of the nth occurrence of `needle`, plus `offset` characters."""
        at = -1
        for _ in range(nth + 1):
            at = self.text.index(needle, at + 1)
        return self.position(at + offset)

    def ident(self) -> types.TextDocumentIdentifier:
        return types.TextDocumentIdentifier(self.uri)

    async def hints(self) -> list[types.InlayHint]:
        lines = self.text.split("\n")
        rng = types.Range(types.Position(0, 0), types.Position(len(lines), 0))
        return list(await asyncio.wait_for(self.client.text_document_inlay_hint_async(
            types.InlayHintParams(self.ident(), rng)), TIMEOUT) or [])

    def close(self) -> None:
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(self.ident()))


def hint_rows(doc: Doc, hints: list[types.InlayHint]) -> list[tuple[int, str, str]]:
    """(1-based line, the text before the hint, the label) for each hint."""
    lines = doc.text.split("\n")
    out = []
    for h in hints:
        line = lines[h.position.line]
        out.append((h.position.line + 1, line[:h.position.character], str(h.label)))
    return out
