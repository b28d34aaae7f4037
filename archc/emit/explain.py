"""Stage 3 helper for archc/emit/python.py: what a class's constructor takes. Every slot of a
template (archc/emit/unify.py) that differs between the instances is explained by the
candidates the class can see (the block's parameters, its input channels) or simple expressions
over them (`4 * c`, `c // 2`, `in_channels + 32`, `not first`, `in_channels != c`); a slot
nothing explains becomes a parameter of its own. A slot equal in every instance is a literal:
the constructor takes what varies between the instances, and nothing else."""

from __future__ import annotations

import keyword
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ..ops import same_value
from .layout import literal
from .unify import Mismatch, Slot, SlotTree, SubCall, TCall, TJoin, TLayer, TNode, TSeq

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
class ClassDef:
    """One generated class: `module` (submodules as attributes, a forward), `sequential` (an
    nn.Sequential subclass building its children) or `children` (an nn.Sequential subclass
    given its children by the caller)."""

    name: str
    kind: str
    doc: str
    params: list[Param] = field(default_factory=list)
    body: list[TNode] = field(default_factory=list)
    base: set[int] = field(default_factory=set)  # the exported network's instances (shapes)


@dataclass
class Candidates:
    """What a class's constructor could take: name -> value per instance, in preference order,
    and each name's declared default (source text) where it has a literal one."""

    env: dict[int, dict[str, Any]]
    defaults: dict[str, str | None]
    allow_new: bool = True  # False for the network: its parameters are the spec's
    input: str = ""  # the name standing for the input size (`in_channels`), if any
    used: set[str] = field(default_factory=set)
    new: dict[str, dict[int, Any]] = field(default_factory=dict)

    def names(self) -> list[str]:
        return list(self.defaults)


def _is_int(v: Any) -> bool:
    return type(v) is int


Form = tuple[str, set[str], Callable[[dict[str, Any]], Any]]  # text, names used, value of env


def _forms(c: Candidates, values: dict[int, Any]) -> Iterator[Form]:
    """Candidate expressions for `values`, most direct first; constants are read off the first
    instance (or, for a test, the first instance where it is false)."""
    names = c.names()
    k0 = next(iter(values))
    target = values[k0]
    for p in names:
        yield p, {p}, partial(_get, p=p)
    ints = [p for p in names if _is_int(c.env[k0][p])]
    if _is_int(target):
        for p in ints:
            v0 = c.env[k0][p]
            if v0 and target % v0 == 0 and target // v0 > 1:
                yield f"{target // v0} * {p}", {p}, partial(_times, p=p, r=target // v0)
            if target and v0 % target == 0 and v0 // target > 1:
                yield f"{p} // {v0 // target}", {p}, partial(_over, p=p, r=v0 // target)
            if target != v0:
                d = target - v0
                yield (f"{p} + {d}" if d > 0 else f"{p} - {-d}"), {p}, partial(_plus, p=p, d=d)
    if isinstance(target, bool):
        for p in names:
            if isinstance(c.env[k0][p], bool):
                yield f"not {p}", {p}, partial(_not, p=p)
        for i, p in enumerate(ints):
            for q in ints[i + 1:]:
                yield f"{p} != {q}", {p, q}, partial(_differ, p=p, q=q)
        off = next((k for k, v in values.items() if v is False), k0)
        for p in ints:
            yield f"{p} != {c.env[off][p]}", {p}, partial(_is_not, p=p, v=c.env[off][p])


def _get(env: dict[str, Any], p: str) -> Any:
    return env[p]


def _times(env: dict[str, Any], p: str, r: int) -> Any:
    return r * env[p]


def _over(env: dict[str, Any], p: str, r: int) -> Any:
    return env[p] // r


def _plus(env: dict[str, Any], p: str, d: int) -> Any:
    return env[p] + d


def _not(env: dict[str, Any], p: str) -> Any:
    return not env[p]


def _differ(env: dict[str, Any], p: str, q: str) -> Any:
    return env[p] != env[q]


def _is_not(env: dict[str, Any], p: str, v: Any) -> Any:
    return env[p] != v


def explain_value(c: Candidates, values: dict[int, Any], hint: str,
                  literal_ok: bool = True, new_ok: bool = True) -> str:
    """How to write a value that is `values[k]` in instance k."""
    first = next(iter(values.values()))
    if literal_ok and all(same_value(v, first) for v in values.values()):
        return _varying_param(c, values, first) or literal(first)
    for text, used, value in _forms(c, values):
        try:
            if all(same_value(value(c.env[k]), v) for k, v in values.items()):
                c.used |= used
                return text
        except (TypeError, ZeroDivisionError):
            continue
    if not (c.allow_new and new_ok):
        raise Mismatch(f"{hint}: nothing explains {list(values.values())}")
    if set(values) != set(c.env):
        raise Mismatch(f"{hint}: differs between the instances that have it")
    name = py_name(hint, set(c.defaults) | set(c.new))
    c.new[name] = dict(values)
    return name


def _varying_param(c: Candidates, values: dict[int, Any], value: Any) -> str | None:
    """In a part only some instances have, a number constant there may still be a parameter
    that varies over the class (a shortcut conv's `stride` where only strided blocks have one):
    name it, as the spec does. Booleans are left literal (`bias=True` is no parameter)."""
    if set(values) == set(c.env) or isinstance(value, bool) or \
            not isinstance(value, (int, float)):
        return None
    for p in c.names():
        column = [env[p] for env in c.env.values()]
        if not all(same_value(v, column[0]) for v in column) and \
                all(same_value(c.env[k][p], value) for k in values):
            c.used.add(p)
            return p
    return None


def explain_slots(c: Candidates, nodes: list[TNode], among: set[int]) -> None:
    """Set every slot's expression and every optional node's condition, in place."""
    for node in nodes:
        if set(node.present) != among:
            if not isinstance(node, (TLayer, TCall, TSeq)):
                raise Mismatch(f"'{node.name}': a join present in some instances only")
            node.cond = explain_value(c, {k: k in node.present for k in among},
                                      node.name, literal_ok=False, new_ok=False)
        if isinstance(node, TLayer):
            for tree in [*node.args, *node.kwargs.values()]:
                _explain_tree(c, tree)
        elif isinstance(node, TCall):
            for slot in node.args.values():
                _explain_tree(c, slot)
        elif isinstance(node, TSeq):
            explain_slots(c, node.children, set(node.present))
        elif isinstance(node, TJoin):
            for branch in node.branches:
                explain_slots(c, branch, set(node.present))


def _explain_tree(c: Candidates, tree: SlotTree) -> None:
    if isinstance(tree, Slot):
        tree.expr = explain_value(c, tree.values, tree.hint)
    elif isinstance(tree, SubCall):
        for sub in [*tree.args, *tree.kwargs.values()]:
            _explain_tree(c, sub)
    else:
        for sub in tree:
            _explain_tree(c, sub)


def type_text(values: list[Any]) -> str:
    kinds = {type(v) for v in values}
    nullable = type(None) in kinds
    kinds.discard(type(None))
    if kinds == {int, float}:
        kinds = {float}
    names = sorted(k.__name__ if k is not tuple else "tuple" for k in kinds) or ["None"]
    text = " | ".join(names)
    return f"{text} | None" if nullable and kinds else text
