"""`archc import`, its second half: the statements read from a torch module (ops, joins,
groups, block calls, loops) written as spec text, with one `block` per Python class whose
parameters are what differs between its instances. Imports no torch. (Over 400 lines: one
renderer, the block merge and the loops it writes read together.)"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, cast

from archc.fmt.exprs import _keywords
from archc.fmt.exprs import label as label_text
from archc.importer.torch_calls import (
    PARAM,
    REQUIRED,
    OpCall,
    arglist,
    default_of,
    same_value,
    value_text,
)
from archc.registry.ops import REGISTRY

# ----------------------------------------------------------------------------- statements


@dataclass
class Op:
    label: str | None
    call: OpCall


@dataclass
class JoinStmt:
    op: str
    branches: list[list[Stmt]]
    label: str | None = None  # ASPP's `convs: concat {...}` (the branches are its modules)


@dataclass
class Wire:
    """`tap NAME`, `from NAME` or `output NAME`: a named value (the fx node it is, until the
    importer names it)."""

    kind: str  # 'tap' | 'from' | 'output'
    name: str = ""
    node: Any = None

    def text(self) -> str:
        return f"{self.kind} " + (self.name if self.name.isidentifier() else f'"{self.name}"')


@dataclass
class Group:
    label: str
    body: list[Stmt]


@dataclass
class Instance:
    """One call of a module of a user class: becomes a call of that class's block."""

    label: str
    cls: str
    body: list[Stmt]
    block: str = ""  # the block it calls, set when blocks are made
    args: list[Any] = field(default_factory=list)  # a value per parameter of the block
    name: str = ""  # the block's name, if not the class's
    in_c: int | None = None  # the channels of its input (CxHxW), when known


@dataclass
class Loop:
    """The body of a Sequential of blocks: a `for` loop where the calls repeat."""

    body: list[Stmt]


Stmt = Op | JoinStmt | Group | Instance | Loop | Wire


# ----------------------------------------------------------------------------- parameters

_ABSENT = object()  # an instance that does not reach this statement (under a false `if`)


class _Unmergeable(Exception):
    """Instances whose structure differs in more than values and optional statements."""


@dataclass
class _Param:
    name: str
    column: tuple[Any, ...]  # its value in each instance
    default: Any = REQUIRED


class _Params:
    """The parameters of one block: a column of values (one per instance) becomes a parameter
    where the values differ; a column equal to a known one (where both are reached) reuses it,
    and a fixed multiple or fraction of a width is written so (`4 * c`, `c // 4`)."""

    def __init__(self, k: int):
        self.k = k
        self.params: list[_Param] = []

    def text(self, column: tuple[Any, ...], hint: str, default: Any = REQUIRED) \
            -> tuple[str, Any]:
        """The text of the value and the value itself (or PARAM where it is a parameter)."""
        present = [v for v in column if v is not _ABSENT]
        if all(same_value(v, present[0]) and type(v) is type(present[0]) for v in present):
            return value_text(present[0]), present[0]
        if all(isinstance(v, (tuple, int)) and not isinstance(v, bool) for v in present) and \
                any(isinstance(v, tuple) for v in present):
            return self._tuple(column, hint), PARAM
        if not all(_scalar(v) and type(v) is type(present[0]) for v in present):
            raise _Unmergeable(f"{hint}: {present}")
        for p in self.params:
            if all(v is _ABSENT or (p.column[j] == v and type(p.column[j]) is type(v))
                   for j, v in enumerate(column)):
                return p.name, PARAM
        multiple = self._multiple(column)
        if multiple:
            return multiple, PARAM
        filled = tuple(present[0] if v is _ABSENT else v for v in column)
        param = _Param(self._name(hint), filled, default if default in present else REQUIRED)
        self.params.append(param)
        return param.name, PARAM

    def _tuple(self, column: tuple[Any, ...], hint: str) -> str:
        pairs: list[Any] = [v if v is _ABSENT or isinstance(v, tuple) else (v, v)
                            for v in column]
        sizes = {len(v) for v in pairs if v is not _ABSENT}
        if len(sizes) != 1:
            raise _Unmergeable(f"{hint}: tuples of lengths {sizes}")
        parts = [self.text(tuple(_ABSENT if v is _ABSENT else v[i] for v in pairs),
                           f"{hint}{i + 1}")[0] for i in range(sizes.pop())]
        return f"({', '.join(parts)})"

    def _multiple(self, column: tuple[Any, ...]) -> str | None:
        """`4 * c` (or `c // 4`) for a column that is a fixed multiple (or fraction) of a
        parameter's: a bottleneck's output width is four times its inner width, a squeeze width
        a quarter of the channels; so the block takes one width, not two."""
        for p in self.params:
            pairs = [(a, b) for a, b in zip(p.column, column, strict=True) if b is not _ABSENT]
            if not all(type(a) is int and type(b) is int and a > 0 and b > 0 for a, b in pairs):
                continue
            ratios = {b / a for a, b in pairs}
            if len(ratios) == 1 and (k := ratios.pop()) == int(k) and k > 1:
                return f"{int(k)} * {p.name}"
            inverse = {a / b for a, b in pairs}
            if len(inverse) == 1 and (k := inverse.pop()) == int(k) and k > 1 and \
                    all(a // int(k) == b for a, b in pairs):
                return f"{p.name} // {int(k)}"
            if len(pairs) > 1 and all(a // 2 == b for a, b in pairs):  # `pad=k // 2`
                return f"{p.name} // 2"
        return None

    def _name(self, hint: str) -> str:
        base = {"out": "c"}.get(hint, hint)
        if not base.isidentifier() or base in REGISTRY or base in _keywords():
            base = f"has_{base}" if base.isidentifier() else "p"
        taken = {p.name for p in self.params}
        name, n = base, 2
        while name in taken:
            name, n = f"{base}{n}", n + 1
        return name

    def head(self) -> list[_Param]:
        """Parameters in the order a block lists them: the required ones first."""
        params = [p for p in self.params if p.name != "in.c"]
        return [p for p in params if p.default is REQUIRED] + \
            [p for p in params if p.default is not REQUIRED]


def _scalar(v: Any) -> bool:
    return isinstance(v, (bool, int, float))


# ----------------------------------------------------------------------------- blocks


def _snake(cls: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cls).lower()
    name = re.sub(r"\W", "_", name)
    # an op's or a keyword's name (`block`, `add`) cannot name a block
    return name if name not in REGISTRY and name not in _keywords() else f"{name}_"


@dataclass
class _Block:
    name: str
    params: list[_Param]


class Blocks:
    """One block per class: what differs between its instances (values, statements only some
    have) are its parameters; instances that differ otherwise get a block per kind (`name`,
    `name_2`)."""

    def __init__(self, instances: dict[str, list[Instance]]):
        self.instances = instances
        self.defs: list[str] = []
        self.done: dict[str, dict[int, _Block]] = {}  # class -> id(instance) -> its block

    def resolve(self, cls: str) -> None:
        if cls in self.done:
            return
        self.done[cls] = {}
        clusters: list[list[Instance]] = []
        for inst in self.instances[cls]:
            for cluster in clusters:
                try:
                    self._merge(cluster + [inst])
                except _Unmergeable:
                    continue
                cluster.append(inst)
                break
            else:
                clusters.append([inst])
        for i, cluster in enumerate(clusters):
            name = _snake(cluster[0].name or cls) + (f"_{i + 1}" if i else "")
            body, params = self._merge(cluster)
            block = _Block(name, params.head())
            for j, inst in enumerate(cluster):
                inst.block = name
                inst.args = [p.column[j] for p in block.params]
                self.done[cls][id(inst)] = block
            heads = [p.name if p.default is REQUIRED else f"{p.name}={value_text(p.default)}"
                     for p in block.params]
            head = f"block {name}" + (f"({', '.join(heads)})" if heads else "")
            what = cluster[0].cls if cluster[0].cls.startswith("nn.") else \
                f"class {cluster[0].cls}"
            self.defs.append(f"# torch {what}\n{head} {{\n{body}\n}}\n")

    def _merge(self, cluster: list[Instance]) -> tuple[str, _Params]:
        params = _Params(len(cluster))
        if all(inst.in_c for inst in cluster):  # a width equal to the input's: left to inference
            params.params.append(_Param("in.c", tuple(inst.in_c for inst in cluster)))
        merger = _Merger(self, params)
        body = merger.stmts([(j, inst.body) for j, inst in enumerate(cluster)])
        # statements under an `if` are for a small difference (ResNet's downsample); instances
        # that share less than they differ read better as two blocks
        if 2 * merger.optional > max(_ops(inst.body) for inst in cluster):
            raise _Unmergeable("more optional than shared")
        return body, params

    def block(self, inst: Instance) -> _Block:
        self.resolve(inst.cls)
        return self.done[inst.cls][id(inst)]


def render(stmts: list[Stmt], blocks: Blocks) -> str:
    """The statements of one scope (the network's body) as spec text."""
    return _Merger(blocks, _Params(1)).stmts([(0, stmts)])


Rows = list[tuple[int, list[Stmt]]]  # (instance index, its statements) for the instances here


class _Merger:
    """Writes the statements of k instances at once, as one text: the values that differ become
    parameters, a statement only some instances have goes under an `if` on a flag."""

    def __init__(self, blocks: Blocks, params: _Params):
        self.blocks, self.params = blocks, params
        self.optional = 0  # ops under an `if`

    def column(self, rows: list[tuple[int, Any]]) -> tuple[Any, ...]:
        out: list[Any] = [_ABSENT] * self.params.k
        for j, v in rows:
            out[j] = v
        return tuple(out)

    def stmts(self, rows: Rows) -> str:
        keyed = [(j, [(_key(s, body), s) for s in body]) for j, body in rows]
        order = _union([[k for k, _ in ks] for _, ks in keyed])
        out: list[str] = []
        for key in order:
            here = [(j, s) for j, ks in keyed for k, s in ks if k == key]
            text = self.stmt(here)
            if len(here) < len(rows):  # an optional statement: `if flag { ... }`
                present = {j for j, _ in here}
                flag, _ = self.params.text(self.column([(j, j in present) for j, _ in rows]),
                                           key[1] if key[0] == "label" else "flag", False)
                text = f"if {flag} {{\n{text}\n}}"
                self.optional += max(_ops([s]) for _, s in here)
            out.append(text)
        return "\n".join(out)

    def stmt(self, rows: list[tuple[int, Stmt]]) -> str:
        first = rows[0][1]
        if any(type(s) is not type(first) for _, s in rows):
            raise _Unmergeable("statement kinds")
        if isinstance(first, Op):
            return _labelled(first.label, self.op(rows))
        if isinstance(first, Wire):
            if any(s.text() != first.text() for _, s in rows):  # type: ignore
                raise _Unmergeable("wires")
            return first.text()
        if isinstance(first, JoinStmt):
            n = len(first.branches)
            if any(len(s.branches) != n or s.op != first.op for _, s in rows):  # type: ignore
                raise _Unmergeable("joins")
            branches = [self.stmts([(j, s.branches[b]) for j, s in rows])  # type: ignore
                        for b in range(n)]
            return _labelled(first.label, f"{first.op} {{\n" + "\n|\n".join(branches)
                             + "\n}")
        if isinstance(first, Group):
            return _labelled(first.label, "{\n" + self.stmts(
                [(j, s.body) for j, s in rows]) + "\n}")  # type: ignore
        if isinstance(first, Loop):
            return self.loop([(j, s.body) for j, s in rows])  # type: ignore
        return _labelled(first.label, self.call(rows))  # type: ignore

    def op(self, rows: list[tuple[int, Stmt]]) -> str:
        calls = [(j, s.call) for j, s in rows]  # type: ignore
        name = calls[0][1].op
        if any(c.op != name for _, c in calls):
            raise _Unmergeable("ops")
        args = []
        for arg in REGISTRY[name].args.model_fields:
            if not any(arg in c.args for _, c in calls):
                continue
            default = default_of(name, arg)
            column = self.column([(j, c.args.get(arg, default)) for j, c in calls])
            text, value = self.params.text(column, arg, default)
            args.append((arg, text, default, value))
        return name + arglist(args, name)

    def call(self, rows: list[tuple[int, Instance]]) -> str:
        blocks = [(j, self.blocks.block(inst), inst) for j, inst in rows]
        block = blocks[0][1]
        if any(b is not block for _, b, _ in blocks):
            raise _Unmergeable("blocks")
        args = []
        for i, p in enumerate(block.params):
            column = self.column([(j, inst.args[i]) for j, _, inst in blocks])
            text, value = self.params.text(column, p.name, p.default)
            args.append((p.name, text, p.default, value))
        return block.name + arglist(args, None)

    def loop(self, rows: Rows) -> str:
        """A Sequential of n block calls labelled 0..n-1 (or `layer_0`..: `"layer_{i}"`), the
        same but for the first, as `for i in 0..n { if i == 0 { first } else { rest } }` (its
        iterations are named as the Sequential's modules are)."""
        shapes = [_loop_shape(body, self.blocks) for _, body in rows]
        if not all(s is not None for s in shapes):
            if any(s is not None for s in shapes):
                raise _Unmergeable("loops")
            return self.stmts(rows)
        if len(set(shapes)) != 1:
            raise _Unmergeable("loop labels")
        prefix, start = cast("tuple[str, int]", shapes[0])
        label = f'"{prefix}{{i}}": ' if prefix else ""
        first = label + self.call([(j, body[0]) for j, body in rows])  # type: ignore
        rest = label + self.call([(j, body[1]) for j, body in rows])  # type: ignore
        n, _ = self.params.text(self.column([(j, len(body)) for j, body in rows]), "n")
        head = f"for i in 0 .. {n}" if not start else \
            f"for i in 1 .. {int(n) + 1 if n.isdigit() else f'{n} + 1'}"
        if first == rest:
            return f"{head} {{\n{rest}\n}}"
        return f"{head} {{\nif i == {start} {{\n{first}\n}} else {{\n{rest}\n}}\n}}"


def _ops(stmts: list[Stmt]) -> int:
    """The ops a list of statements holds, in its groups and joins too (a block call: one)."""
    n = 0
    for s in stmts:
        if isinstance(s, JoinStmt):
            n += sum(_ops(b) for b in s.branches)
        elif isinstance(s, (Group, Loop)):
            n += _ops(s.body)
        else:
            n += 1
    return n


def loop_labels(labels: list[str]) -> tuple[str, int] | None:
    """(prefix, first number) of labels numbered as a loop names its iterations: 0..n-1, or a
    name's prefix then 0..n-1 or 1..n (`encoder_layer_0`.., `denselayer1`..); else None (RegNet's
    `block2-0` is no name: its labels stay as they are)."""
    if len(labels) < 2:
        return None
    start = 1 if labels[0].endswith("1") and labels[0][:-1] else 0
    prefix = labels[0][:-1] if labels[0].endswith(str(start)) else ""
    if labels != [f"{prefix}{i + start}" for i in range(len(labels))] or \
            not re.fullmatch(r"(?:[A-Za-z_](?:\w*[A-Za-z_])?)?", prefix):
        return None
    return prefix, start


def numbered(body: list[Stmt]) -> bool:
    """Whether `body` is block calls labelled as a loop names its iterations."""
    return all(isinstance(b, Instance) for b in body) and \
        loop_labels([str(getattr(b, "label", "")) for b in body]) is not None


def _loop_shape(body: list[Stmt], blocks: Blocks) -> tuple[str, int] | None:
    """The labels' prefix and first number ('', 0 for 0..n-1; `layer_`, 0 for layer_0..: the
    Encoder of torchvision's ViT; `denselayer`, 1 for denselayer1..n: its DenseNet) of a body
    that is one block called n times, the same but for the first; else None."""
    numbering = loop_labels([str(getattr(s, "label", None)) for s in body])
    if numbering is None or not all(isinstance(s, Instance) for s in body):
        return None
    prefix, start = numbering
    calls = [(blocks.block(s).name, s.args) for s in body]  # type: ignore
    return (prefix, start) if all(c == calls[1] for c in calls[2:]) else None


def _key(s: Stmt, body: list[Stmt]) -> tuple[str, Any]:
    """What aligns a statement with its counterpart in another instance: its label, else its
    kind and its place among the unlabelled statements of its kind."""
    label = getattr(s, "label", None)
    if label is not None:
        return ("label", label)
    kind = _kind(s)
    same = [t for t in body if getattr(t, "label", None) is None and _kind(t) == kind]
    return ("kind", (kind, next(i for i, t in enumerate(same) if t is s)))


def _kind(s: Stmt) -> str:
    return s.call.op if isinstance(s, Op) else s.op if isinstance(s, JoinStmt) else \
        s.text() if isinstance(s, Wire) else type(s).__name__


def _union(orders: list[list[Any]]) -> list[Any]:
    """One order of keys that keeps every instance's order (a statement an instance lacks is
    placed after its predecessor in the instances that have it)."""
    out: list[Any] = []
    for keys in sorted(orders, key=len, reverse=True):
        prev = -1
        for key in keys:
            if key in out:
                if out.index(key) < prev:
                    raise _Unmergeable("statement order")
                prev = out.index(key)
            else:
                prev += 1
                out.insert(prev, key)
    return out


def _labelled(label: str | None, text: str) -> str:
    return f"{label_text(label)}: {text}" if label is not None else text
