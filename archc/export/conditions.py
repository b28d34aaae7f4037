"""Stage 3 helper for archc/export/classes.py: a block's own tests (`if` conditions, conditional
expressions in defaults) as Python source over the exported class's constructor parameters.

A class whose structure differs between instances reads best, and stays true to the spec for
values no instance had, when it decides with the spec's own words: `if stride == 1 and
in_channels == out:` rather than a test found to separate the instances seen. Only expressions
over the block's parameters and its input channels translate; the rest (a loop variable,
`in.h`, a function Python spells differently) do not, and the exporter looks elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from archc.core.errors import ArchcError, Span
from archc.expansion.expand import label_text
from archc.export.layout import literal
from archc.fmt.exprs import Exprs
from archc.front import tree
from archc.front.evaluate import evaluate
from archc.front.parse import parse_expr
from archc.front.syntax import ATOM

_FUNCTIONS = {"min", "max", "abs", "round", "int"}  # those whose Python builtin computes the same
_NOWHERE = Span("<export>", 1, 1)
MAX_TEXT = 60  # longer tests are not offered: `if <test>:` must fit a formatted line


@dataclass(frozen=True)
class Test:
    """A spec test: its Python text, the constructor names it reads and the spec expression."""

    text: str
    names: frozenset[str]
    expr: tree.Expr

    def value(self, env: Mapping[str, Any]) -> Any:
        """Its value in an instance (a block scope's `args`, which hold `in`)."""
        try:
            return evaluate(self.expr, env)
        except ArchcError:
            return None


def python_text(expr: tree.Expr, names: Mapping[str, str], channels: str | None) -> str | None:
    """`expr` as Python over the constructor's names (spec name -> Python name; `in.c` or `in.f`
    -> `channels`), or None when it reads something the constructor does not have. Printed by
    archc fmt's expression printer (syntax.py's one table of binding powers, which Python's
    operators share), only names, `in`, literals and functions spelled the Python way."""
    try:
        return _Python(names, channels).expr(expr)
    except _Untranslatable:
        return None


class _Untranslatable(Exception):
    pass


class _Python(Exprs):
    def __init__(self, names: Mapping[str, str], channels: str | None):
        super().__init__(None)
        self.names, self.channels = names, channels

    def _var(self, e: tree.Var) -> tuple[str, int]:
        if e.name not in self.names:
            raise _Untranslatable
        return self.names[e.name], ATOM

    def _in_shape(self, e: tree.InShape) -> tuple[str, int]:
        if self.channels is None or e.axis not in ("c", "f"):
            raise _Untranslatable
        return self.channels, ATOM

    def _lit(self, e: tree.Lit) -> tuple[str, int]:
        if isinstance(e.value, float) and e.value != e.value:
            raise _Untranslatable
        return literal(e.value), ATOM

    def _func(self, e: tree.Func) -> tuple[str, int]:
        if e.name not in _FUNCTIONS:
            raise _Untranslatable
        return super()._func(e)

    def _tuple(self, e: tree.Tuple) -> tuple[str, int]:
        if len(e.items) < 2:  # `(a)` is no tuple in Python
            raise _Untranslatable
        return super()._tuple(e)  # a size per axis (S3D's `(1, k, k)`)


def tests_of(defn: tree.Definition, names: Mapping[str, str], channels: str | None) -> list[Test]:
    """Every test the definition writes (its `if`s, then its conditional expressions) and its
    negation, that translates, once each, in source order."""
    return translated((e for test in _tests(defn) for e in (test, negation(test))), names,
                       channels)


def values_of(defn: tree.Definition, names: Mapping[str, str],
              channels: str | None) -> list[Test]:
    """Every computed argument the definition writes (`k // 2`, `in.c * 4`), translated."""
    return translated(_values(defn.body), names, channels)


def translated(exprs: Iterable[tree.Expr], names: Mapping[str, str],
               channels: str | None) -> list[Test]:
    """The expressions that translate, as Tests, once each, in order."""
    found: dict[str, Test] = {}
    for expr in exprs:
        text = python_text(expr, names, channels)
        if text is not None and len(text) <= MAX_TEXT and text not in found:
            used = frozenset(n for n in names.values() if _reads(text, n)) | \
                (frozenset({channels}) if channels and _reads(text, channels) else frozenset())
            found[text] = Test(text, used, expr)
    return list(found.values())


_OPPOSITE = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}


def negation(e: tree.Expr) -> tree.Expr:
    """`not e`, written as the opposite comparison where there is one."""
    if isinstance(e, tree.UnOp) and e.op == "not":
        return e.operand
    if isinstance(e, tree.BinOp) and e.op in _OPPOSITE:
        return tree.BinOp(_OPPOSITE[e.op], e.left, e.right, e.span)
    return tree.UnOp("not", e, e.span)


def reads(text: str, names: Iterable[str]) -> set[str]:
    """The names a Python expression reads."""
    return {n for n in names if _reads(text, n)}


def _reads(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text) is not None


def _tests(defn: tree.Definition) -> Iterator[tree.Expr]:
    yield from _body_tests(defn.body)
    for p in defn.params:
        if p.default is not None:
            yield from _expr_tests(p.default)


def _values(stmts: tuple[tree.Stmt, ...]) -> Iterator[tree.Expr]:
    for st in tree.calls(stmts):
        for a in (*st.args, *(k.value for k in st.kwargs)):
            if isinstance(a, (tree.BinOp, tree.UnOp, tree.Func, tree.IfExpr)):
                yield a


def literals_of(defn: tree.Definition) -> set[Any]:
    """The numbers the definition's body writes as arguments (`channel_shuffle(2)`): a value
    constant where only some instances have it is written so, not as a parameter that happens
    to equal it."""
    found: set[Any] = set()
    for st in tree.calls(defn.body):
        for a in (*st.args, *(k.value for k in st.kwargs)):
            stack = [a]
            while stack:
                e = stack.pop()
                if isinstance(e, tree.Lit) and isinstance(e.value, (int, float)) and \
                        not isinstance(e.value, bool):
                    found.add(e.value)
                elif isinstance(e, tree.Tuple):
                    stack.extend(e.items)
    return found


def _body_tests(stmts: tuple[tree.Stmt, ...]) -> Iterator[tree.Expr]:
    """The test of every `if` of a body and of every conditional value in its calls."""
    for st in tree.statements(stmts):
        if isinstance(st, tree.Cond):
            yield st.test
        elif isinstance(st, tree.Call):
            for a in (*st.args, *(k.value for k in st.kwargs)):
                yield from _expr_tests(a)


def _expr_tests(e: tree.Expr) -> Iterator[tree.Expr]:
    return (x.test for x in tree.expressions(e) if isinstance(x, tree.IfExpr))


def branches(defn: tree.Definition) -> list[tree.Cond] | None:
    """The chain `if a {..} else if b {..} else {..}` when it is the one `if` at the top of a
    block's body (what decides the block's cases), or the one such `if` with an `else` beside
    others without (video_conv's `if kind == ...` beside `if act { relu }`, a part only some
    instances have), as its Cond nodes; None otherwise."""
    tops = [st for st in defn.body if isinstance(st, tree.Cond)]
    if len(tops) != 1:
        tops = [st for st in tops if st.orelse]
    if len(tops) != 1:
        return None
    return if_chain(tops[0])


def if_chain(cond: tree.Cond) -> list[tree.Cond]:
    """`if a {..} else if b {..} else {..}` as its Cond nodes: `cond`, then each `else if`."""
    chain = [cond]
    while len(chain[-1].orelse) == 1 and isinstance(chain[-1].orelse[0], tree.Cond):
        chain.append(chain[-1].orelse[0])
    return chain


def case_of(chain: list[tree.Cond], env: Mapping[str, Any]) -> int | None:
    """Which branch of an `if` chain an instance took (len(chain): the last `else`), or None
    when a test has no boolean value there."""
    for i, cond in enumerate(chain):
        value = Test("", frozenset(), cond.test).value(env)
        if not isinstance(value, bool):
            return None
        if value:
            return i
    return len(chain)


def call_arguments(stmts: tuple[tree.Stmt, ...], block: str, params: list[str],
                   label: str = "") -> dict[str, list[tree.Expr]]:
    """What every call of `block` in a body passes for each of its parameters (spec names, in
    order): the spec's own words for a call site's arguments; only the call labelled `label`
    where there is one (RegNet's `block2: any_stage(2, w2, n2, g2, se)` says `g2` where g2
    equals g1; MaxViT's `conv_a: cna(4 * cout, 1, 1, 1)` has stride 1 though `conv_b`
    passes `stride`)."""
    found: dict[str, list[tree.Expr]] = {}
    own = [st.unit for st in tree.statements(stmts) if isinstance(st, tree.Labelled)
           and st.label == label and isinstance(st.unit, tree.Call)]
    for st in own or tree.calls(stmts):
        if st.name == block:
            bound = [*zip(params, st.args, strict=False), *((k.name, k.value) for k in st.kwargs)]
            for name, expr in bound:
                found.setdefault(name, []).append(expr)
    return found


def loop_variables(stmts: tuple[tree.Stmt, ...]) -> Iterator[str]:
    """The variables of every `for` loop in a body, nested ones included."""
    return (st.var for st in tree.statements(stmts) if isinstance(st, tree.Loop))


def labels(defn: tree.Definition) -> list[str]:
    """The computed labels (`"block{s}-{i}"`) a definition writes, in source order."""
    return [st.label for st in tree.statements(defn.body)
            if isinstance(st, tree.Labelled) and "{" in st.label]


def fstring(label: str, names: Mapping[str, str], channels: str | None) -> str | None:
    """A computed label as a Python f-string (`f"block{s}-{i}"`), or None."""
    if '"' in label or "\\" in label:
        return None
    parts: list[str] = []
    at = 0
    for m in tree.PLACEHOLDER.finditer(label):
        try:
            text = python_text(parse_expr(m[1]), names, channels)
        except ArchcError:
            return None
        if text is None or any(ch in text for ch in '{}"'):
            return None
        parts += [label[at:m.start()], "{" + text + "}"]
        at = m.end()
    return 'f"' + "".join(parts) + label[at:] + '"'


def label_value(label: str, env: Mapping[str, Any]) -> str | None:
    """What a computed label says in an instance (None where it says nothing)."""
    try:
        return label_text(label, env, _NOWHERE)
    except ArchcError:
        return None


def _assigns(body: tuple[tree.Stmt, ...], name: str) -> bool:
    return any(isinstance(st, tree.Labelled) and st.label == name for st in body)


def inner_chains(defn: tree.Definition) -> list[list[tree.Cond]]:
    """The `if` chains not at the top of a block's body (in a join's branch, in a group), in
    source order, as Cond nodes."""
    heads = {id(st) for st in defn.body}
    out: list[list[tree.Cond]] = []
    inside: set[int] = set()
    for st in tree.statements(defn.body):
        if isinstance(st, tree.Cond) and id(st) not in inside:
            chain = if_chain(st)
            inside |= {id(c) for c in chain}
            if id(st) not in heads:
                out.append(chain)
    return out


def _chain_assigning(defn: tree.Definition, name: str) -> list[tree.Cond] | None:
    """The first `if` chain (in source order, nested in a join or a group too) one of whose
    cases names a submodule `name` (MaxViT's `proj` in `if stride == 2 {..} else if ..`)."""
    for st in tree.statements(defn.body):
        if isinstance(st, tree.Cond):
            chain = if_chain(st)
            if any(_assigns(b, name) for b in (*(c.then for c in chain), chain[-1].orelse)):
                return chain
    return None


def assigned_cases(defn: tree.Definition, name: str, envs: Mapping[int, Mapping[str, Any]],
                   groups: list[set[int]], among: set[int], names: Mapping[str, str],
                   channels: str | None) -> list[tuple[int, str]] | None:
    """A submodule `name` built in one structure by each group of instances (the others of
    `among` lack it): the spec's chain that assigns it, as (group, Python test) in the chain's
    order, to be written `if`, `elif`, ... (the last `else`: ''); None unless each group takes
    one case of its own, those cases are the chain's first ones (so that `elif` is the spec's
    order) and no instance lacking it takes a case that builds it."""
    chain = _chain_assigning(defn, name)
    if chain is None:
        return None
    found = {k: case_of(chain, envs[k]) for k in among}
    case = {k: v for k, v in found.items() if v is not None}
    taken = [{case.get(k) for k in g} for g in groups]
    if len(case) != len(found) or any(len(t) != 1 for t in taken):
        return None
    order = [case[next(iter(g))] for g in groups]
    builds = [_assigns(c.then, name) for c in chain] + [_assigns(chain[-1].orelse, name)]
    lacking = among - set().union(*groups)
    if sorted(order) != list(range(len(groups))) or any(builds[case[k]] for k in lacking):
        return None
    out = []
    for i in range(len(groups)):
        text = python_text(chain[i].test, names, channels) if i < len(chain) else ""
        if text is None or len(text) > MAX_TEXT:
            return None
        out.append((order.index(i), text))
    return out
