"""Stage 3 helper for archc/export/classes.py: a block whose body is one loop whose child is an
`if` chain over the loop index (VGG's `vgg_features`, EfficientNetV2's `v2_stage`): each case of
the chain, nested chains included, is one template built from the loop's children that took it
(`unify`), explained with the index as a name; the width runs through the loop as a variable
(`c = in_channels`, then `c = 64` after a layer that changes it), as torchvision's `make_layers`
carries `in_channels`. A case no instance or probe takes raises, as a block of cases does.
Likewise a block that is a numbered sequence of statements some under an `if` without `else`
(the prelude's `mbconv_body`: `if e == 1 { 0: ... }` then `"{e}": ...`): each statement one
template, appended under the spec's test (`steps_of`, `sequence_of_steps`), the width running."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from archc.core.graph import Shape
from archc.export.conditions import Test, if_chain, python_text, reads
from archc.export.explain import Candidates, explain_slots, py_name
from archc.export.flow import Flow, slots
from archc.export.unify import ROW, Mismatch, Piece, TLoop, TNode, channels, unify
from archc.front import tree

MAX_TEST = 120  # a test longer than this is no test a person writes


@dataclass
class Branch:
    """One case of the loop child's chain: its Python test (None for the last `else`), and
    either a nested chain (`sub`) or the template its rows build (`child`; None where no row
    took it), with `update`: the running width after it, where it changes it."""

    test: str | None
    spec: tuple[tree.Stmt, ...]
    sub: list[Branch] | None = None
    child: TNode | None = None
    update: str = ""
    rows: set[int] = field(default_factory=set)
    label: str = ""  # the child's name where a labelled group adds it so (`denseblock1`)


def chain_of(defn: tree.Definition) -> tuple[tree.Loop, list[tree.Cond]] | None:
    """The block's one loop, from 0, whose body is one `if` chain: the loop and the chain."""
    body = [st for st in defn.body if not isinstance(st, (tree.Expect, tree.Assert))]
    if len(body) != 1 or not isinstance(body[0], tree.Loop):
        return None
    loop = body[0]
    if not (isinstance(loop.start, tree.Lit) and loop.start.value == 0) or \
            len(loop.body) != 1 or not isinstance(loop.body[0], tree.Cond):
        return None
    return loop, if_chain(loop.body[0])


def _branches(chain: list[tree.Cond], names: Mapping[str, str], channels_: str) -> list[Branch]:
    out: list[Branch] = []
    bodies = [(c.test, c.then) for c in chain] + \
        ([(None, chain[-1].orelse)] if chain[-1].orelse else [])
    for test, body in bodies:
        text = None if test is None else python_text(test, names, channels_ or None)
        if test is not None and (text is None or len(text) > MAX_TEST):
            raise Mismatch("a test of the loop's chain that does not translate to Python")
        branch = Branch(text, body)
        if len(body) == 1 and isinstance(body[0], tree.Cond):
            branch.sub = _branches(if_chain(body[0]), names, channels_)
        out.append(branch)
    return out


def _take(branches: list[Branch], chain: list[tree.Cond], env: Mapping[str, Any],
          row: int) -> None:
    """File `row` under the case its environment takes."""
    for branch, cond in zip(branches, [*chain, None], strict=False):
        if cond is not None:
            value = Test("", frozenset(), cond.test).value(env)
            if not isinstance(value, bool):
                raise Mismatch("a test of the loop's chain without a value")
            if not value:
                continue
        if branch.sub is not None:
            inner = branch.spec[0]
            assert isinstance(inner, tree.Cond)
            _take(branch.sub, if_chain(inner), env, row)
        else:
            branch.rows.add(row)
        return
    raise Mismatch("a row no case of the loop's chain takes")


def loop_of_cases(defn: tree.Definition, cand: Candidates, rows: Mapping[int, tuple[Piece, ...]],
                  ins: Mapping[int, Shape], outs: Mapping[int, Shape]) -> TLoop:
    """The block's loop (count, index, the chain's cases with their templates, explained);
    `rows`: each instance's children, `ins`/`outs`: each instance's input and output shape."""
    found = chain_of(defn)
    if found is None:
        raise Mismatch("not one loop of an `if` chain")
    loop, chain = found
    if any(cand.scope_env.get(k, {}).get(loop.var) is not None for k in rows):
        raise Mismatch("a loop variable that is also a parameter")
    where, pieces, width = _rows(rows, ins)
    sub = cand.rows(where)
    counted = {k: Test("", frozenset(), loop.stop).value({**cand.scope_env.get(k, {})})
               for k in rows}
    if any(counted[k] != len(kids) for k, kids in rows.items()):
        raise Mismatch("a loop whose iterations build other than one child each")
    running = py_name("c", set(sub.defaults))
    names = {**sub.spec_names, loop.var: sub.index}
    branches = _branches(chain, names, cand.input)
    for r, (k, i) in where.items():
        _take(branches, chain, {**cand.scope_env.get(k, {}), loop.var: i}, r)
    _explain(sub, branches, pieces, Flow(running, width, running=True))
    node = TLoop("", dict(outs), child=None, rows=where)
    node.count.values = {k: len(kids) for k, kids in rows.items()}
    stop = python_text(loop.stop, cand.spec_names, cand.input or None)
    if stop is None:
        raise Mismatch("a loop count that does not translate to Python")
    node.count.expr = stop
    for text in [stop, *_tests(branches)]:
        cand.used |= reads(text, cand.names())
    node.index, node.cases, node.running, node.start = sub.index, branches, running, cand.input
    cand.used |= sub.used - {sub.index}
    return node


def _rows(rows: Mapping[int, tuple[Piece, ...]], ins: Mapping[int, Shape]
          ) -> tuple[dict[int, tuple[int, int]], dict[int, tuple[Piece, ...]], dict[int, Any]]:
    """Each child of each instance as a row (instance * ROW + position): where it is, its
    piece, the width it is given; the children must be numbered 0, 1, ... (no labels)."""
    where: dict[int, tuple[int, int]] = {}
    pieces: dict[int, tuple[Piece, ...]] = {}
    width: dict[int, Any] = {}
    for k, kids in rows.items():
        if [p.name for p in kids] != [str(i) for i in range(len(kids))]:
            raise Mismatch("children named by a label")
        now = channels(ins[k])
        for i, kid in enumerate(kids):
            where[k * ROW + i] = (k, i)
            pieces[k * ROW + i] = (replace(kid, name="item"),)
            width[k * ROW + i] = now
            now = channels(kid.out_shape)
    return where, pieces, width


def _explain(sub: Candidates, branches: list[Branch], pieces: Mapping[int, tuple[Piece, ...]],
             flow: Flow) -> None:
    for branch in branches:
        if branch.sub is not None:
            _explain(sub, branch.sub, pieces, flow)
            continue
        if not branch.rows:
            continue
        [child] = unify({r: pieces[r] for r in sorted(branch.rows)})
        mine = Flow(flow.text, {r: flow.values[r] for r in branch.rows}, running=True)
        explain_slots(sub, [child], set(branch.rows), mine)
        branch.child = child
        branch.update = width_update(child, mine)


def width_update(child: TNode, flow: Flow) -> str:
    """The running width after `child`: unchanged (""), or the slot of the child holding it
    (`64`, `out`)."""
    outs = {r: channels(s) for r, s in child.present.items()}
    if all(outs[r] == v for r, v in flow.values.items()):
        return ""
    for slot in slots(child):
        if slot.expr and slot.expr != flow.text and \
                all(slot.values.get(r) == v for r, v in outs.items()):
            return slot.expr
    raise Mismatch("a width after a case of the loop's chain that no argument says")


def case_children(branches: list[Branch]) -> list[TNode]:
    """Every template of a chain's cases, nested ones included."""
    out: list[TNode] = []
    for branch in branches:
        out += case_children(branch.sub) if branch.sub is not None else \
            [branch.child] if branch.child is not None else []
    return out


def _tests(branches: list[Branch]) -> list[str]:
    out: list[str] = []
    for branch in branches:
        out += [branch.test] if branch.test is not None else []
        out += _tests(branch.sub) if branch.sub is not None else []
    return out


def steps_of(defn: tree.Definition) -> list[tuple[tree.Expr | None, tree.Stmt]] | None:
    """The block's statements, each one child, with the test of an `if` (without `else`)
    around it; None unless the body is only such statements and at least one has a test."""
    out: list[tuple[tree.Expr | None, tree.Stmt]] = []
    for st in defn.body:
        if isinstance(st, (tree.Expect, tree.Assert)):
            continue
        test = None
        if isinstance(st, tree.Cond) and not st.orelse and len(st.then) == 1:
            test, st = st.test, st.then[0]
        if not isinstance(st, (tree.Labelled, tree.Call)) or \
                isinstance(st, tree.Labelled) and not isinstance(st.unit, (tree.Call, tree.Group)):
            return None
        out.append((test, st))
    return out if any(t is not None for t, _ in out) else None


def sequence_of_steps(defn: tree.Definition, cand: Candidates,
                      rows: Mapping[int, tuple[Piece, ...]], ins: Mapping[int, Shape],
                      outs: Mapping[int, Shape]) -> TLoop:
    """The block's steps (a TLoop without an index: `cases` are its statements in order, a
    test each where the spec has one), explained from the instances' numbered children."""
    steps = steps_of(defn)
    if steps is None:
        raise Mismatch("not a sequence of statements under tests")
    branches = []
    for test, st in steps:
        text = None if test is None else python_text(test, cand.spec_names, cand.input or None)
        if test is not None and (text is None or len(text) > MAX_TEST):
            raise Mismatch("a test that does not translate to Python")
        branches.append(Branch(text, (st,)))
    where, pieces, width = _rows(rows, ins)
    for k, kids in rows.items():
        env = cand.scope_env.get(k, {})
        taken = [b for b, (t, _) in zip(branches, steps, strict=True)
                 if t is None or Test("", frozenset(), t).value(env) is True]
        if len(taken) != len(kids):
            raise Mismatch("children that are not the statements taken")
        for i, branch in enumerate(taken):
            branch.rows.add(k * ROW + i)
    sub = cand.rows(where)
    sub.defaults.pop(sub.index)
    sub.index = ""  # the position is no name here
    running = py_name("c", set(sub.defaults))
    _explain(sub, branches, pieces, Flow(running, width, running=True))
    node = TLoop("", dict(outs), child=None, rows=where)
    node.cases, node.running, node.start = branches, running, cand.input
    cand.used |= sub.used
    for text in _tests(branches):
        cand.used |= reads(text, cand.names())
    return node
