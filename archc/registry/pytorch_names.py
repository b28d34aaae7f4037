"""Hints from the user's world: PyTorch's spellings of layers and arguments mapped onto archc's,
for `did you mean` hints on unknown names (used by expansion and name resolution). A layer's
PyTorch names are in its op record (`Op.pytorch`, read by `layers()`); arguments, the prelude's
blocks and what archc lacks have one table each here. A spelling whose archc name is not there
(an argument the op lacks) gives no hint."""

from __future__ import annotations

from collections.abc import Collection

from archc.core.errors import did_you_mean

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


def layers() -> dict[str, tuple[str, str]]:
    """PyTorch's names of layers (compared as `_key` compares them) -> (archc's op, a note),
    from the op records (`Op.pytorch`), plugins' ops included."""
    from archc.registry.ops import REGISTRY

    return {_key(name): (op.name, note) for op in REGISTRY.values()
            for name, note in op.pytorch.items()}


def layer_hint(name: str, known: Collection[str]) -> str | None:
    """`did you mean 'conv'? (archc's spelling of Conv2d)` for an unknown layer name: its lower
    case, PyTorch's spelling, another library's name (an op's `aliases`, BLOCK_ALIASES), or
    what archc does not have (MISSING), each before any near spelling (edit distance)."""
    from archc.registry.ops import REGISTRY

    lower = name.lower()
    if lower != name and lower in known:  # ReLU, GELU, Flatten, Identity
        return f"did you mean '{lower}'? (archc's layers are lower case)"
    target, note = layers().get(_key(name), (None, ""))
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
