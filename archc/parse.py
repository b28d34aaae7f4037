"""Stage 1, text -> AST: the cached LALR parser and a pure Lark Transformer.

No semantic checks here (Lark would wrap their exceptions in VisitError); syntax errors become
located `SyntaxError_`s with a readable list of what was expected.
"""

from __future__ import annotations

from functools import lru_cache

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedInput, v_args
from lark.exceptions import UnexpectedEOF, UnexpectedToken

from . import ir
from .errors import Span, SyntaxError_
from .resources import grammar_text

_BINOPS = {
    "or_op": "or", "and_op": "and", "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">",
    "ge": ">=", "add_op": "+", "sub_op": "-", "mul_op": "*", "floordiv_op": "//",
    "truediv_op": "/", "mod_op": "%",
}

# How terminals read in "expected ..." messages.
_TERMINAL_WORDS = {
    "NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": "a string",
    "SHAPE": "a shape like 3x32x32", "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('",
    "RPAR": "')'", "COMMA": "','", "COLON": "':'", "EQUAL": "'='", "STAR": "'*'",
    "VBAR": "'|'", "$END": "end of file",
}


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser, built once per process (and cached on disk by Lark)."""
    return Lark(grammar_text(), parser="lalr", propagate_positions=True,
                maybe_placeholders=True, cache=True)


def parse(text: str, path: str = "<string>") -> ir.Module:
    """Parse one spec file into an AST module; raise SyntaxError_ at the offending token."""
    try:
        tree = parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, path) from None
    return _ToAst(path).transform(tree)


def _syntax_error(exc: UnexpectedInput, text: str, path: str) -> SyntaxError_:
    line, col = max(exc.line, 1), max(exc.column, 1)
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        return SyntaxError_(f"unexpected character {char!r}", Span(path, line, col))
    if isinstance(exc, UnexpectedEOF) or (
            isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
        return SyntaxError_("unexpected end of file", Span(path, line, col),
                            _expected_hint(exc.expected))
    token = exc.token
    span = Span(path, line, col, line, col + len(str(token)))
    return SyntaxError_(f"unexpected {str(token)!r}", span, _expected_hint(exc.expected))


def _expected_hint(expected) -> str | None:
    words = sorted({_TERMINAL_WORDS.get(t, f"'{t.lower()}'") for t in expected or ()})
    if not words or len(words) > 8:
        return None
    return "expected " + ", ".join(words)


def _span(meta, path: str) -> Span:
    return Span(path, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(tok: Token, path: str) -> Span:
    return Span(path, tok.line, tok.column, tok.end_line, tok.end_column)


@v_args(meta=True)
class _ToAst(Transformer):
    """Tree -> ir nodes. Structural only."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _s(self, meta) -> Span:
        return _span(meta, self.path)

    # -- top level
    def start(self, meta, items):
        uses = tuple(i for i in items if isinstance(i, ir.Use))
        defs = tuple(i for i in items if isinstance(i, ir.Definition))
        return ir.Module(self.path, uses, defs)

    def use(self, meta, children):
        return ir.Use(children[0][1:-1], self._s(meta))

    def _definition(self, kind, meta, children):
        name, params, body = children
        return ir.Definition(kind, str(name), tuple(params or ()), body, self._s(meta))

    def network(self, meta, children):
        return self._definition("network", meta, children)

    def block(self, meta, children):
        return self._definition("block", meta, children)

    def params(self, meta, children):
        return tuple(c for c in children if c is not None)

    def param(self, meta, children):
        return ir.Param(str(children[0]), children[1], self._s(meta))

    def body(self, meta, children):
        return tuple(children)

    branch = body

    # -- statements
    def input(self, meta, children):
        return ir.Input(children[0], self._s(meta))

    def expect(self, meta, children):
        return ir.Expect(children[0], self._s(meta))

    def recipe(self, meta, children):
        return ir.Recipe(tuple(children), self._s(meta))

    def setting(self, meta, children):
        return ir.Setting(str(children[0]), children[1], self._s(meta))

    def shape_literal(self, meta, children):
        tok = children[0]
        span = _tok_span(tok, self.path)
        return ir.ShapeSpec(tuple(ir.Lit(int(d), span) for d in str(tok).split("x")), span)

    def shape_exprs(self, meta, children):
        return ir.ShapeSpec(tuple(children), self._s(meta))

    def labelled(self, meta, children):
        return ir.Labelled(children[0], children[1], self._s(meta))

    def label(self, meta, children):
        return str(children[0])

    def repeat(self, meta, children):
        return ir.Repeat(children[0], children[1], self._s(meta))

    def call(self, meta, children):
        name, arglist = children
        args = tuple(a for a in (arglist or ()) if not isinstance(a, ir.KwArg))
        kwargs = tuple(a for a in (arglist or ()) if isinstance(a, ir.KwArg))
        return ir.Call(str(name), args, kwargs, self._s(meta))

    def arglist(self, meta, children):
        return tuple(c for c in children if c is not None)

    def pos_arg(self, meta, children):
        return children[0]

    def kw_arg(self, meta, children):
        return ir.KwArg(str(children[0]), children[1], self._s(meta))

    def group(self, meta, children):
        return ir.Group(tuple(children), self._s(meta))

    def add(self, meta, children):
        return ir.Branches("add", tuple(children), self._s(meta))

    def concat(self, meta, children):
        return ir.Branches("concat", tuple(children), self._s(meta))

    def cond(self, meta, children):
        test, then, orelse = children
        if isinstance(orelse, ir.Cond):
            orelse = (orelse,)
        return ir.Cond(test, then, orelse or (), self._s(meta))

    def loop(self, meta, children):
        var, start, stop, body = children
        return ir.Loop(str(var), start, stop, body, self._s(meta))

    # -- expressions
    def int_lit(self, meta, children):
        return ir.Lit(int(children[0]), self._s(meta))

    def float_lit(self, meta, children):
        return ir.Lit(float(children[0]), self._s(meta))

    def str_lit(self, meta, children):
        return ir.Lit(str(children[0])[1:-1], self._s(meta))

    def true_lit(self, meta, children):
        return ir.Lit(True, self._s(meta))

    def false_lit(self, meta, children):
        return ir.Lit(False, self._s(meta))

    def var(self, meta, children):
        return ir.Var(str(children[0]), self._s(meta))

    def func(self, meta, children):
        return ir.Func(str(children[0]), tuple(c for c in children[1:] if c is not None),
                       self._s(meta))

    def neg(self, meta, children):
        return ir.UnOp("-", children[0], self._s(meta))

    def not_op(self, meta, children):
        return ir.UnOp("not", children[0], self._s(meta))

    def __default__(self, data, children, meta):
        if data in _BINOPS:
            return ir.BinOp(_BINOPS[data], children[0], children[1], self._s(meta))
        return super().__default__(data, children, meta)
