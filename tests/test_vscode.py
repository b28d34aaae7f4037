"""The VS Code extension (editors/vscode/): its manifest, its language configuration, and its
TextMate grammar, which is generated from the compiler's tables (archc/lsp/tmgrammar.py; the
extension's package.sh writes it, so a new op or join needs no edit there) and tested with
vscode-tmgrammar-test on every bundled spec and the prelude: each token the compiler's own
lexer finds must get the scope the grammar promises for its kind.

The grammar test needs Node.js and `npm ci` in editors/vscode (`.ci/run` does both). Without
node it is skipped with that reason, except where ARCHC_REQUIRE_NODE=1 (set by `.ci/run`):
there it fails, so CI never skips it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from lark import Token

from archc.front.parse import parser
from archc.lsp import syntax, tmgrammar
from archc.registry.joins import JOINS
from archc.registry.ops import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
VSCODE = ROOT / "editors" / "vscode"
TOOL = VSCODE / "node_modules" / ".bin" / "vscode-tmgrammar-test"
SPECS = sorted((ROOT / "specs").glob("*.arch")) + [ROOT / "archc" / "prelude.arch"]
CASES = sorted((ROOT / "tests" / "cases").rglob("*.arch"))


def test_every_keyword_has_a_scope() -> None:
    assert set(tmgrammar.KEYWORDS) | set(JOINS) == syntax.keywords()


def test_manifest() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    [language] = manifest["contributes"]["languages"]
    [grammar] = manifest["contributes"]["grammars"]
    assert language["extensions"] == [".arch"] and grammar["language"] == language["id"]
    assert grammar["scopeName"] == tmgrammar.SCOPE
    assert grammar["path"] == "./syntaxes/arch.tmLanguage.json"  # package.sh writes it
    assert "archc.lsp.tmgrammar > syntaxes/arch.tmLanguage.json" in \
        (VSCODE / "package.sh").read_text(encoding="utf-8")
    assert (VSCODE / language["configuration"]).is_file()
    assert (VSCODE / manifest["main"]).is_file()
    assert manifest["contributes"]["configuration"]["properties"]["archc.server.command"][
        "default"] == ["archc", "lsp"]
    config = json.loads((VSCODE / language["configuration"]).read_text(encoding="utf-8"))
    assert config["comments"] == {"lineComment": "#"}
    assert config["brackets"] == [["{", "}"], ["(", ")"]]


# ----------------------------------------------------------------------------- grammar test

_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "PERCENT", "LESSTHAN", "MORETHAN", "EQUAL"}


def _kind(toks: list[Token], i: int) -> str | None:
    """The kind of token i, by the compiler's lexer (None: no promise about its colour)."""
    tok, value = toks[i], str(toks[i])
    after = next((t for t in toks[i + 1:] if t.type != "COMMENT"), None)
    before = next((t for t in reversed(toks[:i]) if t.type != "COMMENT"), None)
    if tok.type in ("COMMENT", "STRING", "SHAPE", "FLOAT", "IN_ATTR"):
        return {"COMMENT": "comment", "STRING": "string", "SHAPE": "shape",
                "FLOAT": "float", "IN_ATTR": "input attribute"}[tok.type]
    if tok.type in ("INT", "NAME") and after is not None and after.type == "COLON":
        return "label"
    if tok.type == "INT":
        return "integer"
    if tok.type != "NAME":
        if value in tmgrammar.KEYWORDS:
            return "keyword"
        if value in JOINS:
            return "join"
        if tok.type in _OPERATORS or tok.type.startswith("__ANON"):
            return "operator"
        return "branch bar" if tok.type == "VBAR" else None
    if before is not None and before.type in ("NETWORK", "BLOCK"):
        return f"{before.type.lower()} name"
    if value in REGISTRY:
        return "layer"
    if after is not None and after.type == "LPAR":
        return "function" if value in tmgrammar.FUNCTIONS else "call"
    return None


def _scope(kind: str, value: str) -> str:
    return tmgrammar.KEYWORDS[value] if kind == "keyword" else tmgrammar.SCOPES[kind]


def annotated(text: str, name: str) -> str:
    """The spec with a vscode-tmgrammar-test assertion under each line, for every token."""
    toks = [t for t in parser().lex(text, dont_ignore=True) if t.type != "WS"]
    by_line: dict[int, list[str]] = {}
    for i, tok in enumerate(toks):
        kind = _kind(toks, i)
        if kind is None:
            continue
        col, width = tok.column - 1, len(str(tok))
        mark = f"# <{'-' * width}" if col == 0 else "#" + " " * (col - 1) + "^" * width
        by_line.setdefault(tok.line, []).append(f"{mark} {_scope(kind, str(tok))}")
    out = [f'# SYNTAX TEST "{tmgrammar.SCOPE}" "{name}"']
    for n, line in enumerate(text.split("\n"), start=1):
        out.append(line)
        out.extend(by_line.get(n, []))
    return "\n".join(out)


def _need(available: bool, reason: str) -> None:
    """Skip, saying why, where Node.js is missing; fail instead under ARCHC_REQUIRE_NODE=1."""
    if available:
        return
    if os.environ.get("ARCHC_REQUIRE_NODE") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _node_tool() -> Path:
    _need(bool(shutil.which("node")) and TOOL.exists(),
          "the grammar test needs Node.js and `npm ci` in editors/vscode (.ci/run does both)")
    return TOOL


def test_client_wiring() -> None:
    """editors/vscode/tests/extension.test.js: the client, with VS Code stubbed out."""
    node = shutil.which("node")
    _need(node is not None, "the client test needs Node.js (.ci/run installs it)")
    result = subprocess.run([str(node), "--test", "tests/extension.test.js"], cwd=VSCODE,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# pass 2" in result.stdout


def test_tmgrammar_on_bundled_specs(tmp_path: Path) -> None:
    tool = _node_tool()
    grammar = tmp_path / "arch.tmLanguage.json"
    grammar.write_text(tmgrammar.text(), encoding="utf-8")
    files = []
    for spec in SPECS + CASES:
        case = tmp_path / f"{spec.parent.name}_{spec.stem}.arch"
        case.write_text(annotated(spec.read_text(encoding="utf-8"), spec.stem), encoding="utf-8")
        files.append(str(case))
    hand = sorted(str(p) for p in (VSCODE / "tests").glob("*.arch"))
    assert hand, "editors/vscode/tests holds hand-written grammar tests"
    result = subprocess.run(
        # cwd: not editors/vscode, whose package.json names the packaged grammar, which a clean
        # checkout does not have (package.sh writes it)
        [str(tool), "--grammar", str(grammar), *files, *hand], cwd=tmp_path, capture_output=True,
        text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    for case in files + hand:  # every file was run
        assert Path(case).name in result.stdout
