"""The op registry, continued: windowed attention on CxHxW, what Swin (v1 and v2) and MaxViT
are made of besides layernorm, channel_linear, gelu and stochastic_depth. Three ops:
`window_attention` (Swin's shifted windows with a relative position bias, or v2's cosine
attention with a continuous position bias), `partition_attention` (MaxViT's block and grid
attention) and `patch_concat` (Swin's patch merging before its norm and linear). Why ops over
the image and not a rearrange the language composes: see the README's "Windowed attention".
Records as in archc/registry/ops.py; the modules live in archc/emit/layers_windows.py."""

from __future__ import annotations

import math
from typing import Any

from archc.core import codes
from archc.core.graph import Shape
from archc.core.limits import MAX_DIM
from archc.core.saving import ACT, CONTIGUOUS, MODEL, NHWC, Context, Kept, Saves
from archc.core.schema import Field
from archc.registry.ops import (
    Args,
    Op,
    OpLimitError,
    OpShapeError,
    Source,
    need_rank,
    register,
)


def _layers() -> Any:
    from archc.emit import layers_windows  # torch: only when a module is built

    return layers_windows


def _heads(op: str, heads: int, c: int) -> None:
    if c % heads:
        raise OpShapeError(f"{op}: {c} channels do not divide into {heads} heads",
                           "the channels must be a multiple of the heads", codes.GROUPS)


# ----------------------------------------------------------------------------- patch merging


class PatchConcatArgs(Args):
    k: int = Field(2, ge=1, le=64)


def _patch_concat_shape(a: PatchConcatArgs, s: Shape) -> Shape:
    c, h, w = need_rank("patch_concat", s, (3,))
    if c * a.k * a.k > MAX_DIM:
        raise OpLimitError(f"patch_concat: {c * a.k * a.k} channels exceed {MAX_DIM}")
    return (c * a.k * a.k, -(-h // a.k), -(-w // a.k))


register(Op(
    "patch_concat", PatchConcatArgs, _patch_concat_shape,
    torch=lambda a, i, o: _layers().PatchConcat(a.k),
    source=lambda a, i, o: Source("PatchConcat", (a.k,), support=("PatchConcat",)),
    caption=lambda a: f"patch concat {a.k}x{a.k}",
    doc="CxHxW -> (k*k*C)x(H/k)x(W/k), H and W padded with zeros up to multiples of k: each "
        "k x k neighbourhood's pixels side by side along the channels, in Swin's order "
        "(x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]); with layernorm and "
        "channel_linear(2 * C, bias=false) it is Swin's PatchMerging: patch_concat(k=2)",
    example="patch_concat(2)",
    # slices and a torch.cat (after a pad): nothing kept, a new contiguous tensor
    saved=lambda a, i, o, c: Saves(layout=CONTIGUOUS),
    aliases=("patch_merging", "patchmerging", "space_to_depth"),
))

# ----------------------------------------------------------------------------- Swin


class WindowAttentionArgs(Args):
    heads: int = Field(ge=1, le=MAX_DIM)
    window: int = Field(7, ge=2, le=64)
    shift: int = Field(0, ge=0, le=64)
    cosine: bool = False
    attention_dropout: float = Field(0.0, ge=0, lt=1)
    dropout: float = Field(0.0, ge=0, lt=1)


CPB_HIDDEN = 512  # Swin v2's continuous position bias MLP: 2 -> 512 -> heads


def _padded(a: WindowAttentionArgs, i: Shape) -> tuple[int, int]:
    return (-(-i[1] // a.window) * a.window, -(-i[2] // a.window) * a.window)


def _window_attention_shape(a: WindowAttentionArgs, s: Shape) -> Shape:
    c, h, w = need_rank("window_attention", s, (3,))
    _heads("window_attention", a.heads, c)
    if a.shift >= a.window:
        raise OpShapeError(f"window_attention: shift {a.shift} must be smaller than the "
                           f"window {a.window}", "Swin shifts by window // 2",
                           codes.ARGUMENT_RANGE)
    return s


def _window_attention_params(a: WindowAttentionArgs, i: Shape) -> int:
    c = i[0]
    qkv_proj = 4 * c * c + 4 * c
    if a.cosine:  # logit scale per head, the MLP 2 -> 512 (bias) -> heads (no bias)
        return qkv_proj + a.heads + 3 * CPB_HIDDEN + CPB_HIDDEN * a.heads
    return qkv_proj + (2 * a.window - 1) ** 2 * a.heads


def _window_attention_macs(a: WindowAttentionArgs, i: Shape) -> int:
    """qkv and proj on every padded position, Q K^T and the weighted sum of V within each
    window; v2's bias MLP runs once per forward on the (2w-1)^2 offsets (counted once, as
    at batch 1)."""
    c, (ph, pw) = i[0], _padded(a, i)
    tokens = ph * pw
    macs = 4 * tokens * c * c + 2 * tokens * a.window * a.window * c
    if a.cosine:
        macs += (2 * a.window - 1) ** 2 * (2 * CPB_HIDDEN + CPB_HIDDEN * a.heads)
    return macs


def _window_attention_source(a: WindowAttentionArgs, i: Shape, o: Shape) -> Source:
    return Source("WindowAttention", (i[0], a.heads, a.window),
                  {"shift": a.shift, "cosine": a.cosine,
                   "attention_dropout": a.attention_dropout, "dropout": a.dropout},
                  {"shift": 0, "cosine": False, "attention_dropout": 0.0, "dropout": 0.0},
                  support=("WindowAttention",))


def _window_attention_caption(a: WindowAttentionArgs) -> str:
    shift = f", shift {a.shift}" if a.shift else ""
    return (f"{'cosine ' if a.cosine else ''}window attention {a.window}x{a.window}, "
            f"{a.heads} heads{shift}")


register(Op(
    "window_attention", WindowAttentionArgs, _window_attention_shape,
    torch=lambda a, i, o: _layers().WindowAttention(i[0], a.heads, a.window, a.shift,
                                                    a.cosine, a.attention_dropout, a.dropout),
    source=_window_attention_source, caption=_window_attention_caption,
    params=lambda a, i, o: _window_attention_params(a, i),
    macs=lambda a, i, o: _window_attention_macs(a, i),
    doc="Swin's (shifted) window attention on CxHxW: the map padded to whole windows of "
        "window x window positions, rolled by -shift (with the mask between regions that "
        "the roll brings together), multi-head self-attention within each window plus a "
        "learned relative position bias, rolled back and unpadded. cosine=true is Swin v2's: "
        "cosine similarity times a learned per-head logit scale, the bias from an MLP of "
        "log-spaced relative coordinates, no key bias. Parameters named as torchvision's "
        "ShiftedWindowAttention(V2); v2's bias MLP runs once per forward, counted in the "
        "per-sample MACs as at batch 1: window_attention(heads, window=7, shift=0, "
        "cosine=false, attention_dropout=0, dropout=0)",
    example="window_attention(2, window=4, shift=2)", example_input="8x6x6",
    family="attention", saved=lambda a, i, o, c: _window_attention_saved(a, i, c),
    aliases=("shifted_window_attention", "swin_attention", "shiftedwindowattention",
             "shiftedwindowattentionv2"),
))


def _window_attention_saved(a: WindowAttentionArgs, i: Shape, c: Context) -> Saves:
    """Measured with saved_tensors_hooks (tests/test_memory_train.py), per sample: the windows
    (the input permuted, padded, rolled and cut: always a copy, qkv's input), the softmax's
    output (one N x N matrix per head and window), the attention's output (proj's input); v1
    the contiguous copies matmul makes of q (scaled), k and v; v2 the whole q, k, v projection
    (F.normalize keeps q and k, views of it), each norm and its clamp (one number per head
    and token), the normalised q and k as matmul copies them, the cosine matrix (times the
    logit scale) and v's copy. Once per forward: the bias table's int64 index; v2 its
    exp(logit scale) per head, the MLP's input and hidden layer, and the sigmoid's output.
    Dropout keeps its masks (activation-typed on the CPU, bool on CUDA) and the dropped-out
    weights."""
    ch, (ph, pw) = i[0], _padded(a, i)
    tokens, n = ph * pw, a.window * a.window
    x = Kept(tokens * ch)
    weights = Kept(a.heads * tokens * n)
    once: tuple[Kept, ...] = (Kept(n * n, "int64", per_sample=False),)
    kept: tuple[Kept, ...]
    if a.cosine:
        side = (2 * a.window - 1) ** 2
        kept = (x, Kept(3 * tokens * ch), *(Kept(a.heads * tokens),) * 4, x, x, weights,
                weights, x, x)
        once += (Kept(a.heads, MODEL, per_sample=False), Kept(2 * side, per_sample=False),
                 Kept(CPB_HIDDEN * side, per_sample=False),
                 Kept(a.heads * n * n, per_sample=False))
    else:
        kept = (x, x, x, weights, x, x)
    mask = "bool" if c.device == "cuda" else ACT
    if c.training and a.attention_dropout > 0:
        kept += (Kept(weights.elements, mask), weights)
    if c.training and a.dropout > 0:
        kept += (Kept(tokens * ch, mask),)
    return Saves(kept=kept + once, layout=NHWC)


# ----------------------------------------------------------------------------- MaxViT


class PartitionAttentionArgs(Args):
    heads: int = Field(ge=1, le=MAX_DIM)
    size: int = Field(7, ge=1, le=64)
    grid: bool = False


def _partition_attention_shape(a: PartitionAttentionArgs, s: Shape) -> Shape:
    c, h, w = need_rank("partition_attention", s, (3,))
    _heads("partition_attention", a.heads, c)
    kind = "grids" if a.grid else "windows"
    if h % a.size or w % a.size:
        raise OpShapeError(f"partition_attention: a {h}x{w} map does not divide into "
                           f"{a.size}x{a.size} {kind}",
                           f"use an input whose maps here are multiples of {a.size}",
                           codes.WINDOWS)
    if a.grid and h != w:
        raise OpShapeError(f"partition_attention: grid=true on a {h}x{w} map: MaxViT's grids "
                           "take square maps", code=codes.WINDOWS)
    return s


register(Op(
    "partition_attention", PartitionAttentionArgs, _partition_attention_shape,
    torch=lambda a, i, o: _layers().PartitionAttention(i[0], a.heads, a.size, a.grid),
    source=lambda a, i, o: Source("PartitionAttention", (i[0], a.heads, a.size),
                                  {"grid": a.grid}, {"grid": False},
                                  support=("PartitionAttention",)),
    caption=lambda a: f"{'grid' if a.grid else 'block'} attention {a.size}x{a.size}, "
                      f"{a.heads} heads",
    # to_qkv and merge with biases, a bias table of (2 size - 1)^2 offsets per head
    params=lambda a, i, o: 4 * i[0] * i[0] + 4 * i[0] + (2 * a.size - 1) ** 2 * a.heads,
    macs=lambda a, i, o: 4 * math.prod(i[1:]) * i[0] * i[0]
    + 2 * math.prod(i[1:]) * a.size * a.size * i[0],
    doc="MaxViT's block attention (grid=false: size x size windows) or grid attention "
        "(grid=true: size x size tokens spaced H/size apart) on CxHxW: multi-head "
        "self-attention within each partition plus a learned relative position bias, keys "
        "scaled by C^-0.5 as torchvision's RelativePositionalMultiHeadAttention scales them; "
        "H and W must be multiples of size. Parameters named as torchvision's (to_qkv, merge, "
        "relative_position_bias_table): partition_attention(heads, size=7, grid=false)",
    example="partition_attention(2, size=3, grid=true)", example_input="8x6x6",
    family="attention", saved=lambda a, i, o, c: _partition_attention_saved(a, i, c),
    aliases=("grid_attention", "block_attention", "maxvit_attention",
             "partitionattentionlayer", "relativepositionalmultiheadattention"),
))


def _partition_attention_saved(a: PartitionAttentionArgs, i: Shape, c: Context) -> Saves:
    """Measured with saved_tensors_hooks, per sample: the partitioned input (to_qkv's input:
    a copy, or the input itself where the reshape is a view of a channels-last input, with
    one partition per row or one token per partition), the contiguous copies the einsums make
    of q, k (scaled) and v, the softmax's output and the attention's output (merge's input);
    once per forward the bias table's int64 index. The output is made contiguous."""
    ch, h, w = i
    tokens, n = h * w, a.size * a.size
    p = h // a.size if a.grid else a.size
    view = c.layout == NHWC and (p == 1 or p == w)
    x = Kept(tokens * ch)
    kept = (x,) * (4 if view else 5) + (Kept(a.heads * tokens * n),
                                        Kept(n * n, "int64", per_sample=False))
    return Saves(input=view, kept=kept, layout=CONTIGUOUS)
