"""The op registry, continued: language models. Token ids (`input tokens(N, vocab)`, a
graph.Ids shape) become NxD tokens through an embedding and a position embedding; RMSNorm
and the tanh GELU complete GPT-2 and Llama with `attention` (archc/registry/ops_tokens.py),
`linear`,
`layernorm` and the `mul` join (SwiGLU: `mul { gate: linear(h) silu | up: linear(h) }`).
Records as in archc/registry/ops.py."""

from __future__ import annotations

import math
from typing import Any

from archc.core import codes
from archc.core.graph import Ids, Shape
from archc.core.limits import MAX_DIM
from archc.core.saving import CONTIGUOUS, INPUT, Context, Kept, Saves
from archc.core.schema import Field
from archc.registry.ops import (
    Args,
    Op,
    OpShapeError,
    Source,
    _activation,
    need_rank,
    register,
)


def _nn() -> Any:
    import torch.nn as nn  # only the torch emitter calls factories

    return nn


class EmbeddingArgs(Args):
    vocab: int = Field(ge=1, le=MAX_DIM)
    dim: int = Field(ge=1, le=MAX_DIM)


def _embedding_shape(a: EmbeddingArgs, s: Shape) -> Shape:
    assert isinstance(s, Ids)  # the expander gives an op taking ids nothing else
    if s.vocab > a.vocab:
        raise OpShapeError(f"embedding: ids of a vocabulary of {s.vocab} do not fit a table "
                           f"of {a.vocab} rows", f"use embedding({s.vocab}, {a.dim}) or more "
                           "rows", codes.TOKEN_IDS)
    return (s[0], a.dim)


register(Op(
    "embedding", EmbeddingArgs, _embedding_shape,
    torch=lambda a, i, o: _nn().Embedding(a.vocab, a.dim),
    source=lambda a, i, o: Source("nn.Embedding", (a.vocab, a.dim)),
    caption=lambda a: f"embedding {a.vocab}x{a.dim}",
    params=lambda a, i, o: a.vocab * a.dim,  # a lookup: no multiply-accumulates
    doc="N token ids -> NxD: row `id` of a vocab x dim table (nn.Embedding, GPT-2's wte, "
        "Llama's embed_tokens): embedding(vocab, dim); its rows cover the input's vocabulary",
    example="embedding(10, 6)", example_input="tokens(4, 10)", family="embedding",
    takes_ids=True,
    saved=lambda a, i, o, c: Saves(input=True, layout=CONTIGUOUS),  # the ids (int64)
    pytorch={"wte": "embedding(vocab, dim)"},
))


class PositionArgs(Args):
    positions: int = Field(ge=1, le=MAX_DIM)
    dim: int = Field(ge=1, le=MAX_DIM)


def _position_shape(a: PositionArgs, s: Shape) -> Shape:
    if s[0] > a.positions:
        raise OpShapeError(f"position_embedding: {s[0]} tokens exceed the table's "
                           f"{a.positions} positions", f"use at most {a.positions} tokens, "
                           f"or position_embedding({s[0]}, {a.dim})", codes.POSITIONS)
    return (s[0], a.dim)


def _position_torch(a: PositionArgs, i: Shape, o: Shape) -> Any:
    from archc.emit import layers

    return layers.PositionEmbedding(a.positions, a.dim)


register(Op(
    "position_embedding", PositionArgs, _position_shape, torch=_position_torch,
    source=lambda a, i, o: Source("PositionEmbedding", (a.positions, a.dim),
                                  support=("PositionEmbedding",)),
    caption=lambda a: f"position embedding {a.positions}x{a.dim}",
    params=lambda a, i, o: a.positions * a.dim,
    doc="N token ids -> NxD: the first N rows of a learned positions x dim table, whatever "
        "the ids (GPT-2's wpe, added to the token embedding with `add`): "
        "position_embedding(positions, dim); N past the table is an error",
    example="position_embedding(8, 6)", example_input="tokens(4, 10)", family="embedding",
    takes_ids=True,
    # the arange(N) it looks up, int64, once whatever the batch
    saved=lambda a, i, o, c: Saves(kept=(Kept(i[0], "int64", per_sample=False),),
                                   layout=CONTIGUOUS),
    pytorch={"wpe": "position_embedding(positions, dim)", "pos_emb": ""},
))


class RMSNormArgs(Args):
    eps: float = Field(1e-6, gt=0, lt=1)


def _rmsnorm_saved(i: Shape, c: Context) -> Saves:
    """torch.rms_norm on CPU is composite, in float32: x.float() (the input itself in
    float32, a copy otherwise) kept by pow and by the multiply with rsqrt, the rsqrt (one per
    token, kept), and the normalised x (float32, kept by the weight's multiply). Without an
    input requiring grad only the last."""
    normed = Kept(math.prod(i), "float32")
    if not c.input_grad:
        return Saves(kept=(normed,), layout=CONTIGUOUS)
    rsqrt = Kept(math.prod(i[:-1]), "float32")
    if c.act_bytes == 4:
        return Saves(input=True, kept=(rsqrt, normed), layout=CONTIGUOUS)
    return Saves(kept=(Kept(math.prod(i), "float32"), rsqrt, normed), layout=CONTIGUOUS)


register(Op(
    "rmsnorm", RMSNormArgs, lambda a, s: need_rank("rmsnorm", s, (2, 1)),
    torch=lambda a, i, o: _nn().RMSNorm(i[-1], eps=a.eps),
    source=lambda a, i, o: Source("nn.RMSNorm", (i[-1],), {"eps": a.eps}),
    caption=lambda a: "rmsnorm", params=lambda a, i, o: i[-1],
    doc="root-mean-square normalisation over each token's D features (or F), scaled by a "
        "learned weight, no bias (nn.RMSNorm; Llama's LlamaRMSNorm): rmsnorm(eps=1e-6)",
    example="rmsnorm(eps=1e-5)", example_input="4x6", family="norm",
    saved=lambda a, i, o, c: _rmsnorm_saved(i, c),
    pytorch={"rms_norm": "the normalized shape is inferred",
             "LlamaRMSNorm": "the normalized shape is inferred"},
))

# GPT-2's activation, "gelu_new": the tanh approximation of GELU
_activation("gelu_tanh", lambda a: _nn().GELU(approximate="tanh"),
            lambda a: Source("nn.GELU", (), {"approximate": "tanh"}), INPUT)
