"""`archc check`'s cache (archc/core/cache.py): a file that checked clean, unchanged, with the same
options, the same `use`d files and the same archc, is not checked again; anything else is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import archc.pipeline.driver
from archc.cli import main

ROOT = Path(__file__).resolve().parents[1]
NET = "use \"lib.arch\"\nnetwork n(c=4) {\n  input 3x8x8\n  twice(c)\n}\n"
LIB = "block twice(c) { conv(c, k=1) relu conv(c, k=1) }\n"


@pytest.fixture
def compiled(monkeypatch, tmp_path: Path) -> list[str]:
    """The files the compiler really checked (the cache on, in a folder of its own)."""
    monkeypatch.delenv("ARCHC_NO_CACHE", raising=False)
    monkeypatch.setenv("ARCHC_CACHE_DIR", str(tmp_path / "cache"))
    seen: list[str] = []
    real = archc.pipeline.driver.compile_spec

    def spy(source, *args, **kwargs):
        seen.append(Path(source).name)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(archc.pipeline.driver, "compile_spec", spy)
    return seen


def _spec(tmp_path: Path) -> Path:
    (tmp_path / "lib.arch").write_text(LIB)
    spec = tmp_path / "net.arch"
    spec.write_text(NET)
    return spec


def test_a_clean_file_is_checked_once(compiled: list[str], tmp_path: Path, capsys) -> None:
    spec = _spec(tmp_path)
    assert main(["check", str(spec)]) == 0
    assert main(["check", str(spec)]) == 0
    assert compiled == ["net.arch"]
    assert capsys.readouterr().err.count("checked 1 file(s): all ok") == 2


def test_json_is_the_same_from_the_cache(compiled: list[str], tmp_path: Path, capsys) -> None:
    spec = _spec(tmp_path)
    outs = []
    for _ in range(2):
        assert main(["check", str(spec), "--format", "json"]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] and '"networks": [\n        "n"\n      ]' in outs[0]
    assert compiled == ["net.arch"]


@pytest.mark.parametrize("change", ["spec", "use", "option", "no-cache"])
def test_a_change_checks_again(change: str, compiled: list[str], tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    assert main(["check", str(spec)]) == 0
    extra: list[str] = []
    if change == "spec":
        spec.write_text(NET.replace("c=4", "c=5"))
    elif change == "use":  # the spec's own text is the same; what it uses is not
        (tmp_path / "lib.arch").write_text(LIB.replace("conv(c, k=1) relu", "conv(c, k=9) relu"))
    elif change == "option":
        extra = ["--set", "c=6"]
    else:
        extra = ["--no-cache"]
    rc = main(["check", str(spec), *extra])
    assert compiled == ["net.arch", "net.arch"]
    assert rc == (1 if change == "use" else 0)  # a 9x9 kernel on an 8x8 map


def test_errors_are_never_cached(compiled: list[str], tmp_path: Path, capsys) -> None:
    spec = tmp_path / "bad.arch"
    spec.write_text("network n {\n  input 3x8x8\n  conv(4, k=9)\n}\n")
    for _ in range(2):
        assert main(["check", str(spec)]) == 1
        assert "error[A0402]" in capsys.readouterr().err
    assert compiled == ["bad.arch", "bad.arch"]


def test_an_unwritable_cache_is_ignored(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.delenv("ARCHC_NO_CACHE", raising=False)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ARCHC_CACHE_DIR", str(blocker / "cache"))
    spec = _spec(tmp_path)
    assert main(["check", str(spec)]) == 0
    assert main(["check", str(spec)]) == 0


def test_a_cached_check_imports_no_compiler(tmp_path: Path) -> None:
    """From the shell, twice: the second run reads the cache and never imports the parser,
    the op registry or pydantic (what made the inner loop 0.25x `import torch`); the first
    imports no pydantic either (archc/core/schema.py checks valid arguments without it), nor
    Lark (the parser runs on archc/front/tables.py's tables)."""
    env = {**os.environ, "ARCHC_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("ARCHC_NO_CACHE", None)
    argv = [sys.executable, "-X", "importtime", "-m", "archc", "check", "resnet18", "lenet"]
    runs = [subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0]
    imported = [{line.split("|")[-1].strip() for line in r.stderr.splitlines()} for r in runs]
    assert {"archc.front.parse", "archc.registry.ops"} <= imported[0]
    assert not {"lark", "pydantic"} & imported[0]
    assert not {"archc.front.parse", "pydantic", "archc.registry.ops", "torch"} & imported[1]


def test_the_prelude_is_kept_parsed_and_checked(monkeypatch, tmp_path: Path) -> None:
    """The prelude, parsed and checked clean, is kept for the next process under archc's
    fingerprint (`--no-cache` concerns the files checked, not archc's own); a copy that cannot
    be read is made afresh; the copies of the last versions stay, older ones are removed."""
    from archc.core import cache
    from archc.pipeline import program

    monkeypatch.delenv("ARCHC_NO_CACHE", raising=False)
    monkeypatch.setenv("ARCHC_CACHE_DIR", str(tmp_path / "cache"))
    kept = tmp_path / "cache" / "compiled"
    kept.mkdir(parents=True)
    for age in range(cache.COMPILED_KEPT):  # other versions': the oldest goes
        (kept / f"prelude-{age}.pickle").write_bytes(b"another archc's")
        os.utime(kept / f"prelude-{age}.pickle", ns=(age * 10**9, age * 10**9))
    program._prelude_checked.cache_clear()
    try:
        module, errors = program._prelude_checked()
        assert errors == () and module == program.parse(program.prelude_text(), program.PRELUDE)
        stored = kept / f"prelude-{cache.fingerprint()}.pickle"
        assert sorted(p.name for p in kept.iterdir()) == sorted(
            [stored.name, *(f"prelude-{age}.pickle" for age in range(1, cache.COMPILED_KEPT))])
        program._prelude_checked.cache_clear()

        def no_parse(*args: object) -> None:
            raise AssertionError("the prelude was parsed again")
        monkeypatch.setattr(program, "parse", no_parse)
        assert main(["check", "--no-cache", "lenet"]) == 0
        assert program._prelude_checked() == (module, ())
        monkeypatch.undo()
        monkeypatch.setenv("ARCHC_CACHE_DIR", str(tmp_path / "cache"))
        stored.write_bytes(b"truncated")
        program._prelude_checked.cache_clear()
        assert program._prelude_checked() == (module, ())
    finally:
        program._prelude_checked.cache_clear()


def test_a_used_file_is_parsed_once_per_process(monkeypatch, tmp_path: Path, capsys) -> None:
    """Two specs that `use` one file: one check parses it once (and a file parsed already, not
    again); a file with a syntax error is parsed (and reported) for each."""
    from archc.pipeline import program

    (tmp_path / "lib.arch").write_text(LIB)
    for name in ("a", "b"):
        (tmp_path / f"{name}.arch").write_text(NET.replace("network n", f"network {name}"))
    parsed: list[str] = []
    real = program.parse_recovering

    def spy(text: str, path: str) -> object:
        parsed.append(Path(path).name)
        return real(text, path)
    monkeypatch.setattr(program, "parse_recovering", spy)
    files = [str(tmp_path / "a.arch"), str(tmp_path / "b.arch")]
    assert main(["check", "--no-cache", *files]) == 0
    assert sorted(parsed) == ["a.arch", "b.arch", "lib.arch"]
    (tmp_path / "lib.arch").write_text(LIB.replace("relu", "relu )"))
    parsed.clear()
    assert main(["check", "--no-cache", *files]) == 1
    assert parsed == ["lib.arch", "lib.arch"]  # (a and b as they were: parsed already)
    assert capsys.readouterr().err.count("error[A0") == 2


def test_archc_no_cache_keeps_no_prelude(monkeypatch, tmp_path: Path) -> None:
    """ARCHC_NO_CACHE=1 (the tests' setting) neither reads nor writes the prelude's copy."""
    from archc.pipeline import program

    monkeypatch.setenv("ARCHC_NO_CACHE", "1")
    monkeypatch.setenv("ARCHC_CACHE_DIR", str(tmp_path / "cache"))
    program._prelude_checked.cache_clear()
    try:
        assert program._prelude_checked()[1] == ()
        assert main(["check", "lenet"]) == 0
    finally:
        program._prelude_checked.cache_clear()
    assert not (tmp_path / "cache").exists()
