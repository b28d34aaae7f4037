"""Where the grammar, the prelude and the bundled specs live, in a wheel or a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # archc/
_CHECKOUT = _PACKAGE.parent


def _data_dir(name: str) -> Path:
    # A wheel ships them as archc/_data/<name> (pyproject force-include); an editable install
    # or a source checkout reads the top-level folder.
    packaged = _PACKAGE / "_data" / name
    return packaged if packaged.is_dir() else _CHECKOUT / name


def grammar_text() -> str:
    return (_data_dir("grammar") / "archc.lark").read_text(encoding="utf-8")


def prelude_path() -> Path:
    return _PACKAGE / "prelude.arch"


def specs_dir() -> Path:
    return _data_dir("specs")
