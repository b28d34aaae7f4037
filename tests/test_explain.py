"""Error codes and `archc explain`: every code of archc/core/codes.py has a page whose wrong example
produces that code and whose right example checks clean, and every page belongs to a code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import archc
from archc import plugins
from archc.core.codes import CODES, page
from archc.core.errors import ArchcError, ArchcErrors
from archc.pipeline.driver import check

PAGES = Path(archc.__file__).parent / "explain"
EXAMPLE = re.compile(r"^## (Wrong|Right)\n\n```arch\n(.*?)\n```", re.M | re.S)
# a page whose examples need a plugin (A0411) says `Checked with `--plugin FILE``
PLUGIN = re.compile(r"Checked with `--plugin (\S+)`")
ROOT = Path(__file__).parent.parent
# `archc import`'s codes (A09) are about torch modules: their examples are Python files with a
# `make()` factory, imported as a user would
PY_EXAMPLE = re.compile(r"^## (Wrong|Right)\n\n```python\n(.*?)\n```", re.M | re.S)


def examples(code: str) -> dict[str, str]:
    return dict(EXAMPLE.findall(page(code)))


def codes_of(path: Path, text: str, build: bool) -> set[str | None]:
    """Every code `archc check` reports for a spec; if none and `build`, the codes that loading
    its network raises (what `archc build` reports)."""
    path.write_text(text)
    found = {e.code for e in check(path)}
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
    if PY_EXAMPLE.search(text):
        return check_python_examples(code, dict(PY_EXAMPLE.findall(text)), tmp_path)
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


def check_python_examples(code: str, ex: dict[str, str], tmp_path: Path) -> None:
    """The wrong model is refused with the code, the right one imports and is proven equal."""
    import contextlib
    import io

    from archc.cli import main

    assert set(ex) == {"Wrong", "Right"}, f"{code}: needs a wrong and a right example"
    for kind, expected in (("Wrong", 1), ("Right", 0)):
        model = tmp_path / f"{kind.lower()}_model.py"
        model.write_text(ex[kind])
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            got = main(["import", f"{model}:make", "-o", str(tmp_path / "out.arch"),
                        "--input", "3x8x8"])
        assert got == expected, err.getvalue()
        assert (f"error[{code}]" in err.getvalue()) == (kind == "Wrong"), err.getvalue()


# -- `archc explain`, run as a user runs it -------------------------------------------------------

def test_explain_prints_the_page(capsys: pytest.CaptureFixture[str]) -> None:
    from archc.cli import main

    assert main(["explain", "A0405"]) == 0
    assert capsys.readouterr().out == page("A0405")


@pytest.mark.parametrize("word", ["a0405", "add-shapes", " A0405 "])
def test_explain_by_name_or_any_case(word: str, capsys: pytest.CaptureFixture[str]) -> None:
    from archc.cli import main

    assert main(["explain", word]) == 0
    assert capsys.readouterr().out.startswith("# A0405 (add-shapes)")


def test_explain_lists_every_code(capsys: pytest.CaptureFixture[str]) -> None:
    from archc.cli import main

    assert main(["explain"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[:-1]] == sorted(CODES)
    assert out[-1].startswith(f"{len(CODES)} codes")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    said = re.search(r"`archc explain` alone lists\s+every code with its title \((\d+) today",
                     readme)
    assert said and int(said.group(1)) == len(CODES)  # the README said 50 when there were 69


def test_explain_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from archc.cli import main

    assert main(["explain", "A0201", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["code"], doc["name"], doc["page"]) == ("A0201", "unknown-layer", page("A0201"))
    assert main(["explain", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == len(CODES)


@pytest.mark.parametrize(("word", "hint"), [("A04O5", "did you mean 'A0405'?"),
                                            ("add-shape", "did you mean 'add-shapes'?"),
                                            ("Z9", "`archc explain` lists every code")])
def test_explain_unknown_code_is_a_usage_error(word: str, hint: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from archc.cli import main

    assert main(["explain", word]) == 2
    err = capsys.readouterr().err
    assert f"no diagnostic code '{word}'" in err and hint in err


def test_explain_from_the_shell() -> None:
    """The installed console script, piped: plain text, exit 0."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "archc", "explain", "A0405"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout == page("A0405")
