"""Stage 3 helper for archc/export/widths.py: a block's output width derived from its definition
(issue 21 item 7), as a spec expression over its parameters and its input's width, statement by
statement: a layer whose op record's shape rule sets the width from an argument gives that
argument's expression, one that keeps it passes it on, `concat {..}` sums its branches, `add`
and `mul` take a branch's, a nested block call its own derived width with its arguments put in,
`if` a conditional expression with the spec's own test, a `for` loop or a repetition that adds
a fixed amount per pass (a dense block) its closed form. Anything else gives up (None) and the
caller fits a form to the instances instead (widths.py); what is derived is checked against
every instance and probe (archc/export/classes.py), so a wrong derivation can only fall back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from archc.core.errors import ArchcError, Span
from archc.export.unify import channels, with_channels
from archc.front import tree
from archc.front.evaluate import evaluate
from archc.front.parse import parse
from archc.registry.joins import JOINS
from archc.registry.ops import REGISTRY

_NOWHERE = Span("<derive>", 1, 1)
# the width entering the block: a name no spec can write (`in.c` is an image's channels only)
INPUT = "\x00in"
_W = tree.Var(INPUT, _NOWHERE)
_PASS = "\x00pass"  # the width entering one pass of a loop body


def lit(value: int) -> tree.Lit:
    return tree.Lit(value, _NOWHERE)


def _bin(op: str, left: tree.Expr, right: tree.Expr) -> tree.Expr:
    return tree.BinOp(op, left, right, _NOWHERE)


def plus(a: tree.Expr, b: tree.Expr) -> tree.Expr:
    """`a + b`, a sum on the right spread out (`64 + 96 + 32`, not `64 + (96 + 32)`)."""
    if isinstance(b, tree.BinOp) and b.op == "+":
        return _bin("+", plus(a, b.left), b.right)
    return _bin("+", a, b)


def _terms(e: tree.Expr) -> list[tree.Expr]:
    """The terms of a sum, in order (`a + b + c`: a, b, c)."""
    if isinstance(e, tree.BinOp) and e.op == "+":
        return [*_terms(e.left), *_terms(e.right)]
    return [e]


def _reads(expr: tree.Expr, name: str) -> bool:
    return any(n == name for n in tree.names(expr))


@dataclass
class Deriver:
    """Each block's derived width (None: not derived), on demand, once per block."""

    blocks: Mapping[str, tree.Definition]
    done: dict[str, tree.Expr | None] = field(default_factory=dict)

    def block(self, name: str) -> tree.Expr | None:
        if name not in self.done:
            self.done[name] = None  # (a block that calls itself is not derived)
            defn = self.blocks.get(name)
            self.done[name] = None if defn is None else self.body(defn.body, _W, {})
        return self.done[name]

    def body(self, stmts: tuple[tree.Stmt, ...], width: tree.Expr | None,
             taps: dict[str, tree.Expr]) -> tree.Expr | None:
        for st in stmts:
            if width is None:
                return None
            width = _RULES[type(st)](self, st, width, taps)
        return width

    def call(self, st: tree.Call, width: tree.Expr, taps: dict[str, tree.Expr]) -> tree.Expr | None:
        op = REGISTRY.get(st.name)  # an op before a block, as the expander looks them up
        if op is None:
            return self._block_call(st, width) if st.name in self.blocks else None
        rule = op_width(st.name)
        if rule is None:
            return None
        if rule == "":
            return width
        given = dict(zip(op.arg_names, st.args, strict=False)) | \
            {k.name: k.value for k in st.kwargs}
        return given.get(rule)

    def _block_call(self, st: tree.Call, width: tree.Expr) -> tree.Expr | None:
        """The callee's width with its parameters bound as the call binds them (a default
        computed from the ones before it, `in.c` the width entering the call)."""
        inner = self.block(st.name)
        if inner is None:
            return None
        defn = self.blocks[st.name]
        given = dict(zip((p.name for p in defn.params), st.args, strict=False)) | \
            {k.name: k.value for k in st.kwargs}
        bound: dict[str, tree.Expr] = {INPUT: width}
        for p in defn.params:
            expr = given.get(p.name, p.default)
            if expr is None:
                return None
            # a default is over the callee's names: what the call gave for those
            bound[p.name] = expr if p.name in given else substitute(expr, bound, width)
        return substitute(inner, bound, width)

    def join(self, st: tree.Branches, width: tree.Expr,
             taps: dict[str, tree.Expr]) -> tree.Expr | None:
        rule = join_width(st.op)
        if rule is None:
            return None
        share = width if rule[0] == "same" else _bin("//", width, lit(len(st.branches)))
        outs = [self.body(b, share, dict(taps)) for b in st.branches]
        if rule[1] == "same":
            return next((o for o in outs if o is not None), None)
        if any(o is None for o in outs):
            return None
        total = outs[0]
        for o in outs[1:]:
            total = plus(total, o)  # type: ignore[arg-type]
        return total

    def cond(self, st: tree.Cond, width: tree.Expr,
             taps: dict[str, tree.Expr]) -> tree.Expr | None:
        then = self.body(st.then, width, dict(taps))
        orelse = self.body(st.orelse, width, dict(taps))
        if then is None or orelse is None:
            return None
        return choose(then, st.test, orelse)

    def loop(self, st: tree.Loop, width: tree.Expr,
             taps: dict[str, tree.Expr]) -> tree.Expr | None:
        count = st.stop if _is_lit(st.start, 0) else _bin("-", st.stop, st.start)
        last = _bin("-", st.stop, lit(1))
        return self._passes(st.body, count, width, taps, st.var, last)

    def repeat(self, st: tree.Repeat, width: tree.Expr,
               taps: dict[str, tree.Expr]) -> tree.Expr | None:
        return self._passes((st.unit,), st.count, width, taps, None, None)

    def _passes(self, body: tuple[tree.Stmt, ...], count: tree.Expr, width: tree.Expr,
                taps: dict[str, tree.Expr], var: str | None,
                last: tree.Expr | None) -> tree.Expr | None:
        """`count` passes of `body`: the width kept, grown by a fixed amount each pass
        (`in + n * growth`), or set to one not read from the pass before (its last pass's,
        where there is one)."""
        one = self.body(body, tree.Var(_PASS, _NOWHERE), dict(taps))
        if one is None:
            return None
        if same(one, tree.Var(_PASS, _NOWHERE)):
            return width
        terms = _terms(one)  # (the width entering a pass one term of a sum: a dense layer)
        rest = [t for t in terms if not same(t, tree.Var(_PASS, _NOWHERE))]
        if len(rest) == len(terms) - 1 and rest:
            step = rest[0]
            for t in rest[1:]:
                step = _bin("+", step, t)
            if _reads(step, _PASS) or var is not None and _reads(step, var):
                return None
            return _bin("+", width, step if _is_lit(count, 1) else _bin("*", count, step))
        if _reads(one, _PASS):
            return None
        if var is not None and last is not None:
            one = substitute(one, {var: last}, None)
        return choose(one, _bin(">", count, lit(0)), width)

    def wire(self, st: tree.Wire, width: tree.Expr,
             taps: dict[str, tree.Expr]) -> tree.Expr | None:
        if st.kind == "from":
            return taps.get(st.name)
        if st.kind == "tap":
            taps[st.name] = width
        return width


def _keep(d: Deriver, st: Any, width: tree.Expr, taps: dict[str, tree.Expr]) -> tree.Expr:
    return width


Rule = Callable[[Deriver, Any, tree.Expr, dict[str, tree.Expr]], "tree.Expr | None"]
# what each statement kind does to the width (a kind missing here is a KeyError, as the walker's)
_RULES: dict[type, Rule] = {
    tree.Call: Deriver.call,
    tree.Group: lambda d, st, w, taps: d.body(st.body, w, taps),
    tree.Labelled: lambda d, st, w, taps: d.body((st.unit,), w, taps),
    tree.Branches: Deriver.join,
    tree.Cond: Deriver.cond,
    tree.Loop: Deriver.loop,
    tree.Repeat: Deriver.repeat,
    tree.Wire: Deriver.wire,
    tree.Input: _keep,
    tree.Expect: _keep,
    tree.Recipe: _keep,
    tree.Assert: _keep,
}


def choose(then: tree.Expr, test: tree.Expr, orelse: tree.Expr) -> tree.Expr:
    """`then if test else orelse`; one of them where the test reads nothing (`3 > 0`: a stage
    of 3 blocks) or both are the same."""
    if same(then, orelse):
        return then
    if not any(isinstance(e, (tree.Var, tree.InShape)) for e in tree.expressions(test)):
        try:
            return then if evaluate(test, {}) is True else orelse
        except ArchcError:
            pass
    return tree.IfExpr(then, test, orelse, _NOWHERE)


def _is_lit(expr: tree.Expr, value: int) -> bool:
    return isinstance(expr, tree.Lit) and type(expr.value) is int and expr.value == value


def same(a: tree.Expr, b: tree.Expr) -> bool:
    """The same expression, wherever written (spans aside)."""
    return _key(a) == _key(b)


def _key(e: Any) -> Any:
    if isinstance(e, tree.Lit):
        return ("lit", type(e.value).__name__, e.value)
    if isinstance(e, tree.Var):
        return ("var", e.name)
    if isinstance(e, tree.InShape):
        return ("in", e.axis)
    return (type(e).__name__, getattr(e, "op", getattr(e, "name", "")),
            tuple(_key(c) for c in tree.children(e)))


def substitute(expr: tree.Expr, names: Mapping[str, tree.Expr],
               width: tree.Expr | None) -> tree.Expr:
    """`expr` with each name of `names` replaced by its expression, at once, and `in.c`/`in.f`
    by `width` (None: kept); a conditional whose test then reads nothing, decided."""
    if isinstance(expr, tree.Var):
        return names.get(expr.name, expr)
    if isinstance(expr, tree.InShape):
        return width if width is not None and expr.axis in ("c", "f") else expr
    if isinstance(expr, tree.Lit):
        return expr
    parts = [substitute(c, names, width) for c in tree.children(expr)]  # type: ignore[arg-type]
    if isinstance(expr, tree.BinOp):
        return _undone(replace(expr, left=parts[0], right=parts[1]))
    if isinstance(expr, tree.UnOp):
        return replace(expr, operand=parts[0])
    if isinstance(expr, tree.IfExpr):
        return choose(parts[0], parts[1], parts[2])
    if isinstance(expr, tree.Func):
        return replace(expr, args=tuple(parts))
    return replace(expr, items=tuple(parts))  # a Tuple


def _undone(e: tree.BinOp) -> tree.Expr:
    """`x - k + k` as `x` (a loop's last index `n - 1` put into `i + 1`)."""
    inner = e.left
    if e.op == "+" and isinstance(inner, tree.BinOp) and inner.op == "-" and \
            isinstance(e.right, tree.Lit) and same(inner.right, e.right):
        return inner.left
    return e


def value(expr: tree.Expr, args: Mapping[str, Any], width: int) -> Any:
    """The derived width's value in one instance (a block scope's `args`, which hold `in`),
    None where it has none."""
    try:
        return evaluate(expr, {**args, INPUT: width})
    except (ArchcError, ArithmeticError, TypeError):
        return None


# ----------------------------------------------------------------------------- the registries
# What an op or a join does to the width, read from its record's own shape rule, run on its
# record's example: nothing to declare per op, and a new op is covered as it is registered.


@cache
def op_width(name: str) -> str | None:
    """'' where the op keeps its input's width, the argument that sets it, or None."""
    op = REGISTRY[name]
    try:
        spec = parse(f"network t {{\n  input {op.example_input}\n  {op.example}\n}}")
        body = spec.definitions[0].body
        shape = tuple(evaluate(d, {}) for d in body[0].shape.dims)  # type: ignore[union-attr]
        call = next(tree.calls(body))
        data = dict(zip(op.arg_names, (evaluate(a, {}) for a in call.args), strict=False))
        data |= {k.name: evaluate(k.value, {}) for k in call.kwargs}
        return _op_rule(op, data, shape)
    except Exception:  # noqa: BLE001 - any example this cannot read or run: not derived
        return None


def _op_rule(op: Any, data: dict[str, Any], shape: tuple[int, ...]) -> str | None:
    """Compared at the example and at its input's width doubled, then at each integer
    argument doubled."""
    wider = with_channels(shape, 2 * channels(shape))
    args = op.args.model_validate(data)
    out, out_wider = channels(op.shape(args, shape)), channels(op.shape(args, wider))
    if (out, out_wider) == (channels(shape), channels(wider)):
        return ""
    if out != out_wider:
        return None
    for name in op.arg_names:
        v = getattr(args, name)
        if type(v) is int and v == out:
            doubled = op.args.model_validate({**data, name: 2 * v})
            if channels(op.shape(doubled, shape)) == 2 * v:
                return str(name)
    return None


@cache
def join_width(name: str) -> tuple[str, str] | None:
    """What a join feeds each branch ('same': its input; 'share': an equal part of its
    channels, as `split`) and what it makes of their widths ('sum': stacks them; 'same': the
    one width they all have), or None."""
    join = JOINS[name]
    try:
        feeds = [s[0] for s in join.inputs.shapes((12, 6, 6), 3)]
    except Exception:  # noqa: BLE001 - a rule refusing this input: not derived
        return None
    feed = "same" if feeds == [12] * 3 else "share" if feeds == [4] * 3 else None
    if feed is None:
        return None
    for rule, widths, out in (("sum", (3, 5), 8), ("same", (4, 4), 4)):
        try:
            if join.shape([(w, 6, 6) for w in widths])[0] == out:
                return feed, rule
        except Exception:  # noqa: BLE001 - a shape rule refusing these shapes
            continue
    return None
