"""The op registry, continued: tokens. A tokens shape NxD is N tokens of D features each
(the batch axis implicit, as everywhere). These ops make tokens from an image, add a class
token and a position embedding, mix tokens by multi-head self-attention and select one; with
`linear` (per token), `layernorm`, `gelu`, `dropout` and `add` they write torchvision's
VisionTransformer with its parameter names. Records as in archc/ops.py."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from . import codes
from .graph import Shape
from .limits import MAX_DIM
from .ops import Args, NoArgs, Op, OpLimitError, OpShapeError, Source, need_rank, register
from .saving import CONTIGUOUS, NHWC, NOTHING, TRANSPOSED, Context, Kept, Saves


def _layers() -> Any:
    from .emit import layers  # torch: only when a module is built

    return layers


def _tokens_shape(a: Any, s: Shape) -> Shape:
    c, h, w = need_rank("tokens", s, (3,))
    if h * w > MAX_DIM:
        raise OpLimitError(f"tokens: {h * w} tokens exceed {MAX_DIM}")
    return (h * w, c)


def _tokens_saved(c: Context) -> Saves:
    """A reshape and a permute: a view, laid out transposed unless the image was stored
    channels-last."""
    return Saves(view=True, layout=CONTIGUOUS if c.layout == NHWC else TRANSPOSED)


register(Op(
    "tokens", NoArgs, _tokens_shape,
    torch=lambda a, i, o: _layers().Tokens(), caption=lambda a: "to tokens",
    source=lambda a, i, o: Source("Tokens", support=("Tokens",)),
    doc="CxHxW -> (H*W)xC: every position a token of C features, row by row (after a "
        "patch-embedding conv(d, k=p, stride=p), as VisionTransformer does)",
    example="tokens", saved=lambda a, i, o, c: _tokens_saved(c),
))


def _class_token_torch(a: Any, i: Shape, o: Shape) -> Any:
    import torch

    return _layers().Inline(torch.nn.Parameter(torch.zeros(1, 1, i[1])),
                            _layers().prepend_token)


def _class_token_shape(a: Any, s: Shape) -> Shape:
    n, d = need_rank("class_token", s, (2,))
    return (n + 1, d)


register(Op(
    "class_token", NoArgs, _class_token_shape, torch=_class_token_torch,
    source=lambda a, i, o: Source(
        "nn.Parameter", (Source("torch.zeros", (1, 1, i[1])),),
        apply="torch.cat([{p}.expand({x}.shape[0], -1, -1), {x}], dim=1)"),
    caption=lambda a: "class token", params=lambda a, i, o: i[1], inline=True,
    doc="NxD -> (N+1)xD: a learnable token (starting at zeros) put before the others; the "
        "parameter is named after the layer (VisionTransformer's class_token)",
    example="class_token", example_input="4x6",
    saved=lambda a, i, o, c: Saves(layout=CONTIGUOUS),  # torch.cat keeps nothing
    aliases=("cls_token",),
))


def _pos_torch(a: Any, i: Shape, o: Shape) -> Any:
    import torch

    pos = torch.nn.Parameter(torch.empty(1, *i).normal_(std=0.02))
    return _layers().Inline(pos, _layers().add_embedding)


register(Op(
    "pos_embedding", NoArgs, lambda a, s: need_rank("pos_embedding", s, (2,)),
    torch=_pos_torch, caption=lambda a: "position embedding",
    source=lambda a, i, o: Source("nn.Parameter", (Source(
        "nn.init.normal_", (Source("torch.empty", (1, *i)),), {"std": 0.02}),),
        apply="{x} + {p}"),
    params=lambda a, i, o: math.prod(i), inline=True,
    doc="adds a learnable NxD position embedding (normal, std 0.02), a parameter named after "
        "the layer (vision_transformer.Encoder's pos_embedding)",
    example="pos_embedding", example_input="4x6",
    saved=lambda a, i, o, c: NOTHING,  # an addition
    aliases=("position_embedding", "positional_embedding", "pos_embed"),
))


class AttentionArgs(Args):
    heads: int = Field(ge=1, le=MAX_DIM)
    dropout: float = Field(0.0, ge=0, lt=1)
    bias: bool = True


def _attention_shape(a: AttentionArgs, s: Shape) -> Shape:
    n, d = need_rank("attention", s, (2,))
    if d % a.heads:
        raise OpShapeError(f"attention: {d} features do not divide into {a.heads} heads",
                           "the features per token must be a multiple of the heads",
                           codes.GROUPS)
    return s


register(Op(
    "attention", AttentionArgs, _attention_shape,
    torch=lambda a, i, o: _layers().SelfAttention(i[1], a.heads, a.dropout, a.bias),
    source=lambda a, i, o: Source("SelfAttention", (i[1], a.heads),
                                  {"dropout": a.dropout, "bias": a.bias},
                                  {"dropout": 0.0, "bias": True}, support=("SelfAttention",)),
    caption=lambda a: f"self-attention, {a.heads} heads",
    params=lambda a, i, o: 4 * i[1] * i[1] + (4 * i[1] if a.bias else 0),
    # q, k, v and output projections (4 N D^2), then Q K^T and the weighted sum of V (2 N^2 D)
    macs=lambda a, i, o: 4 * i[0] * i[1] * i[1] + 2 * i[0] * i[0] * i[1],
    doc="multi-head self-attention over NxD tokens, torch.nn.MultiheadAttention(D, heads, "
        "batch_first=True) with its parameter names: attention(heads, dropout=0, bias=true)",
    example="attention(2)", example_input="5x8", family="attention",
    saved=lambda a, i, o, c: _attention_saved(a, i, c),
    aliases=("mha", "multiheadattention", "multihead_attention", "self_attention"),
))


def _attention_saved(a: AttentionArgs, i: Shape, c: Context) -> Saves:
    """F.multi_head_attention_forward, batch_first: the input transposed to LxNxD and copied
    by in_proj's linear (kept), the packed q, k, v projection (3 N D), then
    scaled_dot_product_attention. Without dropout, torch's fused CPU kernel keeps q, k, v (views
    of that projection), its output (N D, also out_proj's input) and a float32 log-sum-exp
    per head and token; with dropout the math path keeps q and k scaled, both N x N attention
    matrices of every head, the dropout mask, and copies before out_proj."""
    n, d = i
    if c.training and a.dropout > 0:
        per_head = (Kept(a.heads * n * n),) * 3
        return Saves(kept=(Kept(n * d), Kept(3 * n * d), *(Kept(n * d),) * 3, *per_head),
                     layout=CONTIGUOUS)
    return Saves(kept=(Kept(n * d), Kept(3 * n * d), Kept(a.heads * n, "float32"),
                       Kept(n * d)), layout=CONTIGUOUS)


class TokenArgs(Args):
    index: int = Field(0, ge=0, le=MAX_DIM)


def _token_shape(a: TokenArgs, s: Shape) -> Shape:
    n, d = need_rank("token", s, (2,))
    if a.index >= n:
        raise OpShapeError(f"token: index {a.index} out of range for {n} tokens",
                           f"use 0 .. {n - 1}", codes.ARGUMENT_RANGE)
    return (d,)


register(Op(
    "token", TokenArgs, _token_shape,
    torch=lambda a, i, o: _layers().SelectToken(a.index),
    source=lambda a, i, o: Source("SelectToken", (a.index,), support=("SelectToken",)),
    caption=lambda a: f"token {a.index}",
    doc="NxD -> D: one token, e.g. the class token, token(0): token(index=0)",
    example="token(1)", example_input="4x6",
    saved=lambda a, i, o, c: Saves(view=True, layout=CONTIGUOUS),  # x[:, index]
))
