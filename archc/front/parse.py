"""Stage 1, text -> AST: the fast LALR parser (Lark's where it gives up) and a pure transformer.

No semantic checks here (a transformer only builds nodes); syntax errors become
located `SyntaxError_`s with a readable list of what was expected.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from archc.core import codes
from archc.core.errors import ArchcError, LimitError, Span, SyntaxError_
from archc.core.limits import MAX_BRACKETS, MAX_DIGITS, MAX_TREE_DEPTH
from archc.core.resources import grammar_text
from archc.front import tables, tree
from archc.front.lexer import FastParser, RuleAction
from archc.front.recover import parse_pieces, shift_tokens, syntax_error
from archc.front.tables import LARK_OPTIONS
from archc.front.to_ast import ToAst, tok_span

if TYPE_CHECKING:
    from lark import Lark, Tree


@lru_cache(maxsize=1)
def parser() -> Lark:
    """Lark's LALR parser of the grammar, built once per process (and cached on disk by Lark):
    what says where a piece the fast path gave up on is wrong. Spans come from tokens (see
    ToAst), not propagate_positions, which made parsing four times slower."""
    from lark import Lark

    return Lark(grammar_text(), **LARK_OPTIONS, maybe_placeholders=True, cache=True)


@lru_cache(maxsize=1)
def _expr_parser() -> Lark:
    from lark import Lark

    return Lark(grammar_text(), **LARK_OPTIONS, start="expr", maybe_placeholders=True,
                cache=True)


@lru_cache(maxsize=256)
def parse_expr(text: str) -> tree.Expr:
    """One expression on its own (the `{...}` of a computed label); SyntaxError_ as `parse`
    raises, located in `text`."""
    if len(text) > 200 or text.count("(") > 20:
        raise SyntaxError_("expression too long for a label", Span("<label>", 1, 1))
    fast = _fast()
    expr = fast.ast(text, 1, 1, _inline(fast, "<label>"), MAX_TREE_DEPTH, MAX_DIGITS, "expr")
    if expr is not None:
        return cast(tree.Expr, expr)
    from lark import UnexpectedInput

    try:
        parsed = _expr_parser().parse(text)
    except UnexpectedInput as exc:
        err = syntax_error(exc, text, "<label>")
        err.message = err.message.replace("end of file", "end of the expression")
        raise err from None
    return ToAst("<label>").transform(parsed)


def parse(text: str, path: str = "<string>") -> tree.Module:
    """Parse one spec file into an AST module; raise SyntaxError_ at the first offending
    token (or at the bracket left open)."""
    module, errors = parse_recovering(text, path)
    if errors:
        raise errors[0]
    return module


def parse_recovering(text: str, path: str = "<string>") -> tuple[tree.Module, list[ArchcError]]:
    """Parse one spec file: its AST and every syntax error. Each top-level item is parsed on its
    own (archc/front/recover.py), so after an error parsing resumes at the next definition and the
    module holds every definition that parsed. (Parsing the whole file first and the pieces
    only after an error would parse a broken file twice, and that is what takes the time.)"""
    try:
        _check_nesting(text, path)
    except ArchcError as exc:
        return tree.Module(path, (), ()), [exc]
    return parse_pieces(text, path, _parse_piece)


@lru_cache(maxsize=1)
def _fast() -> FastParser:
    return FastParser(tables.load())


def _parse_piece(text: str, path: str, line: int, col: int) -> tree.Module:
    fast = _fast()  # the AST built as the parser reduces, no parse tree, no Lark
    module = fast.ast(text, line, col, _inline(fast, path), MAX_TREE_DEPTH, MAX_DIGITS)
    if module is not None:
        return cast(tree.Module, module)
    # Lark's own lexer and tree (its error if any; a tree too deep, a number too long)
    parsed = parser().parse(text)
    shift_tokens(parsed, line, col)
    _check_depth(parsed, path)
    return ToAst(path).transform(parsed)


_THREAD = threading.local()  # each thread's transformer: its `path` is set for every piece


def _inline(fast: FastParser, path: str) -> list[RuleAction]:
    """The parser's reductions that call this thread's ToAst, set to spans in `path`."""
    if getattr(_THREAD, "fast", None) is not fast:
        _THREAD.fast, _THREAD.to_ast = fast, ToAst("")
        _THREAD.reductions = fast.transforming(_THREAD.to_ast)
    _THREAD.to_ast.path = path
    return _THREAD.reductions


def parse_with(lark: Lark, text: str, path: str) -> tree.Module:
    """The whole file with a given Lark parser of the grammar (archc/front/trivia.py's also collects
    what the AST drops, for the formatter); the first syntax error as `parse` reports it."""
    from lark import UnexpectedInput

    _check_nesting(text, path)
    try:
        parsed = lark.parse(text)
    except UnexpectedInput as exc:
        _, errors = parse_recovering(text, path)  # the same error as every other command
        raise (errors[0] if errors else syntax_error(exc, text, path)) from None
    _check_depth(parsed, path)
    return ToAst(path).transform(parsed)


def _check_number(parsed: Tree, path: str) -> None:
    """An integer literal the transform can convert: at most MAX_DIGITS digits (Python refuses
    past 4,300, and converting is quadratic). A float past the range is inf, a value every
    consumer of numbers rejects (op arguments, arithmetic, functions, `train`)."""
    tok: Any = parsed.children[0]
    if getattr(tok, "type", None) not in ("INT", "SHAPE"):  # (a token)
        return
    longest = max(len(d) for d in str(tok).split("x"))
    if longest > MAX_DIGITS:
        raise LimitError(f"number too large: an integer of {longest:,} digits; at most "
                         f"{MAX_DIGITS} digits", tok_span(tok, path), code=codes.TOO_BIG)


_NUMBERS = {"int_lit", "shape_literal"}


def _check_depth(parsed: Tree, path: str) -> None:
    """Reject trees too deep for the recursive stages after parsing: nesting without brackets,
    like `1 + 1 + ... + 1`, `- - - 1` or a long `else if` chain (fuzzing found these); and
    number literals the transform could not convert."""
    from lark import Tree

    stack = [(parsed, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            while not isinstance(node, str):  # (a token)
                node = next(c for c in node.children if c is not None)
            raise LimitError(f"nested more than {MAX_TREE_DEPTH} levels deep",
                             tok_span(node, path), "split it up, e.g. into blocks or "
                             "parameters with names", code=codes.TOO_DEEP)
        if node.data in _NUMBERS:
            _check_number(node, path)
        stack.extend((c, depth + 1) for c in reversed(node.children) if isinstance(c, Tree))


def _check_nesting(text: str, path: str) -> None:
    """Reject absurd bracket nesting before the (recursive) tree transform sees it."""
    depth = 0
    if text.count("{") + text.count("(") <= MAX_BRACKETS:
        return
    in_comment = in_string = False
    line, col = 1, 0
    for ch in text:
        col += 1
        if ch == "\n":
            line, col, in_comment, in_string = line + 1, 0, False, False
        elif in_comment:
            continue
        elif ch == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif ch == "#":
            in_comment = True
        elif ch in "({":
            depth += 1
            if depth > MAX_BRACKETS:
                raise LimitError(f"brackets nested more than {MAX_BRACKETS} deep",
                                 Span(path, line, col), code=codes.TOO_DEEP)
        elif ch in ")}":
            depth -= 1
