"""Stage 3 helper for archc/export/python.py: which network parameters an exported class can take.

A parameter that decides structure (an `if` test, a repetition count, a loop bound, a
comparison, min/max, a conditional expression, the input shape, or a block parameter used so)
cannot be a free constructor argument of generated straight-line code: the exported class
accepts only its exported value. The others are values; archc/export/python.py re-expands the
network with each changed (`perturbations`) to see where its value goes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from archc.core.errors import Span
from archc.core.graph import Network, Scope, Shape, walk
from archc.expansion.expand import expand_network
from archc.export.conditions import branches, case_of, inner_chains
from archc.front import tree
from archc.pipeline.program import Program

_DECIDING = {"==", "!=", "<", "<=", ">", ">=", "and", "or"}


def _deciding(expr: tree.Expr) -> set[str]:
    """Names whose value an expression does not pass through linearly."""
    if isinstance(expr, (tree.Func, tree.IfExpr)) or \
            (isinstance(expr, tree.BinOp) and expr.op in _DECIDING) or \
            (isinstance(expr, tree.UnOp) and expr.op == "not"):
        return set(tree.names(expr))
    if isinstance(expr, tree.BinOp):
        return _deciding(expr.left) | _deciding(expr.right)
    if isinstance(expr, tree.UnOp):
        return _deciding(expr.operand)
    return set()


class _Control:
    """The deciding parameters of each block, computed once per block, callees first, so that
    a chain of block calls however long needs no recursion (a 300-deep chain behind a dead
    `if false` checks clean and must export too); statements nest at most MAX_NESTING deep.
    Recursive blocks are rejected by the resolver before expansion."""

    def __init__(self, blocks: Mapping[str, tree.Definition]):
        self.blocks = blocks
        self.memo: dict[str, set[str]] = {}

    def of(self, defn: tree.Definition) -> set[str]:
        if defn.kind == "block" and defn.name in self.memo:
            return self.memo[defn.name]
        for callee in self._callees_first(defn):
            self.memo[callee.name] = set()  # a guard; recursion is an error found earlier
            self.memo[callee.name] = self._own(callee)
        return self.memo[defn.name] if defn.kind == "block" else self._own(defn)

    def _callees_first(self, defn: tree.Definition) -> list[tree.Definition]:
        """The blocks `defn` reaches not yet computed (itself, if a block), each after every
        block it calls: an iterative depth-first post-order."""
        order: list[tree.Definition] = []
        entered: set[int] = set()
        stack: list[tuple[tree.Definition, bool]] = [(defn, False)]
        while stack:
            d, finished = stack.pop()
            if finished:
                if d.kind == "block":
                    order.append(d)
                continue
            if id(d) in entered:
                continue
            entered.add(id(d))
            stack.append((d, True))
            for call in tree.calls(d.body):
                b = self.blocks.get(call.name)
                if b is not None and b.name not in self.memo and id(b) not in entered:
                    stack.append((b, False))
        return order

    def _own(self, defn: tree.Definition) -> set[str]:
        found = self.body(defn.body)
        for p in reversed(defn.params):  # a default computed from a deciding parameter
            if p.name in found and p.default is not None:
                found |= set(tree.names(p.default))
        if defn.kind == "block":
            self.memo[defn.name] = found
        return found

    def body(self, stmts: tuple[tree.Stmt, ...]) -> set[str]:
        found: set[str] = set()
        for st in stmts:
            found |= self.stmt(st)
        return found

    def stmt(self, st: tree.Stmt) -> set[str]:
        if isinstance(st, tree.Call):
            return self.call(st)
        if isinstance(st, tree.Labelled):
            return self.stmt(st.unit)
        if isinstance(st, tree.Group):
            return self.body(st.body)
        if isinstance(st, tree.Branches):
            return set().union(*(self.body(b) for b in st.branches))
        if isinstance(st, tree.Cond):
            return set(tree.names(st.test)) | self.body(st.then) | self.body(st.orelse)
        if isinstance(st, tree.Loop):
            inner = self.body(st.body) - {st.var}
            return set(tree.names(st.start)) | set(tree.names(st.stop)) | inner
        if isinstance(st, tree.Repeat):
            return set(tree.names(st.count)) | self.stmt(st.unit)
        if isinstance(st, tree.Input):
            vocab = () if st.shape.vocab is None else (st.shape.vocab,)
            return {n for d in (*st.shape.dims, *vocab) for n in tree.names(d)}
        return set()  # expect, assert, train: no structure

    def call(self, st: tree.Call) -> set[str]:
        found = set().union(*(_deciding(a) for a in st.args), *(_deciding(k.value)
                                                                for k in st.kwargs))
        block = self.blocks.get(st.name)
        if block is None:
            return found
        control = self.of(block)
        bound = [(p.name, e) for p, e in zip(block.params, st.args, strict=False)]
        bound += [(k.name, k.value) for k in st.kwargs]
        for name, expr in bound:
            if name in control:
                found |= set(tree.names(expr))
        return found


def deciding_params(defn: tree.Definition, blocks: Mapping[str, tree.Definition]) -> set[str]:
    """The parameters of a network that decide its structure."""
    return _Control(blocks).of(defn) & {p.name for p in defn.params}


def perturbations(value: Any, j: int = 0) -> list[Any]:
    """Other values to try a value parameter at: two, so that a slot explained by a linear
    expression is seen at three points; the j-th of several moved at once by steps of its own
    (+1 and +3, +2 and +5, ...; x1.5 and x2.5, x1.75 and x3, ...), so no two stay in one
    ratio; and a third for those (+7, +12, +19, ...: it grows with j squared; x4, x5.5, ...),
    so no two stay in one affine relation either: at two, `k` at 1, 2, 4 and `p` at 4, 7, 11
    gave a stride of `p // 2` that `k + 1` also fitted (bench/export_channels.py --params,
    seed 6470). []: not a number, never free."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return []
    if isinstance(value, int):
        return [value + j + 1, value + 3 + 2 * j, value + 7 + j * (j + 4)]
    return [value * (1.5 + 0.25 * j), value * (2.5 + 0.5 * j), value * (4 + 1.5 * j)]


def probes(prog: Program, net: Network) -> Iterator[list[Scope]]:
    """For each block of cases (archc/export/conditions.py `branches`) in the network, more
    instances of it: the first instance of each case expanded again on its own with one number
    parameter or the input channels moved, or one flag flipped within its case (those that
    expand cleanly). With them a constant
    of one case is seen to follow the parameter the spec names there (`conv(c)` or `conv(in.c)`
    where `c == in.c` in every exported instance), and a branch no instance took may be seen."""
    seen: dict[str, set[Any]] = {}
    found: dict[str, list[Scope]] = {}

    def visit(node: Scope, depth: int) -> None:
        defn = prog.blocks.get(node.title)
        if defn is None:
            return
        chain = branches(defn)
        # a block without cases is probed too: a value constant over its instances that the
        # spec computes from a parameter (`conv(bn_size * growth)`) is seen to follow it, and
        # stays a parameter; one with an `if` chain inside (MaxViT's `proj`) once per case of
        # it, whose moves may reach another case (cout moved where cin == cout)
        case = case_of(chain, node.args) if chain is not None else \
            tuple(case_of(c, node.args) for c in inner_chains(defn)) or None
        if case in seen.setdefault(node.title, set()):
            return
        seen[node.title].add(case)
        for args, shape, flipped in _moved(defn, node):
            scope = _expand_call(prog, defn, args, shape)
            if scope is None and not flipped:  # one more broke a divisibility: doubled
                scope = _expand_call(prog, defn, _doubled(node.args, args), shape)
            # a flag flipped shows what it picks within the cases seen, or leads into another
            # case of this block, which is then visited in turn (moved there, numbers equal
            # there moved together) so that it is seen at several points; one leading into an
            # unseen case of a block inside is left out (seen at one point only)
            if scope is not None and not (flipped and not _inner(scope) <= _seen()):
                found.setdefault(node.title, []).append(scope)
                if depth < 3:  # a case reached only by a probe is seen at more points too
                    visit(scope, depth + 1)

    def _cases(scope: Scope) -> set[tuple[str, int | None]]:
        """The case every block of cases in `scope` (itself included) takes."""
        out = set()
        for node in (scope, *(n for _, n in walk(scope.items))):
            defn = prog.blocks.get(node.title) if isinstance(node, Scope) else None
            chain = branches(defn) if defn is not None else None
            if isinstance(node, Scope) and chain is not None:
                out.add((node.title, case_of(chain, node.args)))
        return out

    def _inner(scope: Scope) -> set[tuple[str, int | None]]:
        """The cases the blocks inside `scope` take (itself left out)."""
        return {(t, c) for t, c in _cases(scope) if t != scope.title}

    def _seen() -> set[tuple[str, int | None]]:
        return {(t, c) for t, cases in seen.items() for c in cases} | exported

    exported = _cases(net.root)
    for _, node in walk(net.root.items):
        if isinstance(node, Scope) and node.kind == "block":
            visit(node, 0)
    yield from found.values()


def _moved(defn: tree.Definition, node: Scope
           ) -> Iterator[tuple[dict[str, Any], Shape, bool]]:
    """The instance's arguments and input, each number and the channels moved by one (a float
    by half), each flag flipped, numbers equal to each other (and to the channels or width)
    moved together by two."""
    given = {p.name: node.args[p.name] for p in defn.params
             if p.name in node.args and (p.default is None or isinstance(p.default, tree.Lit))}
    for name, value in given.items():
        if isinstance(value, bool):
            yield {**given, name: not value}, node.in_shape, True
        elif isinstance(value, int):
            yield {**given, name: value + 1}, node.in_shape, False
        elif isinstance(value, float):  # an eps, a rate: a value of its own (a rate of 0 too:
            # Swin's stochastic depth in a case only a probe reaches)
            yield {**given, name: value * 1.5 if value else 0.25}, node.in_shape, False
    # numbers equal here moved together (and the channels with them where they equal too):
    # a case that asks `x == cin` is seen at more than one point of it
    ints = [n for n, v in given.items() if type(v) is int]
    shape = node.in_shape
    # the channels (CxHxW, F, CxTxHxW), or either axis of NxD tokens (a width) / CxL
    axes = (0,) if len(shape) in (1, 3, 4) else (0, 1) if len(shape) == 2 else ()
    for value in dict.fromkeys(given[n] for n in ints):
        tied = [n for n in ints if given[n] == value]
        hit = [a for a in axes if shape[a] == value]
        if len(tied) > 1 or hit:
            moved = tuple(value + 2 if a in hit else n for a, n in enumerate(shape))
            yield {**given, **{n: value + 2 for n in tied}}, moved, False
    if len(node.in_shape) in (1, 3):
        yield given, (node.in_shape[0] + 1, *node.in_shape[1:]), False


def _doubled(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """A move by one as a doubling (heads of a width stay a divisor)."""
    return {k: 2 * before[k] if type(v) is int and v != before.get(k) else v
            for k, v in after.items()}


def _expand_call(prog: Program, defn: tree.Definition, args: dict[str, Any],
                 shape: Shape) -> Scope | None:
    span = defn.span
    kwargs = tuple(tree.KwArg(k, _lit(v, span), span) for k, v in args.items())
    probe = tree.Definition("network", "probe", (), (tree.Call(defn.name, (), kwargs, span),),
                           span)
    made, errors = expand_network(probe, prog.blocks, prog.cyclic, {}, shape, prog.path)
    if made is None or errors or len(made.root.items) != 1:
        return None
    scope = made.root.items[0]
    return scope if isinstance(scope, Scope) and scope.kind == "block" else None


def _lit(value: Any, span: Span) -> tree.Expr:
    if isinstance(value, tuple):
        return tree.Tuple(tuple(_lit(v, span) for v in value), span)
    return tree.Lit(value, span)
