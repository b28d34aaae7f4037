"""The language server with a plugin (`archc lsp --plugin FILE`, as an editor's settings pass
it; the pyproject.toml it reads is the CLI's, tests/test_plugins.py): a spec using the plugin's
op checks clean, and hover shows the op's schema and doc, naming the plugin."""

from __future__ import annotations

import sys

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from .lsp_util import ROOT, Doc, server_config, start

pytestmark = pytest.mark.asyncio(loop_scope="module")

GRN_PY = str(ROOT / "examples" / "plugins" / "grn.py")
ATTO = ROOT / "examples" / "plugins" / "convnextv2_atto.arch"
CONFIG = server_config()
CONFIG.server_command = [sys.executable, "-m", "archc", "lsp", "--plugin", GRN_PY]


@pytest_lsp.fixture(scope="module", config=CONFIG)
async def client(lsp_client: LanguageClient):
    await start(lsp_client)
    yield
    await lsp_client.shutdown_session()


async def test_plugin_ops_check_and_hover(client: LanguageClient) -> None:
    doc = Doc(client, ATTO)
    assert await doc.open() == []
    h = await client.text_document_hover_async(types.HoverParams(doc.ident(),
                                                                 doc.find("grn(eps", 0, 1)))
    text = h.contents.value
    assert "grn(eps=1e-06)" in text and "*layer* from plugin archc-grn" in text
    assert "global response normalisation (ConvNeXt V2)" in text
    assert "| `stage0.0.grn` | 160x56x56 | 160x56x56 | 320 | 0 |" in text
    doc.close()
