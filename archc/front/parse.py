"""Stage 1, text -> AST: the cached LALR parser and a pure Lark Transformer.

No semantic checks here (Lark would wrap their exceptions in VisitError); syntax errors become
located `SyntaxError_`s with a readable list of what was expected.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, cast

from lark import Lark, Token, Transformer, Tree, UnexpectedInput

from archc.core import codes
from archc.core.errors import ArchcError, LimitError, Span, SyntaxError_
from archc.core.limits import MAX_BRACKETS, MAX_DIGITS, MAX_TREE_DEPTH
from archc.core.resources import grammar_text
from archc.front import tree
from archc.front.lexer import FastParser, RuleAction, fast_parser
from archc.front.recover import parse_pieces, shift_tokens, syntax_error
from archc.front.syntax import BINARY_BY_RULE, PREFIX_BY_RULE


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser, built once per process (and cached on disk by Lark). Spans come from
    tokens (see _ToAst), not propagate_positions, which made parsing four times slower."""
    return Lark(grammar_text(), **LARK_OPTIONS, maybe_placeholders=True, cache=True)


# The basic lexer matches a whole name before deciding it is a keyword; the contextual lexer
# would read `blockb` as `block b`, trying only the terminals the parser expects there.
LARK_OPTIONS = {"parser": "lalr", "lexer": "basic"}


@lru_cache(maxsize=1)
def _expr_parser() -> Lark:
    return Lark(grammar_text(), **LARK_OPTIONS, start="expr", maybe_placeholders=True,
                cache=True)


@lru_cache(maxsize=256)
def parse_expr(text: str) -> tree.Expr:
    """One expression on its own (the `{...}` of a computed label); SyntaxError_ as `parse`
    raises, located in `text`."""
    if len(text) > 200 or text.count("(") > 20:
        raise SyntaxError_("expression too long for a label", Span("<label>", 1, 1))
    try:
        parsed = _expr_parser().parse(text)
    except UnexpectedInput as exc:
        err = syntax_error(exc, text, "<label>")
        err.message = err.message.replace("end of file", "end of the expression")
        raise err from None
    return _ToAst("<label>").transform(parsed)


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
def _fast() -> FastParser | None:
    return fast_parser(parser())


def _parse_piece(text: str, path: str, line: int, col: int) -> tree.Module:
    fast = _fast()
    if fast is not None:  # the AST built as the parser reduces, no parse tree
        module = fast.ast(text, line, col, _inline(fast, path), MAX_TREE_DEPTH, MAX_DIGITS)
        if module is not None:
            return cast(tree.Module, module)
    # Lark's own lexer and tree (its error if any; a tree too deep, a number too long)
    parsed = parser().parse(text)
    shift_tokens(parsed, line, col)
    _check_depth(parsed, path)
    return _ToAst(path).transform(parsed)


_THREAD = threading.local()  # each thread's transformer: its `path` is set for every piece


def _inline(fast: FastParser, path: str) -> dict[Any, RuleAction]:
    """The parser's reductions that call this thread's _ToAst, set to spans in `path`."""
    if getattr(_THREAD, "fast", None) is not fast:
        _THREAD.fast, _THREAD.to_ast = fast, _ToAst("")
        _THREAD.reductions = fast.transforming(_THREAD.to_ast)
    _THREAD.to_ast.path = path
    return _THREAD.reductions


def parse_with(lark: Lark, text: str, path: str) -> tree.Module:
    """The whole file with a given Lark parser of the grammar (archc/front/trivia.py's also collects
    what the AST drops, for the formatter); the first syntax error as `parse` reports it."""
    _check_nesting(text, path)
    try:
        parsed = lark.parse(text)
    except UnexpectedInput as exc:
        _, errors = parse_recovering(text, path)  # the same error as every other command
        raise (errors[0] if errors else syntax_error(exc, text, path)) from None
    _check_depth(parsed, path)
    return _ToAst(path).transform(parsed)


def _check_number(parsed: Tree, path: str) -> None:
    """An integer literal the transform can convert: at most MAX_DIGITS digits (Python refuses
    past 4,300, and converting is quadratic). A float past the range is inf, a value every
    consumer of numbers rejects (op arguments, arithmetic, functions, `train`)."""
    tok = parsed.children[0]
    if not isinstance(tok, Token) or tok.type not in ("INT", "SHAPE"):
        return
    longest = max(len(d) for d in str(tok).split("x"))
    if longest > MAX_DIGITS:
        raise LimitError(f"number too large: an integer of {longest:,} digits; at most "
                         f"{MAX_DIGITS} digits", _tok_span(tok, path), code=codes.TOO_BIG)


_NUMBERS = {"int_lit", "shape_literal"}


def _check_depth(parsed: Tree, path: str) -> None:
    """Reject trees too deep for the recursive stages after parsing: nesting without brackets,
    like `1 + 1 + ... + 1`, `- - - 1` or a long `else if` chain (fuzzing found these); and
    number literals the transform could not convert."""
    stack = [(parsed, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            while not isinstance(node, Token):
                node = next(c for c in node.children if c is not None)
            raise LimitError(f"nested more than {MAX_TREE_DEPTH} levels deep",
                             _tok_span(node, path), "split it up, e.g. into blocks or "
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


def _tok_span(tok: Token, path: str) -> Span:
    # Lexed tokens carry all four positions; a token Lark makes up (end of input) may not.
    line, col = tok.line or 1, tok.column or 1
    return Span(path, line, col, tok.end_line or line, tok.end_column or col)


def _first_last(children: Iterable[Any]) -> tuple[Span | None, Span | None]:
    spans = [_span_of(c) for c in children]
    spans = [sp for sp in spans if sp is not None]
    return (spans[0], spans[-1]) if spans else (None, None)


def _span_of(child: Any) -> Span | None:
    if isinstance(child, Token):
        return _tok_span(child, "")
    if isinstance(child, tuple):  # a body: from its first statement to its last
        first, last = _first_last(child)
        if first is None or last is None:
            return None
        return Span("", first.line, first.col, last.end_line, last.end_col)
    return getattr(child, "span", None)


# What Lark passes a rule's method: its children, transformed (tokens, AST nodes, tuples, None)
Children = list[Any]


class _ToAst(Transformer):
    """Tree -> AST nodes. Structural only. A node's span runs from its first token (keywords
    such as a join's and `if` are kept for this) to the end of its last child."""

    def __init__(self, path: str) -> None:
        super().__init__(visit_tokens=False)  # no terminal has a method: tokens pass as they are
        self.path = path

    def _s(self, children: Children) -> Span:
        first, last = _first_last(children)
        if first is None or last is None:
            return Span(self.path, 1, 1)
        return Span(self.path, first.line, first.col, last.end_line, last.end_col)

    # -- top level
    def start(self, items: Children) -> tree.Module:
        uses = tuple(i for i in items if isinstance(i, tree.Use))
        defs = tuple(i for i in items if isinstance(i, tree.Definition))
        requires = tuple(i for i in items if isinstance(i, tree.Requires))
        return tree.Module(self.path, uses, defs, requires=requires)

    def use(self, children: Children) -> tree.Use:
        return tree.Use(children[0][1:-1], self._s(children))

    def requires(self, children: Children) -> tree.Requires:
        return tree.Requires(children[0][1:-1], self._s(children))

    def _definition(self, kind: str, children: Children) -> tree.Definition:
        name, params, body = children
        return tree.Definition(kind, str(name), tuple(params or ()), body, self._s([name]))

    def network(self, children: Children) -> tree.Definition:
        return self._definition("network", children)

    def block(self, children: Children) -> tree.Definition:
        return self._definition("block", children)

    def params(self, children: Children) -> tuple[tree.Param, ...]:
        return tuple(c for c in children if c is not None)

    def param(self, children: Children) -> tree.Param:
        return tree.Param(str(children[0]), children[1], self._s(children))

    def body(self, children: Children) -> tuple[tree.Stmt, ...]:
        return tuple(children)

    branch = body

    # -- statements
    def input(self, children: Children) -> tree.Input:
        return tree.Input(children[0], children[0].span)

    def token_input(self, children: Children) -> tree.Input:
        kind, n, vocab = children
        spec = tree.ShapeSpec((n,), self._s(children), vocab, str(kind))
        return tree.Input(spec, spec.span)

    def named_input(self, children: Children) -> tree.Input:
        name, shape = children
        return tree.Input(shape, self._s(children), str(name))

    def expect(self, children: Children) -> tree.Expect:
        return tree.Expect(children[0], children[0].span)

    def assert_(self, children: Children) -> tree.Assert:
        keyword, test, message = children
        return tree.Assert(test, str(message)[1:-1] if message is not None else None,
                         self._s([keyword, test]))

    def wire(self, children: Children) -> tree.Wire:
        keyword, name, *shape, training = children
        text = str(name)[1:-1] if name.type == "STRING" else str(name)  # output "0"
        return tree.Wire(str(keyword), text, self._s([keyword, name, *shape, training]),
                        shape[0] if shape else None, training is not None)

    def recipe(self, children: Children) -> tree.Recipe:
        return tree.Recipe(tuple(children[1:]), self._s(children[:1]))

    def setting(self, children: Children) -> tree.Setting:
        return tree.Setting(str(children[0]), children[1], self._s(children))

    def shape_literal(self, children: Children) -> tree.ShapeSpec:
        tok = children[0]
        span = _tok_span(tok, self.path)
        return tree.ShapeSpec(tuple(tree.Lit(int(d), span) for d in str(tok).split("x")), span)

    def shape_exprs(self, children: Children) -> tree.ShapeSpec:
        return tree.ShapeSpec(tuple(children), self._s(children))

    def labelled(self, children: Children) -> tree.Labelled:
        quoted = getattr(children[0], "type", None) == "STRING"
        return tree.Labelled(str(children[0]), children[1], self._s(children), quoted)

    def label(self, children: Children) -> Token:
        tok = children[0]
        if tok.type == "STRING":  # a quoted label: its text, with the token's position
            return Token("STRING", str(tok)[1:-1], tok.start_pos, tok.line, tok.column,
                         tok.end_line, tok.end_column, tok.end_pos)
        return tok

    def repeat(self, children: Children) -> tree.Repeat:
        return tree.Repeat(children[0], children[1], self._s(children))

    def call(self, children: Children) -> tree.Call:
        name, arglist = children
        args = tuple(a for a in (arglist or ()) if not isinstance(a, tree.KwArg))
        kwargs = tuple(a for a in (arglist or ()) if isinstance(a, tree.KwArg))
        span = self._s([name, *(arglist or ())])
        if arglist is not None:  # the closing parenthesis, dropped by the parser
            span = Span(span.path, span.line, span.col, span.end_line, span.end_col + 1)
        return tree.Call(str(name), args, kwargs, span)

    def arglist(self, children: Children) -> tuple[tree.Expr | tree.KwArg, ...]:
        return tuple(c for c in children if c is not None)

    def pos_arg(self, children: Children) -> tree.Expr:
        return children[0]

    def kw_arg(self, children: Children) -> tree.KwArg:
        return tree.KwArg(str(children[0]), children[1], self._s(children))

    def group(self, children: Children) -> tree.Group:
        # from `{` to `}`: an empty group has a place too
        return tree.Group(tuple(children[1:-1]), self._s([children[0], children[-1]]))

    def join(self, children: Children) -> Token:
        return children[0]

    def branches(self, children: Children) -> tree.Branches:
        return tree.Branches(str(children[0]), tuple(children[1:]), self._s(children[:1]))

    def cond(self, children: Children) -> tree.Cond:
        keyword, test, then, orelse = children
        if isinstance(orelse, tree.Cond):
            orelse = (orelse,)
        return tree.Cond(test, then, orelse or (), self._s([keyword]))

    def loop(self, children: Children) -> tree.Loop:
        keyword, var, start, stop, body = children
        return tree.Loop(str(var), start, stop, body, self._s([keyword]))

    # -- expressions
    def _lit(self, value: Any, children: Children) -> tree.Lit:
        return tree.Lit(value, _tok_span(children[0], self.path))

    def int_lit(self, children: Children) -> tree.Lit:
        return self._lit(int(children[0]), children)

    def float_lit(self, children: Children) -> tree.Lit:
        return self._lit(float(children[0]), children)

    def str_lit(self, children: Children) -> tree.Lit:
        return self._lit(str(children[0])[1:-1], children)

    def true_lit(self, children: Children) -> tree.Lit:
        return self._lit(True, children)

    def false_lit(self, children: Children) -> tree.Lit:
        return self._lit(False, children)

    def none_lit(self, children: Children) -> tree.Lit:
        return self._lit(None, children)

    def var(self, children: Children) -> tree.Var:
        return tree.Var(str(children[0]), _tok_span(children[0], self.path))

    def func(self, children: Children) -> tree.Func:
        return tree.Func(str(children[0]), tuple(c for c in children[1:] if c is not None),
                       self._s(children))

    def tuple_lit(self, children: Children) -> tree.Tuple:
        return tree.Tuple(tuple(children), self._s(children))

    def in_attr(self, children: Children) -> tree.InShape:
        tok = children[0]
        return tree.InShape(str(tok)[3:], _tok_span(tok, self.path))

    def ternary(self, children: Children) -> tree.IfExpr:
        then, _keyword, test, orelse = children
        return tree.IfExpr(then, test, orelse, self._s([then, orelse]))

    def __default__(self, data: Any, children: Children, meta: Any) -> Any:
        if data in BINARY_BY_RULE:
            op = BINARY_BY_RULE[data].symbol
            return tree.BinOp(op, children[0], children[1], self._s(children))
        if data in PREFIX_BY_RULE:
            # from the operator: the caret for `-16` points at `-`, not at `16`
            return tree.UnOp(PREFIX_BY_RULE[data].symbol, children[1], self._s(children))
        return super().__default__(data, children, meta)
