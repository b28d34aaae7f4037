"""Source lines as the lexer counts them: only "\\n" ends a line. CR, VT, FF, FS, GS, RS, NEL
(U+0085), LS (U+2028) and PS (U+2029) end a line for Python's str.splitlines, so a diagnostic
that split the text that way named one line and showed another (issue 16, item 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from archc.cli import main
from archc.core.errors import ArchcError, Span, render

ODD = ["\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
ODD_IDS = [f"U+{ord(c):04X}" for c in ODD]


def shown(rendered: str) -> tuple[str, str]:
    """The source line and the caret line of a rendered diagnostic."""
    lines = rendered.splitlines()  # the rendering itself holds none of the odd characters
    return lines[1][2:], lines[2][2:]


@pytest.mark.parametrize("ch", ODD, ids=ODD_IDS)
def test_comment_with_a_line_break_character(tmp_path: Path, capsys, ch: str) -> None:
    """The issue's reproducer: the error is on line 3 and line 3 is what is shown."""
    spec = tmp_path / "s.arch"
    spec.write_bytes(f"network n {{  # page{ch}break\n  input 3\n  rellu\n}}\n".encode())
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{spec}:3:3: error[A0201]: unknown layer or block 'rellu'\n")
    assert err.splitlines()[1:3] == ["    rellu", "    ^~~~~"]


@pytest.mark.parametrize("ch", ODD, ids=ODD_IDS)
def test_caret_under_the_token_on_a_line_holding_one(ch: str) -> None:
    """An odd character before the error on its own line shows as one space, so the caret
    stays under the token (columns count characters, as the lexer does)."""
    text = f"network n {{\n  input 3  # x{ch}y\n  conv(1, k=1)  # a{ch}b\n  rellu # {ch}.\n}}\n"
    line = text.split("\n")[3]
    col = line.index("rellu") + 1
    source, caret = shown(render(ArchcError("boom", Span("s", 4, col, 4, col + 5)),
                                 {"s": text}))
    assert source == line.replace(ch, " ")
    assert caret == " " * (col - 1) + "^~~~~"


def test_crlf_shows_the_line_without_its_cr() -> None:
    text = "network n {\r\n  input 3\r\n  rellu\r\n}\r\n"
    source, caret = shown(render(ArchcError("boom", Span("s", 3, 3, 3, 8)), {"s": text}))
    assert (source, caret) == ("  rellu", "  ^~~~~")


@pytest.mark.parametrize("ch", ["\r", "\f"], ids=["CR", "FF"])
def test_whitespace_that_is_not_a_line_break(tmp_path: Path, capsys, ch: str) -> None:
    """CR and FF between tokens are blanks to the lexer: `rellu` stays on line 2."""
    spec = tmp_path / "s.arch"
    spec.write_bytes(f"network n {{\n  input 3{ch}rellu\n}}\n".encode())
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:2:11: error[A0201]: unknown layer or block 'rellu'" in err
    assert err.splitlines()[1:3] == ["    input 3 rellu", "            ^~~~~"]


def test_a_prefix_operator_is_part_of_its_span(tmp_path: Path, capsys) -> None:
    """Issue 12, item 9: the caret for `-16` pointed at `16`."""
    spec = tmp_path / "s.arch"
    spec.write_text("network n {\n  input 3x8x8\n  conv(-16, k=1)\n  conv(4, k=1, bias=not 3)\n}\n")
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{spec}:3:8: error[A0305]: conv: argument 'out' must be >= 1, got -16"
    assert err[1:3] == ["    conv(-16, k=1)", "         ^~~"]
    assert err[4] == f"{spec}:4:21: error[A0306]: 'not' needs booleans, got an integer 3"
    assert err[5:7] == ["    conv(4, k=1, bias=not 3)", "                      ^~~~~"]
