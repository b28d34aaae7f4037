"""Stage 2 output, the resolved graph: every block, repetition and conditional expanded, every
layer with validated arguments and static shapes (archc/expansion/expand.py makes it; the emitters
and counters read it). Every node carries the source span it came from."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import field
from itertools import chain
from typing import TYPE_CHECKING, Any, TypeVar

from archc.core.errors import Span
from archc.core.records import record

if TYPE_CHECKING:
    from archc.core.schema import Args

Shape = tuple[int, ...]  # per-sample shape: (C, H, W) or (F,); the batch axis is implicit
# what --input and the API's input_shape override: the (first) input's shape, or named
# inputs' shapes by name (`{"mask": (1, 64, 64)}`)
InputShape = Shape | Mapping[str, Shape]


class Ids(tuple):
    """The shape of a sequence of N integer token ids, each below `vocab` (`input
    tokens(N, vocab=V)`): (N,) as a tuple, so counting and printing read it as any shape, and
    marked, so that only an op taking ids (an embedding) accepts it."""

    vocab: int

    def __new__(cls, dims: tuple[int, ...], vocab: int) -> Ids:
        self = super().__new__(cls, dims)
        self.vocab = vocab
        return self

    def __reduce__(self) -> tuple[type[Ids], tuple[tuple[int, ...], int]]:
        return (Ids, (tuple(self), self.vocab))  # copy and pickle keep the vocabulary



@record
class Layer:
    """One op instance with validated arguments and its inferred shapes."""

    name: str
    op: str
    args: Args = field(hash=False)  # the op's validated arguments (archc/core/schema.py)
    in_shape: Shape
    out_shape: Shape
    span: Span


@record
class Join:
    """Parallel branches joined by `op`, a join of the registry (archc/registry/joins.py), which
    also says what each branch is fed: the whole input (add, concat, mul) or a part (split).
    `inputs` holds each branch's input shape; () means every branch gets `in_shape`."""

    name: str
    op: str
    branches: tuple[tuple[Node, ...], ...]
    in_shape: Shape
    out_shape: Shape
    span: Span
    inputs: tuple[Shape, ...] = ()

    @property
    def branch_inputs(self) -> tuple[Shape, ...]:
        return self.inputs or (self.in_shape,) * len(self.branches)

    @property
    def branch_outputs(self) -> tuple[Shape, ...]:
        """Each branch's output shape (an empty branch passes its input through)."""
        return tuple(b[-1].out_shape if b else i
                     for b, i in zip(self.branches, self.branch_inputs, strict=True))


@record
class Scope:
    """A named level of the module tree: the network, a block instance, a labelled group or a
    repetition. Its items run in sequence."""

    name: str
    kind: str  # 'network' | 'block' | 'group' | 'repeat'
    title: str  # what it is: the block's name for a block instance, else its kind
    items: tuple[Node, ...]
    in_shape: Shape
    out_shape: Shape
    span: Span
    # the parameters bound by a block instance or the network, defaults included (what the
    # exporter compares to find what varies between the instances of a block); else empty
    args: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@record
class Wire:
    """`tap low` (op 'tap': stores the current value as `key`), `from low` (op 'from': the
    current value becomes tap `key`'s), `output out` (op 'output': the current value is the
    network's output `key`). Not a module: its name is empty and it holds no parameters. A tap
    and its uses may sit in different scopes; the emitters route the value between them."""

    op: str  # 'tap' | 'from' | 'output'
    key: str
    in_shape: Shape
    out_shape: Shape
    span: Span
    name: str = ""
    # `output aux training`: train mode only (archc/expansion/training_only.py)
    training: bool = False

    @property
    def text(self) -> str:
        return f"{self.op} {self.key}" + (" training" if self.training else "")


Node = Layer | Join | Scope | Wire
N = TypeVar("N", bound=Layer | Join | Scope | Wire)


def changed(node: N, **fields: Any) -> N:
    """`dataclasses.replace` for a node (expansion renames every node it makes): the nodes have
    no `__post_init__` and no init-only fields, so a copy of the instance's attributes is the
    same object, made without replace's per-field `__init__` call (3x the time)."""
    if not fields.keys() <= node.__dataclass_fields__.keys():
        raise TypeError(f"{type(node).__name__} has no field "
                        f"{sorted(fields.keys() - node.__dataclass_fields__.keys())}")
    new = object.__new__(type(node))
    new.__dict__.update(node.__dict__)
    new.__dict__.update(fields)
    return new


@record
class Network:
    """A checked network: the resolved tree plus what the spec says about it."""

    name: str
    root: Scope
    params: dict[str, Any] = field(hash=False)
    recipe: dict[str, Any] = field(hash=False)
    path: str = ""
    # `output NAME` statements, in order, with their shapes: the network returns a dict of
    # them (as torchvision's segmentation models do); empty: it returns its last value
    outputs: dict[str, Shape] = field(default_factory=dict, hash=False)
    # `input image 3x224x224`, `input mask 1x224x224`: the named inputs in order, the body
    # starting from the first (forward(image, mask)); empty: one unnamed input (forward(x))
    inputs: dict[str, Shape] = field(default_factory=dict, hash=False)
    # the texts the network was loaded from, so that an error a later stage finds (build's
    # memory bound) renders its source line as a checking error does
    sources: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False,
                                       repr=False)

    @property
    def training_outputs(self) -> tuple[str, ...]:
        """The outputs only train mode computes (`output aux training`), in order."""
        return tuple(n.key for n in self.root.items
                     if isinstance(n, Wire) and n.op == "output" and n.training)

    @property
    def input_shape(self) -> Shape:
        return self.root.in_shape

    @property
    def output_shape(self) -> Shape:
        return self.root.out_shape


def flows(root: Scope) -> dict[int, tuple[tuple[str, ...], tuple[str, ...]]]:
    """For each scope holding a wire (by id): the taps it reads from outside (`from` of a tap
    made elsewhere) and the values it hands out (taps read elsewhere, outputs), in order. A
    value is routed `tap:NAME` / `output:NAME`. Empty for a network without wires."""
    uses: dict[str, int] = {}
    for n in nodes(root.items):
        if isinstance(n, Wire) and n.op == "from":
            uses[n.key] = uses.get(n.key, 0) + 1
    result: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {}

    def visit(items: tuple[Node, ...]) -> tuple[list[str], dict[str, int]]:
        made: list[str] = []
        read: dict[str, int] = {}
        for n in items:
            if isinstance(n, Wire):
                if n.op == "from":
                    read[n.key] = read.get(n.key, 0) + 1
                else:
                    made.append(f"{n.op}:{n.key}")
            elif isinstance(n, Scope):
                inner_made, inner_read = visit(n.items)
                for k, c in inner_read.items():
                    read[k] = read.get(k, 0) + c
                made += inner_made
                if inner_made or inner_read:
                    own = {k.split(":", 1)[1] for k in inner_made if k.startswith("tap:")}
                    result[id(n)] = (
                        tuple(f"tap:{k}" for k in inner_read if k not in own),
                        tuple(k for k in inner_made if k.startswith("output:")
                              or uses.get(k[4:], 0) > inner_read.get(k[4:], 0)))
            elif isinstance(n, Join):
                for branch in n.branches:
                    inner_made, inner_read = visit(branch)
                    made += inner_made
                    for k, c in inner_read.items():
                        read[k] = read.get(k, 0) + c
        return made, read

    visit(root.items)
    return result


def nodes(items: tuple[Node, ...]) -> Iterator[Node]:
    """Every node, depth first, in execution order, as `walk` yields them, without making
    their qualified names (what a pass that reads no name would pay for every node)."""
    stack: list[Iterator[Node]] = [iter(items)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            continue
        yield node
        if isinstance(node, Scope):
            stack.append(iter(node.items))
        elif isinstance(node, Join):
            stack.append(chain.from_iterable(node.branches))


def walk(items: tuple[Node, ...], prefix: str = "") -> Iterator[tuple[str, Node]]:
    """Yield (qualified_name, node) for every node, depth first, in execution order. (A stack
    of iterators, not nested generators: each `yield from` level re-yields every node below
    it, and a network is walked several times per check.)"""
    stack: list[tuple[Iterator[Node], str]] = [(iter(items), prefix)]
    while stack:
        nodes, prefix = stack[-1]
        node = next(nodes, None)
        if node is None:
            stack.pop()
            continue
        # a wire is not a module: it is shown as what it does (`body.tap:low`)
        qual = f"{prefix}{node.op}:{node.key}" if isinstance(node, Wire) else \
            f"{prefix}{node.name}"
        yield qual, node
        if isinstance(node, Scope):
            stack.append((iter(node.items), qual + "."))
        elif isinstance(node, Join):
            stack.append((chain.from_iterable(node.branches), prefix))  # in turn, one prefix
