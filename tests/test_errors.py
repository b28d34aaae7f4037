"""Every error kind, data-driven: each tests/errors/*.arch states the diagnostics `archc check`
must report next to the lines they concern (`#~^ col: error[code]: message`, tests/ui.py), and
its full rendered output is compared with the snapshot beside it (NAME.stderr; regenerate with
ARCHC_BLESS=1 after checking the difference by eye)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import archc
from archc.cli import main
from archc.core.errors import ArchcErrors, located_for_user
from archc.pipeline.driver import check, compile_spec

from .ui import Expected, annotations

ROOT = Path(__file__).resolve().parents[1]
ERRORS = sorted((ROOT / "tests" / "errors").glob("*.arch"))


def shown(errors) -> list[Expected]:
    """What `archc check` prints about each error: where, and `error[code]: message`."""
    out = []
    for err in map(located_for_user, errors):
        assert err.span is not None and err.code is not None, err
        out.append(Expected(err.span.path, err.span.line, err.span.col,
                            f"{err.severity}[{err.code}]: {err.message}"))
    return sorted(out)


@pytest.mark.parametrize("path", ERRORS, ids=lambda p: p.stem)
def test_error_file(path: Path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)  # paths as a user in the checkout would type them
    done = compile_spec(path.relative_to(ROOT))
    prog, errors = done.program, done.errors
    expected = sorted(e for name, text in prog.sources.items() if not name.startswith("<")
                      for e in annotations(name, text))
    assert expected, f"{path.name} states no expected errors"
    assert [str(e) for e in shown(errors)] == [str(e) for e in expected]


@pytest.mark.parametrize("path", ERRORS, ids=lambda p: p.stem)
def test_snapshot(path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["check", str(path.relative_to(ROOT))]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    snapshot = path.with_suffix(".stderr")
    if os.environ.get("ARCHC_BLESS"):
        snapshot.write_text(err)
    assert snapshot.exists(), f"no snapshot {snapshot.name}; run with ARCHC_BLESS=1"
    assert err == snapshot.read_text()


def test_rendering_has_source_caret_and_hint(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "s.arch"
    spec.write_text("network n {\n  input 1x28x28\n  conv(6, k=5) rellu\n}\n")
    assert main(["check", str(spec)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"{spec}:3:16: error[A0201]: unknown layer or block 'rellu'"
    assert lines[1] == "    conv(6, k=5) rellu"
    assert lines[2] == "                 ^~~~~"
    assert lines[3] == "  hint: did you mean 'relu'?"


def test_build_reports_every_error(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "s.arch"
    spec.write_text("network n { input 3x8x8 conv(0, k=1) conv(1, k=0) }")
    assert main(["build", str(spec)]) == 1
    assert capsys.readouterr().err.count("error[") == 2


@pytest.mark.parametrize("data, message", [
    (b"network n { input 3x8x8 \xff }", "1:25: not UTF-8 text: byte 0xff"),
    (b"", "1:1: empty spec: no network or block defined"),
    (b"# only a comment\n", "1:1: empty spec: no network or block defined"),
    (b"{" * 500, "1:101: brackets nested more than 100 deep"),
])
def test_bad_bytes(tmp_path: Path, data: bytes, message: str) -> None:
    spec = tmp_path / "s.arch"
    spec.write_bytes(data)
    errors = check(spec)
    assert [f"{e.span.line}:{e.span.col}: {e.message}" for e in errors] == [message]


def test_api_raises_all_errors() -> None:
    with pytest.raises(ArchcErrors) as info:
        archc.loads("network n { input 3x8x8 conv(0, k=1) foo }")
    assert len(info.value.errors) == 2


@pytest.mark.parametrize("argv, code", [
    (["check"], 2),
    (["build", "no_such_spec"], 2),
    (["build", "resnet18", "--input", "axb"], 2),
    (["build", "resnet18", "--set", "nope=1"], 2),
    (["build", "resnet18", "--set", "novalue"], 2),
    (["check", "/no/such/file.arch"], 1),
])
def test_usage_errors(argv: list[str], code: int, capsys) -> None:
    try:
        assert main(argv) == code
    except SystemExit as exc:  # argparse's own usage errors
        assert exc.code == code
    assert "Traceback" not in capsys.readouterr().err


def test_check_never_imports_torch() -> None:
    specs = sorted(str(p) for p in (Path(__file__).parents[1] / "specs").glob("*.arch"))
    code = ("import sys; from archc.cli import main; rc = main(['check', *sys.argv[1:]]); "
            "print(rc, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, *specs], capture_output=True, text=True)
    assert out.stdout.split() == ["0", "False"], out.stderr
