"""Stage 3, resolved graph -> training memory: the bytes autograd keeps for backward in one
forward pass, exactly, from the saved-for-backward rules of the op and join records
(archc/core/saving.py), with storage shared as torch shares it (a view keeps its base alive; a
tensor kept by two ops is kept once); then the parameters, gradients and optimizer state of
a training step. No torch here."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archc.core import codes
from archc.core.errors import ArchcError
from archc.core.graph import Ids, Join, Layer, Network, Node, Scope, Wire
from archc.core.saving import ACT, CONTIGUOUS, FIXED_BYTES, MODEL, NHWC, Context, Kept
from archc.expansion.inplace import in_place
from archc.registry import joins
from archc.registry.ops import REGISTRY

PRECISIONS = {  # bytes of (activations, parameters and their gradients)
    "fp32": (4, 4), "bf16": (2, 2), "amp": (2, 4)}
OPTIMIZER_STATE = {"sgd": 0, "momentum": 1, "adamw": 2}  # float32 tensors per parameter
SAVED_CONVENTION = (
    "saved for backward = every tensor autograd keeps in one training-mode forward "
    "(torch.autograd.graph.saved_tensors_hooks), each storage once, parameters excluded, "
    "BatchNorm's running statistics included; a per-sample part times the batch, plus a "
    "part independent of the batch (BatchNorm's statistics)")
TRANSIENT_CONVENTION = (
    "backward transient = the largest gradient of one layer's input and output alive "
    "together while its backward runs: an estimate (kernel workspaces, the allocator's "
    "caching and fragmentation are not counted)")


@dataclass(frozen=True)
class Bytes:
    """A size that grows with the batch: `per_sample * batch + constant`."""

    per_sample: int = 0
    constant: int = 0

    def at(self, batch: int) -> int:
        return self.per_sample * batch + self.constant

    def __add__(self, other: Bytes) -> Bytes:
        return Bytes(self.per_sample + other.per_sample, self.constant + other.constant)


@dataclass
class Saved:
    """What one forward pass keeps: the total, and each layer's or join's share (by node
    identity), a storage counted where it is first kept."""

    total: Bytes = field(default_factory=Bytes)
    by_node: dict[int, Bytes] = field(default_factory=dict)

    def of(self, node: Node) -> Bytes:
        """The share of a node and everything inside it."""
        if isinstance(node, (Layer, Wire)):
            return self.by_node.get(id(node), Bytes())
        inner = node.items if isinstance(node, Scope) else \
            tuple(n for b in node.branches for n in b)
        total = self.by_node.get(id(node), Bytes()) if isinstance(node, Join) else Bytes()
        for n in inner:
            total = total + self.of(n)
        return total


@dataclass(frozen=True)
class _Value:
    """A tensor flowing through the graph: its storage, whether it requires grad, its
    layout."""

    storage: int
    grad: bool
    layout: str


class _Forward:
    def __init__(self, ctx: Context, act_bytes: int, model_bytes: int):
        self.ctx, self.act, self.model = ctx, act_bytes, model_bytes
        self.sizes: list[Bytes] = []
        self.kept: set[int] = set()
        self.saved = Saved()
        self._node: dict[type, Callable[[Any, _Value], _Value]] = {
            Layer: self.layer, Join: self.join, Scope: self.scope, Wire: self.wire}
        self.taps: dict[str, _Value] = {}  # `tap NAME`'s tensor, for its `from NAME`

    def storage(self, size: Bytes) -> int:
        self.sizes.append(size)
        return len(self.sizes) - 1

    def tensor(self, k: Kept) -> int:
        width = self.act if k.dtype == ACT else self.model if k.dtype == MODEL else \
            FIXED_BYTES[k.dtype]
        n = k.elements * width
        return self.storage(Bytes(n, 0) if k.per_sample else Bytes(0, n))

    def keep(self, storage: int, node: Node) -> None:
        if storage in self.kept:
            return
        self.kept.add(storage)
        size = self.sizes[storage]
        self.saved.total = self.saved.total + size
        self.saved.by_node[id(node)] = self.saved.by_node.get(id(node), Bytes()) + size

    def seq(self, items: tuple[Node, ...], x: _Value) -> _Value:
        for node, inplace in zip(items, in_place(items), strict=True):
            x = self.layer(node, x, inplace) if isinstance(node, Layer) else \
                self._node[type(node)](node, x)
        return x

    def scope(self, node: Scope, x: _Value) -> _Value:
        return self.seq(node.items, x)

    def layer(self, node: Layer, x: _Value, inplace: bool = False) -> _Value:
        """`inplace`: the layer overwrites its input (archc/expansion/inplace.py), keeping what its
        record's `inplace` rule says; its output is its input's storage."""
        op = REGISTRY[node.op]
        if op.saved is None:  # a plugin's op that did not declare one (archc's own all do)
            raise ArchcError(f"{op.name}: its record has no saved-for-backward rule, so the "
                             "training memory cannot be counted", node.span,
                             "give the plugin's op a `saved=` rule (archc.core.saving.Saves)",
                             code=codes.ARGUMENT_CONFLICT)
        ctx = Context(self.ctx.training, self.ctx.device, x.layout, x.grad, self.act)
        rule = op.inplace(node.args, node.in_shape, node.out_shape, ctx) \
            if inplace and op.inplace is not None else None
        rule = rule or op.saved(node.args, node.in_shape, node.out_shape, ctx)
        out = x.storage if rule.view else \
            self.storage(Bytes(math.prod(node.out_shape) * self.act))
        recorded = x.grad or op.params(node.args, node.in_shape, node.out_shape) > 0
        if recorded:
            for storage in ([x.storage] if rule.input else []) + ([out] if rule.output else []):
                self.keep(storage, node)
            for k in rule.kept:
                self.keep(self.tensor(k), node)
        return _Value(out, recorded, rule.layout or x.layout)

    def wire(self, node: Wire, x: _Value) -> _Value:
        """A name for a tensor: it keeps nothing itself (a layer reading it may)."""
        if node.op == "from":
            return self.taps[node.key]
        if node.op == "tap":
            self.taps[node.key] = x
        return x

    def join(self, node: Join, x: _Value) -> _Value:
        record = joins.lookup(node.op)
        outs = [self.seq(branch, _Value(x.storage, x.grad, x.layout))
                for branch in node.branches]
        grads = [o.grad for o in outs]
        rule = record.saved(node.branch_outputs, node.out_shape, grads,
                            [o.layout for o in outs])
        if any(grads):
            for i in rule.branches:
                self.keep(outs[i].storage, node)
            for k in rule.kept:
                self.keep(self.tensor(k), node)
        out = self.storage(Bytes(math.prod(node.out_shape) * self.act))
        return _Value(out, any(grads), rule.layout)


def saved_bytes(net: Network, act_bytes: int = 4, training: bool = True,
                device: str = "cpu", input_grad: bool = False,
                model_bytes: int | None = None, channels_last: bool = False) -> Saved:
    """What autograd keeps in one forward pass of the built network on a batch that does not
    require grad (the data; `input_grad`: one that does, as inside a larger network):
    `act_bytes` per activation element (4: float32, 2: bfloat16), `model_bytes` per element
    of the model's own tensors (default: as the activations; 4 under autocast);
    `channels_last`: an image batch stored NHWC (archc train's default on a GPU)."""
    fwd = _Forward(Context(training, device, CONTIGUOUS), act_bytes,
                   act_bytes if model_bytes is None else model_bytes)
    layout = NHWC if channels_last and len(net.input_shape) == 3 else CONTIGUOUS
    if isinstance(net.input_shape, Ids):  # token ids: int64, never requiring grad
        x = _Value(fwd.storage(Bytes(math.prod(net.input_shape) * FIXED_BYTES["int64"])),
                   False, CONTIGUOUS)
    else:
        x = _Value(fwd.storage(Bytes(math.prod(net.input_shape) * act_bytes)), input_grad,
                   layout)
    fwd.seq(net.root.items, x)
    return fwd.saved


# ----------------------------------------------------------------------------- a training step


@dataclass(frozen=True)
class Estimate:
    """The memory of one training step at `batch`: model state (parameters, gradients,
    optimizer state) and what grows with the batch (saved activations, the backward
    transient). `saved` holds the per-node shares."""

    name: str
    batch: int
    optimizer: str
    precision: str
    device: str
    params: int  # elements
    param_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    saved: Saved
    transient: Bytes

    @property
    def fixed(self) -> int:
        """Bytes that do not grow with the batch."""
        return self.param_bytes + self.gradient_bytes + self.optimizer_bytes + \
            self.saved.total.constant + self.transient.constant

    @property
    def per_sample(self) -> int:
        return self.saved.total.per_sample + self.transient.per_sample

    @property
    def total(self) -> int:
        return self.fixed + self.per_sample * self.batch

    def fit(self, limit: int) -> int:
        """The largest batch whose step fits in `limit` bytes (0: not even one sample)."""
        if self.fixed + self.per_sample > limit:
            return 0
        return (limit - self.fixed) // max(self.per_sample, 1)

    def to_json(self) -> dict[str, Any]:
        saved = self.saved.total
        return {
            "batch": self.batch, "optimizer": self.optimizer, "precision": self.precision,
            "device": self.device, "param_bytes": self.param_bytes,
            "gradient_bytes": self.gradient_bytes, "optimizer_bytes": self.optimizer_bytes,
            "saved_bytes": saved.at(self.batch), "saved_per_sample": saved.per_sample,
            "saved_constant": saved.constant, "transient_bytes": self.transient.at(self.batch),
            "total_bytes": self.total, "per_sample_bytes": self.per_sample,
            "fixed_bytes": self.fixed, "exact": self.precision != "amp",
            "conventions": {"saved": SAVED_CONVENTION, "transient": TRANSIENT_CONVENTION},
        }


def _transient(net: Network, act_bytes: int) -> Bytes:
    """The largest input-plus-output gradient of one layer, per sample."""
    from archc.core.graph import nodes

    layers = [n for n in nodes(net.root.items) if isinstance(n, Layer)]
    largest = max((math.prod(n.in_shape) + math.prod(n.out_shape) for n in layers), default=0)
    return Bytes(largest * act_bytes)


def estimate(net: Network, batch: int, optimizer: str = "sgd", precision: str = "fp32",
             device: str = "cuda", channels_last: bool = False) -> Estimate:
    """One training step of `net` at `batch`. fp32 and bf16 (a bfloat16 model) count saved
    activations exactly; amp (autocast to 16 bits, float32 weights) counts them as 16-bit plus
    the 16-bit weight copies autocast's matrix products keep: exact for convolutional networks
    (CPU autocast), short where ops run in float32 under autocast (layer norm: 2% for
    ConvNeXt-T, 11% for ViT-B/16 per sample)."""
    from archc.expansion.stats import count

    act, width = PRECISIONS[precision]
    params = count(net.root).params
    saved = saved_bytes(net, act, True, device, model_bytes=width, channels_last=channels_last)
    if precision == "amp":
        _autocast_weights(net, saved)
    return Estimate(net.name, batch, optimizer, precision, device, params, params * width,
                    params * width, params * width * OPTIMIZER_STATE[optimizer],
                    saved, _transient(net, act))


def _autocast_weights(net: Network, saved: Saved) -> None:
    """Autocast casts the weights of the ops it runs in 16 bits (the matrix products: the
    ops that count MACs) on every forward, and those ops keep the 16-bit copies (their
    biases are cast but not kept): 2 bytes per weight, whatever the batch."""
    from archc.core.graph import nodes

    for node in nodes(net.root.items):
        if not isinstance(node, Layer) or not REGISTRY[node.op].counts_macs:
            continue
        op, a = REGISTRY[node.op], node.args
        if getattr(a, "bias", False):
            a = a.model_copy(update={"bias": False})
        size = Bytes(0, 2 * op.params(a, node.in_shape, node.out_shape))
        saved.total = saved.total + size
        saved.by_node[id(node)] = saved.by_node.get(id(node), Bytes()) + size


def recipe_defaults(net: Network) -> dict[str, Any]:
    """--batch, --optimizer and --precision as the spec's `train { }` section sets them."""
    r = net.recipe
    optimizer = r.get("optimizer", "sgd")
    if optimizer == "sgd" and r.get("momentum", 0):
        optimizer = "momentum"
    precision = {"bf16": "amp", "fp32": "fp32"}.get(r.get("precision", "fp32"), "fp32")
    return {"batch": r.get("batch_size", 1), "optimizer": optimizer, "precision": precision}
