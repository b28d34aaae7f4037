"""The op registry: one entry per layer op, holding its argument schema (archc/core/schema.py:
declared as a pydantic model is, field order the positional order), shape rule, parameter
count, MAC count, torch factory, source form (`archc export`) and diagram caption. Nothing here
imports torch at module level.
(Over 400 lines: the record types, then the records of the classic layers, convolution,
pooling, normalisation, linear, activations, each beside its shape and count rules; later
layers are in ops_modern.py, ops_tokens.py, ops_windows.py and ops_lm.py.)"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import field
from functools import cached_property
from types import ModuleType
from typing import Annotated, Any

from archc.core import codes
from archc.core.graph import Ids, Shape
from archc.core.limits import MAX_DIM
from archc.core.records import record
from archc.core.saving import (
    ACT,
    CONTIGUOUS,
    INPUT,
    MODEL,
    NHWC,
    NOTHING,
    OUTPUT,
    TRANSPOSED,
    VIEW,
    Context,
    Kept,
    Saves,
)
from archc.core.schema import Args, Field, PlainValidator


class NoArgs(Args):
    pass


class OpShapeError(Exception):
    """Raised by a shape rule; the expander attaches the call's span. `code` is the diagnostic
    code (archc/core/codes.py) of this kind of shape problem: a rank mismatch unless said."""

    def __init__(self, message: str, hint: str | None = None, code: str = codes.RANK):
        super().__init__(message)
        self.message, self.hint, self.code = message, hint, code


class OpLimitError(OpShapeError):
    """Raised by a shape rule whose output would exceed a bound of archc/core/limits.py."""

    def __init__(self, message: str, hint: str | None = None, code: str = codes.TOO_BIG):
        super().__init__(message, hint, code)


@record
class Family:
    """What a group of ops is called in prose (the FLOP convention) and its diagram colour."""

    words: str
    fill: str  # graphviz fillcolor of its nodes


FAMILIES: dict[str, Family] = {
    "conv": Family("conv", "#d6e6f5"),
    "linear": Family("linear", "#e3dbf0"),
    "attention": Family("attention", "#f3d9e6"),
    "embedding": Family("embeddings", "#e6f0d6"),
    "norm": Family("normalisation", "#fbe5c8"),
    "activation": Family("activations", "#f4f4f4"),
    "pooling": Family("pooling", "#d5eccf"),
    "dropout": Family("dropout", "#eeeeee"),
    "structure": Family("reshaping", "#f4f4f4"),
}


def _no_count(a: Any, i: Shape, o: Shape) -> int:
    return 0


def xavier_init(module: Any, how: str) -> None:
    """003's init: Xavier-uniform on the weight, the bias left as built."""
    if how == "xavier":
        import torch.nn as nn

        nn.init.xavier_uniform_(module.weight)


@record
class Source:
    """How one op instance is written as PyTorch source: `call(*args, name=value, ...)`, e.g.
    `nn.Conv2d(64, 128, 3, stride=2, padding=1, bias=False)`. Values are literals (int, float,
    bool, str, None, tuples of them) or a nested Source; a keyword whose value equals its entry
    in `defaults` is left out. `support` names classes of archc/export/support.py the call needs
    (modules torch.nn lacks), written once into an exported file. An inline op's call makes
    its parameter, and `apply` is its forward: an expression over `{x}` and `{p}`."""

    call: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict, hash=False)
    defaults: dict[str, Any] = field(default_factory=dict, hash=False)
    support: tuple[str, ...] = ()
    apply: str = ""

    def text(self) -> str:
        from archc.core.literals import literal

        def show(v: Any) -> str:
            return v.text() if isinstance(v, Source) else literal(v)

        written = [show(v) for v in self.args]
        written += [f"{k}={show(v)}" for k, v in self.kwargs.items()
                    if not (k in self.defaults and same_value(v, self.defaults[k]))]
        return f"{self.call}({', '.join(written)})"


def same_value(a: Any, b: Any) -> bool:
    """Equal and of the same type (True is not 1, 1.0 is not 1)."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(map(same_value, a, b))
    return type(a) is type(b) and a == b


@record
class Op:
    """One layer op. `family` names it in prose and colours its diagram node; `init(module,
    how)` initialises the weights of the module `torch` made (None: nothing to initialise);
    `source(args, in_shape, out_shape)` says how that module is written as PyTorch source
    (archc/export/python.py; an op without it cannot be exported, and its test fails)."""

    name: str
    args: type[Args]
    shape: Callable[[Any, Shape], Shape]
    torch: Callable[[Any, Shape, Shape], Any]
    caption: Callable[[Any], str]  # the text of its diagram node and summary row
    params: Callable[[Any, Shape, Shape], int] = _no_count
    macs: Callable[[Any, Shape, Shape], int] = _no_count
    family: str = "structure"
    init: Callable[[Any, str], None] | None = None
    # An inline op's factory returns an emit.layers.Inline (one tensor and a function of the
    # input and it) instead of a module: the tensor becomes a parameter of the enclosing
    # scope named after the layer, as torchvision keeps `layer_scale` and `class_token`.
    inline: bool = False
    source: Callable[[Any, Shape, Shape], Source] | None = None
    doc: str = ""
    example: str = ""  # a call exercising the op, tested on `example_input` for every op
    example_input: str = "3x9x9"
    # what autograd keeps for backward from one instance (archc/core/saving.py; summed over a
    # graph by archc/expansion/memory_train.py, checked against saved_tensors_hooks for every
    # example)
    saved: Callable[[Any, Shape, Shape, Context], Saves] | None = None
    # takes a sequence of token ids (graph.Ids), as an embedding does; every other op is
    # refused ids by the expander, and an op taking ids is refused anything else
    takes_ids: bool = False
    # Other libraries' names for this op (timm's, Keras', papers'), lower case: an unknown
    # layer spelled so gets `did you mean` this op, before any near spelling
    # (archc/registry/pytorch_names.py `layer_hint`).
    aliases: tuple[str, ...] = ()
    # PyTorch's names for it (torch.nn's class, torch.nn.functional's function, transformers'
    # class) -> a note where they differ: `did you mean 'bn'? (archc's spelling of BatchNorm2d;
    # channels inferred from the input)`. Compared ignoring case and underscores; checked
    # before `aliases`; tests/test_hints.py checks `source` writes one of them.
    pytorch: dict[str, str] = field(default_factory=dict, hash=False)
    # An op whose module can overwrite its input (it has `inplace`, as nn.ReLU): what it keeps
    # for backward when it does (None where it cannot, for these arguments);
    # archc/expansion/inplace.py decides where it may, and the torch emitter sets `inplace = True`
    # there.
    inplace: Callable[[Any, Shape, Shape, Context], Saves | None] | None = None
    # Its module always returns a new tensor, which its own backward does not keep: an
    # in-place op right after it may overwrite that tensor (archc/expansion/inplace.py).
    fresh: bool = False
    # the caption where it depends on the input's rank (an integer kernel is `80` on a CxL
    # signal, `3x3` on an image, `3x3x3` on a clip); None: `caption`
    label: Callable[[Any, Shape], str] | None = None

    def describe(self, args: Any, in_shape: Shape | None) -> str:
        """The text of one instance's diagram node and summary row (`caption` where the
        input's shape is unknown: a partial graph drawn past an error)."""
        if self.label is None or in_shape is None:
            return self.caption(args)
        return self.label(args, in_shape)
    # arguments that may name a tap (`resize(like=low)`): the expander passes the tap's shape
    tap_args: tuple[str, ...] = ()

    @cached_property
    def arg_names(self) -> tuple[str, ...]:
        """The argument names in positional order (asked at every call of the op: kept)."""
        return self.args.field_names

    @property
    def counts_macs(self) -> bool:
        return self.macs is not _no_count


REGISTRY: dict[str, Op] = {}


R = "the rank is the input's"  # the note of torch's 1-D and 3-D names (the rank rule)


def register(op: Op) -> Op:
    if op.family not in FAMILIES:
        raise KeyError(f"op {op.name}: unknown family '{op.family}'")
    REGISTRY[op.name] = op
    return op


def _nn() -> ModuleType:
    import torch.nn as nn  # only the torch emitter calls factories

    return nn


def fmt_shape(shape: Shape | None) -> str:
    if isinstance(shape, Ids):
        return f"{shape[0]} tokens of {shape.vocab}"
    return "?" if shape is None else "x".join(map(str, shape))


# ----------------------------------------------------------------------------- shape helpers


KIND_WORDS = {4: "a clip", 3: "an image", 2: "tokens", 1: "a flat vector"}


def kind_of(shape: Shape) -> str:
    """`a flat vector`, `tokens`, `an image`, `a clip`: what a reader calls a shape
    of that rank."""
    return KIND_WORDS.get(len(shape), f"{len(shape)} axes")


def _need_image(op: str, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise OpShapeError(
            f"{op}: expects a CxHxW input, got {fmt_shape(shape)} ({kind_of(shape)})",
            "remove the flatten before it, or use linear" if len(shape) == 1 else None)
    c, h, w = shape
    return c, h, w


def need_rank(op: str, shape: Shape, ranks: tuple[int, ...]) -> Shape:
    """The shape, if its rank is one `op` takes; else a located-by-caller error."""
    if len(shape) not in ranks:
        names = {4: "a CxTxHxW clip", 3: "a CxHxW input", 2: "NxD tokens", 1: "a flat input"}
        want = " or ".join(names[r] for r in ranks)
        raise OpShapeError(f"{op}: expects {want}, got {fmt_shape(shape)} "
                           f"({kind_of(shape)})")
    return shape


# ----------------------------------------------------------------------------- spatial ranks
# The rank rule: a windowed or per-channel op (conv, pooling, bn, groupnorm, upsample) reads
# its input as channels then 1, 2 or 3 spatial axes, CxL, CxHxW or CxTxHxW, and becomes
# torch's Conv1d, Conv2d or Conv3d (and so on) by that rank, as bn picks BatchNorm1d or 2d.
# A rank-2 shape is NxD tokens to the ops that take tokens (linear, layernorm, attention)
# and a CxL signal to these, as PyTorch reads a (B, A, B') tensor: nothing took a rank-2
# input for these ops before, so no spec changes meaning.

SPATIAL_NAMES = {2: "CxL", 3: "CxHxW", 4: "CxTxHxW"}


def spatial(op: str, shape: Shape) -> tuple[int, tuple[int, ...]]:
    """(channels, the spatial sizes) of a CxL, CxHxW or CxTxHxW input; else a rank error."""
    if len(shape) not in SPATIAL_NAMES:
        raise OpShapeError(
            f"{op}: expects a CxL, CxHxW or CxTxHxW input, got {fmt_shape(shape)} "
            f"({kind_of(shape)})",
            "remove the flatten before it, or use linear" if len(shape) == 1 else None)
    return shape[0], tuple(shape[1:])


def ntuple(v: Any, n: int, op: str = "", name: str = "") -> tuple[int, ...]:
    """A kernel size, stride, padding or dilation as one integer per spatial axis: `3` is
    (3,) * n; a tuple must have n values (the shape rule says so, located)."""
    if isinstance(v, int):
        return (v,) * n
    if len(v) != n:
        axes = "axis" if n == 1 else "axes"
        raise OpShapeError(f"{op}: {name} {_show_tuple(v)} has {len(v)} values, the input has "
                           f"{n} spatial {axes}",
                           f"write one integer, or {n} (one per spatial axis)",
                           codes.ARGUMENT_RANGE)
    return tuple(v)


def _show_tuple(v: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, v)) + ")"


def show_size(v: Any, n: int) -> str:
    """`3x3` for k=3 on an image, `80` on a signal, `3x7x7` for k=(3, 7, 7)."""
    return "x".join(map(str, (v,) * n if isinstance(v, int) else v))


def rank_class(stem: str, i: Shape) -> str:
    """torch.nn's class for an input of this rank: Conv1d, Conv2d, Conv3d."""
    return f"{stem}{len(i) - 1}d"


def _nn_class(stem: str, i: Shape) -> Any:
    return getattr(_nn(), rank_class(stem, i))


# ----------------------------------------------------------------------------- pairs


def pair(v: IntPair) -> tuple[int, int]:
    """A kernel size, stride, padding or dilation as (height, width): `3` is (3, 3)."""
    return v if isinstance(v, tuple) else (v, v)


def _show_pair(v: IntPair) -> str:
    h, w = pair(v)
    return f"{h}x{w}"


IntPair = int | tuple[int, int]
IntSize = int | tuple[int, ...]


def PydanticCustomError(kind: str, template: str, context: dict[str, Any]) -> Exception:  # noqa: N802
    """pydantic_core's error of an argument validator, imported only when one fails."""
    from pydantic_core import PydanticCustomError as Error

    return Error(kind, template, context)


def _pair_check(lo: int, hi: int, optional: bool = False, most: int = 3) -> Callable[[Any], Any]:
    """Validates an integer or a tuple of 1 to `most` integers (one per spatial axis; 2: a
    pair (h, w)), each in [lo, hi] (or none, if optional: the default of a pooling stride),
    worded as pydantic words its bounds."""
    want = "a pair (h, w) of integers" if most == 2 else "a tuple of integers, one per " \
        "spatial axis"

    def check(v: Any) -> Any:
        if v is None and optional:
            return v
        ok = isinstance(v, int) or (isinstance(v, tuple) and 1 <= len(v) <= most and all(
            isinstance(x, int) for x in v))
        if not ok or isinstance(v, bool) or (isinstance(v, tuple) and any(
                isinstance(x, bool) for x in v)):
            raise PydanticCustomError("archc_pair", "must be an integer or " + want +
                                      ", got {got}", {"got": _describe(v)})
        for x in ((v,) if isinstance(v, int) else v):
            if x < lo:
                raise PydanticCustomError("archc_pair", "must be >= {lo}, got {got}",
                                          {"lo": lo, "got": repr(v)})
            if x > hi:
                raise PydanticCustomError("archc_pair", "must be <= {hi}, got {got}",
                                          {"hi": hi, "got": repr(v)})
        return v
    return check


# Argument types of windowed ops: an integer, or a tuple of integers, one per spatial axis
# (the rank rule above); the shape rule checks the tuple's length against the input.
Size = Annotated[IntSize, PlainValidator(_pair_check(1, 1024))]  # kernel, stride, dilation
Padding = Annotated[IntSize, PlainValidator(_pair_check(0, 1024))]
PoolPadding = Annotated[IntSize, PlainValidator(_pair_check(0, 512))]
PoolStride = Annotated[IntSize | None, PlainValidator(_pair_check(1, 1024, optional=True))]
# 2-D only (an op with no rank-generic form): an integer or a pair (h, w)
Size2 = Annotated[IntPair, PlainValidator(_pair_check(1, 1024, most=2))]


def _describe(v: Any) -> str:
    from archc.front.evaluate import type_name

    if v is None:
        return "none"
    return f"{type_name(v)} {v!r}" if not isinstance(v, bool) else f"a boolean {str(v).lower()}"


def _window(op: str, size: int, k: int, stride: int, pad: int, dilation: int = 1,
            ceil: bool = False) -> int:
    span = dilation * (k - 1) + 1
    num = size + 2 * pad - span
    out = (-(-num // stride) if ceil else num // stride) + 1
    if ceil and (out - 1) * stride >= size + pad:  # PyTorch drops a window starting in padding
        out -= 1
    if out < 1:
        raise OpShapeError(
            f"{op}: output size {out} < 1: input size {size}, kernel {k}, stride {stride}, "
            f"pad {pad}", "use a smaller kernel or stride, more padding, or a larger input",
            codes.SIZE_BELOW_ONE)
    return out


# ----------------------------------------------------------------------------- conv, linear


class ConvArgs(Args):
    out: int = Field(ge=1, le=MAX_DIM)
    k: Size
    stride: Size = 1
    pad: Padding = 0
    dilation: Size = 1
    groups: int = Field(1, ge=1, le=MAX_DIM)
    bias: bool = True


def check_groups(op: str, a: Any, c: int) -> None:
    for name, n in (("input", c), ("output", a.out)):
        if n % a.groups:
            raise OpShapeError(f"{op}: {name} channels {n} not divisible by groups={a.groups}",
                               code=codes.GROUPS)


def _conv_shape(a: ConvArgs, s: Shape) -> Shape:
    c, sizes = spatial("conv", s)
    check_groups("conv", a, c)
    n = len(sizes)
    k, stride, pad, dilation = (ntuple(getattr(a, f), n, "conv", f)
                                for f in ("k", "stride", "pad", "dilation"))
    return (a.out, *(_window("conv", *w) for w in zip(sizes, k, stride, pad, dilation,
                                                        strict=True)))


def window_caption(name: str, a: Any, rank: int = 2) -> str:
    """`conv 3x3, 64, /2`: the kernel, the output channels if any, the stride if not 1;
    `rank` spatial axes (an integer kernel is 80 on a signal, 3x3x3 on a clip)."""
    out = f", {a.out}" if hasattr(a, "out") else ""
    stride = a.k if a.stride is None else a.stride
    ones = isinstance(stride, int) and stride == 1 or \
        isinstance(stride, tuple) and set(stride) == {1}
    return f"{name} {show_size(a.k, rank)}{out}" + (
        "" if ones else f", /{stride}" if isinstance(stride, int)
        else f", /{show_size(stride, rank)}")


def _conv_source(a: ConvArgs, i: Shape, o: Shape) -> Source:
    return Source(f"nn.{rank_class('Conv', i)}", (i[0], a.out, a.k),
                  {"stride": a.stride, "padding": a.pad, "dilation": a.dilation,
                   "groups": a.groups, "bias": a.bias},
                  {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True})


def _kernel(a: Any, i: Shape) -> int:
    """The kernel's positions: k's values multiplied, one per spatial axis of the input."""
    return math.prod(ntuple(a.k, len(i) - 1))


register(Op(
    "conv", ConvArgs, _conv_shape,
    torch=lambda a, i, o: _nn_class("Conv", i)(i[0], a.out, a.k, a.stride, a.pad, a.dilation,
                                               a.groups, a.bias),
    source=_conv_source,
    caption=lambda a: window_caption("conv", a),
    label=lambda a, i: window_caption("conv", a, len(i) - 1),
    params=lambda a, i, o: a.out * (i[0] // a.groups) * _kernel(a, i)
    + (a.out if a.bias else 0),
    macs=lambda a, i, o: math.prod(o) * (i[0] // a.groups) * _kernel(a, i),
    doc="convolution, 1-D, 2-D or 3-D from the input (CxL, CxHxW, CxTxHxW); k, stride, pad "
        "and dilation an integer or a tuple with one value per spatial axis: "
        "conv(out, k, stride=1, pad=0, dilation=1, groups=1, bias=true)",
    example="conv(4, k=(1, 3), stride=2, pad=(0, 1), groups=1)",
    family="conv", init=xavier_init, saved=lambda a, i, o, c: INPUT,
    aliases=("convolution",),
    pytorch={"Conv2d": "", "Conv1d": f"1-D on a CxL input; {R}",
             "Conv3d": f"3-D on a CxTxHxW input; {R}"},
    fresh=True,
))


class LinearArgs(Args):
    out: int = Field(ge=1, le=MAX_DIM)
    bias: bool = True
    # the qualified name of a layer whose weight this one shares (a language model's output
    # layer tied to its token embedding): counted there, once; archc/expansion/ids.py checks it
    tie: str | None = None
    transposed: bool = False  # the weight stored in x out (GPT-2's Conv1D)


def _linear_shape(a: LinearArgs, s: Shape) -> Shape:
    if len(s) == 2:  # tokens: the same linear map applied to every token
        return (s[0], a.out)
    if len(s) != 1:
        raise OpShapeError(f"linear: expects a flat input (or NxD tokens), got {fmt_shape(s)} "
                           f"({kind_of(s)})", "add flatten before it, or use channel_linear "
                           "for a linear map over the channels of every position")
    return (a.out,)


def _linear_saved(i: Shape, c: Context) -> Saves:
    # addmm keeps its input as given; on tokens laid out DxN, matmul's reshape copies it first
    if len(i) == 2 and c.layout == TRANSPOSED:
        return Saves(kept=(Kept(math.prod(i)),), layout=CONTIGUOUS)
    return Saves(input=True, layout=CONTIGUOUS)


def _linear_torch(a: LinearArgs, i: Shape, o: Shape) -> Any:
    if a.transposed:
        from archc.emit import layers

        return layers.Conv1D(i[-1], a.out, a.bias)
    return _nn().Linear(i[-1], a.out, a.bias)


def _linear_source(a: LinearArgs, i: Shape, o: Shape) -> Source:
    if a.transposed:
        return Source("Conv1D", (i[-1], a.out), {"bias": a.bias}, {"bias": True},
                      support=("Conv1D",))
    return Source("nn.Linear", (i[-1], a.out), {"bias": a.bias}, {"bias": True})


register(Op(
    "linear", LinearArgs, _linear_shape, torch=_linear_torch, source=_linear_source,
    caption=lambda a: f"linear {a.out}" + (f", tied to {a.tie}" if a.tie else ""),
    params=lambda a, i, o: (0 if a.tie else i[-1] * a.out) + (a.out if a.bias else 0),
    macs=lambda a, i, o: math.prod(o) * i[-1],
    doc="fully connected layer on a flat vector, or on every token of NxD: "
        "linear(out, bias=true, tie=none, transposed=false). tie=\"NAME\" shares the weight "
        "of the layer NAME (qualified: \"transformer.wte\"), an embedding(out, in) or a "
        "linear of the same shape, counted there once (GPT-2's lm_head); transposed=true "
        "stores the weight in x out, as GPT-2's Conv1D",
    example="linear(5)", example_input="12", family="linear", init=xavier_init,
    saved=lambda a, i, o, c: _linear_saved(i, c),
    aliases=("fc", "fully_connected"),
    fresh=True,
))

# ----------------------------------------------------------------------------- normalisation


class BNArgs(Args):
    eps: float = Field(1e-5, gt=0, lt=1)
    momentum: float = Field(0.1, ge=0, le=1)
    affine: bool = True


def _bn_torch(a: BNArgs, i: Shape, o: Shape) -> Any:
    # seed 004: a flat (N, F) input normalises per feature, an image (N, C, H, W) per channel;
    # a signal (N, C, L) with BatchNorm1d, a clip (N, C, T, H, W) with BatchNorm3d
    return getattr(_nn(), _bn_class(i))(i[0], eps=a.eps, momentum=a.momentum, affine=a.affine)


def _bn_class(i: Shape) -> str:
    return "BatchNorm1d" if len(i) == 1 else rank_class("BatchNorm", i)


def _bn_shape(a: BNArgs, s: Shape) -> Shape:
    if len(s) not in (1, 2, 3, 4):
        raise OpShapeError(f"bn: expects F, CxL, CxHxW or CxTxHxW, got {fmt_shape(s)} "
                           f"({kind_of(s)})")
    return s


def _bn_source(a: BNArgs, i: Shape, o: Shape) -> Source:
    return Source(f"nn.{_bn_class(i)}", (i[0],),
                  {"eps": a.eps, "momentum": a.momentum, "affine": a.affine},
                  {"eps": 1e-5, "momentum": 0.1, "affine": True})


def _bn_saved(i: Shape, c: Context) -> Saves:
    # native_batch_norm keeps its input and the running mean and variance (buffers), and in
    # training the batch mean and inverse std; in eval an empty tensor in their place
    stats = 4 if c.training else 2
    return Saves(input=True, kept=(Kept(i[0], MODEL, per_sample=False),) * stats)


register(Op(
    "bn", BNArgs, _bn_shape, torch=_bn_torch, source=_bn_source, caption=lambda a: "bn",
    params=lambda a, i, o: 2 * i[0] if a.affine else 0,
    doc="batch normalisation per feature of F or per channel of CxL, CxHxW or CxTxHxW "
        "(BatchNorm1d, 2d or 3d from the input rank): bn(eps=1e-5, momentum=0.1)",
    example="bn(eps=0.001)", family="norm", saved=lambda a, i, o, c: _bn_saved(i, c),
    pytorch={"BatchNorm": "1-D, 2-D or 3-D from the input, channels inferred",
             "BatchNorm3d": "channels and rank inferred from the input",
             "BatchNorm1d": "channels inferred from the input",
             "BatchNorm2d": "channels inferred from the input"},
    fresh=True,
))



class FrozenBNArgs(Args):
    eps: float = Field(1e-5, gt=0, lt=1)


def _frozen_bn_torch(a: FrozenBNArgs, i: Shape, o: Shape) -> Any:
    from archc.emit import layers

    return layers.FrozenBatchNorm2d(i[0], eps=a.eps)


def _frozen_bn_saved(i: Shape, c: Context) -> Saves:
    # x * scale + bias: the product keeps `scale` (1xCx1x1, computed from the buffers) for
    # x's gradient; the sum keeps nothing, and nothing of the buffers needs a gradient
    return Saves(kept=(Kept(i[0], MODEL, per_sample=False),) if c.input_grad else ())


# torchvision.ops.FrozenBatchNorm2d: batch norm with its statistics and affine terms frozen
# into buffers (4 x C values, no parameters), what torchvision's detection backbones use
# (resnet_fpn_backbone's default norm_layer); elementwise, so FlopCounterMode counts no MACs
register(Op(
    "frozen_bn", FrozenBNArgs, lambda a, s: (*_need_image("frozen_bn", s),),
    torch=_frozen_bn_torch, caption=lambda a: "frozen bn",
    source=lambda a, i, o: Source("FrozenBatchNorm2d", (i[0],), {"eps": a.eps}, {"eps": 1e-5},
                                  support=("FrozenBatchNorm2d",)),
    doc="batch normalisation frozen into buffers (weight, bias, running_mean, running_var; "
        "no parameters, the same in train and eval mode) per channel of CxHxW, as "
        "torchvision.ops.FrozenBatchNorm2d in its detection backbones: frozen_bn(eps=1e-5)",
    example="frozen_bn(eps=0.001)", family="norm",
    saved=lambda a, i, o, c: _frozen_bn_saved(i, c),
    pytorch={"FrozenBatchNorm2d": "channels inferred from the input"},
))

class LRNArgs(Args):
    size: int = Field(ge=1, le=1024)
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0


def _lrn_saved(a: LRNArgs, i: Shape) -> Saves:
    # F.local_response_norm: x*x padded on the channels and avg_pool3d'ed (keeps the padded
    # squares), `* alpha + k` then pow (keeps its base and its result), x / that (keeps x)
    c, h, w = i
    return Saves(input=True, kept=(Kept((c + a.size - 1) * h * w), Kept(c * h * w),
                                   Kept(c * h * w)))


register(Op(
    "lrn", LRNArgs, lambda a, s: _need_image("lrn", s),
    torch=lambda a, i, o: _nn().LocalResponseNorm(a.size, a.alpha, a.beta, a.k),
    source=lambda a, i, o: Source("nn.LocalResponseNorm", (a.size,),
                                  {"alpha": a.alpha, "beta": a.beta, "k": a.k},
                                  {"alpha": 1e-4, "beta": 0.75, "k": 1.0}),
    caption=lambda a: f"lrn {a.size}",
    doc="local response normalisation across channels: lrn(size, alpha, beta, k)",
    example="lrn(3)", family="norm", saved=lambda a, i, o, c: _lrn_saved(a, i),
    pytorch={"LocalResponseNorm": ""},
))

# ----------------------------------------------------------------------------- activations


def _same(a: Any, s: Shape) -> Shape:
    return s


ACTIVATIONS: dict[str, Callable[[Any], Any]] = {}  # the activations without arguments
ACTIVATION_SOURCES: dict[str, Callable[[Any], Source]] = {}


ACTIVATION_SAVES: dict[str, Saves] = {}


# What an activation keeps when it runs in place (archc/expansion/inplace.py), from torch's in-place
# kernels as saved_tensors_hooks sees them: relu_ keeps its result, which is now its input's
# storage; silu_, hardswish_ and hardtanh_ (relu6) keep a copy of their input made before
# overwriting it (tests/test_inplace.py measures both).
RESULT_IN_PLACE = Saves(output=True, view=True)


def _copy_in_place(a: Any, i: Shape, o: Shape, c: Context) -> Saves:
    return Saves(kept=(Kept(math.prod(i)),), view=True)


ACTIVATION_IN_PLACE: dict[str, Callable[[Any, Shape, Shape, Context], Saves | None]] = {}


def _activation(name: str, factory: Callable[[Any], Any], source: Callable[[Any], Source],
                saves: Saves, args: type[Args] = NoArgs,
                caption: Callable[[Any], str] | None = None,
                pytorch: dict[str, str] | None = None,
                inplace: Callable[[Any, Shape, Shape, Context], Saves | None] | None = None
                ) -> None:
    """`saves`: what its backward formula reads, the input or the output
    (tools/autograd/derivatives.yaml: relu, sigmoid and tanh their result, the rest `self`);
    `inplace`: what it keeps when it overwrites its input, if its module can."""
    ACTIVATION_SAVES[name] = saves
    if args is NoArgs:
        ACTIVATIONS[name] = factory
        ACTIVATION_SOURCES[name] = source
    if inplace is not None:
        ACTIVATION_IN_PLACE[name] = inplace
    register(Op(name, args, _same, torch=lambda a, i, o: factory(a),
                source=lambda a, i, o: source(a), saved=lambda a, i, o, c: saves,
                caption=caption or (lambda a: name), doc=f"{name} activation", family="activation",
                example=name if args is NoArgs else f"{name}()", pytorch=pytorch or {},
                inplace=inplace))


class LeakyArgs(Args):
    slope: float = Field(0.01, ge=0)


_activation("relu", lambda a: _nn().ReLU(), lambda a: Source("nn.ReLU"), OUTPUT,
            inplace=lambda a, i, o, c: RESULT_IN_PLACE)
_activation("sigmoid", lambda a: _nn().Sigmoid(), lambda a: Source("nn.Sigmoid"), OUTPUT)
_activation("tanh", lambda a: _nn().Tanh(), lambda a: Source("nn.Tanh"), OUTPUT)
_activation("gelu", lambda a: _nn().GELU(), lambda a: Source("nn.GELU"), INPUT)
_activation("silu", lambda a: _nn().SiLU(), lambda a: Source("nn.SiLU"), INPUT,
            inplace=_copy_in_place)
_activation("relu6", lambda a: _nn().ReLU6(), lambda a: Source("nn.ReLU6"), INPUT,
            inplace=_copy_in_place)
_activation("hardswish", lambda a: _nn().Hardswish(), lambda a: Source("nn.Hardswish"), INPUT,
            inplace=_copy_in_place)
_activation("hardsigmoid", lambda a: _nn().Hardsigmoid(), lambda a: Source("nn.Hardsigmoid"),
            INPUT)
_activation("leaky_relu", lambda a: _nn().LeakyReLU(a.slope),
            lambda a: Source("nn.LeakyReLU", (a.slope,)), INPUT, LeakyArgs,
            lambda a: f"leaky_relu {a.slope:g}")


def _known_activation(v: Any) -> Any:
    if not isinstance(v, str) or v not in ACTIVATIONS:
        raise PydanticCustomError("archc_choice", "must be the name of an activation ({names}), "
                                  "got {got}", {"names": ", ".join(ACTIVATIONS),
                                                "got": _describe(v)})
    return v


class ActivationArgs(Args):
    kind: Annotated[str, PlainValidator(_known_activation)]


register(Op(
    "activation", ActivationArgs, _same,
    torch=lambda a, i, o: ACTIVATIONS[a.kind](a), caption=lambda a: a.kind,
    source=lambda a, i, o: ACTIVATION_SOURCES[a.kind](a),
    doc="an activation chosen by name, for blocks taking one as a parameter: "
        "activation(\"relu6\") is relu6", example='activation("hardswish")', family="activation",
    saved=lambda a, i, o, c: ACTIVATION_SAVES[a.kind],
    inplace=lambda a, i, o, c: ACTIVATION_IN_PLACE[a.kind](a, i, o, c)
    if a.kind in ACTIVATION_IN_PLACE else None,
))
register(Op(
    "softmax", NoArgs, _same,
    torch=lambda a, i, o: _nn().Softmax(dim=-1 if len(i) == 2 else 1),
    source=lambda a, i, o: Source("nn.Softmax", (), {"dim": -1 if len(i) == 2 else 1}),
    caption=lambda a: "softmax", family="activation", example="softmax",
    saved=lambda a, i, o, c: OUTPUT,
    doc="softmax over channels (CxHxW), features (F) or each token's features (NxD)",
))

# ----------------------------------------------------------------------------- pooling


class PoolArgs(Args):
    k: Size
    stride: PoolStride = None
    pad: PoolPadding = 0
    ceil: bool = False


class MaxPoolArgs(Args):
    k: Size
    stride: PoolStride = None
    pad: PoolPadding = 0
    ceil: bool = False
    dilation: Size = 1  # after ceil: positional arguments keep their meaning


def _pool_shape(name: str) -> Callable[[PoolArgs | MaxPoolArgs, Shape], Shape]:
    def rule(a: PoolArgs | MaxPoolArgs, s: Shape) -> Shape:
        c, sizes = spatial(name, s)
        n = len(sizes)
        k, pad = ntuple(a.k, n, name, "k"), ntuple(a.pad, n, name, "pad")
        stride = ntuple(a.k if a.stride is None else a.stride, n, name, "stride")
        dilation = ntuple(getattr(a, "dilation", 1), n, name, "dilation")
        if any(2 * p > kk for p, kk in zip(pad, k, strict=True)):
            raise OpShapeError(f"{name}: pad {a.pad} is more than half the kernel {a.k}",
                               f"use pad <= {a.k // 2}" if isinstance(a.k, int) else
                               "use a pad at most half the kernel along each axis",
                               codes.WINDOW_PAD)
        return (c, *(_window(name, size, kk, st, p, d, a.ceil)
                     for size, kk, st, p, d in zip(sizes, k, stride, pad, dilation,
                                                   strict=True)))
    return rule


def _pool_source(stem: str) -> Callable[[Any, Shape, Shape], Source]:
    # the stride is always written (`nn.MaxPool2d(2, stride=2)`): torch's default, None,
    # means "the kernel size", which a reader should not have to know
    def source(a: Any, i: Shape, o: Shape) -> Source:
        kwargs = {"stride": a.k if a.stride is None else a.stride, "padding": a.pad}
        if hasattr(a, "dilation"):
            kwargs["dilation"] = a.dilation
        return Source(f"nn.{rank_class(stem, i)}", (a.k,), {**kwargs, "ceil_mode": a.ceil},
                      {"padding": 0, "dilation": 1, "ceil_mode": False})
    return source


def _max_saved(o: Shape) -> Saves:
    """Max pooling keeps its input and the int64 index of every output's maximum."""
    return Saves(input=True, kept=(Kept(math.prod(o), "int64"),))


register(Op(
    "maxpool", MaxPoolArgs, _pool_shape("maxpool"),
    torch=lambda a, i, o: _nn_class("MaxPool", i)(a.k, a.stride, a.pad, a.dilation,
                                                  ceil_mode=a.ceil),
    source=_pool_source("MaxPool"),
    caption=lambda a: window_caption("maxpool", a),
    label=lambda a, i: window_caption("maxpool", a, len(i) - 1),
    doc="max pooling, 1-D, 2-D or 3-D from the input; k, stride, pad, dilation an integer or "
        "a tuple with one value per spatial axis: "
        "maxpool(k, stride=k, pad=0, ceil=false, dilation=1)",
    example="maxpool(3, stride=(2, 1), ceil=true)", family="pooling",
    saved=lambda a, i, o, c: _max_saved(o),
    aliases=("max_pool",),
    pytorch={"MaxPool2d": "", "MaxPool1d": R, "MaxPool3d": R},
))
register(Op(
    "avgpool", PoolArgs, _pool_shape("avgpool"),
    torch=lambda a, i, o: _nn_class("AvgPool", i)(a.k, a.stride, a.pad, ceil_mode=a.ceil),
    source=_pool_source("AvgPool"),
    caption=lambda a: window_caption("avgpool", a),
    label=lambda a, i: window_caption("avgpool", a, len(i) - 1),
    doc="average pooling (padding counts as zeros), 1-D, 2-D or 3-D from the input; k, "
        "stride, pad an integer or a tuple with one value per spatial axis: "
        "avgpool(k, stride=k, pad=0, ceil=false)",
    example="avgpool((2, 3), pad=1)", family="pooling", saved=lambda a, i, o, c: INPUT,
    aliases=("avg_pool",),
    pytorch={"AvgPool2d": "", "AvgPool1d": R, "AvgPool3d": R},
))


class AdaptiveArgs(Args):
    h: Annotated[IntSize, PlainValidator(_pair_check(1, MAX_DIM))]
    w: int | None = Field(None, ge=1, le=MAX_DIM)


def _adaptive_size(a: AdaptiveArgs, rank: int) -> tuple[int, ...]:
    """The output's spatial sizes: (h, w or h) on an image, h once per axis (or a tuple of
    them) on a signal or a clip."""
    if a.w is not None:
        if rank != 2 or not isinstance(a.h, int):
            raise OpShapeError("adaptive pool: w is for an image with an integer h; give one "
                               "size per spatial axis as a tuple",
                               code=codes.ARGUMENT_CONFLICT)
        return (a.h, a.w)
    return ntuple(a.h, rank, "adaptive pool", "size")


def _adaptive_shape(a: AdaptiveArgs, s: Shape) -> Shape:
    c, sizes = spatial("adaptive pool", s)
    return (c, *_adaptive_size(a, len(sizes)))


def _adaptive_caption(word: str, a: AdaptiveArgs, rank: int) -> str:
    return f"adaptive {word} " + "x".join(map(str, _adaptive_size(a, rank)))


def _adaptive_arg(a: AdaptiveArgs, i: Shape) -> Any:
    size = _adaptive_size(a, len(i) - 1)
    return size[0] if len(size) == 1 else size


register(Op(
    "adaptive_avgpool", AdaptiveArgs, _adaptive_shape,
    torch=lambda a, i, o: _nn_class("AdaptiveAvgPool", i)(_adaptive_arg(a, i)),
    source=lambda a, i, o: Source(f"nn.{rank_class('AdaptiveAvgPool', i)}",
                                  (_adaptive_arg(a, i),)),
    caption=lambda a: _adaptive_caption("avgpool", a, 2),
    label=lambda a, i: _adaptive_caption("avgpool", a, len(i) - 1),
    doc="adaptive average pooling to a fixed size: adaptive_avgpool(h, w=h) on an image, "
        "adaptive_avgpool(size) on CxL, adaptive_avgpool(size) or ((t, h, w)) on CxTxHxW",
    example="adaptive_avgpool(2, 3)", family="pooling",
    # to a single position torch takes the mean, whose backward needs only the input's size
    saved=lambda a, i, o, c: NOTHING if set(o[1:]) == {1} else INPUT,
    pytorch={"AdaptiveAvgPool2d": "or gap for a 1x1 output", "AdaptiveAvgPool1d": f"{R}; or gap",
             "AdaptiveAvgPool3d": f"{R}; or gap"},
))
register(Op(
    "adaptive_maxpool", AdaptiveArgs, _adaptive_shape,
    torch=lambda a, i, o: _nn_class("AdaptiveMaxPool", i)(_adaptive_arg(a, i)),
    source=lambda a, i, o: Source(f"nn.{rank_class('AdaptiveMaxPool', i)}",
                                  (_adaptive_arg(a, i),)),
    caption=lambda a: _adaptive_caption("maxpool", a, 2),
    label=lambda a, i: _adaptive_caption("maxpool", a, len(i) - 1),
    doc="adaptive max pooling to a fixed size: adaptive_maxpool(h, w=h), one size per "
        "spatial axis as adaptive_avgpool",
    example="adaptive_maxpool(2)", family="pooling", saved=lambda a, i, o, c: _max_saved(o),
    pytorch={"AdaptiveMaxPool2d": "", "AdaptiveMaxPool1d": R, "AdaptiveMaxPool3d": R},
))


def _gap_arg(i: Shape) -> Any:
    return 1 if len(i) == 2 else (1,) * (len(i) - 1)


register(Op(
    "gap", NoArgs, lambda a, s: (spatial("gap", s)[0], *(1,) * (len(s) - 1)),
    torch=lambda a, i, o: _nn_class("AdaptiveAvgPool", i)(_gap_arg(i)),
    source=lambda a, i, o: Source(f"nn.{rank_class('AdaptiveAvgPool', i)}", (_gap_arg(i),)),
    caption=lambda a: "global avgpool",
    doc="global average pooling to Cx1, Cx1x1 or Cx1x1x1 (nn.AdaptiveAvgPool2d((1, 1)) on "
        "an image)",
    example="gap", family="pooling", saved=lambda a, i, o, c: NOTHING,
    aliases=("global_avgpool", "global_avg_pool", "globalaveragepooling2d", "global_pool"),
))

# ----------------------------------------------------------------------------- structure


def _reshape_saved(i: Shape, c: Context) -> Saves:
    """A reshape keeps nothing; it is a view of its input unless the input's layout keeps
    the elements from lining up (an image stored channels-last, tokens stored transposed),
    when it copies them."""
    if c.layout == CONTIGUOUS or sum(d > 1 for d in i) <= 1 or \
            (c.layout == NHWC and i[1] * i[2] == 1):
        return VIEW
    return Saves(layout=CONTIGUOUS)


register(Op(
    "flatten", NoArgs, lambda a, s: (math.prod(s),),
    torch=lambda a, i, o: _nn().Flatten(), source=lambda a, i, o: Source("nn.Flatten"),
    caption=lambda a: "flatten",
    doc="flatten everything but the batch axis",
    example="flatten", saved=lambda a, i, o, c: _reshape_saved(i, c),
))


class DropoutArgs(Args):
    p: float = Field(0.5, ge=0, lt=1)


def _dropout_saved(a: DropoutArgs, i: Shape, c: Context) -> Saves:
    """Training dropout keeps its mask: a bool tensor from CUDA's fused kernel, elsewhere
    the scaled noise it multiplies by, in the activations' dtype (at::dropout,
    is_fused_kernel_acceptable); with p = 0 or in eval it returns its input."""
    if not c.training or a.p == 0:
        return VIEW
    return Saves(kept=(Kept(math.prod(i), "bool" if c.device == "cuda" else ACT),))


register(Op(
    "dropout", DropoutArgs, _same, torch=lambda a, i, o: _nn().Dropout(a.p),
    source=lambda a, i, o: Source("nn.Dropout", (a.p,)),
    caption=lambda a: f"dropout {a.p:g}", doc="dropout: dropout(p=0.5), 0 <= p < 1",
    example="dropout(0.25)", family="dropout", saved=lambda a, i, o, c: _dropout_saved(a, i, c),
    aliases=("drop", "dropout2d"),
))
register(Op(
    "identity", NoArgs, _same, torch=lambda a, i, o: _nn().Identity(),
    source=lambda a, i, o: Source("nn.Identity"),
    caption=lambda a: "identity", doc="pass the input through unchanged",
    example="identity", saved=lambda a, i, o, c: VIEW,
))

# The ops of modern networks (norms over channels, tokens, attention, ...) register
# themselves from their own modules, which import this one.
from archc.registry import ops_lm, ops_modern, ops_tokens, ops_windows  # noqa: E402,F401  (registration)


