"""Stage 1, parse tree -> AST: the transformer whose methods, one per grammar rule, build the
AST's nodes from a rule's children (tokens, the nodes below, None for an absent `[x]`). The fast
parser calls them as it reduces (archc/front/lexer.py); `ToAst.transform` applies them to a parse
tree of Lark's (archc/front/parse.py's path for what the fast parser leaves)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from archc.core.errors import Span
from archc.front import tree
from archc.front.lexer import Token
from archc.front.syntax import BINARY_BY_RULE, PREFIX_BY_RULE

if TYPE_CHECKING:
    from lark import Tree


def tok_span(tok: Any, path: str) -> Span:
    """Where a token (this lexer's or Lark's) stands. Lexed tokens carry all four positions;
    a token Lark makes up (end of input) may not."""
    line, col = tok.line or 1, tok.column or 1
    return Span(path, line, col, tok.end_line or line, tok.end_column or col)


def _start(children: Sequence[Any]) -> tuple[int, int] | None:
    """Where the first child that has a place starts (a body: its first statement)."""
    for child in children:
        if child is None:
            continue
        if isinstance(child, str):  # a token (positions as tok_span reads them)
            return child.line or 1, child.column or 1  # type: ignore[attr-defined]
        if isinstance(child, tuple):
            found = _start(child)
            if found is not None:
                return found
            continue
        span = getattr(child, "span", None)
        if span is not None:
            return span.line, span.col
    return None


def _end(children: Sequence[Any]) -> tuple[int, int]:
    """Where the last child that has a place ends (called after _start found one)."""
    for child in reversed(children):
        if child is None:
            continue
        if isinstance(child, str):
            return (child.end_line or child.line or 1,  # type: ignore[attr-defined]
                    child.end_column or child.column or 1)  # type: ignore[attr-defined]
        if isinstance(child, tuple):
            if _start(child) is not None:
                return _end(child)
            continue
        span = getattr(child, "span", None)
        if span is not None:
            return span.end_line, span.end_col
    raise AssertionError("no child has a place")  # (_start found one)


# What Lark passes a rule's method: its children, transformed (tokens, AST nodes, tuples, None)
Children = list[Any]


class ToAst:
    """Tree -> AST nodes. Structural only. A node's span runs from its first token (keywords
    such as a join's and `if` are kept for this) to the end of its last child. Its methods,
    one per rule, are the fast parser's reductions (archc/front/lexer.py); `transform` applies
    them to a parse tree of Lark's, as a Lark `Transformer` would."""

    def __init__(self, path: str) -> None:
        self.path = path

    def transform(self, parsed: Tree) -> Any:
        """The AST of Lark's parse tree `parsed` (its depth bounded by _check_depth)."""
        children = [self.transform(c) if hasattr(c, "data") else c for c in parsed.children]
        method = getattr(self, parsed.data, None)
        if method is None:
            return self.__default__(parsed.data, children, parsed.meta)
        return method(children)

    def _s(self, children: Children) -> Span:
        first = _start(children)
        if first is None:
            return Span(self.path, 1, 1)
        return Span(self.path, *first, *_end(children))

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
        span = tok_span(tok, self.path)
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
        return tree.Lit(value, tok_span(children[0], self.path))

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
        return tree.Var(str(children[0]), tok_span(children[0], self.path))

    def func(self, children: Children) -> tree.Func:
        return tree.Func(str(children[0]), tuple(c for c in children[1:] if c is not None),
                       self._s(children))

    def tuple_lit(self, children: Children) -> tree.Tuple:
        return tree.Tuple(tuple(children), self._s(children))

    def in_attr(self, children: Children) -> tree.InShape:
        tok = children[0]
        return tree.InShape(str(tok)[3:], tok_span(tok, self.path))

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
        raise TypeError(f"the grammar's rule {data!r} has no AST")  # (tests/test_lexer.py)
