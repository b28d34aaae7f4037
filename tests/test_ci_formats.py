"""CI integration: `archc check --format github|json` on good and bad specs (bundled ones
included), the pre-commit hooks this repository ships, and the workflow in docs/ci.md."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from archc.cli import main
from archc.commands.check import _github
from archc.core.errors import ArchcError, Span
from archc.core.resources import specs_dir

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(specs_dir().glob("*.arch"))
ANNOTATION = re.compile(r"^::error (?P<props>[^:]*)::(?P<message>.*)$")

BAD = """\
network net {
  input 1x28x28
  conv(8, k=3) bn
  reluu
  gap flatten linear(10)
}

network two {
  input 1x8x8
  conv(8, k=9)
  linear(10, bias=1)
}
"""


def check(args, capsys) -> tuple[int, str, str]:
    rc = main(["check", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def unescape(text: str) -> str:
    for code, char in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(code, char)
    return text


def annotations(out: str) -> list[dict]:
    result = []
    for line in out.splitlines():
        m = ANNOTATION.match(line)
        assert m, f"not a workflow command: {line!r}"
        props = dict(p.split("=", 1) for p in m["props"].split(","))
        result.append({k: unescape(v) for k, v in props.items()}
                      | {"message": unescape(m["message"])})
    return result


@pytest.fixture
def bad(tmp_path) -> Path:
    path = tmp_path / "bad.arch"
    path.write_text(BAD)
    return path


def test_github_and_json_agree(bad, capsys):
    rc, out, _ = check(["--format", "github", str(bad)], capsys)
    assert rc == 1
    notes = annotations(out)
    rc, out, _ = check(["--format", "json", str(bad)], capsys)
    assert rc == 1
    report = json.loads(out)
    assert report["files"] == [{"file": str(bad), "ok": False, "networks": ["net", "two"]}]
    diags = report["diagnostics"]
    assert [(d["line"], d["col"]) for d in diags] == [(4, 3), (10, 3), (11, 14)]
    assert len(notes) == len(diags)
    for note, d in zip(notes, diags, strict=True):
        assert note["file"] == d["file"] == str(bad) and note["title"] == f"archc {d['code']}"
        assert (int(note["line"]), int(note["col"])) == (d["line"], d["col"])
        assert note["message"].startswith(d["message"])
        assert d["kind"] in ("NameError", "ShapeError", "ArgumentError")
        if d["hint"]:
            assert note["message"].endswith(f"(hint: {d['hint']})")
    assert diags[0]["hint"] == "did you mean 'relu'?" and diags[0]["end_col"] == 8


def test_text_format_is_located(bad, capsys):
    rc, out, err = check([str(bad)], capsys)
    assert rc == 1 and out == ""
    assert re.findall(rf"^{re.escape(str(bad))}:(\d+):(\d+): error\[A\d{{4}}\]: ", err, re.M) == [
        ("4", "3"), ("10", "3"), ("11", "14")]


def test_github_escapes(tmp_path, capsys):
    path = tmp_path / "a,b:c%.arch"
    path.write_text("network n { input 1x8x8 conv(1 % 0, k=1) }\n")
    rc, out, _ = check(["--format", "github", str(path)], capsys)
    assert rc == 1 and out.count("\n") == 1
    assert "a%2Cb%3Ac%25.arch" in out
    (note,) = annotations(out)
    assert note["file"] == str(path) and note["message"] == "division by zero in '%'"
    assert note["title"] == "archc A0307"
    assert _github(ArchcError("no place\nat all")) == "::error title=archc::no place%0Aat all"
    assert _github(ArchcError("x", Span("f.arch", 2, 3, 4, 1))) == \
        "::error file=f.arch,line=2,col=3,title=archc::x"


CALLS = """\
block shrink(c) {
  conv(c, k=3)
}

network t {
  input 3x32x32
  residual(16)
}

network u {
  input 3x8x8
  outer: { shrink(4) shrink(4) shrink(4) shrink(4) }
}
"""


def test_errors_inside_blocks_point_at_the_user_call(tmp_path, capsys):
    """GitHub and JSON place an error inside a block at the outermost call, in the checked
    spec; JSON carries the rest of the chain as related locations (issue 12)."""
    path = tmp_path / "t.arch"
    path.write_text(CALLS)
    rc, out, _ = check(["--format", "github", str(path)], capsys)
    notes = annotations(out)
    assert rc == 1 and [(n["file"], n["line"], n["col"]) for n in notes] == [
        (str(path), "12", "42"), (str(path), "7", "3")]
    assert notes[1]["message"].splitlines()[-1] == \
        "<prelude>:7:3: failing here, inside residual(16)"
    rc, out, _ = check(["--format", "json", str(path)], capsys)
    diags = json.loads(out)["diagnostics"]
    assert [(d["line"], d["col"], d["code"]) for d in diags] == [(12, 42, "A0402"),
                                                                (7, 3, "A0405")]
    assert [(r["file"], r["line"], r["message"]) for r in diags[0]["related"]] == [
        (str(path), 2, "failing here, inside shrink(4)")]
    rc, _, err = check([str(path)], capsys)  # text: the user's own block stays primary
    assert f"{path}:2:3: error[A0402]: conv: output size 0 < 1" in err
    assert f"  {path}:12:42: note: in shrink(4), called here" in err


def test_several_files_one_report(bad, tmp_path, capsys):
    good = tmp_path / "good.arch"
    good.write_text("network g { input 1x8x8 relu }\n")
    rc, out, _ = check(["--format", "json", str(good), str(bad)], capsys)
    report = json.loads(out)
    assert rc == 1 and [f["ok"] for f in report["files"]] == [True, False]
    assert {d["file"] for d in report["diagnostics"]} == {str(bad)}


@pytest.mark.parametrize("fmt", ["text", "github", "json"])
def test_bundled_specs_pass(fmt, capsys):
    rc, out, err = check(["--format", fmt, *map(str, SPECS)], capsys)
    assert rc == 0, out + err
    if fmt == "github":
        assert out == ""
    if fmt == "json":
        report = json.loads(out)
        assert report["diagnostics"] == [] and all(f["ok"] for f in report["files"])
        assert len(report["files"]) == len(SPECS)


def test_exit_codes_from_the_executable(bad):
    run = subprocess.run([sys.executable, "-m", "archc", "check", "--format", "github",
                          str(bad)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and run.stdout.startswith("::error file=")
    run = subprocess.run([sys.executable, "-m", "archc", "check", "--format", "xml",
                          str(bad)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2


# ----------------------------------------------------------------------------- pre-commit


def hooks() -> list[dict]:
    return yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())


def test_pre_commit_hooks_are_well_formed():
    ids = set()
    for hook in hooks():
        assert {"id", "name", "entry", "language", "files"} <= set(hook)
        assert hook["language"] == "python" and re.search(hook["files"], "specs/x.arch")
        assert not re.search(hook["files"], "x.py")
        assert shlex.split(hook["entry"])[0] == "archc"
        ids.add(hook["id"])
    assert {"archc-check", "archc-fmt", "archc-fmt-check"} <= ids


@pytest.mark.parametrize("hook", ["archc-check", "archc-fmt-check"])
def test_pre_commit_hook_entries_run(hook, bad, tmp_path):
    """What pre-commit runs: the entry, then the staged file names."""
    entry = next(h["entry"] for h in hooks() if h["id"] == hook)
    good = tmp_path / "good.arch"
    good.write_text("network g {\n  input 1x8x8\n  relu\n}\n")
    messy = tmp_path / "messy.arch"
    messy.write_text("network g {input 1x8x8 relu}\n")
    argv = [sys.executable, "-m", *shlex.split(entry)]  # `archc ...` as `python -m archc ...`

    def run(*files):
        return subprocess.run(argv + [str(f) for f in files], capture_output=True,
                              text=True, timeout=60).returncode
    assert run(good) == 0
    assert run(bad if hook == "archc-check" else messy) == 1


# ----------------------------------------------------------------------------- docs


def test_docs_workflow_runs_the_commands():
    text = (ROOT / "docs" / "ci.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    workflow = next(b for b in blocks if isinstance(b, dict) and "jobs" in b)
    steps = [s.get("run", "") for job in workflow["jobs"].values() for s in job["steps"]]
    assert any(s.startswith("archc check --format github") for s in steps)
    assert any(s.startswith("archc fmt --check") for s in steps)
    config = next(b for b in blocks if isinstance(b, dict) and "repos" in b)
    used = {h["id"] for repo in config["repos"] for h in repo["hooks"]}
    assert used <= {h["id"] for h in hooks()}
