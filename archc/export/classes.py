"""Stage 3 helper for archc/export/python.py: one class per block definition.

Every instance of a definition across the networks given (the exported one, copies with a
network parameter changed, and probes: blocks of cases expanded again on their own) is written
as pieces (archc/export/unify.py), lined up into one template, and its varying slots explained
(archc/export/explain.py). Instances that cannot share one template still share a class: a block
whose body is an `if` chain gets the chain in its constructor (`_cases`), a block that is one
repetition of differing length a `for` loop (`_loop`; a repetition inside a block likewise; a
loop whose child is an `if` chain, or a numbered sequence of statements under `if`s, through
archc/export/loopcases.py);
else, a block that is only a numbered sequence of layers becomes an nn.Sequential subclass
given its children, and only what none of these fits splits into numbered variants (`Block2`).
A group holding a join or an inline op gets a class of its own; other groups and repetitions
are nn.Sequential. Definitions resolve inner first, so a class's pieces can name inner classes.
A block's defaults the spec computes (`q=c // 4`) are computed in the constructor when they
translate to Python (`_computed`); a block whose body is one loop its parameters count is a
loop first, and a block of cases its `if` chain first. (Over 400 lines: the one resolver of
every kind of class, which share its instances and candidates.)"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from archc.core.errors import ArchcError
from archc.core.graph import Ids, Join, Layer, Node, Scope, Shape, Wire, flows
from archc.export.conditions import (
    MAX_TEXT,
    Test,
    branches,
    case_of,
    literals_of,
    python_text,
    reads,
    tests_of,
    values_of,
)
from archc.export.derive import Deriver
from archc.export.derive import value as derived_value
from archc.export.explain import (
    Candidates,
    Case,
    ClassDef,
    Param,
    explain_slots,
    py_name,
    start,
    type_text,
)
from archc.export.loopcases import chain_of, loop_of_cases, sequence_of_steps, steps_of
from archc.export.running import running_group, top_running
from archc.export.unify import (
    Mismatch,
    PCall,
    Piece,
    PJoin,
    PLayer,
    PSeq,
    PWire,
    TNode,
    channels,
    is_module,
    optional_children,
    unify,
    unify_loop,
    with_channels,
)
from archc.front import tree
from archc.front.evaluate import IN
from archc.registry.ops import REGISTRY, Source, same_value

Key = tuple[str, ...]
NETWORK: Key = ("network",)
Rows = dict[int, tuple[Piece, ...]]  # each instance's pieces, by instance


class ExportError(ArchcError):
    """The spec uses something the Python exporter cannot write (an op without a source)."""


def camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.replace(".", "_").split("_")) or "M"


def numbered(names: list[str]) -> bool:
    return names == [str(i) for i in range(len(names))]


def needs_class(scope: Scope, crossed: bool = False) -> bool:
    """A group or repetition holding a join, an inline op (a parameter, not a module) or a
    wire, or one a tap crosses (`crossed`: its forward takes or returns one), needs a forward
    of its own; other groups and repetitions are nn.Sequential."""
    return scope.kind in ("group", "repeat") and (crossed or any(
        isinstance(n, (Join, Wire)) or (isinstance(n, Layer) and REGISTRY[n.op].inline)
        for n in scope.items))


def _from_width(node: Layer) -> frozenset[int | str] | None:
    """The places of the layer's source form's arguments made from its input width: those its
    op's source form changes when that width does (asked with the width moved to another
    number); None where that cannot be asked (tokens' ids, a source form that refuses). The
    same layer (op, arguments, shapes) recurs in every instance and every trial expansion of an
    export (ConvNeXt with `gelu * 1024` asked 278,000 times): asked once (`_width_places`)."""
    shape = node.in_shape
    if not shape or isinstance(shape, Ids) or type(channels(shape)) is not int:
        return None
    try:
        return _width_places(node.op, node.args, shape, node.out_shape)
    except TypeError:  # an unhashable shape or argument: asked without the memo
        return _width_places.__wrapped__(node.op, node.args, shape, node.out_shape)


@functools.lru_cache(maxsize=4096)
def _width_places(op: str, args: Any, shape: Shape, out_shape: Any
                  ) -> frozenset[int | str] | None:
    make = REGISTRY[op].source
    if make is None:
        return None
    try:
        source = make(args, shape, out_shape)
        other = make(args, with_channels(shape, channels(shape) + 7919), out_shape)
    except Exception:  # noqa: BLE001 (an op's own rule: any refusal means "not known")
        return None
    if not isinstance(source, Source) or not isinstance(other, Source) or \
            len(other.args) != len(source.args) or set(other.kwargs) != set(source.kwargs):
        return None
    pairs = enumerate(zip(source.args, other.args, strict=True))
    return frozenset([i for i, (a, b) in pairs if a != b]
                     + [k for k, v in source.kwargs.items() if other.kwargs[k] != v])


@dataclass
class Classes:
    """Every class of an export, resolved on demand, in the order they were resolved."""

    blocks: Mapping[str, tree.Definition]
    network: tree.Definition
    instances: dict[Key, list[Scope]] = field(default_factory=dict)
    base: set[int] = field(default_factory=set)  # id() of the exported network's scopes
    of: dict[int, tuple[ClassDef, dict[str, Any]]] = field(default_factory=dict)
    done: dict[Key, list[ClassDef]] = field(default_factory=dict)
    order: list[ClassDef] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)
    env: dict[int, Mapping[str, Any]] = field(default_factory=dict)  # a group's owner's args
    # id() of a scope a tap crosses -> (taps it reads, values it returns): graph.flows
    flow: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()  # the exported network's `output` names
    inputs: tuple[str, ...] = ()  # the exported network's named inputs
    # the network's class built for its spec's input channels only (no `in_channels`): the
    # network at other input channels did not come out as one class (archc/export/python.py)
    fixed_input: bool = False
    training: tuple[str, ...] = ()  # those only train mode computes (`output aux training`)
    deriver: Deriver | None = None  # each block's width from its definition (made on use)

    def add_network(self, root: Scope, base: bool) -> None:
        self.flow.update(flows(root))
        self.instances.setdefault(NETWORK, []).append(root)
        self._collect(root.items, NETWORK, "", base, root.args)
        if base:
            self.base.add(id(root))

    def add_probe(self, scope: Scope) -> None:
        """A block instance expanded on its own (archc/export/params.py `probes`): one more
        point for explaining its class, in no network."""
        self.flow.update(flows(Scope("", "network", "network", (scope,), scope.in_shape,
                                     scope.out_shape, scope.span)))
        self._collect((scope,), NETWORK, "", False, {})

    def _collect(self, items: tuple[Node, ...], owner: Key, path: str, base: bool,
                 env: Mapping[str, Any]) -> None:
        """Every instance of a class among `items`; `env`: the arguments of the block instance
        (or the network) they are written in, which a group's class takes by their names."""
        for node in items:
            if isinstance(node, Join):
                for branch in node.branches:
                    self._collect(branch, owner, path, base, env)
            elif isinstance(node, Scope):
                key = self.key(node, owner, path)
                if key is not None:
                    self.instances.setdefault(key, []).append(node)
                    if base:
                        self.base.add(id(node))
                    inner = node.args if node.kind == "block" else env
                    if node.kind != "block":
                        self.env[id(node)] = env
                    self._collect(node.items, key, "", base, inner)
                else:
                    self._collect(node.items, owner, f"{path}{node.name}.", base, env)

    def key(self, scope: Scope, owner: Key, path: str) -> Key | None:
        if scope.kind == "block":
            return ("block", scope.title)
        if needs_class(scope, id(scope) in self.flow):
            return ("group", *owner, path + scope.name)
        return None

    # -- pieces
    def pieces(self, items: tuple[Node, ...], owner: Key, path: str = "") -> tuple[Piece, ...]:
        return tuple(self.piece(node, owner, path) for node in items)

    def piece(self, node: Node, owner: Key, path: str) -> Piece:
        if isinstance(node, Layer):
            op = REGISTRY[node.op]
            if op.source is None:
                raise ExportError(f"op '{node.op}' has no source form (Op.source) to export",
                                  node.span)
            source = op.source(node.args, node.in_shape, node.out_shape)
            return PLayer(node.name, source, node.out_shape, _from_width(node))
        if isinstance(node, Join):
            return PJoin(node.name, node.op, tuple(self.pieces(b, owner, path)
                                                   for b in node.branches), node.out_shape)
        if isinstance(node, Wire):
            return PWire(f"@{node.op}:{node.key}", node.op, node.key, node.out_shape,
                         node.training)
        key = self.key(node, owner, path)
        if key is None:
            return PSeq(node.name, None, self.pieces(node.items, owner, f"{path}{node.name}."),
                        node.out_shape, loop=node.kind == "repeat")
        self.resolve(key)
        cls, values = self.of[id(node)]
        if cls.kind == "children":
            return PSeq(node.name, cls, self.pieces(node.items, key), node.out_shape)
        return PCall(node.name, cls, values, node.out_shape)

    # -- classes
    def resolve(self, key: Key) -> list[ClassDef]:
        if key not in self.done:
            scopes = self.instances[key]
            rows = {k: self.pieces(s.items, key) for k, s in enumerate(scopes)}
            self.done[key] = self._classes(key, scopes, rows)
        return self.done[key]

    def _classes(self, key: Key, scopes: list[Scope], rows: Rows) -> list[ClassDef]:
        if self._counted(key):  # a loop the block's parameters count: a loop, as the spec
            try:
                return [self._loop(key, scopes, rows)]
            except Mismatch:
                pass
        try:  # a block of cases taken by its instances: the spec's `if` chain, not one layer
            return [self._cases(key, scopes, rows)]  # whose arguments a test picks
        except Mismatch:
            pass
        defn = self.blocks.get(key[1]) if key[0] == "block" else None
        if defn is not None and steps_of(defn) is not None:
            try:  # a numbered sequence with statements under tests: appended as the spec says
                return [self._loop(key, scopes, rows)]
            except Mismatch:
                pass
        try:
            return [self._build(key, scopes, rows, list(rows), "")]
        except Mismatch:
            if key == NETWORK:
                raise
        try:
            return [self._cases(key, scopes, rows)]
        except Mismatch:
            pass
        try:
            return [self._loop(key, scopes, rows)]
        except Mismatch:
            pass
        if all(numbered([p.name for p in r]) and all(map(is_module, r)) for r in rows.values()):
            cls = ClassDef(self._name(key, ""), "children", self._doc(key, children=True))
            for s in scopes:
                self.of[id(s)] = (cls, {})
            self.order.append(cls)
            return [cls]
        alike: dict[tuple, list[int]] = {}  # instances of one structure always share a class
        for k, row in rows.items():
            alike.setdefault(_structure(row), []).append(k)
        groups: list[list[int]] = []
        for part in alike.values():  # greedy: each structure joins the first variant it fits
            for g in groups:
                try:
                    self._build(key, scopes, rows, g + part, "", dry=True)
                    g += part
                    break
                except Mismatch:
                    continue
            else:
                groups.append(list(part))
        return [self._build(key, scopes, rows, sorted(g), str(i + 1) if i else "")
                for i, g in enumerate(groups)]

    def _build(self, key: Key, scopes: list[Scope], rows: Rows, among: list[int], suffix: str,
               dry: bool = False) -> ClassDef:
        body = unify({k: rows[k] for k in among})
        cand = self._candidates(key, {k: scopes[k] for k in among})
        names = [n.name for n in body]
        kind = "sequential" if numbered(names) and all(map(is_module, body)) else "module"
        if key == NETWORK and cand.one_input and kind == "module":
            cand.groups = running_group
        explain_slots(cand, body, set(among), start(cand, set(among)))
        if kind == "module":
            top_running(cand, body)
        if kind == "sequential" and not _appendable(body):
            raise Mismatch("an optional item in a sequence")
        if dry:
            return ClassDef("", kind, "")
        cls = ClassDef(self._name(key, suffix), kind, self._doc(key), body=body)
        return self._finish(cls, cand, {k: scopes[k] for k in among})

    def _finish(self, cls: ClassDef, cand: Candidates, scopes: dict[int, Scope]) -> ClassDef:
        """A resolved class: its parameters, the exported network's instances (for the shape
        comments), each instance's constructor arguments."""
        cls.base = {k for k, s in scopes.items() if id(s) in self.base}
        cls.params = self._params(cand)
        ports = {self.flow.get(id(s), ((), ())) for s in scopes.values()}
        if len(ports) != 1:
            raise Mismatch("instances that take or return different taps")
        cls.imports, cls.exports = ports.pop()
        if (cls.imports or cls.exports) and cls.kind != "module":
            raise Mismatch("a class a tap crosses needs a forward of its own")
        if any(id(s) in self.base and s.kind == "network" for s in scopes.values()):
            cls.outputs, cls.inputs, cls.training = self.outputs, self.inputs, self.training
        cls.computed = [(p.name, cand.computed[p.name]) for p in cls.params
                        if p.name in cand.computed]
        first = next(iter(scopes.values()))
        if first.kind == "block":
            cls.block, cls.spec_names = first.title, dict(cand.spec_names)
            cls.width = self._derived(first.title, scopes.values())
        for k, scope in scopes.items():
            env = {**cand.env[k], **{n: v[k] for n, v in cand.new.items()}}
            values = {p.name: env[p.name] for p in cls.params}
            for name, _ in cls.computed:  # the default: left out by the caller
                if _defaulted(cand, name, k, values[name]):
                    values[name] = None
            self.of[id(scope)] = (cls, values)
            cls.widths.append((values, channels(scope.out_shape)))
        self.order.append(cls)
        return cls

    def _derived(self, block: str, scopes: Iterable[Scope]) -> tree.Expr | None:
        """The block's width derived from its definition, where it is every instance's and
        probe's output width (a derivation that misses one is not used, so never wrong)."""
        if self.deriver is None:
            self.deriver = Deriver(self.blocks)
        width = self.deriver.block(block)
        if width is None or any(
                derived_value(width, s.args, channels(s.in_shape)) != channels(s.out_shape)
                for s in scopes):
            return None
        return width

    def _cases(self, key: Key, scopes: list[Scope], rows: Rows) -> ClassDef:
        """One class for a block whose whole body is `if a {..} else {..}` and whose instances
        took different branches: each branch is built from the instances that took it, and the
        constructor decides with the spec's own tests (torchvision's `if use_res_connect`)."""
        defn = self.blocks.get(key[1]) if key[0] == "block" else None
        chain = branches(defn) if defn is not None else None
        if defn is None or chain is None:
            raise Mismatch("not a block of cases")
        every = dict(enumerate(scopes))
        cand = self._candidates(key, every)
        py = {p.name: py_name(p.name) for p in defn.params}
        tests = [python_text(c.test, py, cand.input) for c in chain]
        if any(t is None or len(t) > MAX_TEXT for t in tests):
            raise Mismatch("a test that does not translate to Python")
        taken: dict[int, list[int]] = {}
        for k, scope in every.items():
            case = case_of(chain, scope.args)
            if case is None:
                raise Mismatch("a test without a value")
            taken.setdefault(case, []).append(k)
        if len(taken) < 2:
            raise Mismatch("one case only")
        cand.cases = True  # every case is explained with the whole class's parameters
        cases: list[Case] = []
        for i, test in enumerate([*tests, None]):
            among = taken.get(i)
            if among is None:
                # the last `else` of a chain without one builds nothing: say so, it is faithful
                cases.append(Case(test, body=[] if i == len(chain) and not chain[-1].orelse
                                  else None))
                continue
            body = unify({k: rows[k] for k in among})
            explain_slots(cand, body, set(among), start(cand, set(among)))
            names = [n.name for n in body]
            plain = numbered(names) and all(map(is_module, body)) and _appendable(body)
            cases.append(Case(test, "sequential" if plain else "module", body))
        for t in tests:
            cand.used |= reads(str(t), cand.names())
        cand.new = {n: {k: v.get(k) for k in every} for n, v in cand.new.items()}
        cls = ClassDef(self._name(key, ""), "cases", self._doc(key),
                       body=[n for c in cases for n in c.body or []], cases=cases)
        return self._finish(cls, cand, every)

    def _counted(self, key: Key) -> bool:
        """A block whose body is one loop (or repetition) with a count its parameters give."""
        defn = self.blocks.get(key[1]) if key[0] == "block" else None
        body = [] if defn is None else [st for st in defn.body
                                         if not isinstance(st, (tree.Expect, tree.Assert))]
        if defn is None or len(body) != 1:
            return False
        st = body[0]
        bounds = (st.start, st.stop) if isinstance(st, tree.Loop) else \
            (st.count,) if isinstance(st, tree.Repeat) else ()
        params = {p.name for p in defn.params}
        return any(set(tree.names(e)) & params for e in bounds)

    def _loop(self, key: Key, scopes: list[Scope], rows: Rows) -> ClassDef:
        """One class for a block whose body is one repetition of differing length: an
        nn.Sequential subclass adding its children in a `for` loop (torchvision's stages)."""
        defn = self.blocks.get(key[1]) if key[0] == "block" else None
        body = [] if defn is None else [st for st in defn.body
                                         if not isinstance(st, (tree.Expect, tree.Assert))]
        if defn is None or (len(body) != 1 or not isinstance(body[0], (tree.Loop, tree.Repeat))) \
                and steps_of(defn) is None:
            raise Mismatch("not a block of one loop, nor of steps under tests")
        every = dict(enumerate(scopes))
        cand = self._candidates(key, every)
        ins, outs = {k: s.in_shape for k, s in every.items()}, \
            {k: s.out_shape for k, s in every.items()}
        if cand.input and steps_of(defn) is not None:
            node = sequence_of_steps(defn, cand, rows, ins, outs)
            cand.used.add(cand.input)  # the running width starts as it
        else:
            try:  # one template child first (`in_channels if i == 0 else c`)
                node = unify_loop("", dict(rows), outs)
                explain_slots(cand, [node], set(rows))
            except Mismatch:  # children of different kinds: the spec's `if` chain
                if not cand.input or chain_of(defn) is None:
                    raise
                cand = self._candidates(key, every)
                node = loop_of_cases(defn, cand, rows, ins, outs)
                cand.used.add(cand.input)
        return self._finish(ClassDef(self._name(key, ""), "loop", self._doc(key), body=[node]),
                            cand, every)

    def _candidates(self, key: Key, scopes: dict[int, Scope]) -> Candidates:
        defn = self._definition(key)
        params = defn.params if defn is not None else ()
        py = {p.name: py_name(p.name) for p in params}
        defaults: dict[str, str | None] = {}
        for p in params:
            lit = p.default.value if isinstance(p.default, tree.Lit) else None
            defaults[py[p.name]] = None if lit is None else _lit(lit)
        # (a group's `in` is not its owner's: the owner's is left out, so no expression over
        # it explains a size of the group's)
        args = {k: s.args if key[0] != "group" else
                {n: v for n, v in self.env.get(id(s), {}).items() if n != IN}
                for k, s in scopes.items()}
        env = {k: {py[n]: v for n, v in a.items() if n in py} for k, a in args.items()}
        if key == NETWORK:  # its input channels, a parameter of its own (python.py _render)
            first = next(iter(scopes.values()))
            if len(first.in_shape) not in (3, 4) or self.inputs or self.fixed_input:
                return Candidates(env, defaults, allow_new=False)
            inc = py_name("in_channels", set(defaults))
            defaults[inc] = None
            for k, s in scopes.items():
                env[k][inc] = s.in_shape[0]
            return Candidates(env, defaults, allow_new=False, input=inc, one_input=True)
        first = next(iter(scopes.values()))
        inc = py_name("in_channels" if len(first.in_shape) in (3, 4) else "in_features",
                      set(defaults))
        defaults[inc] = None
        for k, s in scopes.items():
            env[k][inc] = s.in_shape[0]
        spoken = (tests_of(defn, py, inc), values_of(defn, py, inc)) if defn is not None \
            else ([], [])
        return Candidates(env, defaults, input=inc, one_input=key[1:-1] == NETWORK,
                          tests=spoken[0], values=spoken[1],
                          literals=literals_of(defn) if defn is not None else set(),
                          scope_env=args, defn=defn,
                          spec_names=py, computed=_computed(key, params, py, inc))

    def _definition(self, key: Key) -> tree.Definition | None:
        """The definition a class's constructor takes the parameters of: the network's, a
        block's, or, for a group, those of the block (or network) it is written in."""
        while key[0] == "group":
            key = key[1:-1]  # its owner's key
        return self.network if key == NETWORK else self.blocks.get(key[1])

    def _params(self, c: Candidates) -> list[Param]:
        def typ(name: str) -> str:
            values = [env[name] for env in c.env.values()] if name in c.names() \
                else list(c.new[name].values())
            return type_text(values)
        wanted = set(c.used)
        for n in reversed(c.names()):  # what a computed default reads is a parameter too
            if n in wanted and n in c.computed:
                wanted |= reads(c.computed[n], c.names())
        used = [n for n in c.names() if n in wanted]
        inc = [n for n in used if n == c.input]  # the input size, when used, first
        required = [Param(n, typ(n)) for n in used if c.defaults[n] is None and n not in inc
                    and n not in c.computed]
        new = [Param(n, typ(n), keyword=True) for n in c.new]
        optional = [Param(n, typ(n), c.defaults[n], keyword=True) if n not in c.computed
                    else Param(n, _optional(typ(n)), "None", keyword=True)
                    for n in used if c.defaults[n] is not None or n in c.computed]
        return [*(Param(n, typ(n)) for n in inc), *required, *new, *optional]

    def _name(self, key: Key, suffix: str) -> str:
        base = camel(self.network.name if key == NETWORK else key[1] if key[0] == "block"
                     else "_".join(key[1:]).replace(".", "_")) + suffix
        name = py_name(base, self.taken)
        self.taken.add(name)
        return name

    def _doc(self, key: Key, children: bool = False) -> str:
        if key == NETWORK:
            return f"Network `{_signature(self.network)}`."
        if key[0] == "group":
            return f"The group `{key[-1]}` of {'/'.join(key[1:-1])}."
        defn = self.blocks[key[1]]
        where = "the archc prelude" if defn.span.path == "<prelude>" else \
            defn.span.path.rsplit("/", 1)[-1]
        text = f"Block `{_signature(defn)}` ({where}, line {defn.span.line})."
        return text + (" Its layers are passed in." if children else "")


def _appendable(body: list[TNode]) -> bool:
    """A numbered sequence an nn.Sequential subclass builds: its optional items, if any, are
    its last ones (appended under their tests, so the numbering stays the spec's)."""
    first = next((i for i, n in enumerate(body) if n.cond), len(body))
    return all(n.cond for n in body[first:]) and not any(map(optional_children, body))


def _optional(type_: str) -> str:
    return type_ if type_.endswith("| None") else f"{type_} | None"


def _defaulted(cand: Candidates, name: str, k: int, value: Any) -> bool:
    """Whether a computed parameter has its default's value in instance k."""
    spec = next((p for p in cand.defn.params if cand.spec_names.get(p.name) == name), None) \
        if cand.defn is not None else None
    if spec is None or spec.default is None or k not in cand.scope_env:
        return False
    return same_value(Test("", frozenset(), spec.default).value(cand.scope_env[k]), value)


def _computed(key: Key, params: tuple[tree.Param, ...], py: Mapping[str, str],
              inc: str) -> dict[str, str]:
    """A block's parameters whose default is an expression that Python can compute in the
    constructor (`q=c // 4` -> `if q is None: q = c // 4`), as Python text. A group's class is
    given its owner's values, computed there."""
    if key[0] != "block":
        return {}
    found = {}
    for p in params:
        if p.default is not None and not isinstance(p.default, tree.Lit):
            text = python_text(p.default, py, inc)
            if text is not None:
                found[py[p.name]] = text
    return found


def _structure(pieces: tuple[Piece, ...]) -> tuple:
    """What must be equal for instances to share a class with no condition: names, kinds,
    callees and classes, recursively (not argument values)."""
    out: list[Any] = []
    for p in pieces:
        if isinstance(p, PLayer):
            out.append((p.name, p.source.call))
        elif isinstance(p, PCall):
            out.append((p.name, id(p.cls)))
        elif isinstance(p, PSeq):
            out.append((p.name, id(p.cls), _structure(p.children)))
        elif isinstance(p, PWire):
            out.append((p.name,))
        else:
            out.append((p.name, p.op, tuple(_structure(b) for b in p.branches)))
    return tuple(out)


def _lit(value: Any) -> str:
    from archc.export.layout import literal

    return literal(value)


def _signature(defn: tree.Definition) -> str:
    from archc.expansion.messages import default_text, signature

    return signature(defn.name, [(p.name, default_text(p.default), p.default is None)
                                 for p in defn.params])
