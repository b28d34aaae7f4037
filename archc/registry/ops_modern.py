"""The op registry, continued: the layers of networks designed since 2016 (layer and group
norm, a per-channel layer scale, stochastic depth, a linear map over channels, channel
shuffle, transposed convolution, upsampling). Records as in archc/registry/ops.py; the torch modules
torch.nn lacks live in archc/emit/layers.py, imported only by the factories. (Over 400 lines:
records, one per op, each beside its shape and count rules.)"""

from __future__ import annotations

import math
from typing import Any, Literal

from archc.core import codes
from archc.core.graph import Shape
from archc.core.limits import MAX_DIM
from archc.core.saving import CONTIGUOUS, INPUT, NHWC, NOTHING, VIEW, Context, Kept, Saves
from archc.core.schema import Field
from archc.registry.ops import (
    Args,
    Op,
    OpLimitError,
    OpShapeError,
    Padding,
    Size,
    Source,
    _nn,
    check_groups,
    fmt_shape,
    need_rank,
    ntuple,
    rank_class,
    register,
    show_size,
    spatial,
    window_caption,
    xavier_init,
)


def _layers() -> Any:
    from archc.emit import layers  # torch: only when a module is built

    return layers


def _channels(s: Shape) -> int:
    """The axis norms, scales and per-position linears act on: C of CxHxW, F, or D of NxD."""
    return s[-1] if len(s) == 2 else s[0]


# ----------------------------------------------------------------------------- norms


class LayerNormArgs(Args):
    eps: float = Field(1e-5, gt=0, lt=1)
    affine: bool = True


def _layernorm_torch(a: LayerNormArgs, i: Shape, o: Shape) -> Any:
    cls = _layers().LayerNorm2d if len(i) == 3 else _nn().LayerNorm
    return cls(_channels(i), eps=a.eps, elementwise_affine=a.affine)


def _layernorm_source(a: LayerNormArgs, i: Shape, o: Shape) -> Source:
    image = len(i) == 3
    return Source("LayerNorm2d" if image else "nn.LayerNorm", (_channels(i),),
                  {"eps": a.eps, "elementwise_affine": a.affine},
                  {"eps": 1e-5, "elementwise_affine": True},
                  support=("LayerNorm2d",) if image else ())


def _layernorm_saved(i: Shape) -> Saves:
    """native_layer_norm keeps its input (an image's permuted view of it) and a mean and an
    inverse std per normalised position; an image comes out channels-last (LayerNorm2d
    permutes back a contiguous NHWC result)."""
    positions = i[1] * i[2] if len(i) == 3 else i[0] if len(i) == 2 else 1
    return Saves(input=True, kept=(Kept(positions),) * 2,
                 layout=NHWC if len(i) == 3 else CONTIGUOUS)


register(Op(
    "layernorm", LayerNormArgs, lambda a, s: need_rank("layernorm", s, (3, 2, 1)),
    torch=_layernorm_torch, source=_layernorm_source, caption=lambda a: "layernorm",
    params=lambda a, i, o: 2 * _channels(i) if a.affine else 0,
    doc="layer normalisation over the channels of every position of CxHxW (convnext's "
        "LayerNorm2d), over F, or over each token's D features: layernorm(eps=1e-5)",
    example="layernorm(eps=1e-6)", family="norm", saved=lambda a, i, o, c: _layernorm_saved(i),
    aliases=("ln",),
    pytorch={"layer_norm": "the normalized shape is inferred"},
    fresh=True,
))


class GroupNormArgs(Args):
    groups: int = Field(ge=1, le=MAX_DIM)
    eps: float = Field(1e-5, gt=0, lt=1)
    affine: bool = True


def _groupnorm_shape(a: GroupNormArgs, s: Shape) -> Shape:
    need_rank("groupnorm", s, (4, 3, 2, 1))
    if s[0] % a.groups:
        raise OpShapeError(f"groupnorm: {s[0]} channels do not divide into {a.groups} groups",
                           "choose a number of groups that divides the channels", codes.GROUPS)
    return s


register(Op(
    "groupnorm", GroupNormArgs, _groupnorm_shape,
    torch=lambda a, i, o: _nn().GroupNorm(a.groups, i[0], eps=a.eps, affine=a.affine),
    source=lambda a, i, o: Source("nn.GroupNorm", (a.groups, i[0]),
                                  {"eps": a.eps, "affine": a.affine},
                                  {"eps": 1e-5, "affine": True}),
    caption=lambda a: f"groupnorm {a.groups}",
    params=lambda a, i, o: 2 * i[0] if a.affine else 0,
    doc="group normalisation of CxL, CxHxW, CxTxHxW (or F) in `groups` groups of channels: "
        "groupnorm(groups, eps=1e-5, affine=true)",
    example="groupnorm(3)", family="norm",
    # native_group_norm keeps its input and a mean and an inverse std per group
    saved=lambda a, i, o, c: Saves(input=True, kept=(Kept(a.groups),) * 2),
    aliases=("gn",),
    pytorch={"group_norm": ""},
    fresh=True,
))


class ScaleArgs(Args):
    init: float = 1e-6


def _scale_torch(a: ScaleArgs, i: Shape, o: Shape) -> Any:
    import torch

    shape = (i[0], 1, 1) if len(i) == 3 else (i[-1],)
    return _layers().Inline(torch.nn.Parameter(torch.full(shape, a.init)), _layers().scale)


def _scale_source(a: ScaleArgs, i: Shape, o: Shape) -> Source:
    shape = (i[0], 1, 1) if len(i) == 3 else (i[-1],)
    return Source("nn.Parameter", (Source("torch.full", (shape, a.init)),), apply="{p} * {x}")


register(Op(
    "layer_scale", ScaleArgs, lambda a, s: need_rank("layer_scale", s, (3, 2, 1)),
    torch=_scale_torch, source=_scale_source, caption=lambda a: f"layer scale {a.init:g}",
    params=lambda a, i, o: _channels(i), inline=True,
    doc="a learnable scale per channel (CxHxW: a Cx1x1 parameter, as convnext's CNBlock) or "
        "per feature, starting at `init`; the parameter is named after the layer: "
        "layer_scale(init=1e-6)",
    example="layer_scale(0.1)", family="norm",
    saved=lambda a, i, o, c: INPUT,  # gamma * x: x, for gamma's gradient
    aliases=("layerscale",),
))

# ----------------------------------------------------------------------------- regularisers


class StochasticDepthArgs(Args):
    p: float = Field(ge=0, le=1)


register(Op(
    "stochastic_depth", StochasticDepthArgs, lambda a, s: s,
    torch=lambda a, i, o: _layers().StochasticDepth(a.p),
    source=lambda a, i, o: Source("StochasticDepth", (a.p,), support=("StochasticDepth",)),
    caption=lambda a: f"stochastic depth {a.p:g}",
    doc="while training, zero a whole sample with probability p and scale the rest by "
        "1/(1-p); the identity in eval (torchvision's StochasticDepth(p, mode=\"row\")): "
        "stochastic_depth(p)",
    example="stochastic_depth(0.2)", family="dropout",
    # x * noise keeps the noise, one number per sample; in eval or with p = 0 it returns x
    saved=lambda a, i, o, c: Saves(kept=(Kept(1),)) if c.training and a.p > 0 else VIEW,
    aliases=("drop_path", "droppath", "drop_connect"),
    pytorch={"StochasticDepth": ""},
))

# ----------------------------------------------------------------------------- channels


class ChannelLinearArgs(Args):
    out: int = Field(ge=1, le=MAX_DIM)
    bias: bool = True


def _channel_linear_shape(a: ChannelLinearArgs, s: Shape) -> Shape:
    c, h, w = need_rank("channel_linear", s, (3,))
    return (a.out, h, w)


def _channel_linear_saved(i: Shape, c: Context) -> Saves:
    """F.linear on the input permuted channels-last: a view of a channels-last input, kept
    as it is; a contiguous one is copied to lay its channels out last, and the copy kept.
    The output is the permuted view of a contiguous NHWC result."""
    if c.layout == NHWC or i[1] * i[2] == 1:
        return Saves(input=True, layout=NHWC)
    return Saves(kept=(Kept(math.prod(i)),), layout=NHWC)


register(Op(
    "channel_linear", ChannelLinearArgs, _channel_linear_shape,
    torch=lambda a, i, o: _layers().ChannelLinear(i[0], a.out, a.bias),
    source=lambda a, i, o: Source("ChannelLinear", (i[0], a.out), {"bias": a.bias},
                                  {"bias": True}, support=("ChannelLinear",)),
    caption=lambda a: f"channel linear {a.out}",
    params=lambda a, i, o: i[0] * a.out + (a.out if a.bias else 0),
    macs=lambda a, i, o: math.prod(o) * i[0],
    doc="a linear map over the channels at every position of CxHxW, an nn.Linear in "
        "channels-last order (ConvNeXt): channel_linear(out, bias=true)",
    example="channel_linear(5)", family="linear", init=xavier_init,
    saved=lambda a, i, o, c: _channel_linear_saved(i, c),
))


class ShuffleArgs(Args):
    groups: int = Field(ge=1, le=MAX_DIM)


def _shuffle_shape(a: ShuffleArgs, s: Shape) -> Shape:
    need_rank("channel_shuffle", s, (3,))
    if s[0] % a.groups:
        raise OpShapeError(f"channel_shuffle: {s[0]} channels do not divide into {a.groups} "
                           "groups", code=codes.GROUPS)
    return s


register(Op(
    "channel_shuffle", ShuffleArgs, _shuffle_shape,
    torch=lambda a, i, o: _nn().ChannelShuffle(a.groups),
    source=lambda a, i, o: Source("nn.ChannelShuffle", (a.groups,)),
    caption=lambda a: f"channel shuffle {a.groups}",
    doc="interleave the channels of `groups` groups (ShuffleNet): channel_shuffle(groups)",
    example="channel_shuffle(3)", saved=lambda a, i, o, c: NOTHING,  # views and a copy
    aliases=("shuffle",),
    pytorch={"ChannelShuffle": ""},
))

# ----------------------------------------------------------------------------- resampling


class ConvTransposeArgs(Args):
    out: int = Field(ge=1, le=MAX_DIM)
    k: Size
    stride: Size = 1
    pad: Padding = 0
    output_pad: Padding = 0
    dilation: Size = 1
    groups: int = Field(1, ge=1, le=MAX_DIM)
    bias: bool = True


def _transposed(size: int, k: int, stride: int, pad: int, out_pad: int, dilation: int) -> int:
    if out_pad >= stride and out_pad >= dilation:
        raise OpShapeError(f"conv_transpose: output_pad {out_pad} must be smaller than the "
                           f"stride {stride} or the dilation {dilation}",
                           code=codes.ARGUMENT_RANGE)
    out = (size - 1) * stride - 2 * pad + dilation * (k - 1) + out_pad + 1
    if out < 1:
        raise OpShapeError(f"conv_transpose: output size {out} < 1: input size {size}, kernel "
                           f"{k}, stride {stride}, pad {pad}", "use less padding",
                           codes.SIZE_BELOW_ONE)
    if out > MAX_DIM:
        raise OpLimitError(f"conv_transpose: output size {out} exceeds {MAX_DIM}")
    return out


def _conv_transpose_shape(a: ConvTransposeArgs, s: Shape) -> Shape:
    c, sizes = spatial("conv_transpose", s)
    check_groups("conv_transpose", a, c)
    n = len(sizes)
    args = zip(*(ntuple(getattr(a, f), n, "conv_transpose", f)
                 for f in ("k", "stride", "pad", "output_pad", "dilation")), strict=True)
    return (a.out, *(_transposed(size, *w) for size, w in zip(sizes, args, strict=True)))


def _kernel(a: Any, i: Shape) -> int:
    return math.prod(ntuple(a.k, len(i) - 1))


register(Op(
    "conv_transpose", ConvTransposeArgs, _conv_transpose_shape,
    torch=lambda a, i, o: getattr(_nn(), rank_class("ConvTranspose", i))(
        i[0], a.out, a.k, a.stride, a.pad, a.output_pad, a.groups, a.bias, a.dilation),
    source=lambda a, i, o: Source(
        f"nn.{rank_class('ConvTranspose', i)}", (i[0], a.out, a.k),
        {"stride": a.stride, "padding": a.pad, "output_padding": a.output_pad,
         "groups": a.groups, "bias": a.bias, "dilation": a.dilation},
        {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "bias": True,
         "dilation": 1}),
    caption=lambda a: window_caption("conv_transpose", a).replace(", /", ", x"),
    label=lambda a, i: window_caption("conv_transpose", a, len(i) - 1).replace(", /", ", x"),
    params=lambda a, i, o: i[0] * (a.out // a.groups) * _kernel(a, i)
    + (a.out if a.bias else 0),
    # what a transposed conv multiplies: every input position by every kernel weight
    macs=lambda a, i, o: math.prod(i[1:]) * i[0] * (a.out // a.groups) * _kernel(a, i),
    doc="transposed convolution (up-convolution), 1-D, 2-D or 3-D from the input: output size "
        "(in - 1) * stride - 2 * pad + dilation * (k - 1) + output_pad + 1 per spatial axis: "
        "conv_transpose(out, k, stride=1, pad=0, output_pad=0, dilation=1, groups=1, "
        "bias=true)",
    example="conv_transpose(4, k=2, stride=2)", family="conv", init=xavier_init,
    saved=lambda a, i, o, c: INPUT,
    aliases=("upconv", "deconv", "transposed_conv"),
    pytorch={"ConvTranspose2d": "", "ConvTranspose1d": "the rank is the input's",
             "ConvTranspose3d": "the rank is the input's"},
    fresh=True,
))


class UpsampleArgs(Args):
    scale: Size = 2
    mode: Literal["nearest", "linear", "bilinear", "trilinear"] = "nearest"
    align_corners: bool | None = None


# torch's interpolating mode for each number of spatial axes
_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _upsample_shape(a: UpsampleArgs, s: Shape) -> Shape:
    c, sizes = spatial("upsample", s)
    if a.mode == "nearest" and a.align_corners is not None:
        raise OpShapeError("upsample: align_corners applies to an interpolating mode "
                           "(linear, bilinear, trilinear) only", code=codes.ARGUMENT_CONFLICT)
    if a.mode != "nearest" and a.mode != _LINEAR[len(sizes)]:
        raise OpShapeError(f"upsample: mode=\"{a.mode}\" interpolates "
                           f"{list(_LINEAR.values()).index(a.mode) + 1}-D, the input "
                           f"{fmt_shape(s)} has {len(sizes)} spatial axes",
                           f"use mode=\"{_LINEAR[len(sizes)]}\"", codes.ARGUMENT_CONFLICT)
    out = (c, *(n * f for n, f in zip(sizes, ntuple(a.scale, len(sizes), "upsample", "scale"),
                                        strict=True)))
    if max(out) > MAX_DIM:
        raise OpLimitError(f"upsample: output {fmt_shape(out)} exceeds {MAX_DIM} per axis")
    return out


def _scale(a: UpsampleArgs, i: Shape) -> tuple[float, ...]:
    return tuple(float(x) for x in ntuple(a.scale, len(i) - 1))


def _upsample_torch(a: UpsampleArgs, i: Shape, o: Shape) -> Any:
    align = bool(a.align_corners) if a.mode != "nearest" else None
    return _nn().Upsample(scale_factor=_scale(a, i), mode=a.mode, align_corners=align)


def _upsample_source(a: UpsampleArgs, i: Shape, o: Shape) -> Source:
    align = bool(a.align_corners) if a.mode != "nearest" else None
    return Source("nn.Upsample", (), {"scale_factor": _scale(a, i), "mode": a.mode,
                                      "align_corners": align},
                  {"align_corners": None})


register(Op(
    "upsample", UpsampleArgs, _upsample_shape, torch=_upsample_torch,
    source=_upsample_source,
    caption=lambda a: f"upsample x{_show(a.scale)} {a.mode}",
    label=lambda a, i: f"upsample x{show_size(a.scale, 1)} {a.mode}",
    doc="enlarge every spatial axis (of CxL, CxHxW or CxTxHxW) by an integer factor (or a "
        "tuple, one per axis), by nearest neighbour or linear interpolation (mode=\"linear\", "
        "\"bilinear\" or \"trilinear\" by the rank): upsample(scale=2, mode=\"nearest\", "
        "align_corners=none)",
    example='upsample(2, mode="bilinear")', family="pooling",
    saved=lambda a, i, o, c: NOTHING,  # its backward needs only the sizes
    aliases=("interpolate", "upsampling"),
    pytorch={"UpsamplingNearest2d": 'mode="nearest"', "UpsamplingBilinear2d": 'mode="bilinear"'},
))


def _show(v: int | tuple[int, ...]) -> str:
    return str(v) if isinstance(v, int) else "x".join(map(str, v))


class ResizeArgs(Args):
    h: int | None = Field(None, ge=1, le=MAX_DIM)
    w: int | None = Field(None, ge=1, le=MAX_DIM)
    like: tuple[int, ...] | None = None  # the shape of a tap (`like=low`: the expander's)
    mode: Literal["nearest", "bilinear"] = "bilinear"
    align_corners: bool | None = None


def _resize_size(a: ResizeArgs) -> tuple[int, int]:
    if a.like is not None:
        if a.h is not None or a.w is not None:
            raise OpShapeError("resize: give a size (h, w) or like=TAP, not both",
                               code=codes.ARGUMENT_CONFLICT)
        if len(a.like) != 3:
            raise OpShapeError(f"resize: like= names a tap of shape {fmt_shape(a.like)}, not "
                               "an image CxHxW")
        return a.like[1], a.like[2]
    if a.h is None:
        raise OpShapeError("resize: give the size, resize(h, w), or like=TAP",
                           code=codes.MISSING_ARGUMENT)
    return a.h, a.w if a.w is not None else a.h


def _resize_shape(a: ResizeArgs, s: Shape) -> Shape:
    c, _, _ = need_rank("resize", s, (3,))
    if a.mode == "nearest" and a.align_corners is not None:
        raise OpShapeError("resize: align_corners applies to mode=\"bilinear\" only",
                           code=codes.ARGUMENT_CONFLICT)
    return (c, *_resize_size(a))


def _resize_kwargs(a: ResizeArgs) -> dict[str, Any]:
    # F.interpolate(x, size, mode="bilinear", align_corners=False), as torchvision's
    # segmentation heads call it
    return {"size": _resize_size(a), "mode": a.mode,
            "align_corners": bool(a.align_corners) if a.mode == "bilinear" else None}


register(Op(
    "resize", ResizeArgs, _resize_shape,
    torch=lambda a, i, o: _nn().Upsample(**_resize_kwargs(a)),
    source=lambda a, i, o: Source("nn.Upsample", (), _resize_kwargs(a), {"align_corners": None}),
    caption=lambda a: "resize {}x{} {}".format(*_resize_size(a), a.mode),
    doc="resample height and width to a fixed size (the network's input size: in.h, in.w) "
        "or to a tap's (like=low), bilinear (align_corners=false unless set) or nearest: "
        "resize(h, w=h, like=none, mode=\"bilinear\", align_corners=none)",
    example="resize(12, 16)", family="pooling",
    saved=lambda a, i, o, c: NOTHING,  # its backward needs only the sizes
    tap_args=("like",),
))
