"""The op registry, continued: tokens. A tokens shape NxD is N tokens of D features each
(the batch axis implicit, as everywhere). These ops make tokens from an image, add a class
token and a position embedding, mix tokens by multi-head self-attention and select one; with
`linear` (per token), `layernorm`, `gelu`, `dropout` and `add` they write torchvision's
VisionTransformer with its parameter names. Records as in archc/registry/ops.py."""

from __future__ import annotations

import math
from typing import Annotated, Any

from archc.core import codes
from archc.core.graph import Shape
from archc.core.limits import MAX_DIM
from archc.core.saving import CONTIGUOUS, NHWC, NOTHING, TRANSPOSED, Context, Kept, Saves
from archc.core.schema import Field, PlainValidator
from archc.registry.ops import (
    Args,
    NoArgs,
    Op,
    OpLimitError,
    OpShapeError,
    Source,
    need_rank,
    register,
)


def _layers() -> Any:
    from archc.emit import layers  # torch: only when a module is built

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
    aliases=("positional_embedding", "pos_embed"),
))


LAYOUTS = ("mha", "gpt2", "llama")  # attention's parameter layouts, named after their source


def _layout(v: Any) -> Any:
    if not isinstance(v, str) or v not in LAYOUTS:
        from pydantic_core import PydanticCustomError

        raise PydanticCustomError("archc_choice", "must be one of {names}, got {got}",
                                  {"names": ", ".join(f'"{x}"' for x in LAYOUTS),
                                   "got": repr(v)})
    return v


class AttentionArgs(Args):
    heads: int = Field(ge=1, le=MAX_DIM)
    dropout: float = Field(0.0, ge=0, lt=1)
    bias: bool = True
    causal: bool = False
    kv_heads: int | None = Field(None, ge=1, le=MAX_DIM)
    rope: bool = False
    rope_base: float = Field(10000.0, gt=1)
    rotary_dim: int | None = Field(None, ge=2, le=MAX_DIM)
    layout: Annotated[str, PlainValidator(_layout)] = "mha"


def _kv_width(a: AttentionArgs, d: int) -> int:
    """The features of the keys (and of the values): kv_heads heads of d / heads each."""
    return (a.kv_heads or a.heads) * (d // a.heads)


def _attention_shape(a: AttentionArgs, s: Shape) -> Shape:
    n, d = need_rank("attention", s, (2,))
    if d % a.heads:
        raise OpShapeError(f"attention: {d} features do not divide into {a.heads} heads",
                           "the features per token must be a multiple of the heads",
                           codes.GROUPS)
    kv = a.kv_heads or a.heads
    if a.heads % kv:
        raise OpShapeError(f"attention: {a.heads} heads do not divide into {kv} key/value "
                           "heads", "kv_heads must divide heads (1: multi-query)", codes.GROUPS)
    if a.layout == "mha" and (a.causal or a.kv_heads not in (None, a.heads) or a.rope):
        raise OpShapeError("attention: layout=\"mha\" (nn.MultiheadAttention) has no causal "
                           "mask, key/value heads or rotary positions",
                           "use layout=\"gpt2\" or layout=\"llama\"", codes.ARGUMENT_CONFLICT)
    if a.rotary_dim is not None and not a.rope:
        raise OpShapeError("attention: rotary_dim without rope=true", "add rope=true",
                           codes.ARGUMENT_CONFLICT)
    rotary = a.rotary_dim or d // a.heads
    if a.rope and (rotary > d // a.heads or rotary % 2):
        raise OpShapeError(f"attention: rotary_dim={rotary} for heads of {d // a.heads} "
                           "features", "use an even rotary_dim at most the head size",
                           codes.ARGUMENT_RANGE)
    return s


def _attention_torch(a: AttentionArgs, i: Shape, o: Shape) -> Any:
    if a.layout == "mha":
        return _layers().SelfAttention(i[1], a.heads, a.dropout, a.bias)
    return _layers().CausalSelfAttention(i[1], **_causal_kwargs(a))


def _causal_kwargs(a: AttentionArgs) -> dict[str, Any]:
    return {"heads": a.heads, "kv_heads": a.kv_heads or a.heads, "layout": a.layout,
            "bias": a.bias, "dropout": a.dropout, "causal": a.causal, "rope": a.rope,
            "rope_base": a.rope_base, "rotary_dim": a.rotary_dim or 0}


def _attention_source(a: AttentionArgs, i: Shape, o: Shape) -> Source:
    if a.layout == "mha":
        return Source("SelfAttention", (i[1], a.heads), {"dropout": a.dropout, "bias": a.bias},
                      {"dropout": 0.0, "bias": True}, support=("SelfAttention",))
    kw = _causal_kwargs(a)
    return Source("CausalSelfAttention", (i[1], kw.pop("heads"), kw.pop("kv_heads")), kw,
                  {"layout": "llama", "bias": True, "dropout": 0.0, "causal": True,
                   "rope": False, "rope_base": 10000.0, "rotary_dim": 0},
                  support=("Conv1D", "CausalSelfAttention"))


def _attention_caption(a: AttentionArgs) -> str:
    kv = f", {a.kv_heads} kv" if a.kv_heads not in (None, a.heads) else ""
    return (f"{'causal ' if a.causal else ''}self-attention, {a.heads} heads{kv}"
            + (", rope" if a.rope else ""))


register(Op(
    "attention", AttentionArgs, _attention_shape, torch=_attention_torch,
    source=_attention_source, caption=_attention_caption,
    # q and output projections D x D, k and v D x kv (kv = D unless grouped), their biases
    params=lambda a, i, o: i[1] * (2 * i[1] + 2 * _kv_width(a, i[1]))
    + ((2 * i[1] + 2 * _kv_width(a, i[1])) if a.bias else 0),
    # the projections, then Q K^T and the weighted sum of V (N^2 D each), a causal mask
    # counted in full: what the math path computes and FlopCounterMode counts
    macs=lambda a, i, o: i[0] * i[1] * (2 * i[1] + 2 * _kv_width(a, i[1]))
    + 2 * i[0] * i[0] * i[1],
    doc="multi-head self-attention over NxD tokens: attention(heads, dropout=0, bias=true, "
        "causal=false, kv_heads=heads, rope=false, rope_base=10000, rotary_dim=head size, "
        "layout=\"mha\"). layout=\"mha\" is torch.nn.MultiheadAttention(D, heads, "
        "batch_first=True) with its parameter names; \"gpt2\" holds a fused c_attn and c_proj "
        "(GPT-2's Conv1D, in x out), \"llama\" q_proj, k_proj, v_proj and o_proj "
        "(transformers' LlamaAttention); these two take causal=true, kv_heads (grouped-query, "
        "1: multi-query) and rope=true (rotary positions on the first rotary_dim features of "
        "each head)",
    example="attention(4, causal=true, kv_heads=2, rope=true, rotary_dim=2, layout=\"llama\")",
    example_input="5x16", family="attention",
    saved=lambda a, i, o, c: _attention_saved(a, i, c),
    aliases=("mha", "self_attention"),
    pytorch={"MultiheadAttention": "",
             "CausalSelfAttention": 'attention(heads, causal=true, layout="gpt2")',
             "GPT2Attention": 'attention(heads, causal=true, layout="gpt2")',
             "LlamaAttention": 'attention(heads, causal=true, kv_heads=k, rope=true, '
                               'layout="llama")'},
))


def _attention_saved(a: AttentionArgs, i: Shape, c: Context) -> Saves:
    """F.multi_head_attention_forward, batch_first: the input transposed to LxNxD and copied
    by in_proj's linear (kept), the packed q, k, v projection (3 N D), then
    scaled_dot_product_attention. Without dropout, torch's fused CPU kernel keeps q, k, v (views
    of that projection), its output (N D, also out_proj's input) and a float32 log-sum-exp
    per head and token; with dropout the math path keeps q and k scaled, both N x N attention
    matrices of every head, the dropout mask, and copies before out_proj."""
    if a.layout != "mha":
        return _causal_attention_saved(a, i, c)
    n, d = i
    if c.training and a.dropout > 0:
        per_head = (Kept(a.heads * n * n),) * 3
        return Saves(kept=(Kept(n * d), Kept(3 * n * d), *(Kept(n * d),) * 3, *per_head),
                     layout=CONTIGUOUS)
    return Saves(kept=(Kept(n * d), Kept(3 * n * d), Kept(a.heads * n, "float32"),
                       Kept(n * d)), layout=CONTIGUOUS)


def _causal_attention_saved(a: AttentionArgs, i: Shape, c: Context) -> Saves:
    """layers.CausalSelfAttention on CPU, measured with saved_tensors_hooks. The projections
    keep their input: the input itself, or on tokens laid out DxN a copy per projection (one
    for gpt2's fused c_attn, three for llama's q/k/v_proj). Rotary positions keep cos and sin
    (N x rotary_dim each, whatever the batch) and make new q and k; grouped key/value heads
    are repeated into new N x D tensors. Without dropout the fused kernel keeps q, k and v as
    they reach it (views of gpt2's fused projection share its storage), its output and a
    float32 log-sum-exp per head and token; after rotary positions the output is laid out
    by head, so reshaping it for the output projection copies it (kept). With dropout in
    training the math path keeps float32 copies of q and k (scaled) and v, the softmax, the
    dropout mask and the dropped-out weights (heads x N x N each, float32) and a copy of its
    output for the output projection. Exact from a batch of 2 on (GPT-2 small, 1024 tokens,
    batch 2: 5,002,141,696 B); at batch 1 the math path reshapes v from the projection
    without copying it, keeping the projection's storage instead (2 N D more for gpt2)."""
    n, d = i
    kv = _kv_width(a, d)
    grouped = (a.kv_heads or a.heads) != a.heads
    copies = 1 if a.layout == "gpt2" else 3
    transposed = c.layout == TRANSPOSED
    x: tuple[Kept, ...] = (Kept(n * d),) * copies if transposed else ()
    rope: tuple[Kept, ...] = ()
    if a.rope:
        rotary = a.rotary_dim or d // a.heads
        rope = (Kept(n * rotary, per_sample=False),) * 2
    if c.training and a.dropout > 0:
        f32 = Kept(n * d, "float32")
        weights = Kept(a.heads * n * n, "float32")
        return Saves(input=not transposed, kept=(*x, *rope, f32, f32, f32, *(weights,) * 3,
                                                 Kept(n * d)), layout=CONTIGUOUS)
    # the storages q, k and v reach the kernel in
    if a.layout == "gpt2":
        fused = not (a.rope and grouped)  # v (or all three) a view of c_attn's output
        qkv = ((Kept(n * (d + 2 * kv)),) if fused else ()) + \
            ((Kept(n * d), Kept(n * kv)) if a.rope and not grouped else ()) + \
            ((Kept(n * d),) if a.rope and grouped else ()) + \
            ((Kept(n * d), Kept(n * d)) if grouped else ())
    else:
        qkv = (Kept(n * d), *((Kept(n * d),) * 2 if grouped else (Kept(n * kv),) * 2))
    out = (Kept(n * d),) * (2 if a.rope else 1)
    return Saves(input=not transposed, kept=(*x, *rope, *qkv, Kept(a.heads * n, "float32"),
                                             *out), layout=CONTIGUOUS)


class TokenArgs(Args):
    index: int = Field(0, ge=-MAX_DIM, le=MAX_DIM)


def _token_shape(a: TokenArgs, s: Shape) -> Shape:
    n, d = need_rank("token", s, (2,))
    if not -n <= a.index < n:
        raise OpShapeError(f"token: index {a.index} out of range for {n} tokens",
                           f"use 0 .. {n - 1}, or -1 .. -{n} from the end",
                           codes.ARGUMENT_RANGE)
    return (d,)


register(Op(
    "token", TokenArgs, _token_shape,
    torch=lambda a, i, o: _layers().SelectToken(a.index),
    source=lambda a, i, o: Source("SelectToken", (a.index,), support=("SelectToken",)),
    caption=lambda a: f"token {a.index}",
    doc="NxD -> D: one token, e.g. the class token, token(0), or the last, token(-1) (a "
        "language model's next-token logits): token(index=0)",
    example="token(1)", example_input="4x6",
    saved=lambda a, i, o, c: Saves(view=True, layout=CONTIGUOUS),  # x[:, index]
))
