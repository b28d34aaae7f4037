"""Hints from the user's world: PyTorch's spellings of layers and arguments mapped onto archc's,
for `did you mean` hints on unknown names (used by expansion and name resolution). One table
each; a spelling whose archc name is not there (an argument the op lacks) gives no hint."""

from __future__ import annotations

from collections.abc import Collection

from .errors import did_you_mean

# torch.nn's class (or functional) name, lower-cased -> archc's op; a note where they differ.
LAYERS: dict[str, tuple[str, str]] = {
    "conv2d": ("conv", ""),
    "convtranspose2d": ("conv_transpose", ""),
    "conv_transpose2d": ("conv_transpose", ""),
    # 1-D and 3-D: the same ops, the rank read from the input (archc/ops.py, the rank rule)
    "conv1d": ("conv", "1-D on a CxL input, 3-D on CxTxHxW: the rank is the input's"),
    "conv3d": ("conv", "3-D on a CxTxHxW input, 1-D on CxL: the rank is the input's"),
    "convtranspose1d": ("conv_transpose", "the rank is the input's (CxL)"),
    "convtranspose3d": ("conv_transpose", "the rank is the input's (CxTxHxW)"),
    "maxpool1d": ("maxpool", "the rank is the input's (CxL)"),
    "maxpool3d": ("maxpool", "the rank is the input's (CxTxHxW)"),
    "avgpool1d": ("avgpool", "the rank is the input's (CxL)"),
    "avgpool3d": ("avgpool", "the rank is the input's (CxTxHxW)"),
    "adaptiveavgpool1d": ("adaptive_avgpool", "the rank is the input's; or gap"),
    "adaptiveavgpool3d": ("adaptive_avgpool", "the rank is the input's; or gap"),
    "batchnorm3d": ("bn", "channels and rank inferred from the input"),
    "batchnorm": ("bn", "1-D, 2-D or 3-D from the input, channels inferred"),
    "batchnorm1d": ("bn", "channels inferred from the input"),
    "batchnorm2d": ("bn", "channels inferred from the input"),
    "batch_norm": ("bn", "channels inferred from the input"),
    "maxpool2d": ("maxpool", ""),
    "max_pool2d": ("maxpool", ""),
    "avgpool2d": ("avgpool", ""),
    "avg_pool2d": ("avgpool", ""),
    "adaptiveavgpool2d": ("adaptive_avgpool", "or gap for a 1x1 output"),
    "adaptive_avg_pool2d": ("adaptive_avgpool", "or gap for a 1x1 output"),
    "adaptivemaxpool2d": ("adaptive_maxpool", ""),
    "adaptive_max_pool2d": ("adaptive_maxpool", ""),
    "globalaveragepooling2d": ("gap", ""),
    "global_avg_pool": ("gap", ""),
    "leakyrelu": ("leaky_relu", ""),
    "swish": ("silu", ""),
    "layer_norm": ("layernorm", "the normalized shape is inferred"),
    "group_norm": ("groupnorm", ""),
    "localresponsenorm": ("lrn", ""),
    "local_response_norm": ("lrn", ""),
    "multiheadattention": ("attention", ""),
    "channelshuffle": ("channel_shuffle", ""),
    "stochasticdepth": ("stochastic_depth", ""),
    "upsamplingnearest2d": ("upsample", "mode=\"nearest\""),
    "upsamplingbilinear2d": ("upsample", "mode=\"bilinear\""),
    # language models (torch.nn and transformers' spellings)
    "rms_norm": ("rmsnorm", "the normalized shape is inferred"),
    "llamarmsnorm": ("rmsnorm", "the normalized shape is inferred"),
    "wte": ("embedding", "embedding(vocab, dim)"),
    "wpe": ("position_embedding", "position_embedding(positions, dim)"),
    "positionalembedding": ("position_embedding", ""),
    "pos_emb": ("position_embedding", ""),
    "causalselfattention": ("attention", "attention(heads, causal=true, layout=\"gpt2\")"),
    "gpt2attention": ("attention", "attention(heads, causal=true, layout=\"gpt2\")"),
    "llamaattention": ("attention", "attention(heads, causal=true, kv_heads=k, rope=true, "
                       "layout=\"llama\")"),
    "gelu_new": ("gelu_tanh", ""),
}

# PyTorch's argument name -> archc's (None: archc infers it from the input shape); a note.
ARGUMENTS: dict[str, tuple[str | None, str]] = {
    "kernel_size": ("k", ""),
    "kernel": ("k", ""),
    "padding": ("pad", ""),
    "output_padding": ("output_pad", ""),
    "ceil_mode": ("ceil", ""),
    "negative_slope": ("slope", ""),
    "num_heads": ("heads", ""),
    "scale_factor": ("scale", ""),
    "num_groups": ("groups", ""),
    "elementwise_affine": ("affine", ""),
    "out_channels": ("out", "the first positional argument"),
    "out_features": ("out", "the first positional argument"),
    "in_channels": (None, ""),
    "in_features": (None, ""),
    "num_features": (None, ""),
    "num_channels": (None, ""),
    "normalized_shape": (None, ""),
    "embed_dim": (None, ""),
    "output_size": ("h", "adaptive_avgpool(7, 7) gives 7x7: the height, then the width"),
    "inplace": (None, "archc's modules never work in place"),
    "num_embeddings": ("vocab", "the first positional argument"),
    "embedding_dim": ("dim", ""),
    "num_key_value_heads": ("kv_heads", ""),
    "num_kv_heads": ("kv_heads", ""),
    "n_kv_heads": ("kv_heads", ""),
    "is_causal": ("causal", ""),
    "rope_theta": ("rope_base", ""),
    "theta": ("rope_base", ""),
    "tie_weights": ("tie", "the full name of the embedding: tie=\"transformer.wte\""),
    "max_position_embeddings": ("positions", ""),
}


# Other libraries' names for the prelude's blocks (ops keep theirs in their records, `aliases`).
BLOCK_ALIASES: dict[str, str] = {
    "se": "squeeze_excitation", "squeezeexcitation": "squeeze_excitation",
    "squeezeexcite": "squeeze_excitation", "seblock": "squeeze_excitation",
    "selayer": "squeeze_excitation", "senet": "squeeze_excitation",
    "mbconvblock": "mbconv", "invertedresidual": "inverted_residual",
    "convbnact": "conv_bn_act", "convnormactivation": "conv_bn_act",
    "convbnrelu": "conv_bn_act", "basicblock": "residual", "resblock": "residual",
    "cnblock": "convnext_block", "encoderblock": "encoder_block",
}

# Names of things archc does not have (yet): what to say instead of a near spelling.
MISSING: dict[str, str] = {
    "pixelshuffle": "archc has no pixel_shuffle yet: conv_transpose or upsample enlarge a map",
    "pixelunshuffle": "archc has no pixel_unshuffle yet: a strided conv shrinks a map",
    "mish": "archc has no mish yet; its activations: " + ", ".join(
        ("relu", "relu6", "leaky_relu", "gelu", "silu", "hardswish", "hardsigmoid", "sigmoid",
         "tanh")),
    "elu": "archc has no elu yet (leaky_relu(slope) is the nearest)",
    "prelu": "archc has no prelu yet (leaky_relu(slope) has a fixed slope)",
    "selu": "archc has no selu yet",
    "softplus": "archc has no softplus yet",
    "sequential": "archc has no Sequential: layers written in a row run in sequence, and "
                  "`label: { ... }` groups them under one name",
    "modulelist": "archc has no ModuleList: repeat a layer or block with `* N` (`conv(64, k=3) "
                  "* 3`) or write them in a row",
    "lstm": "archc has no recurrent layers", "gru": "archc has no recurrent layers",
    "rnn": "archc has no recurrent layers",
    "instancenorm2d": "archc has no instance norm yet: groupnorm(in.c) normalises each channel",
    "instancenorm": "archc has no instance norm yet: groupnorm(in.c) normalises each channel",
}


def _key(name: str) -> str:
    """How a name is compared with the alias tables: case and underscores ignored."""
    return name.lower().replace("_", "")


def layer_hint(name: str, known: Collection[str]) -> str | None:
    """`did you mean 'conv'? (archc's spelling of Conv2d)` for an unknown layer name: its lower
    case, PyTorch's spelling, another library's name (an op's `aliases`, BLOCK_ALIASES), or
    what archc does not have (MISSING), each before any near spelling (edit distance)."""
    from .ops import REGISTRY

    lower = name.lower()
    if lower != name and lower in known:  # ReLU, GELU, Flatten, Identity
        return f"did you mean '{lower}'? (archc's layers are lower case)"
    target, note = LAYERS.get(lower, (None, ""))
    if target is not None and target in known:
        return _spelled(target, name, note)
    key = _key(name)
    aliases = {_key(a): op.name for op in REGISTRY.values() for a in op.aliases}
    aliases.update({k: v for k, v in BLOCK_ALIASES.items()})
    target = aliases.get(key)
    if target is not None and target in known:
        return f"did you mean '{target}'? (archc's name for {name})"
    if key in MISSING:
        return MISSING[key]
    return did_you_mean(name, known)


def argument_hint(name: str, callee: str, names: Collection[str], op: bool) -> str | None:
    """A hint for an unknown argument of `callee` (whose arguments are `names`; `op`: a layer
    op, which infers its input's sizes, not a block)."""
    if name in ARGUMENTS:
        target, note = ARGUMENTS[name]
        if target is None and op:
            return f"leave out '{name}': {note or f'{callee} infers it from its input shape'}"
        if target is not None and target in names:
            return _spelled(target, name, note)
    return did_you_mean(name, names)


def _spelled(target: str, name: str, note: str) -> str:
    return f"did you mean '{target}'? (archc's spelling of {name}{'; ' + note if note else ''})"
