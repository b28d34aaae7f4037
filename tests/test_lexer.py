"""archc/front/lexer.py's fast path builds the parse tree Lark's own lexer and parser build, with
every token where Lark's tokens, moved to the piece's place in the file, stand: for every .arch
file of the repository, piece by piece as the parser reads them, and for texts made to trip a
lexer (keywords inside names, strings holding braces, carriage returns). Where it cannot (a
character no terminal matches, a syntax error) it gives way, and the error is Lark's. Its AST
path (the transformer's methods as the parser's callbacks) makes the AST the tree's transform
makes, and leaves a tree too deep or a number too long to the tree path, which says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from lark import Token, Tree, UnexpectedInput

from archc.core.errors import LimitError
from archc.core.limits import MAX_DIGITS, MAX_TREE_DEPTH
from archc.front.lexer import fast_parser
from archc.front.parse import _check_depth, _fast, _inline, _ToAst, parse_recovering, parser
from archc.front.recover import pieces, shift_tokens

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
        elif isinstance(node, Token):
            out.append((node.type, str(node), node.start_pos, node.line, node.column,
                        node.end_line, node.end_column, node.end_pos))
        else:
            out.append(node)
    return out


def _same_as_lark(text: str, line: int, col: int) -> None:
    fast = _fast()
    assert fast is not None
    got = fast.parse(text, line, col)
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
    fast = _fast()
    assert fast is not None
    for piece, line, col in _pieces(text):
        if fast.parse(piece, line, col) is None:  # a piece with a syntax error: Lark's own
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
    fast = _fast()
    assert fast is not None and fast.parse(text, 1, 1) is None
    _, errors = parse_recovering(text, "x.arch")
    assert errors and errors[0].span is not None


def test_another_lark_falls_back_to_its_own_lexer() -> None:
    from lark import Lark

    assert fast_parser(Lark("start: A\nA: \"a\"", parser="earley")) is None


def _same_ast(text: str, line: int, col: int) -> None:
    fast = _fast()
    assert fast is not None
    got = fast.ast(text, line, col, _inline(fast, "x.arch"), MAX_TREE_DEPTH, MAX_DIGITS)
    tree = fast.parse(text, line, col)
    assert tree is not None
    try:
        _check_depth(tree, "x.arch")
    except LimitError:  # (a fuzz case) left to the tree path, which reports it
        assert got is None
        return
    assert got is not None
    assert got == _ToAst("x.arch").transform(tree)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_clean_piece_becomes_the_ast_the_transform_makes(path: Path) -> None:
    fast = _fast()
    assert fast is not None
    for piece, line, col in _pieces(path.read_text(encoding="utf-8")):
        if fast.parse(piece, line, col) is not None:
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
    assert fast is not None
    assert fast.ast(text, 1, 1, _inline(fast, "x.arch"), MAX_TREE_DEPTH, MAX_DIGITS) is None
    _, errors = parse_recovering(text, "x.arch")
    assert len(errors) == 1 and message in errors[0].message, errors
