"""The language server's analysis in process (archc/lsp/analysis.py): parsing one top-level
definition at a time gives exactly the compiler's AST, or exactly its error."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from archc.core.errors import ArchcError
from archc.front import tree
from archc.front.parse import parse
from archc.lsp.analysis import LineMap, parse_by_definition

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([*(ROOT / "specs").glob("*.arch"), *(ROOT / "tests" / "cases").rglob("*.arch"),
                *(ROOT / "tests" / "errors").glob("*.arch"), ROOT / "archc" / "prelude.arch"])
PIECES = ["network n { ", "block b(c) { ", "use \"x.arch\"\n", "}", "{", "\n", "conv(", "relu ",
          "network", "\nblock", "\nnetwork m { input 3 }\n", "# c\n", '"', "x"]


def _outcome(fn, text: str):
    try:
        return fn(text, "t.arch")
    except ArchcError as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_piecewise_parse_is_the_compilers(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert _outcome(parse_by_definition, text) == _outcome(parse, text)


def test_piecewise_parse_after_random_edits() -> None:
    rng = random.Random(14)
    texts = [p.read_text(encoding="utf-8") for p in FILES]
    for _ in range(400):
        text = rng.choice(texts)
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice(PIECES) + text[at + rng.randrange(3):]
        assert _outcome(parse_by_definition, text) == _outcome(parse, text), text


def test_line_map_follows_unchanged_lines() -> None:
    old = "a\nb\nc\nd"
    m = LineMap(old, "a\nnew\nb\nc\nd")
    assert [m.new_line(i) for i in range(4)] == [0, 2, 3, 4]
    assert m.old_line(1) is None and m.old_line(4) == 3
    m = LineMap(old, "a\nb changed\nc\nd")
    assert m.new_line(1) is None and m.new_line(2) == 2


def test_call_chain_places_the_diagnostic_at_the_users_call(tmp_path: Path) -> None:
    """An error inside the prelude carrying its call chain (innermost first) is shown at the
    outermost call in the document, the chain as related locations."""
    from types import SimpleNamespace

    from pygls.workspace.position_codec import PositionCodec

    from archc.core.errors import Span
    from archc.lsp.analysis import analyze, run
    from archc.lsp.convert import Locator
    from archc.lsp.diagnostics import diagnostics

    path = str(tmp_path / "s.arch")
    text = "block two(c) { residual(c) }\nnetwork n {\n  input 3x8x8\n  two(16)\n}\n"
    a = run(analyze(path, text, 1))
    [(err, network)] = a.errors
    assert err.span.path == "<prelude>" and network == "n"
    inner, outer = Span(path, 1, 16, 1, 27), Span(path, 4, 3, 4, 10)
    err.notes = (SimpleNamespace(span=inner, message="in residual(16), called here"),
                 SimpleNamespace(span=outer, message="in two(16), called here"))
    loc = Locator(PositionCodec(), lambda p: text if p == path else None, lambda p: None)
    [d] = diagnostics(a, loc)
    assert (d.range.start.line, d.range.start.character) == (3, 2)
    assert d.message.startswith("in the prelude:")
    assert [r.message for r in d.related_information] == [
        err.message, "branch 1 ends in 16x8x8", "branch 2 is the identity: 3x8x8",
        "in residual(16), called here", "in two(16), called here"]
    assert d.related_information[0].location.uri.endswith("prelude.arch")


def test_line_map_on_a_big_file() -> None:
    """100,000 lines, one inserted: matched by the equal head and tail, without difflib over
    the whole file (quadratic: it would not finish)."""
    old = "\n".join(f"line {i}" for i in range(100_000))
    new = old.replace("line 500\n", "line 500\nnew\n", 1)
    m = LineMap(old, new)
    assert m.new_line(499) == 499 and m.new_line(501) == 502 and m.new_line(99_999) == 100_000
    assert m.old_line(501) is None


@pytest.mark.parametrize("path", FILES[:8], ids=lambda p: p.stem)
def test_tokens_of_a_valid_file_are_the_lexers(path: Path) -> None:
    from archc.front.parse import parser
    from archc.lsp.syntax import tokens

    text = path.read_text(encoding="utf-8")
    def key(toks):
        return [(t.type, str(t), t.line, t.column) for t in toks]
    assert key(tokens(text)) == key(parser().lex(text))


def test_tokens_skip_what_no_token_starts() -> None:
    from archc.lsp.syntax import tokens

    toks = tokens('conv(6, k= @ "abc\n in.c in. x!=1 ! é')
    assert [str(t) for t in toks] == ["conv", "(", "6", ",", "k", "=", "abc", "in.c", "in",
                                      "x", "!=", "1"]
    assert toks[7].type == "IN_ATTR" and toks[8].type == "IN"
    assert (toks[6].line, toks[6].column) == (1, 15)  # positions kept


# -- re-analysing only what an edit touched (archc/pipeline/driver.py Memo)
# ------------------------------

TWO = """block unit(c) {
  conv(c, k=3, pad=1) bn relu
}

network a {
  input 3x16x16
  unit(8) unit(8)
}

network b {
  input 3x16x16
  conv(4, k=1) relu
}
"""


def _same(x, y) -> bool:
    key = [sorted((e.span, e.code, e.message) for e, _ in r.errors) for r in (x, y)]
    return key[0] == key[1] and {n: v.output_shape for n, v in x.networks.items()} == \
        {n: v.output_shape for n, v in y.networks.items()}


@pytest.mark.parametrize(("edit", "hits"), [
    (lambda t: t, 2),                                         # nothing changed
    (lambda t: t + "# a comment\n", 1),                       # the last piece's text changed
    (lambda t: t.replace("conv(4, k=1)", "conv(5, k=1)"), 1),  # inside network b
    (lambda t: t.replace("k=3, pad=1", "k=5, pad=2"), 1),     # the block a calls: a again
    (lambda t: t.replace("conv(4, k=1)", "conv(4, k=99)"), 1),  # an error in b
])
def test_an_edit_reexpands_only_what_it_touched(edit, hits) -> None:
    from archc.lsp.analysis import analyze, run
    from archc.pipeline.driver import Memo

    memo = Memo()
    run(analyze("t.arch", TWO, 1, memo=memo))
    text = edit(TWO)
    again = run(analyze("t.arch", text, 2, memo=memo))
    assert memo.hits == hits
    assert _same(again, run(analyze("t.arch", text, 3)))  # as a fresh analysis says


@pytest.mark.parametrize("edit", [
    lambda t: t,
    lambda t: t.replace("conv(4, k=1)", "conv(5, k=1)"),  # network b: a's hints are kept
    lambda t: t.replace("k=3, pad=1", "k=5, pad=2"),  # the block a calls: a's are redone
    lambda t: t.replace("unit(8) unit(8)", "unit(8) unit(16)"),
])
def test_kept_indexes_and_hints_are_a_fresh_analysis(edit) -> None:
    """What the server keeps between analyses (archc/lsp/analysis.py Kept): each network's
    index and the hints of unchanged statements are reused, and say what a fresh analysis
    says, counts included."""
    from archc.lsp.analysis import Kept, analyze, run
    from archc.lsp.hints import hints
    from archc.pipeline.driver import Memo

    memo, kept = Memo(), Kept()
    first = run(analyze("t.arch", TWO, 1, memo=memo, kept=kept))
    before = hints(first)
    text = edit(TWO)
    again = run(analyze("t.arch", text, 2, memo=memo, kept=kept))
    fresh = run(analyze("t.arch", text, 3))
    assert hints(again) == hints(fresh)
    assert fresh.module is not None
    assert all(again.nodes(st.span) == fresh.nodes(st.span)
               for d in fresh.module.definitions for st in tree.statements(d.body))
    if text == TWO:  # nothing re-expanded: the very same labels and tooltips (the hints'
        # places are made at each analysis: archc/lsp/shift.py moves statements, not hints)
        assert all(x.label is y.label and x.tooltip is y.tooltip
                   for x, y in zip(hints(again), before, strict=True))


def test_what_is_kept_lives_two_analyses_at_most() -> None:
    """Edits that replace a network's nodes do not pile up their counts and hints."""
    from archc.lsp.analysis import Kept, analyze, run
    from archc.lsp.hints import hints
    from archc.pipeline.driver import Memo

    memo, kept = Memo(), Kept()
    for k in range(30):
        a = run(analyze("t.arch", TWO.replace("conv(4, k=1)", f"conv({k + 1}, k=1)"), k,
                        memo=memo, kept=kept))
        shown = len(hints(a))
        made = [node for part in a.parts for nodes in part.values() for _, node in nodes]
        for node in made:
            a.counts(node)
    assert len(kept.derived.now) + len(kept.derived.previous) <= 2 * shown
    assert len(kept.counts.now) + len(kept.counts.previous) <= 2 * len(made)
    assert len(kept.index) == len(a.networks)


BROKEN = TWO.replace("unit(8) unit(8)", "unit(8) linear(5) unit(8)")  # shapes unknown after


@pytest.mark.parametrize("path", ["specs/tv_inception_v3.arch", "BROKEN"])
def test_counts_are_the_compilers(path: str) -> None:
    """The server sums a block's counts from its parts' remembered counts: the same numbers
    as archc/expansion/stats.py's `count`, None where a shape is unknown, for every node
    (nested blocks, joins' branches)."""
    from archc.core import graph
    from archc.expansion.stats import count
    from archc.lsp.analysis import analyze, run

    text = BROKEN if path == "BROKEN" else (ROOT / path).read_text(encoding="utf-8")
    a = run(analyze(path, text, 1))
    nodes = [n for net in a.networks.values() for _, n in graph.walk(net.root.items)]
    unknown = 0
    for node in nodes:
        try:
            want = count(node)
        except TypeError:
            want, unknown = None, unknown + 1
        assert a.counts(node) == want
    assert len(nodes) >= 10 and (unknown > 0) == (path == "BROKEN")


def test_hints_of_some_lines_are_those_of_the_whole_file() -> None:
    """`hints(a, lines)` passes over the definitions outside the lines: on every window of
    lines, the same hints as the whole file's on them (one-line blocks and inputs too)."""
    from pygls.workspace.position_codec import PositionCodec

    from archc.lsp.analysis import analyze, run
    from archc.lsp.convert import Locator
    from archc.lsp.hints import hints, inlay_hints

    text = (ROOT / "specs" / "tv_inception_v3.arch").read_text(encoding="utf-8")
    text = "block one(c) { conv(c, k=1) relu }\n" + text  # a definition on one line
    a = run(analyze("t.arch", text, 1))
    every = hints(a)
    size = text.count("\n") + 1
    for first, last in [(0, 0), (0, 5), (20, 40), (size // 2, size // 2), (size - 30, size)]:
        want = [h for h in every if first <= h.line <= last]
        assert [h for h in hints(a, (first, last)) if first <= h.line <= last] == want
    assert len(hints(a, (0, 0))) < len(every) and every
    loc = Locator(PositionCodec(), lambda p: text, lambda p: None)
    shown = inlay_hints(a, text, (0, size), loc, "t.arch")  # (the server's request)
    assert [h.label for h in inlay_hints(a, text, (20, 40), loc, "t.arch")] == [
        h.label for h in shown if 20 <= h.position.line <= 40] != []
    assert len(shown) == len(every)
