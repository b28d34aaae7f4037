"""Stage 2 output, the resolved graph: every block, repetition and conditional expanded, every
layer with validated arguments and static shapes (archc/expand.py makes it; the emitters and
counters read it). Every node carries the source span it came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import Span

if TYPE_CHECKING:  # pydantic is imported by the op registry; `import archc` stays light
    from pydantic import BaseModel

Shape = tuple[int, ...]  # per-sample shape: (C, H, W) or (F,); the batch axis is implicit


class Ids(tuple):
    """The shape of a sequence of N integer token ids, each below `vocab` (`input
    tokens(N, vocab=V)`): (N,) as a tuple, so counting and printing read it as any shape, and
    marked, so that only an op taking ids (an embedding) accepts it."""

    vocab: int

    def __new__(cls, dims: tuple[int, ...], vocab: int) -> Ids:
        self = super().__new__(cls, dims)
        self.vocab = vocab
        return self

    def __reduce__(self):  # copy and pickle keep the vocabulary
        return (Ids, (tuple(self), self.vocab))



@dataclass(frozen=True)
class Layer:
    """One op instance with validated arguments and its inferred shapes."""

    name: str
    op: str
    args: BaseModel = field(hash=False)  # the op's validated argument model (ops.Args)
    in_shape: Shape
    out_shape: Shape
    span: Span


@dataclass(frozen=True)
class Join:
    """Parallel branches joined by `op`, a join of the registry (archc/joins.py), which also
    says what each branch is fed: the whole input (add, concat, mul) or a part (split).
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


@dataclass(frozen=True)
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


Node = Layer | Join | Scope


@dataclass(frozen=True)
class Network:
    """A checked network: the resolved tree plus what the spec says about it."""

    name: str
    root: Scope
    params: dict[str, Any] = field(hash=False)
    recipe: dict[str, Any] = field(hash=False)
    path: str = ""
    # the texts the network was loaded from, so that an error a later stage finds (build's
    # memory bound) renders its source line as a checking error does
    sources: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False,
                                       repr=False)

    @property
    def input_shape(self) -> Shape:
        return self.root.in_shape

    @property
    def output_shape(self) -> Shape:
        return self.root.out_shape


def walk(items: tuple[Node, ...], prefix: str = ""):
    """Yield (qualified_name, node) for every node, depth first, in execution order."""
    for node in items:
        qual = f"{prefix}{node.name}"
        yield qual, node
        if isinstance(node, Scope):
            yield from walk(node.items, qual + ".")
        elif isinstance(node, Join):
            for branch in node.branches:
                yield from walk(branch, prefix)
