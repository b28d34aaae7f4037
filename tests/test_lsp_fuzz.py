"""`archc lsp` under random editing: bursts of random edits (half-typed calls, stray braces,
deletions, non-ASCII text) sent as an editor sends them, each followed by a random request.
The server must answer every request without an error, publish diagnostics for the last
version of every burst, log no internal error, and end with the original shapes when the
original text comes back."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from .lsp_util import ROOT, Doc, hint_rows, server_config, start

pytestmark = pytest.mark.asyncio(loop_scope="module")

BURSTS = int(os.environ.get("ARCHC_LSP_FUZZ_BURSTS", "120"))  # longer campaigns: BENCHMARKS.md
SNIPPETS = ["conv(", "conv(64, k=", "{", "}", "(", ")", " | ", ",", "=", "add {", "concat {",
            "relu ", "\n", "# note\n", '"', "x", "3x", "..", "for i in 0..", "if ", "else ",
            "é", "😀", "residual(", "block b(c) { ", "network n { ", " * 2", "res_stage(",
            "input 1x28x28 ", "expect ", "train { lr = ", "use \"", "label: ", "-", "//",
            "1e9", "99999999999", "\t"]


@pytest_lsp.fixture(scope="module", config=server_config())
async def client(lsp_client: LanguageClient):
    await start(lsp_client)
    yield
    await lsp_client.shutdown_session()


def _edit(rng: random.Random, text: str) -> tuple[int, int, str]:
    at = rng.randrange(len(text) + 1)
    kind = rng.random()
    if kind < 0.5 or not text:
        return at, at, rng.choice(SNIPPETS)
    end = min(len(text), at + rng.randint(1, 12))
    return at, end, "" if kind < 0.8 else rng.choice(SNIPPETS)


async def _request(client: LanguageClient, doc: Doc, rng: random.Random) -> None:
    ident, pos = doc.ident(), doc.position(rng.randrange(len(doc.text) + 1))
    which = rng.randrange(8)
    if which == 0:
        await doc.hints()
    elif which == 1:
        await client.text_document_hover_async(types.HoverParams(ident, pos))
    elif which == 2:
        await client.text_document_completion_async(types.CompletionParams(ident, pos))
    elif which == 3:
        await client.text_document_signature_help_async(types.SignatureHelpParams(ident, pos))
    elif which == 4:
        await client.text_document_definition_async(types.DefinitionParams(ident, pos))
    elif which == 5:
        await client.text_document_references_async(types.ReferenceParams(
            context=types.ReferenceContext(True), text_document=ident, position=pos))
    elif which == 6:
        await client.text_document_document_symbol_async(types.DocumentSymbolParams(ident))
    else:
        await client.text_document_formatting_async(types.DocumentFormattingParams(
            ident, types.FormattingOptions(2, True)))


@pytest.mark.parametrize("spec", ["resnet18", "tv_densenet"])
async def test_random_edits_never_break_the_server(client: LanguageClient, tmp_path: Path,
                                                   spec: str) -> None:
    original = (ROOT / "specs" / f"{spec}.arch").read_text()
    doc = Doc(client, tmp_path / f"{spec}.arch", original)
    assert await doc.open() == []
    shapes = hint_rows(doc, await doc.hints())
    rng = random.Random(f"archc-lsp-{spec}{os.environ.get('ARCHC_LSP_FUZZ_SEED', '')}")
    for _ in range(BURSTS):
        for _ in range(rng.randint(1, 4)):  # a burst: the older versions become stale work
            doc.change(*_edit(rng, doc.text))
        await _request(client, doc, rng)
        await doc.diagnostics()
    doc.replace_all(original)
    assert await doc.diagnostics() == []
    assert hint_rows(doc, await doc.hints()) == shapes
    errors = [m.message for m in client.log_messages if m.type == types.MessageType.Error]
    assert errors == []
    doc.close()
