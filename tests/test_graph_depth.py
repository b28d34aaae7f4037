"""`archc graph -o x.svg/.png/.pdf` with no --depth: a diagram too tall to view at full depth
collapses by itself to the deepest depth that can be viewed and says so on stderr; `--depth
all` draws every layer. The estimate of a diagram's height in ranks is checked against
Graphviz's own layout (`dot`, or the graphviz-pure archc depends on)."""

from __future__ import annotations

from pathlib import Path

import pytest

import archc
from archc.cli import main
from archc.emit import dot
from archc.emit.dot import VIEWABLE_RANKS, _size, digraph, fitting_depth


@pytest.mark.parametrize("spec", ["resnet18", "googlenet", "tv_alexnet"])
def test_viewable_networks_are_drawn_whole(spec: str) -> None:
    assert fitting_depth(archc.load(spec)) is None


@pytest.mark.parametrize("spec", ["tv_efficientnet", "tv_densenet", "tv_mobilenet_v3"])
def test_tall_networks_collapse_to_the_deepest_viewable_depth(spec: str) -> None:
    net = archc.load(spec)
    fit = fitting_depth(net)
    assert fit is not None
    depth, full = fit
    assert full > VIEWABLE_RANKS and depth >= 2
    assert _size(net.root.items, 0, depth)[0] + 2 <= VIEWABLE_RANKS
    assert _size(net.root.items, 0, depth + 1)[0] + 2 > VIEWABLE_RANKS


@pytest.fixture
def no_layout(monkeypatch):
    """Graphviz's rendering replaced by the DOT source it is given (this test is about which
    diagram is drawn, not about Graphviz)."""
    monkeypatch.setattr(dot, "_pipe", lambda source, fmt: source.encode())


def test_cli_says_it_collapsed(tmp_path: Path, capsys, no_layout) -> None:
    out = tmp_path / "e.svg"
    assert main(["graph", "tv_efficientnet", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    depth, full = fitting_depth(archc.load("tv_efficientnet")) or (0, 0)
    assert f"drawn with --depth {depth}" in err and f"{full:,} rows tall" in err
    assert out.read_text() == digraph(archc.load("tv_efficientnet"), depth).source
    assert main(["graph", "tv_efficientnet", "-o", str(out), "--depth", "all"]) == 0
    assert "note:" not in capsys.readouterr().err
    assert out.read_text() == digraph(archc.load("tv_efficientnet"), None).source
    assert main(["graph", "tv_efficientnet", "-o", str(out), "--depth", "2"]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main(["graph", "resnet18", "-o", str(out)]) == 0
    assert "note:" not in capsys.readouterr().err


def test_depth_all_is_graph_only(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["summary", "resnet18", "--depth", "all"])
    assert exc.value.code == 2
    capsys.readouterr()


def test_ranks_estimate_graphviz_height() -> None:
    for spec, depth in (("resnet18", None), ("tv_efficientnet", 3)):
        net = archc.load(spec)
        plain = dot._pipe(digraph(net, depth).source, "plain").decode().split()
        height_pt = float(plain[3]) * 72
        ranks = _size(net.root.items, 0, depth)[0] + 2
        assert 40 <= height_pt / ranks <= 70, (spec, height_pt, ranks)
