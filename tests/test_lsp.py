"""`archc lsp` end to end: a real LSP client (pytest-lsp) talks to the server over stdio.
Diagnostics are compared with what `archc check` reports, hint shapes and parameter counts
with a real forward pass and `numel` of the built module."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from archc.pipeline.driver import check

from .lsp_util import ROOT, Doc, hint_rows, server_config, start

pytestmark = pytest.mark.asyncio(loop_scope="module")

SPECS = sorted((ROOT / "specs").glob("*.arch"))
ERRORS = sorted((ROOT / "tests" / "errors").glob("*.arch"))


@pytest_lsp.fixture(scope="module", config=server_config())
async def client(lsp_client: LanguageClient):
    await start(lsp_client)
    yield
    await lsp_client.shutdown_session()


# ----------------------------------------------------------------------------- diagnostics


@pytest.mark.parametrize("path", ERRORS, ids=lambda p: p.stem)
async def test_diagnostics_match_check(client: LanguageClient, path: Path) -> None:
    """Every error `archc check` reports in the file is a diagnostic at its exact range."""
    doc = Doc(client, path)
    got = await doc.open()
    doc.close()
    mine = [e for e in check(path) if e.span and e.span.path == str(path)]
    assert mine
    starts = {(d.range.start.line + 1, d.range.start.character + 1, d.message.split("\n")[0])
              for d in got}
    for err in mine:
        assert (err.span.line, err.span.col, err.message) in starts
        if err.span.end_line:
            d = next(d for d in got if d.message.startswith(err.message)
                     and d.range.start.line == err.span.line - 1)
            assert (d.range.end.line + 1, d.range.end.character + 1) == \
                (err.span.end_line, err.span.end_col)


async def test_diagnostic_range_hint_and_clean_file(client: LanguageClient,
                                                    tmp_path: Path) -> None:
    doc = Doc(client, tmp_path / "s.arch",
              "network n {\n  input 1x28x28\n  conv(6, k=5) rellu\n}\n")
    [d] = await doc.open()
    assert d.range == types.Range(types.Position(2, 15), types.Position(2, 20))
    assert d.message == "unknown layer or block 'rellu'\nhint: did you mean 'relu'?"
    assert d.severity == types.DiagnosticSeverity.Error and d.source == "archc"
    doc.change(doc.text.index("rellu"), doc.text.index("rellu") + 5, "relu")
    assert await doc.diagnostics() == []
    doc.close()


async def test_error_in_prelude_block_lands_in_the_file(client: LanguageClient,
                                                        tmp_path: Path) -> None:
    """residual(16) on a 3-channel input fails inside the prelude: the diagnostic is in the
    user's file, naming the prelude place, with it as related information."""
    doc = Doc(client, tmp_path / "s.arch",
              "network n {\n  input 3x32x32\n  residual(16)\n}\n")
    [d] = await doc.open()
    assert "add: branch shapes differ: 16x32x32 vs 3x32x32" in d.message
    assert "prelude" in d.message
    assert d.range.start.line in (0, 2)  # the network, or the call once chains are recorded
    assert d.related_information and d.related_information[0].location.uri.endswith(
        "prelude.arch")
    doc.close()


# ----------------------------------------------------------------------------- inlay hints


def _forward_shapes_and_params(spec: Path, labels: list[str]):
    """Output shape (per sample) and parameter count of each labelled top-level module, from
    a real forward pass of the built module."""
    import torch

    import archc

    net = archc.load(spec)
    model = archc.build(net).eval()
    shapes = {}
    hooks = [model.get_submodule(lab).register_forward_hook(
        lambda m, i, o, lab=lab: shapes.__setitem__(lab, tuple(o.shape[1:]))) for lab in labels]
    with torch.no_grad():
        model(torch.zeros(1, *net.input_shape))
    for h in hooks:
        h.remove()
    params = {lab: sum(p.numel() for p in model.get_submodule(lab).parameters())
              for lab in labels}
    return shapes, params


_LABELLED_CALL = re.compile(r"(\w+): (\w+)(\([^()]*\))?$")


@pytest.mark.parametrize("name", ["resnet18", "lenet", "googlenet"])
async def test_hints_equal_a_real_forward_pass(client: LanguageClient, name: str,
                                               one_torch_thread) -> None:
    """A hint after `label: call(...)` in the first network shows the shape that module
    really outputs; after a block call, also its real parameter count."""
    doc = Doc(client, ROOT / "specs" / f"{name}.arch")
    await doc.open()
    rows = hint_rows(doc, await doc.hints())
    doc.close()
    first_net_end = doc.text.index("\n}\n", doc.text.index("\nnetwork "))
    last_line = doc.text[:first_net_end].count("\n") + 1
    found = {}
    for line, before, label in rows:
        m = _LABELLED_CALL.search(before)
        if m and line <= last_line and doc.text.split("\n")[line - 1].startswith("  "):
            found[m.group(1)] = label
    assert len(found) >= 3
    shapes, params = _forward_shapes_and_params(ROOT / "specs" / f"{name}.arch", list(found))
    for lab, label in found.items():
        shape = "x".join(map(str, shapes[lab]))
        assert label.startswith(f"→ {shape}"), (lab, label, shape)
        if " params" in label:
            assert label == f"→ {shape} · {params[lab]:,} params"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
async def test_hints_agree_with_expects(client: LanguageClient, path: Path) -> None:
    """`call expect SHAPE` on one line: the hint after the call shows SHAPE (every bundled
    spec; the `expect`s come from the source documents' shape tables)."""
    doc = Doc(client, path)
    assert await doc.open() == []
    rows = hint_rows(doc, await doc.hints())
    doc.close()
    assert rows, "every bundled spec gets hints"
    lines = doc.text.split("\n")
    for line, before, label in rows:
        rest = lines[line - 1][len(before):]
        m = re.match(r"\s*expect (\d+(x\d+)*)\b", rest)
        if m:
            assert label.startswith(f"→ {m.group(1)}")


# ----------------------------------------------------------------------------- hover


async def test_hover_layer_and_block(client: LanguageClient) -> None:
    doc = Doc(client, ROOT / "specs" / "resnet18.arch")
    await doc.open()
    h = await client.text_document_hover_async(types.HoverParams(doc.ident(),
                                                                 doc.find("conv(64", 0, 1)))
    text = h.contents.value
    assert "conv(out, k, stride=1, pad=0, dilation=1, groups=1, bias=true)" in text
    assert "convolution, 1-D, 2-D or 3-D" in text
    # 1 -> 64 channels, 7x7: 64 * 49 + 64 parameters; 64 * 48 * 48 * 49 MACs
    assert "| `conv1` | 1x96x96 | 64x48x48 | 3,200 | 7,225,344 | 36.9 KB (1.0%) |" in text
    assert h.range == types.Range(doc.find("conv(64"), doc.find("conv(64", 0, 4))
    h = await client.text_document_hover_async(types.HoverParams(doc.ident(),
                                                                 doc.find("res_stage(128")))
    text = h.contents.value
    assert "res_stage(c, n, first=false)" in text
    assert "d2l resnet_block: the first residual of every stage but the first halves" in text
    assert "| `layer2` | 64x24x24 | 128x12x12 | 525,952 |" in text
    h = await client.text_document_hover_async(types.HoverParams(doc.ident(),
                                                                 doc.find("residual(c)", 0, 2)))
    assert "residual(c, use_1x1=false, stride=1)" in h.contents.value
    assert "from prelude" in h.contents.value
    doc.close()


# ----------------------------------------------------------------------------- completion


async def _complete(client: LanguageClient, doc: Doc, pos: types.Position) -> dict[str, Any]:
    result = await client.text_document_completion_async(types.CompletionParams(doc.ident(),
                                                                                pos))
    items = result.items if isinstance(result, types.CompletionList) else result
    return {i.label: i for i in items}


async def test_completion_in_a_half_typed_call(client: LanguageClient, tmp_path: Path) -> None:
    doc = Doc(client, tmp_path / "s.arch", (ROOT / "specs" / "resnet18.arch").read_text())
    await doc.open()
    at = doc.text.index("  fc: linear(classes)\n  train")
    doc.change(at, at, "  conv(64, ")
    diags = await doc.diagnostics()
    assert any(d.message.startswith("unexpected") for d in diags)
    items = await _complete(client, doc, doc.position(at + len("  conv(64, ")))
    assert {"k=", "stride=", "pad=", "groups=", "classes", "true", "max"} <= set(items)
    assert items["k="].kind == types.CompletionItemKind.Field
    assert "conv" not in items  # no layers inside an argument list
    doc.change(at, at + len("  conv(64, "), "  ")
    await doc.diagnostics()
    items = await _complete(client, doc, doc.position(at + 2))
    assert {"conv", "relu", "bn", "res_stage", "residual", "inception", "dense", "expect",
            "add", "classes"} <= set(items)
    assert items["res_stage"].detail == "res_stage(c, n, first=false)"
    assert items["conv"].detail.startswith("conv(out, k, stride=1")
    items = await _complete(client, doc, types.Position(0, 0))
    assert {"network", "block", "use"} <= set(items)
    doc.close()


async def test_signature_help(client: LanguageClient, tmp_path: Path) -> None:
    doc = Doc(client, tmp_path / "s.arch",
              "network n {\n  input 3x8x8\n  conv(64, \n}\n")
    await doc.open()
    async def active(text: str) -> tuple[str, int | None]:
        start = doc.text.index("conv(")
        doc.change(start, doc.text.index("\n", start), text)
        await doc.diagnostics()
        help_ = await client.text_document_signature_help_async(types.SignatureHelpParams(
            doc.ident(), doc.position(start + len(text))))
        sig = help_.signatures[0]
        label = sig.label
        p = sig.parameters[help_.active_parameter].label if help_.active_parameter is not None \
            else None
        return label, (label[p[0]:p[1]] if p else None)
    assert await active("conv(64, ") == (
        "conv(out, k, stride=1, pad=0, dilation=1, groups=1, bias=true)", "k")
    assert (await active("conv(64, k=3, "))[1] == "stride=1"
    assert (await active("conv(64, k=3, pad="))[1] == "pad=0"
    assert (await active("conv("))[1] == "out"
    doc.close()


# ----------------------------------------------------------------------------- navigation


CASES = ROOT / "tests" / "cases"


async def _definition(client: LanguageClient, doc: Doc, pos: types.Position) -> types.Location:
    result = await client.text_document_definition_async(types.DefinitionParams(doc.ident(),
                                                                                pos))
    return result[0] if isinstance(result, list) else result


async def test_definition_across_use_and_into_the_prelude(client: LanguageClient) -> None:
    doc = Doc(client, CASES / "nested_blocks.arch")
    assert await doc.open() == []
    loc = await _definition(client, doc, doc.find("stem(8)", 0, 1))
    assert loc.uri == (CASES / "lib" / "blocks.arch").as_uri()
    assert loc.range.start == types.Position(3, 6)  # `block stem`, the name
    loc = await _definition(client, doc, doc.find("cbr(c) cbr(c)"))
    assert loc.uri == (CASES / "lib" / "more.arch").as_uri()
    loc = await _definition(client, doc, doc.find("residual(16)"))
    assert loc.uri == doc.uri  # this file's own `residual` shadows the prelude's
    assert loc.range.start == doc.find("residual(c)")
    loc = await _definition(client, doc, doc.find("lib/blocks.arch"))
    assert loc.uri == (CASES / "lib" / "blocks.arch").as_uri()
    doc.close()
    doc = Doc(client, ROOT / "specs" / "resnet18.arch")
    await doc.open()
    loc = await _definition(client, doc, doc.find("residual(c)"))
    assert loc.uri.endswith("/archc/prelude.arch")
    prelude = (ROOT / "archc" / "prelude.arch").read_text().split("\n")
    assert prelude[loc.range.start.line].startswith("block residual(")
    doc.close()


def _at(pos: types.Position) -> tuple[int, int]:
    return pos.line, pos.character


async def test_references(client: LanguageClient) -> None:
    doc = Doc(client, CASES / "nested_blocks.arch")
    await doc.open()
    refs = await client.text_document_references_async(types.ReferenceParams(
        context=types.ReferenceContext(True), text_document=doc.ident(),
        position=doc.find("cbr(c) cbr(c)")))
    where = sorted((r.uri, r.range.start.line, r.range.start.character) for r in refs)
    lib = Doc(client, CASES / "lib" / "blocks.arch")
    more = Doc(client, CASES / "lib" / "more.arch")
    expected = [(lib.uri, *_at(lib.find("cbr(c)"))), (more.uri, *_at(more.find("cbr(c)"))),
                (doc.uri, *_at(doc.find("cbr(c)", 0))), (doc.uri, *_at(doc.find("cbr(c)", 1))),
                (doc.uri, *_at(doc.find("cbr(c)", 2)))]
    assert where == sorted(expected)
    refs = await client.text_document_references_async(types.ReferenceParams(
        context=types.ReferenceContext(False), text_document=doc.ident(),
        position=doc.find("cbr(c) cbr(c)")))
    assert len(refs) == 4
    doc.close()


async def test_document_symbols(client: LanguageClient) -> None:
    doc = Doc(client, ROOT / "specs" / "resnet18.arch")
    await doc.open()
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(doc.ident()))
    assert [(s.name, s.kind) for s in symbols] == [
        ("res_stage", types.SymbolKind.Function), ("resnet18", types.SymbolKind.Class),
        ("resnet18_224", types.SymbolKind.Class)]
    lines = doc.text.split("\n")
    for s in symbols:
        assert lines[s.range.start.line].startswith(("block", "network"))
        assert lines[s.range.end.line].startswith("}")
    doc.close()


async def test_formatting_is_archc_fmt(client: LanguageClient, tmp_path: Path) -> None:
    from archc.fmt import format_text

    text = "network n {input 1x28x28\n conv(6,k=5)   relu\n\n\n  flatten linear( 10 )}"
    doc = Doc(client, tmp_path / "s.arch", text)
    await doc.open()
    [edit] = await client.text_document_formatting_async(types.DocumentFormattingParams(
        doc.ident(), types.FormattingOptions(2, True)))
    assert edit.range.start == types.Position(0, 0) and edit.range.end == doc.position(len(text))
    assert edit.new_text == format_text(text)
    doc.replace_all(edit.new_text)
    await doc.diagnostics()
    assert list(await client.text_document_formatting_async(types.DocumentFormattingParams(
        doc.ident(), types.FormattingOptions(2, True)))) == []
    doc.close()


async def test_rename_block_and_label(client: LanguageClient) -> None:
    doc = Doc(client, CASES / "nested_blocks.arch")
    await doc.open()
    rng = await client.text_document_prepare_rename_async(types.PrepareRenameParams(
        doc.ident(), doc.find("pair(c *", 0, 2)))
    assert rng == types.Range(doc.find("pair(c *"), doc.find("pair(c *", 0, 4))
    edit = await client.text_document_rename_async(types.RenameParams(
        doc.ident(), doc.find("pair(c *", 0, 2), "twin"))
    assert set(edit.changes) == {doc.uri}
    assert sorted((e.range.start, e.new_text) for e in edit.changes[doc.uri]) == [
        (doc.find("pair(c *"), "twin"), (doc.find("pair(c)"), "twin")]
    edit = await client.text_document_rename_async(types.RenameParams(
        doc.ident(), doc.find("body:"), "trunk"))
    [e] = edit.changes[doc.uri]
    assert e.range == types.Range(doc.find("body:"), doc.find("body:", 0, 4))
    for pos, name, reason in [(doc.find("pair(c *"), "conv", "already a layer"),
                              (doc.find("pair(c *"), "tower", "already a block"),
                              (doc.find("pair(c *"), "9x", "not a block name"),
                              (doc.find("relu" if "relu" in doc.text else "expect"), "x",
                               "only a block or a label")]:
        with pytest.raises(JsonRpcException, match=reason):
            await client.text_document_rename_async(types.RenameParams(doc.ident(), pos, name))
    doc.close()
    doc = Doc(client, ROOT / "specs" / "resnet18.arch")
    await doc.open()
    with pytest.raises(JsonRpcException, match="prelude block"):
        await client.text_document_rename_async(types.RenameParams(
            doc.ident(), doc.find("residual(c)"), "res"))
    doc.close()


# ----------------------------------------------------------------------------- half-typed


async def test_half_typed_file_keeps_the_last_good_shapes(client: LanguageClient,
                                                          tmp_path: Path) -> None:
    doc = Doc(client, tmp_path / "s.arch", (ROOT / "specs" / "lenet.arch").read_text())
    await doc.open()
    good = hint_rows(doc, await doc.hints())
    assert (11, "  fc1: linear(120) sig3: sigmoid", "→ 120") in good
    for typed in ["  conv(\n", "  conv(6, k=\n", "  b: {\n", "  add { relu |\n", "}}}\n",
                  "  network\n", '  use "\n', "  ☃ é 😀\n"]:
        at = doc.text.index("  flatten")
        doc.change(at, at, typed)
        [d] = [d for d in await doc.diagnostics()  # a syntax error (A0101-A0104)
               if d.message.startswith("unexpected") or "is never closed" in d.message]
        assert d.severity == types.DiagnosticSeverity.Error
        shifted = [(line + typed.count("\n") if line > 9 else line, before, label)
                   for line, before, label in good]
        assert hint_rows(doc, await doc.hints()) == shifted, typed
        doc.change(at, at + len(typed), "")
        assert await doc.diagnostics() == []
    doc.close()


# ----------------------------------------------------------------------------- packaging


async def test_without_the_extra_a_clear_message() -> None:
    """`archc lsp` without pygls installed: exit 2 and how to install it, no traceback."""
    code = ("import sys; sys.modules['pygls'] = None; from archc.cli import main; "
            "sys.exit(main(['lsp']))")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=ROOT, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 2, err
    assert "pip install 'archc[lsp]'" in err.decode() and "Traceback" not in err.decode()


async def test_rename_quoted_label(client: LanguageClient, tmp_path: Path) -> None:
    doc = Doc(client, tmp_path / "s.arch",
              'network n {\n  input 3x8x8\n  "block1-0": relu\n  plain: relu\n}\n')
    assert await doc.open() == []
    edit = await client.text_document_rename_async(types.RenameParams(
        doc.ident(), doc.find("block1-0"), "stage 1"))
    [e] = edit.changes[doc.uri]
    assert e.range == types.Range(doc.find('"block1-0"'), doc.find('"block1-0"', 0, 10))
    assert e.new_text == '"stage 1"'
    edit = await client.text_document_rename_async(types.RenameParams(
        doc.ident(), doc.find("plain"), "conv1"))
    assert [e.new_text for e in edit.changes[doc.uri]] == ["conv1"]
    doc.close()


async def test_hover_join(client: LanguageClient) -> None:
    doc = Doc(client, ROOT / "specs" / "tv_resnet.arch")
    await doc.open()
    h = await client.text_document_hover_async(types.HoverParams(doc.ident(),
                                                                 doc.find("add {", 0, 1)))
    text = h.contents.value
    assert "*join* — " in text
    assert "| 64x56x56 | 64x56x56 , 64x56x56 | 64x56x56 |" in text  # identity shortcut
    assert "| 64x56x56 | 128x28x28 , 128x28x28 | 128x28x28 |" in text  # downsample
    assert h.range == types.Range(doc.find("add {"), doc.find("add {", 0, 3))
    doc.close()


async def test_a_used_file_changing_reanalyses_its_users(client: LanguageClient,
                                                          tmp_path: Path) -> None:
    lib = tmp_path / "lib.arch"
    lib.write_text("block b(c) { conv(c, k=1) }\n")
    main = Doc(client, tmp_path / "main.arch",
               'use "lib.arch"\nnetwork n {\n  input 3x8x8\n  b(4) expect 4x8x8\n}\n')
    assert await main.open() == []
    lib.write_text("block b(c) { conv(c * 2, k=1) }\n")  # changed on disk, not open
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(
        [types.FileEvent(lib.as_uri(), types.FileChangeType.Changed)]))
    [d] = await main.diagnostics()
    assert d.message == "expect: shape is 8x8x8, expected 4x8x8"
    editor = Doc(client, lib)  # now edited in the editor and saved
    await editor.open()
    editor.replace_all("block b(c) { conv(c, k=1) }\n")
    await editor.diagnostics()
    lib.write_text(editor.text)
    client.text_document_did_save(types.DidSaveTextDocumentParams(editor.ident()))
    assert await main.diagnostics() == []
    editor.close()
    main.close()
