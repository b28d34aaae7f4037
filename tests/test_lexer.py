"""archc/front/lexer.py's parser (over archc/front/tables.py's tables, without Lark) builds the
parse tree Lark's own lexer and parser build, with every token where Lark's tokens, moved to the
piece's place in the file, stand: for every .arch file of the repository, piece by piece as the
parser reads them, and for texts made to trip a lexer (keywords inside names, strings holding
braces, carriage returns). Where it cannot (a character no terminal matches, a syntax error) it
gives way, and the error is Lark's. With the transformer's methods as its reductions it makes the
AST the tree's transform makes, and leaves a tree too deep or a number too long to the tree path,
which says so. The tables file is the grammar's as it is, and a stale one is rebuilt."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lark import Token as LarkToken
from lark import Tree, UnexpectedInput

from archc.core.errors import LimitError
from archc.core.limits import MAX_DIGITS, MAX_TREE_DEPTH
from archc.front import tables
from archc.front.lexer import FastParser, Token
from archc.front.parse import (
    _check_depth,
    _fast,
    _inline,
    parse_expr,
    parse_recovering,
    parser,
)
from archc.front.recover import pieces, shift_tokens
from archc.front.syntax import BINARY_BY_RULE, PREFIX_BY_RULE
from archc.front.to_ast import ToAst

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(p for p in ROOT.rglob("*.arch") if ".git" not in p.parts)

TRICKY = [
    "network blockb { input 3x8x8\n  networkx: conv(4, 3) }",
    'network n { input 3x8x8 # { a comment with a brace\n  "x{i}": relu\n  conv(4, 3) }',
    "network n {\r\n  input 3x8x8\r\n  output y training\r\n}\r\n",
    "network n(c = 3, d = in_c) { input (c, 8, 8) linear(c*2 if c > 2 else 1, bias=true) }",
    "block b(x=1.5e-3, y=2e5, z=none) { relu }  use \"a.arch\"  requires \"p\"",
    "",
    "   \n\n  # only a comment",
]


def _flat(parsed: Tree) -> list[object]:
    """The tree in pre-order, each token with its place (iterative: fuzz cases are deep)."""
    out: list[object] = []
    stack: list[object] = [parsed]
    while stack:
        node = stack.pop()
        if isinstance(node, Tree):
            out.append((node.data, len(node.children)))
            stack.extend(reversed(node.children))
        elif isinstance(node, str):  # a token, this lexer's or Lark's
            out.append((node.type, str(node), node.start_pos, node.line, node.column,
                        node.end_line, node.end_column, node.end_pos))
        else:
            out.append(node)
    return out


class _Trees:
    """Lark's parse tree as the fast parser's value: every rule a Tree (its `__default__`)."""

    def __default__(self, data: str, children: list[Any], meta: Any) -> Tree:
        return Tree(data, children)


def _tree(text: str, line: int, col: int, fast: FastParser | None = None) -> Tree | None:
    fast = fast or _fast()
    return fast.ast(text, line, col, fast.transforming(_Trees()), 10**9, 10**9)


def _same_as_lark(text: str, line: int, col: int) -> None:
    got = _tree(text, line, col)
    want = parser().parse(text)
    shift_tokens(want, line, col)
    assert got is not None
    assert _flat(got) == _flat(want)


def _pieces(text: str) -> list[tuple[str, int, int]]:
    out = []
    for start, end in pieces(text):
        line = text.count("\n", 0, start) + 1
        out.append((text[start:end], line, start - (text.rfind("\n", 0, start) + 1) + 1))
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_clean_piece_parses_as_lark_parses_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for piece, line, col in _pieces(text):
        if _tree(piece, line, col) is None:  # a piece with a syntax error: Lark's own
            with pytest.raises(UnexpectedInput):
                parser().parse(piece)
            continue
        _same_as_lark(piece, line, col)


@pytest.mark.parametrize("text", TRICKY)
@pytest.mark.parametrize("where", [(1, 1), (7, 5)])
def test_tricky_texts_lex_as_lark_lexes_them(text: str, where: tuple[int, int]) -> None:
    _same_as_lark(text, *where)


@pytest.mark.parametrize("text", ["network n { input 3x8x8 relu $ }", "network n { relu(",
                                  "network n { input 3x8x8 conv(4 3) }"])
def test_an_error_is_left_to_lark_and_reported_as_before(text: str) -> None:
    assert _tree(text, 1, 1) is None
    _, errors = parse_recovering(text, "x.arch")
    assert errors and errors[0].span is not None


def _same_ast(text: str, line: int, col: int) -> None:
    fast = _fast()
    got = fast.ast(text, line, col, _inline(fast, "x.arch"), MAX_TREE_DEPTH, MAX_DIGITS)
    tree = _tree(text, line, col)
    assert tree is not None
    try:
        _check_depth(tree, "x.arch")
    except LimitError:  # (a fuzz case) left to the tree path, which reports it
        assert got is None
        return
    assert got is not None
    assert got == ToAst("x.arch").transform(tree)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_clean_piece_becomes_the_ast_the_transform_makes(path: Path) -> None:
    for piece, line, col in _pieces(path.read_text(encoding="utf-8")):
        if _tree(piece, line, col) is not None:
            _same_ast(piece, line, col)


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_texts_become_the_same_ast(text: str) -> None:
    _same_ast(text, 3, 2)


@pytest.mark.parametrize("text, message", [
    ("network n { input 4 linear(" + "- " * 250 + "1) }", "nested more than 200 levels deep"),
    ("network n { input 4 linear(" + "1 + " * 250 + "1) }", "nested more than 200 levels deep"),
    ("network n { input 4 linear(" + "9" * (MAX_DIGITS + 1) + ") }", "digits"),
])
def test_what_the_ast_path_leaves_is_reported_as_before(text: str, message: str) -> None:
    fast = _fast()
    assert fast.ast(text, 1, 1, _inline(fast, "x.arch"), MAX_TREE_DEPTH, MAX_DIGITS) is None
    _, errors = parse_recovering(text, "x.arch")
    assert len(errors) == 1 and message in errors[0].message, errors


@pytest.mark.parametrize("text", ["c * 2 + 1", "in.c // 4 if use_se else -1", "(a, b)",
                                  "max(c, 8) * 2", 'not x and "s" == y'])
def test_an_expression_parses_as_lark_parses_it(text: str) -> None:
    """A computed label's `{...}` (the tables' second start symbol)."""
    from archc.front.parse import _expr_parser

    got = parse_expr(text)
    assert got == ToAst("<label>").transform(_expr_parser().parse(text))


def test_the_tables_file_is_the_grammars(tmp_path: Path) -> None:
    """archc/front/lalr.json is what `python -m archc.front.tables` writes for the grammar as
    it is (after editing the grammar, run it), byte for byte."""
    out = tmp_path / "lalr.json"
    done = subprocess.run([sys.executable, "-m", "archc.front.tables", "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0 and f"wrote {out}" in done.stdout, done.stderr
    assert out.read_bytes() == tables.TABLE_FILE.read_bytes()


def test_stale_tables_are_built_from_the_grammar(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tables file of another grammar is not used: the tables come from Lark's parser."""
    built = []
    real = tables.build
    monkeypatch.setattr(tables, "_read", lambda: {"grammar": "another grammar"})
    monkeypatch.setattr(tables, "build", lambda: built.append(1) or real())
    tables.load.cache_clear()
    try:
        fresh = FastParser(tables.load())
    finally:
        tables.load.cache_clear()
    assert built == [1]
    text = (ROOT / "specs" / "resnet18.arch").read_text(encoding="utf-8")
    assert _flat(_tree(text, 1, 1, fresh)) == _flat(parser().parse(text))


def test_every_rule_makes_an_ast_node() -> None:
    """Each rule the parser may reduce has a method of the transformer, an operator's entry,
    or passes up its one child (a `?rule`), or is spliced into its parent (a `_rule`)."""
    missing = [rule.name for rule in tables.load().rules
               if not rule.origin.startswith("_") and rule.origin not in tables.STARTS[1:]
               and not hasattr(ToAst, rule.name) and rule.name not in BINARY_BY_RULE
               and rule.name not in PREFIX_BY_RULE and not (rule.expand1 and len(
                   rule.include) == 1 and not rule.include[0][1] and not rule.nones)]
    assert missing == []


def test_a_token_is_laid_out_as_larks() -> None:
    tok = Token("NAME", "conv", 4, 2, 3, 2, 7, 8)
    lark = LarkToken("NAME", "conv", 4, 2, 3, 2, 7, 8)
    fields = ("type", "value", "start_pos", "line", "column", "end_line", "end_column",
              "end_pos")
    assert [getattr(tok, f) for f in fields] == [getattr(lark, f) for f in fields]
    assert tok == "conv" and str(tok) == "conv" and hash(tok) == hash("conv")
    again = pickle.loads(pickle.dumps(tok))
    assert [getattr(again, f) for f in fields] == [getattr(tok, f) for f in fields]
