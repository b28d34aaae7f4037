"""Every definition is checked, called or not (archc/expansion/definitions.py), and never falsely:
the prelude, the bundled specs, the test cases and random valid specs check clean with their
parameters and inputs unknown; the language server reports what `archc check` reports."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from archc.core.errors import too_many_errors
from archc.core.limits import MAX_ERRORS
from archc.expansion.definitions import check_definitions
from archc.front.work import Work
from archc.lsp.analysis import analyze, run
from archc.pipeline.driver import check
from archc.pipeline.program import load_program, prelude_errors

try:
    from tests.strategies import NO_SHRINK, Spec, valid_specs
except ImportError:  # tests/ itself on sys.path
    from strategies import NO_SHRINK, Spec, valid_specs  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
CLEAN = sorted([*(ROOT / "specs").glob("*.arch"), *(ROOT / "tests" / "cases").glob("*.arch")])


def definition_errors(path: str | Path, text: str | None = None) -> list:
    prog = load_program(path, text)
    assert not prog.errors, prog.errors
    return check_definitions(prog.definitions, prog.blocks, prog.cyclic, Work())


def test_prelude_checks_clean() -> None:
    assert prelude_errors() == ()


@pytest.mark.parametrize("path", CLEAN, ids=lambda p: p.stem)
def test_valid_files_check_clean(path: Path) -> None:
    assert definition_errors(path) == []


@settings(max_examples=150, deadline=None, derandomize=True, database=None, phases=NO_SHRINK,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(valid_specs())
def test_random_valid_specs_check_clean(spec: Spec) -> None:
    assert definition_errors("generated.arch", spec.text) == []


def test_uncalled_block_is_checked(tmp_path: Path) -> None:
    spec = tmp_path / "lib.arch"
    spec.write_text("block lib(c) { conv(c, kk=3) }\n")
    [err] = definition_errors(spec)
    assert (err.code, err.message) == ("A0202", "conv: unknown argument 'kk'")


def test_language_server_reports_uncalled_blocks() -> None:
    path = ROOT / "tests" / "errors" / "uncalled.arch"
    want = {(e.span, e.message) for e in check(path)}
    got = {(e.span, e.message) for e, _ in run(analyze(str(path), path.read_text(), 1)).errors}
    assert got == want


def test_definition_errors_stop_at_the_limit(tmp_path: Path) -> None:
    spec = tmp_path / "many.arch"
    spec.write_text("".join(f"block b{i}(c) {{ conv(c, kk=3) }}\n" for i in range(300)))
    errors = check(spec)
    assert len(errors) == MAX_ERRORS + 1 and errors[-1].code == too_many_errors(None).code
