"""The language server's incremental analysis (issue 20, item 7): what it keeps between edits
(archc/lsp/reparse.py Reparser, archc/pipeline/driver.py Memo with archc/expansion/calls.py Calls
per network, archc/lsp/analysis.py Kept) gives what a fresh analysis of the same text gives, after
random edits of every bundled spec; an edit re-parses and re-expands only what it touched; and a
burst of edits is analysed once, at its last version."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from archc.core import graph
from archc.core.errors import ArchcError
from archc.front.parse import parse
from archc.lsp.analysis import Analysis, Kept, analyze, run
from archc.lsp.hints import hints
from archc.lsp.reparse import Reparser, changed_lines
from archc.pipeline.driver import Memo

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.arch"))


def _edit(text: str, rng: random.Random) -> str:
    """One random edit as typing makes them: a digit changed, a layer added to a line, a
    comment, a character deleted, a line added or removed, half a call."""
    lines = text.split("\n")
    n = rng.randrange(len(lines))
    line = lines[n]
    digits = [i for i, ch in enumerate(line) if ch.isdigit()]
    kind = rng.randrange(7)
    if kind == 0 and digits:
        i = rng.choice(digits)
        lines[n] = line[:i] + str(rng.randrange(1, 10)) + line[i + 1:]
    elif kind == 1 and line.startswith("  ") and "(" in line:
        lines[n] = line + rng.choice([" relu", " dropout(0.5)", " bn", " x: relu"])
    elif kind == 2:
        lines[n] = line + "  # typed"
    elif kind == 3 and line:
        i = rng.randrange(len(line))
        lines[n] = line[:i] + line[i + 1:]
    elif kind == 4:
        lines.insert(n, "  relu")
    elif kind == 5 and len(lines) > 2:
        del lines[n]
    else:
        lines[n] = line + " conv("
    return "\n".join(lines)


def _key(a: Analysis) -> Any:
    """Everything the features read: each diagnostic with its notes and labels, each network
    whole (nodes, shapes, arguments, spans), the hints."""
    errors = [(e.span, e.code, e.message, e.hint, e.severity,
               [(x.span, x.message) for x in e.notes],
               [(x.span, x.message) for x in e.labels], net) for e, net in a.errors]
    return errors, a.networks, hints(a), a.module


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_incremental_is_a_fresh_analysis(path: Path) -> None:
    """(c): random edits in a row; after each, the document's analysis with what it kept
    says exactly what an analysis from scratch says."""
    rng = random.Random(path.stem)
    text = path.read_text(encoding="utf-8")
    memo, kept, parse_file = Memo(), Kept(), Reparser()
    name = str(path)
    run(analyze(name, text, 0, parse_file, memo=memo, kept=kept))
    for version in range(1, 7):
        text = _edit(text, rng)
        got = run(analyze(name, text, version, parse_file, memo=memo, kept=kept))
        assert _key(got) == _key(run(analyze(name, text, version))), (version, text)


def test_reparse_is_the_compilers_parse() -> None:
    """Edits parsed as windows of statements give exactly the compiler's AST (or its error:
    a window that does not parse goes to the whole parse)."""
    rng = random.Random(20)
    texts = [p.read_text(encoding="utf-8") for p in SPECS]
    windows = 0
    for _ in range(30):
        text = rng.choice(texts)
        parse_file = Reparser()
        parse_file(text, "t.arch")
        for _ in range(4):
            new = _edit(text, rng)
            try:
                want: Any = parse(new, "t.arch")
            except ArchcError as exc:
                want = str(exc)
            before = parse_file.windows
            try:
                got: Any = parse_file(new, "t.arch")
            except ArchcError as exc:
                got = str(exc)
            assert got == want, new
            windows += parse_file.windows - before
            if not isinstance(want, str):
                text = new
    assert windows >= 15, windows  # (22 with this seed: the edits that keep the line count)


def test_a_call_is_reused_for_the_same_typed_values_only() -> None:
    """archc/expansion/calls.py's key: `1`, `1.0` and `true` are different arguments; a value that
    is not a number, string, boolean or a tuple of them is never a key (the call is expanded)."""
    from archc.expansion.calls import call_key

    block = parse("block b(c) { relu }", "t.arch").definitions[0]
    keys = [call_key(block, {"c": v}, 0, 0) for v in (1, 1.0, True, (1, 2), (1, 2.0))]
    assert None not in keys and len(set(keys)) == len(keys)
    assert call_key(block, {"c": 1}, 0, 0) == call_key(block, {"c": 1}, 0, 0)
    assert call_key(block, {"c": 1}, 1, 0) != call_key(block, {"c": 1}, 0, 0)  # deeper
    assert call_key(block, {"c": [1]}, 0, 0) is None


def test_changed_lines() -> None:
    assert changed_lines("a\nb\nc", "a\nb\nc") is None
    assert changed_lines("a\nb\nc", "a\nbx\nc") == (2, 2, 0)
    assert changed_lines("a\nb\nc", "a\nb\nb\nc") == (3, 3, 1)  # inserted before line 3
    assert changed_lines("a\nb\nc", "a\nc") == (2, 3, -1)
    assert changed_lines("ab", "b") == (1, 1, 0)


TWO = """block unit(c) {
  conv(c, k=3, pad=1) bn relu
}

block pair(c) {
  unit(c) unit(c)
}

network a {
  input 3x16x16
  stem: conv(8, k=1)
  pair(8) pair(8)
  gap
}

network b {
  input 3x16x16
  conv(4, k=1) relu
}
"""


@pytest.mark.parametrize(("edit", "windows", "networks", "calls"), [
    # a comment in network a: the same AST, nothing expanded
    (lambda t: t.replace("  gap\n", "  gap  # typed\n"), 1, 2, 0),
    # a value in network a: a alone expanded, both its calls of pair(8) reused
    (lambda t: t.replace("conv(8, k=1)", "conv(8, k=1) relu"), 1, 1, 2),
    # a new argument to a call in a: that call expanded again (its unit(16) calls have
    # different input shapes), the other reused
    (lambda t: t.replace("pair(8) pair(8)", "pair(8) pair(16)"), 1, 1, 1),
    # block unit's first line (no unchanged statement before it: its piece parsed whole):
    # every network reaching it expanded again (a), b reused; nothing kept from before holds,
    # but within the expansion the second unit(8) of the first pair(8) and the second pair(8)
    # repeat the first ones exactly (each a copy: a node is in the network once)
    (lambda t: t.replace("k=3, pad=1", "k=5, pad=2"), 0, 1, 2),
    # a line added in network b: b parsed again whole, a reused
    (lambda t: t.replace("conv(4, k=1) relu", "conv(4, k=1)\n  relu"), 0, 1, 0),
])
def test_an_edit_redoes_only_what_it_touched(edit, windows: int, networks: int,
                                              calls: int) -> None:
    """(a): counted. `windows`: edits parsed as a window of statements; `networks`: networks
    reused whole (the Memo's hits); `calls`: block calls reused inside network a."""
    memo, parse_file = Memo(), Reparser()
    run(analyze("t.arch", TWO, 1, parse_file, memo=memo))
    memo.calls["a"].hits = 0  # (counted from here: a network not expanded again adds none)
    text = edit(TWO)
    got = run(analyze("t.arch", text, 2, parse_file, memo=memo))
    assert (parse_file.windows, memo.hits, memo.calls["a"].hits) == (windows, networks, calls)
    assert _key(got) == _key(run(analyze("t.arch", text, 3)))
    for net in got.networks.values():  # a reused call's node is in the network once
        nodes = [id(n) for _, n in graph.walk(net.root.items)]
        assert len(nodes) == len(set(nodes)), net.name


def test_a_burst_is_analysed_once_at_its_last_version(monkeypatch) -> None:
    """(b): edits that arrive while the server is busy are not analysed; only the last
    version is, and its diagnostics are published. First a burst that arrives all at once
    (before the event loop runs again), then one that arrives while an analysis runs (which
    stops at its next stage, or finishes first and is published)."""
    from lsprotocol import types

    import archc.lsp.server as server_module
    from archc.lsp.handlers import make_server

    server = make_server()
    analysed: list[int | None] = []
    published: list[tuple[int | None, int]] = []  # (version, how many diagnostics)
    monkeypatch.setattr(server, "text_document_publish_diagnostics",
                        lambda p: published.append((p.version, len(p.diagnostics))))

    def counting(path: str, text: str, version: int | None, *args: Any, **kw: Any) -> Any:
        analysed.append(version)  # (a generator: this runs when the analysis starts)
        return (yield from analyze(path, text, version, *args, **kw))

    monkeypatch.setattr(server_module, "analyze", counting)
    uri = (ROOT / "specs" / "resnet18.arch").as_uri()
    base = (ROOT / "specs" / "resnet18.arch").read_text(encoding="utf-8")

    def edit(version: int, typed: str) -> None:
        server.workspace.put_text_document(types.TextDocumentItem(
            uri, "arch", version, base.replace("gap flatten", "gap flatten" + typed, 1)))
        server.schedule(uri)

    async def bursts() -> list[tuple[list[int | None], list[tuple[int | None, int]]]]:
        for _ in server.protocol.lsp_initialize(types.InitializeParams(
                capabilities=types.ClientCapabilities(), root_uri=ROOT.as_uri())):
            pass  # (a generator: the handshake's steps)
        seen = []
        for version in range(1, 21):
            edit(version, f"  # {version}" if version < 20 else " conv(k=3)")  # 20: an error
        await server.latest(uri)
        seen.append((analysed[:], published[:]))
        del analysed[:], published[:]
        edit(21, "")
        while not analysed:  # version 21's analysis has started
            await asyncio.sleep(0.001)
        for version in range(22, 41):
            edit(version, f"  # {version}")
        await server.latest(uri)
        return [*seen, (analysed[:], published[:])]

    (at_once, shown_at_once), (while_busy, shown_while_busy) = asyncio.run(bursts())
    assert at_once == [20] and [v for v, _ in shown_at_once] == [20]
    assert shown_at_once[0][1] >= 1  # the last version's error
    assert while_busy == [21, 40] and shown_while_busy[-1] == (40, 0)
    assert {v for v, _ in shown_while_busy} <= {21, 40}
