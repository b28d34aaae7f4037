"""`archc fmt`: one layout, idempotent, keeping every comment in order and the AST; every
bundled spec is formatted; comments anywhere and odd blanks (issue 16); the CLI's --check,
--diff, in-place and stdin modes."""

from __future__ import annotations

import dataclasses
import os
import random
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from archc.cli import main
from archc.core.errors import ArchcError, Span
from archc.core.resources import prelude_path, specs_dir
from archc.fmt import format_text
from archc.front.parse import parse

try:
    from tests.strategies import NO_SHRINK, messy_specs, valid_specs, wild_layout, wild_specs
except ImportError:  # tests/ itself on sys.path
    from strategies import NO_SHRINK, messy_specs, valid_specs, wild_layout, wild_specs

SPECS = sorted(specs_dir().glob("*.arch"))
CASES = sorted((Path(__file__).parent / "cases").rglob("*.arch"))
FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                phases=NO_SHRINK,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def shape_of(node):
    """An AST with every span removed (what formatting must keep: what equality compares;
    a label's quotes, `quoted`, are layout)."""
    if isinstance(node, Span):
        return None
    if dataclasses.is_dataclass(node):
        return (type(node).__name__, *(shape_of(getattr(node, f.name))
                                       for f in dataclasses.fields(node)
                                       if f.name != "span" and f.compare))
    if isinstance(node, (tuple, list)):
        return tuple(shape_of(n) for n in node)
    return node


def comments(text: str) -> list[str]:
    """Comment texts in order (the lexer's view: `#` outside strings, to end of line)."""
    return [m.group(0).rstrip() for m in re.finditer(r'#[^\n]*|"[^"\n]*"', text)
            if m.group(0).startswith("#")]


def assert_good_format(text: str, path: str = "<string>") -> str:
    out = format_text(text, path)
    assert format_text(out, path) == out, "not idempotent"
    assert shape_of(parse(out, path)) == shape_of(parse(text, path)), "AST changed"
    assert comments(out) == comments(text), "comments lost, changed or reordered"
    assert out == "" or out.endswith("\n") and not out.endswith("\n\n")
    assert all(line == line.rstrip() for line in out.split("\n"))
    assert "\t" not in re.sub(r'#[^\n]*', "", out)  # (comments are kept as written)
    return out


@pytest.mark.parametrize("path", [*SPECS, prelude_path()],
                         ids=[p.stem for p in [*SPECS, prelude_path()]])
def test_bundled_spec_is_formatted(path):
    """`archc fmt specs/*.arch` changes nothing: a new or edited spec must be formatted."""
    text = path.read_text(encoding="utf-8")
    assert format_text(text, str(path)) == text, f"run: archc fmt {path}"


@pytest.mark.parametrize("path", [*SPECS, prelude_path(), *CASES],
                         ids=[p.stem for p in [*SPECS, prelude_path(), *CASES]])
def test_format_keeps_ast_and_comments(path):
    assert_good_format(path.read_text(encoding="utf-8"), str(path))


@FUZZ
@given(valid_specs())
def test_generated_specs(spec):
    assert_good_format(spec.text)


@FUZZ
@given(messy_specs())
def test_any_layout(text):
    assert_good_format(text)


@settings(FUZZ, max_examples=60)  # the biggest inputs: a comment every seventh token
@given(wild_specs())
def test_comments_anywhere_and_odd_blanks(text):
    assert_good_format(text)


# Issue 16, item 6: each was not idempotent, or merged or reordered comments.
ODD = {"CR": "\r", "FF": "\f", "VT": "\v", "NEL": "\x85", "LS": "\u2028", "PS": "\u2029"}
REPRODUCERS = {
    "comment before else": "network n { input 3 if false { relu }\n # a\n else { tanh } }",
    "comment in an else-if header": "network n { input 3 if false { relu } else if true # c\n"
                                    " { tanh } }",
    "own-line comment in an else-if header": "network n { input 3 if false { relu } else if"
                                             " true\n # c\n { tanh } }",
    "blank line then comment in a group": "network x {\n  { relu\n\n  # c\n  }\n}",
    "comments in a parameter list": "network n(a # c0\n  = # c1\n  0) {\n  input 3\n}\n",
    "comment after a parameter list": "network n(a=0) # c\n {\n  input 3\n}\n",
    "comments after a bar": "network n {\n  input 3\n  add {\n  | # a\n  # b\n  }\n}\n",
    **{f"stray {name} before a bar": f"network n {{\n  input 3{ch}add {{\n  | # a\n  # b\n"
       "  }\n}\n" for name, ch in ODD.items() if name in ("CR", "FF")},
    **{f"{name} in a comment before a bar": f"network n {{\n  input 3  # x{ch}y\n  add {{\n"
       "  | # a\n  # b\n  }\n}\n" for name, ch in ODD.items()},
    "comments in a call": "network n { input 3 conv(1, # a\n # b\n k=1) # c\n relu }",
    "comments around a repeat": "network n { input 3 { relu } # a\n # b\n * 2 }",
    "comments in an opener": "network n { input 3 x: # a\n # b\n add # c\n { relu | } }",
    "two comments on a use": 'use # a\n"lib.arch" # b\nuse "x.arch"\nnetwork n { input 3 }',
}


@pytest.mark.parametrize("path", [*SPECS, *CASES], ids=[p.stem for p in [*SPECS, *CASES]])
def test_bundled_specs_with_comments_anywhere(path):
    """Every construct the bundled specs use (tuples, quoted labels, `in.c`, every join...),
    with a comment between any two tokens and odd blanks."""
    assert_good_format(wild_layout(random.Random(path.stem), path.read_text(), comments=0.3))


@pytest.mark.parametrize("text", REPRODUCERS.values(), ids=REPRODUCERS.keys())
def test_comment_reproducers(text):
    assert_good_format(text)


@pytest.mark.parametrize("text, want", [
    (REPRODUCERS["comment before else"],
     "network n {\n  input 3\n  if false {\n    relu\n    # a\n  } else {\n    tanh\n  }\n}\n"),
    (REPRODUCERS["comment in an else-if header"],
     "network n {\n  input 3\n  if false {\n    relu\n    # c\n  } else if true {\n"
     "    tanh\n  }\n}\n"),
    (REPRODUCERS["comments in a parameter list"],
     "network n(\n  a=0  # c0\n  # c1\n) {\n  input 3\n}\n"),
    (REPRODUCERS["stray CR before a bar"],
     "network n {\n  input 3\n  add {\n  | # a\n    # b\n  }\n}\n"),
    (REPRODUCERS["NEL in a comment before a bar"],
     "network n {\n  input 3  # x\x85y\n  add {\n  | # a\n    # b\n  }\n}\n"),
])
def test_comment_placement(text, want):
    assert assert_good_format(text) == want


# ----------------------------------------------------------------------------- the style

MESSY = """\
# header comment

use "blocks.arch"
block   b( c,k =3, ) {conv( c,k=k ,pad=k//2) bn relu   # after bn
  # before the join
  add{ conv(c ,k=1)|  # on the bar
  relu
  |
  }
}
network n(classes=10) {
  input (1, 28, 28)
  c1: conv(6, k=5, pad=(2)) sigmoid avgpool(2, stride=2)   # trailing



  layer1: { b(8) * 2 }
  if classes > 5 { relu } else { sigmoid }
  for i in 0..2 {
    conv(4 + i, k=1)
  }
  gap flatten expect 6
  fc: linear(classes)
  train { lr = 0.1 epochs=2 }
  # last words
}
"""

MESSY_FORMATTED = """\
# header comment

use "blocks.arch"

block b(c, k=3) {
  conv(c, k=k, pad=k // 2) bn relu  # after bn
  # before the join
  add {
    conv(c, k=1)
  | # on the bar
    relu
  |
  }
}

network n(classes=10) {
  input 1x28x28
  c1: conv(6, k=5, pad=2) sigmoid avgpool(2, stride=2)  # trailing

  layer1: { b(8) * 2 }
  if classes > 5 { relu } else { sigmoid }
  for i in 0..2 {
    conv(4 + i, k=1)
  }
  gap flatten expect 6
  fc: linear(classes)
  train { lr = 0.1  epochs = 2 }
  # last words
}
"""


def test_style():
    assert assert_good_format(MESSY) == MESSY_FORMATTED


@pytest.mark.parametrize("text, want", [
    ("network n { input 1x8x8 conv((1 + 2) * 3, k=-(-1)) }",
     "network n { input 1x8x8 conv((1 + 2) * 3, k=--1) }\n"),
    ("network n(a=(1 - (2 - 3)), b=not (true and false), c=(1 if true else 2) + 1) {}",
     "network n(a=1 - (2 - 3), b=not (true and false), c=(1 if true else 2) + 1) {}\n"),
    ("network n(a=(1 < 2) == true, b=- (1 + 2), c=max(1, 2) // (3 % 2)) {}",
     "network n(a=(1 < 2) == true, b=-(1 + 2), c=max(1, 2) // (3 % 2)) {}\n"),
    ("network n(a=1 if true else (2 if false else 3), b=(1 if true else 2) if false else 3) {}",
     "network n(a=1 if true else 2 if false else 3, b=(1 if true else 2) if false else 3) {}\n"),
    ("network n { input 1x8x8 assert (1 < 2) and not false, \"why\" relu }",
     "network n {\n  input 1x8x8\n  assert 1 < 2 and not false, \"why\"\n  relu\n}\n"),
    ("network n { input 1x8x8 relu * (2) relu * (1 + 1) }",
     "network n { input 1x8x8 relu * 2 relu * (1 + 1) }\n"),
])
def test_expressions_keep_their_meaning(text, want):
    assert assert_good_format(text) == want


def test_long_runs_wrap_and_long_headers_explode():
    calls = " ".join(f"conv{i}: conv({i + 1}, k=1)" for i in range(12))
    out = assert_good_format(f"network n {{\n  input 1x8x8\n  {calls}\n}}\n")
    assert all(len(line) <= 100 for line in out.splitlines())
    assert len(out.splitlines()) > 4
    params = ", ".join(f"parameter_{i}={i}" for i in range(10))
    out = assert_good_format(f"block b({params}) {{ relu }}\n")
    assert out.startswith("block b(\n  parameter_0=0,\n") and ") {" in out


def test_every_node_kind_has_a_printer():
    """A new statement or expression in archc/front/tree.py needs its entry in the printer's tables
    (archc/fmt/printer.py _STMT, archc/fmt/exprs.py _EXPR); until then fmt fails loudly."""
    from archc.fmt.exprs import _EXPR
    from archc.fmt.printer import _STMT
    from archc.front import tree

    assert set(typing.get_args(tree.Stmt)) | {tree.Definition, tree.Use, tree.Setting} <= set(_STMT)
    assert set(typing.get_args(tree.Expr)) <= set(_EXPR)


def test_syntax_errors_are_located():
    with pytest.raises(ArchcError, match="'\\(' is never closed"):
        format_text("network n { input 1x8x8 conv(", "x.arch")


# ----------------------------------------------------------------------------- command line


def run(args, capsys):
    rc = main(["fmt", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_check_and_rewrite(tmp_path, capsys):
    messy, tidy = tmp_path / "messy.arch", tmp_path / "tidy.arch"
    messy.write_text("network n {input 1x8x8 conv(2,k=3)}\n")
    tidy.write_text("network n {\n  input 1x8x8\n  relu\n}\n")
    rc, _, err = run(["--check", str(messy), str(tidy)], capsys)
    assert rc == 1 and f"would reformat {messy}" in err and str(tidy) not in err.split("\n")[0]
    assert messy.read_text() == "network n {input 1x8x8 conv(2,k=3)}\n"  # untouched
    rc, out, _ = run(["--diff", str(messy)], capsys)
    assert rc == 0 and "+network n { input 1x8x8 conv(2, k=3) }" in out
    rc, _, err = run([str(tmp_path)], capsys)  # a folder: every *.arch in it
    assert rc == 0 and f"reformatted {messy}" in err
    assert messy.read_text() == "network n { input 1x8x8 conv(2, k=3) }\n"
    rc, _, err = run(["--check", str(messy), str(tidy)], capsys)
    assert rc == 0 and "would reformat" not in err


def test_cli_folder_without_specs_is_an_error(tmp_path, capsys):
    """`archc fmt --check DIR` of a folder with no .arch file passed (exit 0, "0 file(s)")."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("network n {input 1x8x8 relu}\n")
    for folder in ("empty", "other"):
        rc, _, err = run(["--check", str(tmp_path / folder)], capsys)
        assert rc == 1 and f"{tmp_path / folder}: error: no .arch file in this folder" in err


def test_cli_errors_leave_the_file_alone(tmp_path, capsys):
    bad = tmp_path / "bad.arch"
    bad.write_text("network n { input 1x8x8 conv(\n")
    rc, _, err = run([str(bad)], capsys)
    assert rc == 1 and f"{bad}:1:" in err and "'(' is never closed" in err
    assert bad.read_text() == "network n { input 1x8x8 conv(\n"


def test_cli_stdin_to_stdout():
    run_ = subprocess.run([sys.executable, "-m", "archc", "fmt", "-"], text=True,
                          input="network n {input 1x8x8 relu}", capture_output=True, timeout=60)
    assert run_.returncode == 0 and run_.stdout == "network n { input 1x8x8 relu }\n"


def test_cli_stdin_is_read_as_a_file_is():
    """No newline translation (a lone CR is a blank, as in a file), UTF-8 out whatever the
    locale, and an error shows its source line."""
    text = "network n { input 1x8x8\rrelu }  # ünï\x85code\n"
    run_ = subprocess.run([sys.executable, "-m", "archc", "fmt", "-"], input=text.encode(),
                          capture_output=True, timeout=60, env={**os.environ, "LC_ALL": "C"})
    assert run_.returncode == 0 and run_.stdout.decode() == format_text(text)
    assert run_.stdout.decode() == "network n {\n  input 1x8x8 relu\n}  # ünï\x85code\n"
    run_ = subprocess.run([sys.executable, "-m", "archc", "fmt", "-"], input=b"network n {\n",
                          capture_output=True, timeout=60)
    assert run_.returncode == 1
    assert run_.stderr.decode().splitlines()[:2] == [
        "<stdin>:1:11: error[A0104]: '{' is never closed", "  network n {"]


def test_cli_diff_counts_lines_as_the_lexer_does(tmp_path, capsys):
    messy = tmp_path / "messy.arch"
    messy.write_bytes("# a\fb\u2028c\nnetwork n {input 1x8x8 relu}\n".encode())
    rc, out, _ = run(["--diff", str(messy)], capsys)
    lines = out.split("\n")
    assert rc == 0 and " # a\fb\u2028c" in lines  # one line of context, not three
    assert [ln for ln in lines if ln[:1] in ("+", "-") and ln[:3] not in ("+++", "---")] == [
        "-network n {input 1x8x8 relu}", "+network n { input 1x8x8 relu }"]


def test_cli_check_bundled_specs(capsys):
    """What CI runs: `archc fmt --check specs/` (fails until the specs are formatted)."""
    rc, _, err = run(["--check", str(specs_dir())], capsys)
    assert rc == 0, err


def test_diff_into_a_closed_pipe_is_no_traceback(tmp_path: Path) -> None:
    """`archc fmt --diff | head -1`: the reader leaves early; archc stops without a traceback."""
    spec = tmp_path / "big.arch"
    spec.write_text("network n {input 3x8x8\n" + "".join(f"  relu   # {i}\n" for i in range(4000))
                    + "}\n")
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "archc", "fmt", "--diff", str(spec)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.stdout is not None and proc.stdout.readline().startswith(b"---")
    proc.stdout.close()  # as `head -1` does
    err = proc.communicate(timeout=120)[1].decode()
    assert "Traceback" not in err and proc.returncode == 1, err
