"""The one driver (archc/pipeline/driver.py): every command, the Python API and the language server
report the same diagnostics for the same file, and a file with an error anywhere is built by
none of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import archc
from archc.cli import main
from archc.core.errors import ArchcErrors, located_for_user
from archc.lsp.analysis import analyze, run
from archc.pipeline.driver import check, compile_spec

ROOT = Path(__file__).resolve().parents[1]
ERRORS = sorted((ROOT / "tests" / "errors").glob("*.arch"))
SHOWN = re.compile(r"^(\S+:\d+:\d+): (?:error|warning)\[(A\d{4})\]: (.*)$", re.M)

# Each command as a user types it (outputs into the test's folder); none may build anything.
COMMANDS = {
    "check": [],
    "summary": [],
    "build": [],
    "graph": ["-o", "{tmp}/net.dot"],
    "export": ["-o", "{tmp}/net.py"],
    "train": ["--out", "{tmp}/run", "--no-download", "--data-dir", "{tmp}/data"],
}


def printed(err: str) -> set[tuple[str, str, str]]:
    return set(SHOWN.findall(err))


def expected(path: Path) -> set[tuple[str, str, str]]:
    out = set()
    for e in map(located_for_user, check(path)):
        assert e.span is not None and e.code is not None
        out.add((f"{e.span.path}:{e.span.line}:{e.span.col}", e.code, e.message))
    return out


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("path", ERRORS, ids=lambda p: p.stem)
def test_every_command_reports_what_check_reports(path: Path, command: str, tmp_path: Path,
                                                  monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    spec = str(path.relative_to(ROOT))
    want = expected(Path(spec))
    assert want, f"{path.name}: check finds nothing"
    argv = [command, spec, *(a.format(tmp=tmp_path) for a in COMMANDS[command])]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert printed(err) == want
    assert not any(tmp_path.iterdir()), "a command with errors wrote an output"


@pytest.mark.parametrize("path", ERRORS, ids=lambda p: p.stem)
def test_api_and_language_server_report_what_check_reports(path: Path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    spec = path.relative_to(ROOT)
    want = {(e.span, e.code, e.message) for e in check(spec)}
    with pytest.raises(ArchcErrors) as info:
        archc.load(spec)
    assert {(e.span, e.code, e.message) for e in info.value.errors} == want
    lsp = run(analyze(str(spec), spec.read_text(), 1))
    assert {(e.span, e.code, e.message) for e, _ in lsp.errors} == want


UNCALLED = "block lib(c) {\n  conv(c, kernel=3)\n}\nnetwork n {\n  input 3x8x8\n  conv(4, k=1)\n}\n"


@pytest.mark.parametrize("command", ["summary", "build", "check"])
def test_an_error_in_an_uncalled_block_stops_every_command(command: str, tmp_path: Path,
                                                           capsys) -> None:
    spec = tmp_path / "s.arch"
    spec.write_text(UNCALLED)
    assert main([command, str(spec)]) == 1
    assert f"{spec}:2:11: error[A0202]: conv: unknown argument 'kernel'" in capsys.readouterr().err
    with pytest.raises(ArchcErrors):
        archc.load(spec)


def test_another_networks_error_stops_the_build(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "s.arch"
    spec.write_text("network good {\n  input 3x8x8\n  conv(4, k=1)\n}\n"
                    "network bad {\n  input 3x8x8\n  conv(4, k=9)\n}\n")
    assert main(["build", str(spec), "--network", "good"]) == 1
    assert f"{spec}:7:3: error[A0402]" in capsys.readouterr().err


def test_overrides_apply_to_the_chosen_network(tmp_path: Path) -> None:
    spec = tmp_path / "s.arch"
    spec.write_text("network a(c=4) {\n  input 3x8x8\n  conv(c, k=1)\n}\n"
                    "network b(c=4) {\n  input 3x8x8\n  conv(c, k=1)\n}\n")
    done = compile_spec(spec, {"c": 6}, network="b")
    assert done.chosen == "b" and done.errors == []
    assert done.networks["b"].output_shape == (6, 8, 8)
    assert done.networks["a"].output_shape == (4, 8, 8)
    assert done.network().name == "b"
