"""The reverse of the op registry, for `archc import`: which archc op (and arguments) a torch
module or a functional call is. One record per torch class or function; a module whose class
is not here, or whose settings no op expresses, is refused with the reason. (Over 400 lines:
it is tables, one record per torch class or function, and the functions patterns become.)"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from archc.importer.torch_calls import OpCall
from archc.importer.torch_calls import pair as _pair


class NotExpressible(Exception):
    """A module or call archc's language has no op for (the message says which setting)."""


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise NotExpressible(what)


def _conv(m: nn.Conv2d | nn.Conv1d | nn.Conv3d) -> OpCall:
    _need(m.padding_mode == "zeros", f"padding_mode='{m.padding_mode}' (archc pads with zeros)")
    _need(not isinstance(m.padding, str), f"padding='{m.padding}' (give the padding in numbers)")
    return OpCall("conv", {"out": m.out_channels, "k": _pair(m.kernel_size),
                           "stride": _pair(m.stride), "pad": _pair(m.padding),
                           "dilation": _pair(m.dilation), "groups": m.groups,
                           "bias": m.bias is not None})


def _bn(m: nn.BatchNorm2d) -> OpCall:
    _need(m.track_running_stats, "track_running_stats=False")
    _need(m.momentum is not None, "momentum=None (a cumulative average)")
    return OpCall("bn", {"eps": m.eps, "momentum": m.momentum, "affine": m.affine})


def _pool(name: str) -> Callable[[Any], OpCall]:
    def reverse(m: Any) -> OpCall:
        _need(not getattr(m, "return_indices", False), "return_indices=True")
        _need(getattr(m, "count_include_pad", True), "count_include_pad=False")
        _need(getattr(m, "divisor_override", None) is None, "divisor_override")
        args = {"k": _pair(m.kernel_size), "stride": _pair(m.stride), "pad": _pair(m.padding),
                "ceil": m.ceil_mode}
        if hasattr(m, "dilation"):
            args["dilation"] = _pair(m.dilation)
        return OpCall(name, args)
    return reverse


def _adaptive(name: str, rank: int = 2) -> Callable[[Any], OpCall]:
    """An adaptive pool of `rank` spatial axes: 2-D as h (and w), 1-D and 3-D as h, one
    size or a tuple of them (the rank rule)."""
    def reverse(m: Any) -> OpCall:
        size = tuple(m.output_size) if isinstance(m.output_size, (tuple, list)) else \
            (m.output_size,) * rank
        _need(None not in size, "an output size of None (keep the input's)")
        if name == "adaptive_avgpool" and set(size) == {1}:
            return OpCall("gap", {})
        if rank != 2:
            return OpCall(name, {"h": _pair(size), "w": None})
        return OpCall(name, {"h": size[0], "w": None if size[1] == size[0] else size[1]})
    return reverse


def _flatten(m: nn.Flatten) -> OpCall:
    _need((m.start_dim, m.end_dim) == (1, -1), f"Flatten({m.start_dim}, {m.end_dim}) "
          "(archc flattens everything but the batch axis)")
    return OpCall("flatten", {})


def _gelu(m: nn.GELU) -> OpCall:
    _need(m.approximate in ("none", "tanh"), f"approximate='{m.approximate}'")
    return OpCall("gelu" if m.approximate == "none" else "gelu_tanh", {})


def _plain(name: str) -> Callable[[Any], OpCall]:
    return lambda m: OpCall(name, {})


def _layernorm(m: Any) -> OpCall:
    """nn.LayerNorm over one axis: the channels of a channels-last CxHxW (between ConvNeXt's
    Permutes), or the features; torchvision's LayerNorm2d permutes around it itself."""
    _need(len(m.normalized_shape) == 1, f"normalized_shape={tuple(m.normalized_shape)} "
          "(archc normalises over one axis: the channels)")
    _need(m.elementwise_affine == (getattr(m, "bias", None) is not None),
          "an affine weight without a bias")
    return OpCall("layernorm", {"eps": m.eps, "affine": m.elementwise_affine})


# Most specific class first is not needed: a module's class and then its bases are looked up,
# so a subclass of nn.Conv2d (torchvision's video models have some) maps as nn.Conv2d.
MODULES: dict[type, Callable[[Any], OpCall]] = {
    nn.Conv2d: _conv, nn.Conv1d: _conv, nn.Conv3d: _conv,  # the rank is the input's
    nn.Linear: lambda m: OpCall("linear", {"out": m.out_features, "bias": m.bias is not None}),
    nn.BatchNorm2d: _bn,
    nn.BatchNorm1d: _bn,
    nn.BatchNorm3d: _bn,
    nn.LayerNorm: _layernorm,
    nn.ReLU: _plain("relu"),
    nn.ReLU6: _plain("relu6"),
    nn.Sigmoid: _plain("sigmoid"),
    nn.Tanh: _plain("tanh"),
    nn.GELU: _gelu,
    nn.SiLU: _plain("silu"),
    nn.Hardswish: _plain("hardswish"),
    nn.Hardsigmoid: _plain("hardsigmoid"),
    nn.LeakyReLU: lambda m: OpCall("leaky_relu", {"slope": m.negative_slope}),
    nn.MaxPool2d: _pool("maxpool"), nn.MaxPool1d: _pool("maxpool"),
    nn.MaxPool3d: _pool("maxpool"),
    nn.AvgPool2d: _pool("avgpool"), nn.AvgPool1d: _pool("avgpool"),
    nn.AvgPool3d: _pool("avgpool"),
    nn.AdaptiveAvgPool2d: _adaptive("adaptive_avgpool"),
    nn.AdaptiveMaxPool2d: _adaptive("adaptive_maxpool"),
    nn.AdaptiveAvgPool1d: _adaptive("adaptive_avgpool", 1),
    nn.AdaptiveMaxPool1d: _adaptive("adaptive_maxpool", 1),
    nn.AdaptiveAvgPool3d: _adaptive("adaptive_avgpool", 3),
    nn.AdaptiveMaxPool3d: _adaptive("adaptive_maxpool", 3),
    nn.Flatten: _flatten,
    nn.Dropout: lambda m: OpCall("dropout", {"p": m.p}),
    nn.Identity: _plain("identity"),
    nn.LocalResponseNorm: lambda m: OpCall("lrn", {"size": m.size, "alpha": m.alpha,
                                                   "beta": m.beta, "k": m.k}),
    nn.Embedding: lambda m: _embedding(m),
    nn.RMSNorm: lambda m: _rmsnorm(m),
    nn.MultiheadAttention: lambda m: _mha(m),
}


def _embedding(m: nn.Embedding) -> OpCall:
    """A token embedding; the importer makes it `position_embedding` where it reads
    positions (`wpe(arange(n))`), not the input's ids."""
    _need(m.padding_idx is None, f"padding_idx={m.padding_idx} (its row gets no gradient)")
    _need(m.max_norm is None, f"max_norm={m.max_norm}")
    _need(not m.scale_grad_by_freq and not m.sparse, "scale_grad_by_freq or sparse gradients")
    return OpCall("embedding", {"vocab": m.num_embeddings, "dim": m.embedding_dim})


def _mha(m: nn.MultiheadAttention) -> OpCall:
    """nn.MultiheadAttention as torchvision's EncoderBlock calls it, on one input (q = k = v,
    need_weights=False, its `[0]`: torch_tokens._attention checks the call)."""
    _need(m.batch_first, "batch_first=False (archc's tokens are batch first)")
    _need(m._qkv_same_embed_dim, f"kdim={m.kdim}, vdim={m.vdim} (archc's attention attends "
          "to its own input)")
    _need(m.bias_k is None and not m.add_zero_attn, "add_bias_kv or add_zero_attn")
    return OpCall("attention", {"heads": m.num_heads, "dropout": m.dropout,
                                "bias": m.in_proj_bias is not None, "layout": "mha"})


def _permute(m: Any) -> tuple[OpCall, ...]:
    """torchvision's Permute to channels-last and back (ConvNeXt's CNBlock): no op; the
    nn.Linear and nn.LayerNorm between them map to channel_linear and layernorm over channels."""
    _need(list(m.dims) in ([0, 2, 3, 1], [0, 3, 1, 2]), f"Permute({list(m.dims)}) (only "
          "to channels-last and back, around channel-wise layers)")
    return ()


def _stochastic_depth(m: Any) -> OpCall:
    _need(getattr(m, "mode", "row") == "row", f"mode='{m.mode}' (archc drops whole samples)")
    return OpCall("stochastic_depth", {"p": m.p})


def _hf_conv1d(m: Any) -> OpCall:
    """transformers' Conv1D (GPT-2): a linear whose weight is stored in x out."""
    return OpCall("linear", {"out": m.nf, "bias": m.bias is not None, "transposed": True})


def _gpt2_attention(m: Any) -> tuple[OpCall, ...]:
    """transformers' GPT2Attention: causal self-attention, fused c_attn and c_proj (the
    layout "gpt2"), its attention dropout, then resid_dropout."""
    _need(not m.is_cross_attention and m.is_causal, "cross-attention (archc's attends to "
          "its own input)")
    _need(m.scale_attn_weights and not m.scale_attn_by_inverse_layer_idx,
          "attention scores not scaled by 1/sqrt(head_dim) alone")
    _need(not m.reorder_and_upcast_attn, "reorder_and_upcast_attn=True")
    _need(m.config._attn_implementation in ("sdpa", "eager"),
          f"attn_implementation='{m.config._attn_implementation}'")
    return (OpCall("attention", {"heads": m.num_heads, "dropout": m.attn_dropout.p,
                                 "causal": True, "layout": "gpt2"}),
            OpCall("dropout", {"p": m.resid_dropout.p}))


def _llama_attention(m: Any) -> OpCall:
    """transformers' LlamaAttention: causal grouped-query attention with the default rotary
    positions over whole heads (the layout "llama": q_proj, k_proj, v_proj, o_proj)."""
    c = m.config
    rope = dict(getattr(c, "rope_parameters", None) or {})
    theta = rope.get("rope_theta", getattr(c, "rope_theta", None))
    _need(rope.get("rope_type", "default") == "default" and theta is not None,
          f"rope_type='{rope.get('rope_type')}' (archc's rope is the default, theta alone)")
    _need(rope.get("partial_rotary_factor", 1.0) == 1.0, "a partial rotary factor")
    _need(m.head_dim * c.num_attention_heads == c.hidden_size,
          f"head_dim={m.head_dim} (archc's heads split the {c.hidden_size} features)")
    _need(c._attn_implementation in ("sdpa", "eager"),
          f"attn_implementation='{c._attn_implementation}'")
    kv = c.num_key_value_heads
    return OpCall("attention", {"heads": c.num_attention_heads, "dropout": m.attention_dropout,
                                "bias": c.attention_bias, "causal": True,
                                "kv_heads": None if kv == c.num_attention_heads else kv,
                                "rope": True, "rope_base": float(cast(float, theta)),
                                "layout": "llama"})


def _rmsnorm(m: nn.RMSNorm) -> OpCall:
    _need(m.eps is not None, "eps=None (the dtype's epsilon)")
    _need(m.elementwise_affine, "elementwise_affine=False")
    return OpCall("rmsnorm", {"eps": m.eps})


# Modules of other libraries (and archc's own, as `archc export` writes them), by qualified
# class name so that torchvision is not imported to look them up. fx treats them as leaves.
NAMED: dict[str, Callable[[Any], OpCall | tuple[OpCall, ...]]] = {
    "torchvision.ops.stochastic_depth.StochasticDepth": _stochastic_depth,
    "archc.emit.layers.StochasticDepth": _stochastic_depth,
    "torchvision.models.convnext.LayerNorm2d": _layernorm,
    "torchvision.ops.misc.Permute": _permute,
    "transformers.pytorch_utils.Conv1D": _hf_conv1d,
    "transformers.models.gpt2.modeling_gpt2.GPT2Attention": _gpt2_attention,
    "transformers.activations.NewGELUActivation": _plain("gelu_tanh"),
    "transformers.activations.GELUTanh": _plain("gelu_tanh"),
    "transformers.activations.SiLUActivation": _plain("silu"),
    "transformers.models.llama.modeling_llama.LlamaRMSNorm":
        lambda m: OpCall("rmsnorm", {"eps": m.variance_epsilon}),
    "transformers.models.llama.modeling_llama.LlamaAttention": lambda m: _llama_attention(m),
    "torchvision.ops.misc.FrozenBatchNorm2d": lambda m: OpCall("frozen_bn", {"eps": m.eps}),
    "archc.emit.layers.FrozenBatchNorm2d": lambda m: OpCall("frozen_bn", {"eps": m.eps}),
    "archc.emit.layers.SelfAttention": lambda m: _mha(m),
}

@dataclass(frozen=True)
class Rounding:
    """Why a module rounds otherwise than the op it maps to, and how far archc's proof lets
    the outputs differ for it: a fraction of the output's largest magnitude."""

    why: str
    tolerance: float


FP64 = 1e-12  # fp64 rounding: the same function, its terms in another order
FP32 = 1e-5  # float32 rounding: the module computes in float32 whatever its input

_TERMWISE = "computes tanh-GELU term by term; archc's gelu_tanh is F.gelu(approximate='tanh')"
ROUNDING: dict[str, Callable[[Any], Rounding | None]] = {
    "transformers.activations.NewGELUActivation":
        lambda m: Rounding(f"NewGELUActivation {_TERMWISE}", FP64),
    "transformers.activations.GELUTanh": lambda m: None if isinstance(
        getattr(m, "act", None), functools.partial) else Rounding(
        f"GELUTanh(use_gelu_tanh_python=True) {_TERMWISE}", FP64),
    "transformers.models.llama.modeling_llama.LlamaRMSNorm": lambda m: Rounding(
        "LlamaRMSNorm computes in float32 whatever its input; archc's rmsnorm computes at "
        "its input's dtype", FP32),
}


def rounding(m: nn.Module) -> Rounding | None:
    """Why `m` rounds otherwise than the op it maps to (None when it computes the same)."""
    reason = ROUNDING.get(_qualified(type(m)))
    return reason(m) if reason else None


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def is_mapped(m: nn.Module) -> bool:
    """A module that maps to one op as a whole (fx need not trace into it): a class of NAMED,
    or a subclass of a MODULES class that keeps its forward (torchvision's video convs,
    Conv3DSimple(nn.Conv3d), only set the constructor's arguments)."""
    for cls in type(m).__mro__:
        if _qualified(cls) in NAMED:
            return True
        if cls in MODULES:
            return type(m).forward is cast("type[nn.Module]", cls).forward
    return False


def module_op(m: nn.Module) -> OpCall | tuple[OpCall, ...]:
    """The archc op that builds a module like `m`; NotExpressible if none does."""
    for cls in type(m).__mro__:
        if cls in MODULES:
            return MODULES[cls](m)
        if _qualified(cls) in NAMED:
            return NAMED[_qualified(cls)](m)
    raise NotExpressible(f"no archc op builds a {type(m).__name__}")


# Functional calls on one tensor: (args after the tensor, kwargs) -> the op.
def _flatten_call(args: tuple, kwargs: dict) -> OpCall:
    start = args[0] if args else kwargs.get("start_dim", 0)
    end = args[1] if len(args) > 1 else kwargs.get("end_dim", -1)
    _need((start, end) == (1, -1), f"flatten({start}, {end}) (archc flattens all but the batch "
          "axis)")
    return OpCall("flatten", {})


def _adaptive_call(args: tuple, kwargs: dict) -> OpCall:
    size = args[0] if args else kwargs.get("output_size")
    size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    _need(None not in size, "an output size of None")
    if tuple(size) == (1, 1):
        return OpCall("gap", {})
    return OpCall("adaptive_avgpool", {"h": size[0], "w": None if size[1] == size[0]
                                       else size[1]})


def _dropout_call(args: tuple, kwargs: dict) -> OpCall:
    # `training=self.training` is a constant in fx's trace; the proof in both modes tells
    # whether it followed the module's mode, as nn.Dropout (what archc builds) does
    return OpCall("dropout", {"p": args[0] if args else kwargs.get("p", 0.5)})


def _pool_call(name: str) -> Callable[[tuple, dict], OpCall]:
    """F.avg_pool2d / F.max_pool2d (Inception's pooling branches) as their modules map."""
    order = ["k", "stride", "pad"] + (["ceil", "count_include_pad", "divisor_override"]
                                      if name == "avgpool" else ["dilation", "ceil"])
    torch_names = {"kernel_size": "k", "padding": "pad", "ceil_mode": "ceil"}

    def reverse(args: tuple, kwargs: dict) -> OpCall:
        got = dict(zip(order, args, strict=False))
        got.update({torch_names.get(k, k): v for k, v in kwargs.items()})
        _need(not got.get("return_indices"), "return_indices=True")
        _need(got.pop("count_include_pad", True), "count_include_pad=False")
        _need(got.pop("divisor_override", None) is None, "divisor_override")
        stride = got.get("stride")
        out = {"k": _pair(got["k"]), "stride": _pair(stride) if stride else _pair(got["k"]),
               "pad": _pair(got.get("pad", 0)), "ceil": bool(got.get("ceil", False))}
        if name == "maxpool":
            out["dilation"] = _pair(got.get("dilation", 1))
        return OpCall(name, out)
    return reverse


def _mean_call(args: tuple, kwargs: dict) -> OpCall | tuple[OpCall, ...]:
    """`x.mean([2, 3])` (MnasNet's pooling): `gap flatten`; with keepdim=True, `gap`."""
    dims = args[0] if args else kwargs.get("dim")
    keep = args[1] if len(args) > 1 else kwargs.get("keepdim", False)
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    _need(sorted(d % 4 for d in dims) == [2, 3] and not kwargs.get("dtype"),
          f"mean over dims {dims} (archc averages over the spatial axes 2 and 3: gap)")
    return OpCall("gap", {}) if keep else (OpCall("gap", {}), OpCall("flatten", {}))


def _activation_call(name: str) -> Callable[[tuple, dict], OpCall]:
    def reverse(args: tuple, kwargs: dict) -> OpCall:
        return OpCall(name, {})
    return reverse


FUNCTIONS: dict[Any, Callable[[tuple, dict], OpCall | tuple[OpCall, ...]]] = {
    torch.flatten: _flatten_call, "flatten": _flatten_call,
    torch.mean: _mean_call, "mean": _mean_call,
    F.avg_pool2d: _pool_call("avgpool"), F.max_pool2d: _pool_call("maxpool"),
    torch.max_pool2d: _pool_call("maxpool"),
    F.adaptive_avg_pool2d: _adaptive_call, F.dropout: _dropout_call,
    **{f: _activation_call(name) for name, fs in {
        "relu": (F.relu, torch.relu, "relu"), "sigmoid": (torch.sigmoid, F.sigmoid, "sigmoid"),
        "tanh": (torch.tanh, F.tanh, "tanh"), "silu": (F.silu,), "relu6": (F.relu6,),
        "hardswish": (F.hardswish,), "hardsigmoid": (F.hardsigmoid,),
    }.items() for f in fs},
}

def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """What ShuffleNet's view -> transpose -> view computes; `archc import` rewrites that
    pattern into a call of this function (torch_import._shuffles), which maps to the op."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def resize_like(x: torch.Tensor, ref: torch.Tensor, mode: str = "bilinear",
                align_corners: bool | None = None) -> torch.Tensor:
    """What `F.interpolate(x, size=ref.shape[-2:], ...)` computes (torchvision's segmentation
    heads); `archc import` rewrites that call into this one (torch_graph.resizes), which maps
    to `resize(in.h, in.w)` where `ref` is the block's input, else `resize(like=TAP)`."""
    return F.interpolate(x, size=ref.shape[-2:], mode=mode, align_corners=align_corners)


FUNCTIONS[channel_shuffle] = lambda args, kwargs: OpCall("channel_shuffle", {"groups": args[0]})


# A ViT's patterns, as archc/importer/torch_tokens.py rewrites them into calls of these functions
# (class_token and pos_embedding read a parameter: the importer labels the op with its name).
def tokens(x: torch.Tensor) -> torch.Tensor:
    """NxCxHxW -> Nx(H*W)xC, what the rewritten reshape and permute compute."""
    n, c = x.shape[:2]
    return x.reshape(n, c, -1).permute(0, 2, 1)


def class_token(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """The parameter `p` (1x1xD) put before the tokens of `x`."""
    return torch.cat([p.expand(x.shape[0], -1, -1), x], dim=1)


def pos_embedding(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """The parameter `p` (1xNxD) added to the tokens of `x`."""
    return x + p


def token(x: torch.Tensor, index: int) -> torch.Tensor:
    return x[:, index]


FUNCTIONS[tokens] = lambda args, kwargs: OpCall("tokens", {})
FUNCTIONS[token] = lambda args, kwargs: OpCall("token", {"index": args[0]})

# Calls on two or more tensors that are joins (archc/registry/joins.py): the join's name.
JOINS: dict[Any, str] = {operator.add: "add", operator.iadd: "add", torch.add: "add",
                         "add": "add", "add_": "add", torch.cat: "concat",
                         operator.mul: "mul", torch.mul: "mul", "mul": "mul"}

# torch.export's aten calls outside any mapped module: the function of FUNCTIONS each is
# (read with the same arguments), and the calls that keep their input's shape and dtype, which
# are no op (a view to the same shape, a cast to the same dtype).
_aten = torch.ops.aten
ATEN: dict[Any, Any] = {
    _aten.relu.default: torch.relu, _aten.sigmoid.default: torch.sigmoid,
    _aten.tanh.default: torch.tanh, _aten.silu.default: F.silu,
    _aten.hardswish.default: F.hardswish, _aten.hardsigmoid.default: F.hardsigmoid,
    _aten.flatten.using_ints: torch.flatten, _aten.mean.dim: torch.mean,
    _aten.adaptive_avg_pool2d.default: F.adaptive_avg_pool2d,
    _aten.avg_pool2d.default: F.avg_pool2d,
}
PASS_THROUGH = {_aten.view.default, _aten.reshape.default, _aten.alias.default,
                _aten.to.dtype_layout, _aten.to.dtype, _aten._to_copy.default,
                _aten.clone.default, _aten.contiguous.default, _aten.detach.default}
