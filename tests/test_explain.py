"""Error codes and `archc explain`: every code of archc/codes.py has a page whose wrong example
produces that code and whose right example checks clean, and every page belongs to a code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import archc
from archc import plugins
from archc.codes import CODES, page
from archc.errors import ArchcError, ArchcErrors
from archc.program import check_program, load_program

PAGES = Path(archc.__file__).parent / "explain"
EXAMPLE = re.compile(r"^## (Wrong|Right)\n\n```arch\n(.*?)\n```", re.M | re.S)
# a page whose examples need a plugin (A0411) says `Checked with `--plugin FILE``
PLUGIN = re.compile(r"Checked with `--plugin (\S+)`")
ROOT = Path(__file__).parent.parent


def examples(code: str) -> dict[str, str]:
    return dict(EXAMPLE.findall(page(code)))


def codes_of(path: Path, text: str, build: bool) -> set[str | None]:
    """Every code `archc check` reports for a spec; if none and `build`, the codes that loading
    its network raises (what `archc build` reports)."""
    path.write_text(text)
    found = {e.code for e in check_program(load_program(path))}
    if not found and build:
        try:
            archc.load(str(path))
        except ArchcErrors as exc:
            found |= {e.code for e in exc.errors}
        except ArchcError as exc:
            found.add(exc.code)
    return found


def test_one_page_per_code() -> None:
    assert sorted(p.stem for p in PAGES.glob("*.md")) == sorted(CODES)


@pytest.mark.parametrize("code", sorted(CODES))
def test_page_examples(code: str, tmp_path: Path) -> None:
    text = page(code)
    assert text.startswith(f"# {code} ({CODES[code].name}): {CODES[code].title}\n")
    assert "\n## Why\n" in text
    ex = examples(code)
    assert set(ex) == {"Wrong", "Right"}, f"{code}: needs a wrong and a right example"
    loaded = [p for target in PLUGIN.findall(text) for p in plugins.load(str(ROOT / target))]
    try:
        assert code in codes_of(tmp_path / "wrong.arch", ex["Wrong"], build=True)
        assert codes_of(tmp_path / "right.arch", ex["Right"],
                        build="network" in ex["Right"]) == set()
    finally:
        for p in loaded:
            p.unload()
