"""The language server after edits that add or remove lines (issue 20, item 7): the definition
edited is parsed again, the items after it are moved (archc/lsp/shift.py) and what the last
analysis found for them is handed on; after random line inserts, deletes and pastes in a row,
what the features read (diagnostics, hints, the AST, hover, go-to-definition, references)
is what an analysis from scratch of the same text gives."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from pygls.workspace.position_codec import PositionCodec

from archc.core import graph
from archc.front import tree
from archc.lsp import navigate
from archc.lsp.analysis import Analysis, Kept, analyze, calls, run
from archc.lsp.convert import Locator
from archc.lsp.hints import hints
from archc.lsp.hover import hover
from archc.lsp.reparse import Reparser
from archc.pipeline.driver import Memo

from .test_lsp_incremental import TWO

ROOT = Path(__file__).resolve().parent.parent
# small and varied: blocks called from several networks, taps, a `use`d prelude block
SPECS = [ROOT / "specs" / f"{n}.arch" for n in ("resnet18", "tv_resnet_fpn", "googlenet")]


def _line_edit(text: str, rng: random.Random) -> str:
    """A line typed (Enter between two layers, a layer on a line of its own, a blank), a line
    deleted, or lines pasted (copied from elsewhere in the file); mostly at a layer's line (a
    statement of a body), sometimes anywhere (then the file may not parse)."""
    lines = text.split("\n")
    body = [i for i, t in enumerate(lines) if t.startswith("  ") and not {"{", "}"} & set(t)]
    n = rng.choice(body) if body and rng.random() < 0.9 else rng.randrange(1, len(lines))
    kind = rng.randrange(7)
    loose = [i for i, t in enumerate(lines) if not t.strip() or t.startswith("#")]
    cuts = [i for i, ch in enumerate(lines[n]) if ch == " " and i > 2 and _depth(lines[n][:i]) == 0]
    if kind == 0 and cuts:
        cut = rng.choice(cuts)
        lines[n:n + 1] = [lines[n][:cut], "  " + lines[n][cut:].lstrip()]
    elif kind == 1:
        lines.insert(n, rng.choice(["  relu", "", "  # note", "  dropout(0.1)", "  bn"]))
    elif kind == 2 and len(lines) > 3:
        del lines[n]
    elif kind == 4:  # between definitions, above the first one, at the end
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(["", "# note"]))
    elif kind == 5 and loose:
        del lines[rng.choice(loose)]
    else:
        k = rng.choice(body) if body else n
        lines[n:n] = lines[k:k + rng.randint(1, 2)]
    return "\n".join(lines)


def _depth(s: str) -> int:
    return s.count("(") - s.count(")")


def _features(a: Analysis, text: str) -> Any:
    """What the features show: diagnostics (with notes and labels), hints, the AST, and at
    each call's name and each definition's name: hover, definition, references."""
    loc = Locator(PositionCodec(), lambda p: text if p == a.path else None, lambda p: None)
    errors = [(e.span, e.code, e.message, e.hint, e.severity,
               [(x.span, x.message) for x in e.notes],
               [(x.span, x.message) for x in e.labels], net) for e, net in a.errors]
    places = []
    if a.module is not None:
        spans = [tree.name_span(c) for _, c in calls(a.module)] + \
            [d.span for d in a.module.definitions]
        for s in spans[::3]:
            line, col = s.line - 1, s.col - 1
            shown = hover(a, line, col, loc)
            places.append((s, shown,
                           navigate.definition(a, line, col)))
        places += [navigate.references(a, d.name) for d in a.module.definitions]
    return errors, hints(a), a.module, places


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_line_edits_are_a_fresh_analysis(path: Path) -> None:
    rng = random.Random(path.stem)
    text = path.read_text(encoding="utf-8")
    memo, kept = Memo(), Kept()
    parse_file = Reparser(memo, kept)
    name = str(path)
    run(analyze(name, text, 0, parse_file, memo=memo, kept=kept))
    for version in range(1, 13):
        text = _line_edit(text, rng)
        got = run(analyze(name, text, version, parse_file, memo=memo, kept=kept))
        want = run(analyze(name, text, version))
        assert _features(got, text) == _features(want, text), (version, text)
    assert parse_file.moves >= 4, parse_file.moves  # the edits were handled by moving


def test_moved_lines() -> None:
    """A line inserted or deleted whole touches no other line (changed_lines says the line
    after it is touched: the edit's text ends at its start)."""
    from archc.lsp.reparse import moved_lines

    assert moved_lines("a\nb\nc", "a\nb\nc") is None
    assert moved_lines("a\nb\nc", "a\nb\nb\nc") == (3, 2, 1)  # inserted before line 3
    assert moved_lines("a\nb\nc", "x\na\nb\nc") == (1, 0, 1)  # before line 1
    assert moved_lines("a\nb\nc", "a\nc") == (2, 2, -1)  # line 2 deleted
    assert moved_lines("ab\ncd", "a\nb\ncd") == (1, 1, 1)  # Enter inside line 1
    assert moved_lines("ab\ncd", "abcd") == (1, 2, -1)  # lines 1 and 2 joined
    # a line typed above an indented one: the common head is the indentation, but the edit
    # is the same as a line inserted at its start (and deleted again)
    assert moved_lines("a\n  b\n", "a\n  # c\n  b\n") == (2, 1, 1)
    assert moved_lines("a\n  # c\n  b\n", "a\n  b\n") == (2, 2, -1)
    assert moved_lines("a\n  b\n", "a\n  x\n  b\n") == (2, 1, 1)
    assert moved_lines("a\n xb\n", "a\n x\n xb\n") == (2, 1, 1)
    assert moved_lines("a\nyb\n", "a\nyx\nb\n") == (2, 2, 1)  # Enter inside a line


@pytest.mark.parametrize(("edit", "reused"), [
    # a blank line between block pair and network a: both networks moved and reused
    (lambda t: t.replace("}\n\nnetwork a", "}\n\n\nnetwork a"), 2),
    # a comment above everything
    (lambda t: "# top\n" + t, 2),
    # the blank line before network b deleted (a's piece): b moved and reused, a too
    (lambda t: t.replace("}\n\nnetwork b", "}\nnetwork b"), 2),
    # a line added in block unit: every network reaching it (a) expanded again, b reused
    (lambda t: t.replace("  conv(c, k=3, pad=1) bn relu", "  conv(c, k=3, pad=1)\n  bn relu"),
     1),
    # a blank line, or a comment, added in block pair, or one removed from network a: no
    # statement but the lines changed, so the definition edited is moved too and every
    # network reused, none expanded again
    (lambda t: t.replace("  unit(c) unit(c)\n", "\n  unit(c) unit(c)\n"), 2),
    (lambda t: t.replace("  unit(c) unit(c)\n", "  # two\n  unit(c) unit(c)\n"), 2),
    (lambda t: t.replace("  input 3x16x16\n  stem", "  input 3x16x16\n\n\n  stem"), 2),
    # a line added in network a: b, after it, moved and reused
    (lambda t: t.replace("  gap\n", "  gap\n  flatten\n"), 1),
    # a line removed from block pair: a expanded again, b reused
    (lambda t: t.replace("  unit(c) unit(c)\n", ""), 1),
])
def test_a_line_edit_redoes_only_what_it_touched(edit: Any, reused: int) -> None:
    memo, kept = Memo(), Kept()
    parse_file = Reparser(memo, kept)
    run(analyze("t.arch", TWO, 1, parse_file, memo=memo, kept=kept))
    text = edit(TWO)
    got = run(analyze("t.arch", text, 2, parse_file, memo=memo, kept=kept))
    assert (parse_file.moves, memo.hits) == (1, reused)
    assert _features(got, text) == _features(run(analyze("t.arch", text, 3)), text)


def test_the_benchmark_times_line_edits() -> None:
    """bench/lsp_latency.py's line edits, `--edit newline` and `--edit delete`: through a
    server (each edit's diagnostics and hints, of the whole file or of the lines on screen,
    `--hints visible`, arrive) and in process; its command line takes them. (Not the whole
    script: its bursts sleep 4 s.)"""
    import asyncio
    import subprocess
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    from lsp_latency import Client, edit_latency, in_process

    async def served() -> list[tuple[list[float], int, float]]:
        client = Client()
        await client.start()
        try:
            return [await edit_latency(client, ROOT / "specs" / "lenet.arch", 2, edit, visible)
                    for edit, visible in (("newline", False), ("delete", True))]
        finally:
            await client.stop()

    assert [(len(times), hints) for times, hints, _ in asyncio.run(served())] == [(2, 6)] * 2
    assert in_process(ROOT / "specs" / "resnet18.arch", 2, "delete") > 0
    shown = subprocess.run([sys.executable, str(ROOT / "bench" / "lsp_latency.py"), "--help"],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    assert "--edit {code,comment,delete,newline}" in shown, shown
    assert "--hints {whole,visible}" in shown, shown


THREE = """block first(c) {
  conv(c, k=3, pad=1) bn relu
}

block second(c) {
  conv(c, k=1) relu
  third(c)
}

block third(c) {
  bn
}

network a {
  input 3x16x16
  first(8) second(8) second(8)
  stem: conv(8, k=1)
}
"""


# (an edit, applied after the ones before it; the block calls network a reuses, None: a is
# not expanded again)
THREE_EDITS: list[tuple[Any, int | None]] = [
    # a line added in block first: a expanded again, its calls of second(8) (moved) reused
    (lambda t: t.replace("  conv(c, k=3, pad=1) bn relu\n", "  conv(c, k=3, pad=1) bn\n  relu\n"),
     2),
    # and removed: the same
    (lambda t: t.replace("  conv(c, k=3, pad=1) bn\n  relu\n", "  conv(c, k=3, pad=1) bn relu\n"),
     2),
    # blank lines in block third and in network a: moves only, nothing expanded (a's calls
    # wait to be moved until a is expanded again)
    (lambda t: t.replace("  bn\n}", "\n  bn\n}"), None),
    (lambda t: t.replace("second(8)\n", "second(8)\n\n"), None),
    # a line added in block first again: a's calls, moved by the three moves since, reused
    (lambda t: t.replace("  conv(c, k=3, pad=1) bn relu\n", "  conv(c, k=3, pad=1)\n  bn relu\n"),
     2),
]


def test_a_line_edit_reuses_the_calls_of_moved_blocks() -> None:
    """A network expanded again after a line edit reuses its calls of the blocks that moved
    (archc/lsp/shift.py MovedCalls), their nodes' spans moved: the network is the one a fresh
    analysis makes, spans and all."""
    memo, kept = Memo(), Kept()
    parse_file = Reparser(memo, kept)
    text = THREE
    run(analyze("t.arch", text, 0, parse_file, memo=memo, kept=kept))
    for version, (edit, reused) in enumerate(THREE_EDITS, 1):
        text = edit(text)
        got = run(analyze("t.arch", text, version, parse_file, memo=memo, kept=kept))
        want = run(analyze("t.arch", text, version))
        assert (parse_file.moves, memo.hits) == (version, int(reused is None)), version
        if reused is not None:
            assert memo.calls["a"].hits == reused
            assert got.networks == want.networks  # every node's span included
        nodes = [id(n) for _, n in graph.walk(got.networks["a"].root.items)]
        assert len(nodes) == len(set(nodes))  # a reused call's node is in the network once
        assert _features(got, text) == _features(want, text), (version, text)


@pytest.mark.parametrize(("edit", "made"), [
    # a line added in network b: b expanded again, its hints made again; the others kept
    (lambda t: t.replace("conv(4, k=1) relu", "conv(4, k=1)\n  relu"), ["b"]),
    # a line added in block unit: a expanded again, and the definitions it reaches; b moved,
    # its hints kept, their lines moved
    (lambda t: t.replace("  conv(c, k=3, pad=1) bn relu", "  conv(c, k=3, pad=1)\n  bn relu"),
     ["unit", "pair", "a"]),
    # blank lines in block pair and network a: only moves, every definition's hints kept
    (lambda t: t.replace("  unit(c) unit(c)\n", "\n  unit(c) unit(c)\n"), []),
    (lambda t: t.replace("  stem:", "\n  stem:"), []),
])
def test_a_definitions_hints_are_kept_while_its_networks_are(edit: Any, made: list[str],
                                                              monkeypatch: Any) -> None:
    """The hints of a definition (Analysis.shown) are made again only when a network reaching
    it was expanded again (or it was parsed again); kept ones are moved with their definition,
    and all are what an analysis from scratch shows."""
    from archc.lsp import hints as hints_module

    memo, kept = Memo(), Kept()
    parse_file = Reparser(memo, kept)
    hints(run(analyze("t.arch", TWO, 1, parse_file, memo=memo, kept=kept)))
    asked: list[str] = []
    real = hints_module._hints
    monkeypatch.setattr(hints_module, "_hints", lambda ds, a: (
        asked.extend(d.name for d in ds), real(ds, a))[1])
    text = edit(TWO)
    got = hints(run(analyze("t.arch", text, 2, parse_file, memo=memo, kept=kept)))
    assert sorted(asked) == sorted(made)
    monkeypatch.setattr(hints_module, "_hints", real)
    assert got == hints(run(analyze("t.arch", text, 3)))
