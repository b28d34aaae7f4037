"""Stage 3 helper for archc/export/python.py: what a class's constructor takes. Every slot of a
template (archc/export/unify.py) that differs between the instances is explained by the
candidates the class can see (the block's parameters, its input channels) or simple expressions
over them (`4 * c`, `c // 2`, `in_channels + 32`, `not first`, `in_channels != c`); a slot
nothing explains becomes a parameter of its own. A slot equal in every instance is a literal.
A call of a block is first explained by the spec's own argument expressions (`_said`), in
both branches of an `if` where the spec calls it in each, a block's loop count by its bound.
(Over 400 lines: the candidate forms and the spec's own words are one search; split, each half
would import the other's helpers.)"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from archc.export.conditions import (
    Test,
    assigned_cases,
    call_arguments,
    fstring,
    label_value,
    labels,
    loop_variables,
    reads,
    tests_of,
    translated,
    values_of,
)
from archc.export.flow import Flow, after, branch_start, joined
from archc.export.layout import literal
from archc.export.unify import (
    Mismatch,
    Slot,
    SlotTree,
    SubCall,
    TCall,
    TJoin,
    TLayer,
    TLoop,
    TNode,
    TSeq,
    channels,
    optional_children,
)
from archc.front import tree
from archc.registry.ops import same_value

# names the generated code uses itself; a parameter of the same name gets a trailing `_`
RESERVED = frozenset({"self", "nn", "torch", "Tensor", "OrderedDict", "super", "x", "None",
                      "True", "False"})


def py_name(name: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A spec name as a Python identifier no generated name clashes with."""
    out = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
    out = out if out.isidentifier() else f"m{out}"
    while keyword.iskeyword(out) or out in RESERVED or out in taken or out.startswith("__"):
        out += "_"
    return out


@dataclass
class Param:
    """A constructor parameter: its Python name, type, default (source text, or None when
    required) and how call sites pass it."""

    name: str
    type: str
    default: str | None = None
    keyword: bool = False


@dataclass
class Case:
    """One branch of a block whose body is `if a {..} else if b {..} else {..}`: its test
    (Python; None for the last `else`), what it builds and how (`module` or `sequential`), or
    body None when no exported instance takes it (the constructor refuses it)."""

    test: str | None
    kind: str = "module"
    body: list[TNode] | None = None


@dataclass
class ClassDef:
    """One generated class: `module` (submodules as attributes, a forward), `sequential` (an
    nn.Sequential subclass building its children), `children` (an nn.Sequential subclass
    given its children by the caller) or `cases` (the constructor picks one of `cases` by the
    spec's own tests; `body` then lists every case's nodes)."""

    name: str
    kind: str
    doc: str
    params: list[Param] = field(default_factory=list)
    body: list[TNode] = field(default_factory=list)
    base: set[int] = field(default_factory=set)  # the exported network's instances (shapes)
    cases: list[Case] = field(default_factory=list)
    # the taps its forward takes after `x`, and those it returns after `x` (graph.flows:
    # `tap:NAME`, `output:NAME`); the network's outputs, which its forward returns as a dict
    imports: tuple[str, ...] = ()
    exports: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()  # the network's named inputs: forward(self, image, mask)
    training: tuple[str, ...] = ()  # the outputs only train mode computes (`output aux training`)
    # the parameters whose spec default is an expression (`q=c // 4`): (name, Python text),
    # in the spec's order; the constructor computes each that is passed None
    computed: list[tuple[str, str]] = field(default_factory=list)
    block: str = ""  # the block it is the class of, if one
    spec_names: dict[str, str] = field(default_factory=dict)  # its spec name -> Python name
    # each instance's (and probe's) constructor arguments and output width: what a caller's
    # running width after a call is (archc/export/widths.py)
    widths: list[tuple[dict[str, Any], Any]] = field(default_factory=list)
    # its output width derived from the block's definition (archc/export/derive.py), over
    # its spec parameters and derive.INPUT, where that held at every instance; else None
    width: tree.Expr | None = None


# a numbered group of the network's class built with a running width: the TLoop of its
# steps and the width after it, or None (archc/export/running.py `running_group`)
GroupRule = Callable[["Candidates", TSeq, Flow], "tuple[TNode, Flow] | None"]


@dataclass
class Candidates:
    """What a class's constructor could take: name -> value per instance, in preference order,
    and each name's declared default (source text) where it has a literal one."""

    env: dict[int, dict[str, Any]]
    defaults: dict[str, str | None]
    allow_new: bool = True  # False for the network: its parameters are the spec's
    # the network's or a group of it: its input width is one number in every instance, the
    # spec's input channels (`start`)
    one_input: bool = False
    # the network's class itself (not a sequential one): its numbered groups are built with
    # the width running through them, by archc/export/running.py's `running_group` (given
    # here by archc/export/classes.py: it imports this module)
    groups: GroupRule | None = None
    cases: bool = False  # a class of cases: a new parameter may serve some instances only
    input: str = ""  # the name standing for the input size (`in_channels`), if any
    tests: list[Test] = field(default_factory=list)  # the spec's own tests, as Python
    values: list[Test] = field(default_factory=list)  # the spec's computed arguments
    literals: set[Any] = field(default_factory=set)  # the numbers the spec writes as arguments
    scope_env: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)  # instances' args
    defn: tree.Definition | None = None  # the block, for its expressions inside a loop
    spec_names: dict[str, str] = field(default_factory=dict)  # spec name -> Python name
    # a parameter whose spec default is an expression over the others: its Python text
    computed: dict[str, str] = field(default_factory=dict)
    index: str = ""  # inside a loop's child: the Python name of the loop's index
    used: set[str] = field(default_factory=set)
    new: dict[str, dict[int, Any]] = field(default_factory=dict)
    _seen: dict[tuple[str, int], Any] = field(default_factory=dict)

    def names(self) -> list[str]:
        return list(self.defaults)

    def value(self, t: Test, k: int) -> Any:
        """A spec expression's value in instance k (None where it has none)."""
        if (t.text, k) not in self._seen:
            self._seen[t.text, k] = t.value(self.scope_env[k]) if k in self.scope_env else None
        return self._seen[t.text, k]

    def rows(self, rows: dict[int, tuple[int, int]]) -> Candidates:
        """The candidates of a loop's child: row -> (instance, index); the index is one more
        name, and so is the spec's loop variable where the block has exactly one."""
        index = py_name("i", set(self.defaults))
        loops = [] if self.defn is None else list(loop_variables(self.defn.body))
        var = loops[0] if len(loops) == 1 else None
        names = {**self.spec_names, **({var: index} if var else {})}
        env = {r: {**self.env[k], index: i} for r, (k, i) in rows.items()}
        scope_env = {r: {**self.scope_env.get(k, {}), **({var: i} if var else {})}
                     for r, (k, i) in rows.items()}
        spoken = (tests_of(self.defn, names, self.input), values_of(self.defn, names,
                                                                     self.input)) \
            if self.defn is not None else ([], [])
        return Candidates(env, {**self.defaults, index: None}, allow_new=False,
                          input=self.input, tests=spoken[0], values=spoken[1],
                          literals=self.literals, scope_env=scope_env, defn=self.defn,
                          spec_names=names, index=index)


def _is_int(v: Any) -> bool:
    return type(v) is int


Form = tuple[str, set[str], Callable[[int], Any]]  # text, names used, value in instance k


def _forms(c: Candidates, values: dict[int, Any]) -> Iterator[Form]:
    """Candidate expressions for `values`, most direct first; constants are read off the first
    instance (or, for a test, the first instance where it is false). A boolean is first looked
    for among the spec's own tests (archc/export/conditions.py) and their negations."""
    names = c.names()
    k0 = next(iter(values))
    target = values[k0]
    env = c.env
    for p in names:
        yield p, {p}, partial(_get, env=env, p=p)
    for t in c.tests if isinstance(target, bool) else c.values:
        yield t.text, set(t.names), partial(_spoken, c=c, t=t)
    if c.index:  # a loop's child: the first child often differs (`in_channels if i == 0 else c`)
        ix = c.index
        if isinstance(target, bool):
            yield f"{ix} == 0", {ix}, partial(_first, env=env, i=ix)
        steps = [p for p in names if p != ix and _is_int(env[k0][p])]
        for p in steps:  # DenseNet's growing input: `in_channels + i * growth`
            for q in steps:
                yield f"{p} + {ix} * {q}", {p, q, ix}, partial(_growing, env=env, i=ix, p=p, q=q)
    ints = [p for p in names if _is_int(env[k0][p])]
    if _is_int(target):
        for p in ints:
            v0 = env[k0][p]
            if v0 and target % v0 == 0 and target // v0 > 1:
                r = target // v0
                yield f"{r} * {p}", {p}, partial(_times, env=env, p=p, r=r)
            if target and v0 % target == 0 and v0 // target > 1:
                r = v0 // target
                yield f"{p} // {r}", {p}, partial(_over, env=env, p=p, r=r)
            if target != v0:
                d = target - v0
                yield (f"{p} + {d}" if d > 0 else f"{p} - {-d}"), {p}, \
                    partial(_plus, env=env, p=p, d=d)
    if isinstance(target, bool):
        for p in names:
            if isinstance(env[k0][p], bool):
                yield f"not {p}", {p}, partial(_not, env=env, p=p)
        for i, p in enumerate(ints):
            for q in ints[i + 1:]:
                yield f"{p} != {q}", {p, q}, partial(_differ, env=env, p=p, q=q)
        off = next((k for k, v in values.items() if v is False), k0)
        for p in ints:
            v = env[off][p]
            yield f"{p} != {v}", {p}, partial(_is_not, env=env, p=p, v=v)
    if _is_number(target):  # one number where a test (the spec's) holds, another else
        flags = [(t.text, set(t.names), partial(_spoken, c=c, t=t)) for t in c.tests]
        flags += [(p, {p}, partial(_get, env=env, p=p)) for p in names
                  if isinstance(env[k0][p], bool)]
        for text, used, test in flags:
            on = next((k for k in values if test(k) is True), None)
            off = next((k for k in values if test(k) is False), None)
            if on is not None and off is not None and \
                    _is_number(values[on]) and _is_number(values[off]):
                a, b = values[on], values[off]
                yield f"{literal(a)} if {text} else {literal(b)}", used, \
                    partial(_pick, test=test, a=a, b=b)
    if _is_int(target):  # a size grown from a spoken one (`c3 // 2 + n4 * growth`: DenseNet)
        bases = [(p, {p}, partial(_get, env=env, p=p)) for p in ints]
        bases += [(t.text, set(t.names), partial(_spoken, c=c, t=t)) for t in c.values
                  if re.fullmatch(r"[\w /*+-]+", t.text)]
        for text, used, base in bases:
            for i, p in enumerate(ints):
                for q in ints[i:]:
                    yield f"{text} + {p} * {q}", used | {p, q}, \
                        partial(_grown, base=base, env=env, p=p, q=q)


Env = dict[int, dict[str, Any]]


def _get(k: int, env: Env, p: str) -> Any:
    return env[k][p]


def _spoken(k: int, c: Candidates, t: Test) -> Any:
    return c.value(t, k)


def _grown(k: int, base: Callable[[int], Any], env: Env, p: str, q: str) -> Any:
    return base(k) + env[k][p] * env[k][q]


def _is_number(v: Any) -> bool:
    return type(v) in (int, float)


def _pick(k: int, test: Callable[[int], Any], a: Any, b: Any) -> Any:
    return a if test(k) else b


def _first(k: int, env: Env, i: str) -> Any:
    return env[k][i] == 0


def _growing(k: int, env: Env, i: str, p: str, q: str) -> Any:
    return env[k][p] + env[k][i] * env[k][q]


def _times(k: int, env: Env, p: str, r: int) -> Any:
    return r * env[k][p]


def _over(k: int, env: Env, p: str, r: int) -> Any:
    return env[k][p] // r


def _plus(k: int, env: Env, p: str, d: int) -> Any:
    return env[k][p] + d


def _not(k: int, env: Env, p: str) -> Any:
    return not env[k][p]


def _differ(k: int, env: Env, p: str, q: str) -> Any:
    return env[k][p] != env[k][q]


def _is_not(k: int, env: Env, p: str, v: Any) -> Any:
    return env[k][p] != v


def explain_value(c: Candidates, values: dict[int, Any], hint: str,
                  literal_ok: bool = True, new_ok: bool = True,
                  said: tuple[Test, ...] = (), flow: Flow | None = None,
                  out: dict[int, Any] | None = None) -> str:
    """How to write a value that is `values[k]` in instance k: first as the spec writes it
    (`said`: a call site's own argument expressions), when that has the value everywhere, or
    as the width flowing there (archc/export/flow.py), which a call's input size is first."""
    width = flow is not None and flow.matches(values) and _width(c, values, flow) and \
        not (flow.running and out is not None)  # a running width: a layer's input only
    if width and flow is not None and (hint == c.input or not any(_says(c, t, values)
                                                                  for t in said)):
        # a layer's width that equals its input's and its output's: the spec's expression
        # for it first (`conv(out // 2)` after a split where every call had out == in.c)
        if out is not None and all(out.get(k) == v for k, v in values.items()):
            spoken = next((t for t in c.values if t.names and _says(c, t, values)), None)
            if spoken is not None:
                c.used |= set(spoken.names)
                return spoken.text
        if flow.text == c.input and hint != c.input and not c.one_input:
            # the input's width that a parameter names in every instance and probe (a probe
            # moving the channels alone broke the block): the spec's name (`nn.Conv2d(c, sq,
            # 1)` in an SE block called as `se_hard(x)`)
            for p in c.names():
                if p != c.input and all(same_value(c.env[k].get(p), v)
                                        for k, v in values.items()):
                    c.used.add(p)
                    return p
        c.used |= reads(flow.text, c.names())
        return flow.text
    if c.input and hint == c.input and not c.one_input and \
            all(same_value(c.env[k].get(c.input), v) for k, v in values.items()):
        c.used.add(c.input)  # a call's input size: first the caller's own (in a block's
        return c.input  # class; the network's has one instance: only its flow says so)
    for t in said:
        if _says(c, t, values):
            c.used |= set(t.names)
            return t.text
    split = _said_split(c, values, said) if said else None
    if split is not None:
        return split
    first = next(iter(values.values()))
    if literal_ok and all(same_value(v, first) for v in values.values()):
        return _varying_param(c, values, first) or _computed_here(c, values, first) or \
            literal(first)
    for text, used, value in _forms(c, values):
        try:
            if all(same_value(value(k), v) for k, v in values.items()):
                c.used |= used
                return text
        except (TypeError, ZeroDivisionError):
            continue
    split = _first_and_rest(c, values, hint, literal_ok)
    if split:
        return split
    if not (c.allow_new and new_ok):
        raise Mismatch(f"{hint}: nothing explains {list(values.values())}")
    if set(values) != set(c.env) and not c.cases:
        raise Mismatch(f"{hint}: differs between the instances that have it")
    name = py_name(hint, set(c.defaults) | set(c.new))
    c.new[name] = dict(values)
    return name


def _width(c: Candidates, values: dict[int, Any], flow: Flow) -> bool:
    """A value to write as the width flowing there: one that is not a number the spec writes
    itself (a kernel size of 3 on a 3-channel input)."""
    if flow.running:  # a loop's running width: a layer's or a call's input width
        return True
    first = next(iter(values.values()))
    return not (first in c.literals or first in (0, 1))


def _computed_here(c: Candidates, values: dict[int, Any], value: Any) -> str | None:
    """A number equal in every instance that the spec computes from what the class takes
    (fcn_head's `conv(in.c // 4)`: 512 in every instance, `in_channels // 4` for any other
    input): the spec's expression, not the number. Numbers the spec writes itself stay
    literal, so a `groups=w // gw` of 1 does not turn a kernel size of 1 into `w // gw`."""
    if type(value) is not int or value in c.literals or value in (0, 1):
        return None
    for t in c.values:
        if t.names and _says(c, t, values):
            c.used |= set(t.names)
            return t.text
    return None


def _says(c: Candidates, t: Test, values: dict[int, Any]) -> bool:
    try:
        return all(same_value(c.value(t, k), v) for k, v in values.items())
    except (TypeError, ZeroDivisionError):
        return False


def _said_split(c: Candidates, values: dict[int, Any], said: tuple[Test, ...]) -> str | None:
    """A call site's argument where the spec calls the block in both branches of an `if`
    (`if i == 0 and stride > 1 { basic(c, stride) } else { basic(c) }`): `stride if i == 0
    and stride > 1 else 1`, each side as the spec writes it or a constant."""
    for test in c.tests:
        try:
            on = {k: v for k, v in values.items() if c.value(test, k) is True}
            off = {k: v for k, v in values.items() if c.value(test, k) is False}
        except (TypeError, ZeroDivisionError):
            continue
        if not on or not off or len(on) + len(off) != len(values):
            continue
        sides = [next((t for t in said if _says(c, t, part)), None) for part in (on, off)]
        if sides == [None, None]:
            continue
        texts = []
        for side, part in zip(sides, (on, off), strict=True):
            first = next(iter(part.values()))
            if side is None and not all(same_value(v, first) for v in part.values()):
                break
            texts.append(side.text if side is not None else literal(first))
        else:
            if any(" if " in t for t in texts):
                continue
            for side in sides:
                c.used |= set(side.names) if side is not None else set()
            c.used |= set(test.names)
            return f"{texts[0]} if {test.text} else {texts[1]}"
    return None


def _first_and_rest(c: Candidates, values: dict[int, Any], hint: str,
                    literal_ok: bool) -> str | None:
    """In a loop's child, a value the first child has one way and the others another
    (`in_channels if i == 0 else 4 * c`, torchvision's stage loops)."""
    ix = c.index
    if not ix:
        return None
    first = {k: v for k, v in values.items() if c.env[k][ix] == 0}
    rest = {k: v for k, v in values.items() if c.env[k][ix] != 0}
    if not first or not rest:
        return None
    c.index = ""  # one split: the parts are explained without the index
    try:
        a = explain_value(c, first, hint, literal_ok, new_ok=False)
        b = explain_value(c, rest, hint, literal_ok, new_ok=False)
    except Mismatch:
        return None
    finally:
        c.index = ix
    if " if " in a or " if " in b:
        return None
    c.used.add(ix)
    return f"{a} if {ix} == 0 else {b}"


def _varying_param(c: Candidates, values: dict[int, Any], value: Any) -> str | None:
    """In a part only some instances have, a number constant there may still be a parameter
    that varies over the class (a shortcut conv's `stride` where only strided blocks have one):
    name it, as the spec does. Booleans are left literal (`bias=True` is no parameter), and so
    are numbers the spec writes as arguments. The input size is asked first: in a case where it
    equals a parameter (`in_channels == c`), a layer's input is the input."""
    if set(values) == set(c.env) or isinstance(value, bool) or \
            not isinstance(value, (int, float)) or value in c.literals:
        return None
    for p in sorted(c.names(), key=lambda n: n != c.input):
        column = [env[p] for env in c.env.values()]
        if not all(same_value(v, column[0]) for v in column) and \
                all(same_value(c.env[k][p], value) for k in values):
            c.used.add(p)
            return p
    return None


def start(c: Candidates, among: set[int]) -> Flow | None:
    """The width a block's body starts from: its input channels (archc/export/flow.py); none
    for an `in_features` (tokens' NxD: the token count, not the width their layers take).
    The network's is one number in every instance: the first layer's (or call's) input width
    equal to it is it, not a kernel size of 3 after it (as a loop's running width)."""
    if not c.input.startswith("in_channels") or c.index or \
            not all(type(c.env[k].get(c.input)) is int for k in among):
        return None
    values = {k: c.env[k][c.input] for k in among}
    return Flow(c.input, values) if not c.one_input else \
        Flow(c.input, values, running=True, scales=False)


def explain_slots(c: Candidates, nodes: list[TNode], among: set[int],
                  flow: Flow | None = None) -> Flow | None:
    """Set every slot's expression and every optional node's condition, in place; `flow` is
    the width the nodes start from, and the width they end with is returned."""
    before: dict[int, Any] | None = None  # the width entering `node` where the flow is lost
    for i, node in enumerate(nodes):
        if node.orelse:
            nodes[i], flow = _alternatives(c, node, among, flow)
            before = None
            continue
        if c.groups and isinstance(node, TSeq):
            found = _running(c, node, flow, before)
            if found is not None:
                nodes[i], flow = found
                before = {k: channels(s) for k, s in node.present.items()}
                continue
        before = {k: channels(s) for k, s in node.present.items()}
        if set(node.present) != among:
            if not isinstance(node, (TLayer, TCall, TSeq)):
                raise Mismatch(f"'{node.name}': a join present in some instances only")
            node.cond = explain_value(c, {k: k in node.present for k in among},
                                      node.name, literal_ok=False, new_ok=False)
        if isinstance(node, TLayer):
            out = {k: channels(s) for k, s in node.present.items()}
            seen = [False]
            # in the network's class (one instance) a value equal to the input width is that
            # width only where the op makes it from the width (a pool's kernel of 3 on 3
            # channels is no width); a block's instances and probes tell it apart themselves
            known = node.from_width if c.one_input else None
            for at, parsed in [*enumerate(node.args), *node.kwargs.items()]:
                given = flow if known is None or at in known else None
                _explain_tree(c, parsed, given, out, seen)
        elif isinstance(node, TCall):
            said = _said(c, node.cls, node.name)
            for name, slot in node.args.items():
                # a loop's running width is a call's input size only
                given = None if flow is not None and flow.running and \
                    name not in ("in_channels", "in_features") else flow
                slot.expr = explain_value(c, slot.values, slot.hint,
                                          said=said.get(name, ()), flow=given)
        elif isinstance(node, TSeq):
            if any(isinstance(n, TLoop) or optional_children(n) for n in node.children):
                raise Mismatch(f"'{node.name}': a loop or optional part inside an nn.Sequential")
            inner = flow if flow is None or node.cond else \
                replace(flow, values={k: flow.values[k] for k in node.present})
            end = explain_slots(_top(c), node.children, set(node.present), inner)
            flow = after(node, flow) if end is None or node.cond else \
                replace(end, values={**flow.values, **end.values}) if flow is not None else None
            continue
        elif isinstance(node, TLoop):
            _explain_loop(c, node)
        elif isinstance(node, TJoin):
            ends = [explain_slots(_top(c), branch, set(node.present), branch_start(node, flow))
                    for branch in node.branches]
            flow = joined(node, flow, ends)
            continue
        flow = after(node, flow)
    return flow


def _alternatives(c: Candidates, node: TNode, among: set[int],
                  flow: Flow | None) -> tuple[TNode, Flow | None]:
    """A submodule built in a different structure by each group of instances (unify.py's
    `orelse`): each structure explained on its instances and put under the test of its case of
    the spec's `if` chain, in the chain's order (the first holds the others); the width after
    it as `after` gives it where it is one text."""
    alts = [node, *node.orelse]
    cases = assigned_cases(c.defn, node.name, c.scope_env, [set(a.present) for a in alts],
                           among, c.spec_names, c.input or None) if c.defn is not None else None
    if cases is None or any(map(optional_children, alts)):
        raise Mismatch(f"'{node.name}': built differently where no `if` of the spec says so")
    ordered = []
    for k, test in cases:
        alt = replace(alts[k], orelse=[])
        start = flow if flow is None else \
            replace(flow, values={r: v for r, v in flow.values.items() if r in alt.present})
        explain_slots(c, [alt], set(alt.present), start)
        alt.cond = test
        c.used |= reads(test, c.names())
        ordered.append(alt)
    first = replace(ordered[0], orelse=ordered[1:])
    if flow is None:
        return first, None
    outs = {r: next((channels(a.present[r]) for a in ordered if r in a.present), v)
            for r, v in flow.values.items()}
    return first, flow if outs == flow.values else None


def _top(c: Candidates) -> Candidates:
    """Only the network's own groups run a width, not groups inside them (the same `used`)."""
    return replace(c, groups=None) if c.groups else c


def _running(c: Candidates, node: TSeq, flow: Flow | None,
             before: dict[int, Any] | None) -> tuple[TNode, Flow] | None:
    """A numbered group of the network's class with a running width: it starts as the flow
    (`in_channels`), else as the one number entering it (`c = 64`, after a stem)."""
    if flow is None and before is not None and len(set(before.values())) == 1 and \
            set(before) >= set(node.present):
        flow = Flow(literal(next(iter(before.values()))), before)
    return None if flow is None or c.groups is None else c.groups(c, node, flow)


def _said(c: Candidates, cls: ClassDef, label: str = "") -> dict[str, tuple[Test, ...]]:
    """A block class's parameter (Python name) -> what the calls of the block in the body being
    explained pass for it, translated; those reading only literals are left to the literal
    rules (a value equal in every instance is written as one)."""
    if not cls.block or c.defn is None:
        return {}
    found = call_arguments(c.defn.body, cls.block, list(cls.spec_names), label)
    out = {}
    for spec, exprs in found.items():
        tests = tuple(t for t in translated(exprs, c.spec_names, c.input or None) if t.names)
        if tests and spec in cls.spec_names:
            out[cls.spec_names[spec]] = tests
    return out


def _count_said(c: Candidates) -> tuple[Test, ...]:
    """The count of a block's one loop as the spec writes it (`for i in 0..n`: `n`; `* n`)."""
    body = [] if c.defn is None else [st for st in c.defn.body
                                       if not isinstance(st, (tree.Expect, tree.Assert))]
    if len(body) != 1:
        return ()
    st = body[0]
    if isinstance(st, tree.Loop) and isinstance(st.start, tree.Lit) and st.start.value == 0:
        return tuple(translated([st.stop], c.spec_names, c.input or None))
    if isinstance(st, tree.Repeat):
        return tuple(translated([st.count], c.spec_names, c.input or None))
    return ()


def _explain_loop(c: Candidates, node: TLoop) -> None:
    """A repetition of differing length: its count from the instance's candidates, its child
    from the rows' (the index added), its children's names as the spec's label."""
    if node.child is None or not (node.name.isidentifier() or node.name == "") or \
            optional_children(node.child):
        raise Mismatch(f"'{node.name}': a loop that is not an attribute")
    node.count.expr = explain_value(c, node.count.values, "count", new_ok=False,
                                    said=_count_said(c) if node.name == "" else ())
    sub = c.rows(node.rows)
    explain_slots(sub, [node.child], set(node.rows))
    c.used |= sub.used - {sub.index}
    node.index = sub.index
    if all(node.names[r] == str(i) for r, (_, i) in node.rows.items()):
        return
    for template in labels(c.defn) if c.defn is not None else []:
        text = fstring(template, sub.spec_names, c.input)
        if text is not None and all(label_value(template, sub.scope_env[r]) == node.names[r]
                                    for r in node.rows):
            node.label = text
            c.used |= reads(text, c.names())
            return
    raise Mismatch(f"'{node.name}': children named in a way no label of the spec writes")


def _explain_tree(c: Candidates, parsed: SlotTree, flow: Flow | None = None,
                  out: dict[int, Any] | None = None, seen: list[bool] | None = None) -> None:
    """`out`: the layer's output width; `seen[0]`: a slot before this one was the layer's
    input width (the first equal to the flow is: `nn.Conv2d(in, out)`, `nn.BatchNorm2d(in)`)."""
    seen = [False] if seen is None else seen
    if isinstance(parsed, Slot):
        first = flow is not None and flow.matches(parsed.values) and not seen[0]
        seen[0] = seen[0] or first
        parsed.expr = explain_value(c, parsed.values, parsed.hint, flow=flow,
                                    out=None if first else out)
    elif isinstance(parsed, SubCall):
        for sub in [*parsed.args, *parsed.kwargs.values()]:
            _explain_tree(c, sub, flow, out, seen)
    else:
        for sub in parsed:
            _explain_tree(c, sub, flow, out, seen)


def type_text(values: list[Any]) -> str:
    kinds = {type(v) for v in values}
    nullable = type(None) in kinds
    kinds.discard(type(None))
    if kinds == {int, float}:
        kinds = {float}
    names = sorted(k.__name__ if k is not tuple else "tuple" for k in kinds) or ["None"]
    text = " | ".join(names)
    return f"{text} | None" if nullable and kinds else text
