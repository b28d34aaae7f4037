"""`archc import`, its second half: the statements read from a torch module (ops, joins,
groups, block calls, loops) written as spec text, with one `block` per Python class whose
parameters are the numbers that differ between its instances. Imports no torch."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .fmt.exprs import _keywords
from .fmt.exprs import label as label_text
from .ops import REGISTRY

# ----------------------------------------------------------------------------- statements


@dataclass
class Op:
    label: str | None
    text: str


@dataclass
class JoinStmt:
    op: str
    branches: list[list[Stmt]]


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
    block: str = ""  # the block it calls and the arguments, set when blocks are made
    args: list[str] = field(default_factory=list)
    name: str = ""  # the block's name, if not the class's


@dataclass
class Loop:
    """The body of a Sequential of blocks: a `for` loop where the calls repeat."""

    body: list[Stmt]


Stmt = Op | JoinStmt | Group | Instance | Loop


# ----------------------------------------------------------------------------- blocks

_NUMBER = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?(?:e-?\d+)?)(?![\w.:])")


def _snake(cls: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cls).lower()
    name = re.sub(r"\W", "_", name)
    # an op's or a keyword's name (`block`, `add`) cannot name a block
    return name if name not in REGISTRY and name not in _keywords() else f"{name}_"


class Blocks:
    """One block per class and structure: the numbers that differ between the instances of a
    class are its parameters; a class whose instances differ in structure gets a block per
    structure (`name`, `name_2`)."""

    def __init__(self, instances: dict[str, list[Instance]]):
        self.instances = instances
        self.defs: list[str] = []
        self.done: set[str] = set()

    def resolve(self, cls: str) -> None:
        if cls in self.done:
            return
        self.done.add(cls)
        variants: dict[str, list[tuple[Instance, list[str]]]] = {}
        for inst in self.instances[cls]:
            text = render(inst.body, self)
            template = _NUMBER.sub("#", text)
            variants.setdefault(template, []).append((inst, _NUMBER.findall(text)))
        for i, (template, group) in enumerate(variants.items()):
            name = _snake(group[0][0].name or cls) + (f"_{i + 1}" if i else "")
            self.defs.append(self.define(name, template, group))

    def define(self, name: str, template: str, group: list[tuple[Instance, list[str]]]) -> str:
        columns = list(zip(*(numbers for _, numbers in group), strict=True))
        params: dict[tuple[str, ...], str] = {}
        pieces = template.split("#")
        out = [pieces[0]]
        for i, column in enumerate(columns):
            if len(set(column)) == 1:
                out.append(column[0])
            else:
                if column not in params:
                    params[column] = _multiple(column, params) or \
                        _param_name(pieces[i], set(params.values()))
                out.append(params[column])
            out.append(pieces[i + 1])
        params = {c: n for c, n in params.items() if n.isidentifier()}
        for j, (inst, _) in enumerate(group):
            inst.block = name
            inst.args = [col[j] for col in params]
        names = list(params.values())
        head = f"block {name}" + (f"({', '.join(names)})" if names else "")
        self.param_names = names
        what = group[0][0].cls
        what = what if what.startswith("nn.") else f"class {what}"
        return f"# torch {what}\n{head} {{\n{''.join(out)}\n}}\n"

    def call(self, inst: Instance) -> str:
        self.resolve(inst.cls)
        return inst.block + (f"({', '.join(inst.args)})" if inst.args else "")


def _multiple(column: tuple[str, ...], params: dict[tuple[str, ...], str]) -> str | None:
    """`4 * c` (or `c // 4`) for a column that is a fixed multiple (or fraction) of a
    parameter's: a bottleneck's output width is four times its inner width, a squeeze width a
    quarter of the channels; so the block takes one width, not two."""
    if not all(v.isdigit() for v in column):
        return None
    for known, name in params.items():
        if name.isidentifier() and all(v.isdigit() and int(v) > 0 for v in known):
            pairs = list(zip(known, column, strict=True))
            ratios = {int(b) / int(a) for a, b in pairs}
            if len(ratios) == 1 and (k := ratios.pop()) == int(k) and k > 1:
                return f"{int(k)} * {name}"
            # a squeeze width: the parameter divided by a fixed factor, exactly
            inverse = {int(a) / int(b) if int(b) else 0 for a, b in pairs}
            if len(inverse) == 1 and (k := inverse.pop()) == int(k) and k > 1:
                return f"{name} // {int(k)}"
    return None


def _param_name(before: str, taken: set[str]) -> str:
    m = re.search(r"(\w+)=\(?[^=(]*$", before)
    base = "n" if before.rstrip().endswith("..") else m.group(1) if m else "c"
    base = {"out": "c"}.get(base, base)
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    return name


def render(stmts: list[Stmt], blocks: Blocks) -> str:
    return "\n".join(_render(s, blocks) for s in stmts)


def _loop(body: list[Stmt], blocks: Blocks) -> str | None:
    """A Sequential of n modules labelled 0..n-1, the same but for the first, as a loop (its
    iterations are named 0..n-1, as the Sequential's modules are): `for i in 0..n { ... }`."""
    labels = [getattr(s, "label", None) for s in body]
    if len(body) < 2 or labels != [str(i) for i in range(len(body))]:
        return None
    texts = [blocks.call(s) for s in body if isinstance(s, Instance)]
    if len(texts) != len(body) or len(set(texts[1:])) != 1:
        return None
    n = len(body)
    if len(set(texts)) == 1:
        return f"for i in 0 .. {n} {{\n{texts[1]}\n}}"
    return f"for i in 0 .. {n} {{\nif i == 0 {{\n{texts[0]}\n}} else {{\n{texts[1]}\n}}\n}}"


def _labelled(label: str | None, text: str) -> str:
    return f"{label_text(label)}: {text}" if label is not None else text


def _render(s: Stmt, blocks: Blocks) -> str:
    if isinstance(s, Op):
        return _labelled(s.label, s.text)
    if isinstance(s, JoinStmt):
        return f"{s.op} {{\n" + "\n|\n".join(render(b, blocks) for b in s.branches) + "\n}"
    if isinstance(s, Loop):
        return _loop(s.body, blocks) or render(s.body, blocks)
    if isinstance(s, Group):
        return _labelled(s.label, "{\n" + render(s.body, blocks) + "\n}")
    return _labelled(s.label, blocks.call(s))
