"""Stage 3, for the ONNX emitter: the built module's layers torch.onnx's TorchScript exporter
cannot convert, swapped (in place, in the module about to be exported) for equal ones it can:
`nn.ChannelShuffle` (no symbolic for `aten::channel_shuffle`) as reshape/transpose/reshape, and
an adaptive pool whose output size does not divide its input's (the exporter's symbolic needs
equal windows) as PyTorch's own windows, written out as slices."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

ADAPTIVE = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
            nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)


class ShuffleChannels(nn.Module):
    """nn.ChannelShuffle(groups) as views: N x (g*k) x ... -> N x g x k x ... -> N x k x g x
    ... -> N x (k*g) x ... (ShuffleNet, Zhang et al. 2018, section 3.1)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = x.unflatten(1, (self.groups, x.shape[1] // self.groups))
        return parts.transpose(1, 2).flatten(1, 2)


class RMSNormOps(nn.Module):
    """nn.RMSNorm (no `aten::rms_norm` symbolic below opset 23's RMSNormalization) as its
    formula, x / sqrt(mean(x^2) + eps) * weight, with the original's weight itself."""

    def __init__(self, norm: nn.RMSNorm) -> None:
        super().__init__()
        self.axes = tuple(range(-len(norm.normalized_shape), 0))
        self.eps = norm.eps
        self.weight = norm.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        y = x * torch.rsqrt(x.pow(2).mean(self.axes, keepdim=True) + eps)
        return y if self.weight is None else y * self.weight


def windows(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive pooling windows along one axis (aten/src/ATen/native/
    AdaptiveAveragePooling.cpp, start_index/end_index): [floor(i*size/out),
    ceil((i+1)*size/out)) for each output position i."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


class SlicedAdaptivePool(nn.Module):
    """An adaptive average or max pool over the last len(sizes) axes, one axis at a time (a
    mean, or a max, over a box is that over each of its axes in turn), each output position
    the reduction of its window's slice, concatenated."""

    def __init__(self, reduce: str, sizes: tuple[int, ...], outs: tuple[int, ...]) -> None:
        super().__init__()
        self.reduce = reduce
        self.spans = [windows(s, o) for s, o in zip(sizes, outs, strict=True)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = x.dim() - len(self.spans)
        for axis, spans in enumerate(self.spans, first):
            parts = [self._pool(x.narrow(axis, start, end - start), axis)
                     for start, end in spans]
            x = torch.cat(parts, axis)
        return x

    def _pool(self, x: torch.Tensor, axis: int) -> torch.Tensor:
        if self.reduce == "mean":
            return x.mean(axis, keepdim=True)
        return x.amax(axis, keepdim=True)


def _rank(pool: nn.Module) -> int:
    """The number of spatial axes of an nn.Adaptive*Pool{1,2,3}d."""
    return int(type(pool).__name__[-2])


def _out_sizes(pool: nn.Module, sizes: tuple[int, ...]) -> tuple[int, ...]:
    """The pool's output size per axis (None in torch's output_size keeps the input's)."""
    given: Any = pool.output_size
    outs = given if isinstance(given, tuple) else (given,) * len(sizes)
    return tuple(s if o is None else int(o) for s, o in zip(sizes, outs, strict=True))


def _sliced(pool: nn.Module, shape: tuple[int, ...]) -> nn.Module | None:
    """The sliced form of an adaptive pool that sees inputs of `shape`, where the exporter
    needs it: some output size does not divide its input size (max pools asked for indices
    stay: the slices give no indices)."""
    sizes = shape[-_rank(pool):]
    outs = _out_sizes(pool, sizes)
    if all(s % o == 0 for s, o in zip(sizes, outs, strict=True)):
        return None
    if getattr(pool, "return_indices", False):
        return None
    reduce = "mean" if "Avg" in type(pool).__name__ else "max"
    return SlicedAdaptivePool(reduce, sizes, outs)


def _input_shapes(model: nn.Module, pools: dict[str, nn.Module],
                  examples: tuple[torch.Tensor, ...]) -> dict[str, set[tuple[int, ...]]]:
    """The input shapes each of `pools` sees in one forward pass on `examples`."""
    seen: dict[str, set[tuple[int, ...]]] = {name: set() for name in pools}
    hooks = [pool.register_forward_pre_hook(
        lambda m, args, name=name: seen[name].add(tuple(args[0].shape)))
        for name, pool in pools.items()]
    try:
        with torch.no_grad():
            model(*examples)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent), leaf, new)


def make_traceable(model: nn.Module, examples: tuple[torch.Tensor, ...]) -> list[str]:
    """Swap, in `model`, the layers the TorchScript exporter cannot convert for equal ones it
    can; returns their names. A forward pass on `examples` is run only where an adaptive pool
    to more than one position needs its input's size."""
    swapped = []
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.ChannelShuffle):
            _replace(model, name, ShuffleChannels(module.groups))
            swapped.append(name)
        elif isinstance(module, nn.RMSNorm):
            _replace(model, name, RMSNormOps(module))
            swapped.append(name)
    pools: dict[str, nn.Module] = {
        name: m for name, m in model.named_modules()
        if isinstance(m, ADAPTIVE) and set(_out_sizes(m, (1,) * _rank(m))) != {1}}
    if not pools:
        return swapped
    for name, shapes in _input_shapes(model, pools, examples).items():
        new = _sliced(pools[name], next(iter(shapes))) if len(shapes) == 1 else None
        if new is not None:
            _replace(model, name, new)
            swapped.append(name)
    return swapped


def traceable_names(names: list[str]) -> dict[str, str]:
    """Stand-ins for the graph input and output names TorchScript refuses (a name of digits
    alone, such as the FPN's output '0': torch/csrc/jit/ir/ir.cpp's isValidName keeps those
    for its own numbering), each to be renamed back in the file (`rename_values`)."""
    return {name: f"archc_value_{name}" for name in names if name.isdigit()}


def rename_values(path: str, names: dict[str, str]) -> None:
    """Rename values in the ONNX file at `path` (old -> new), wherever they are named."""
    import onnx

    model = onnx.load(path)
    _rename_in(model.graph, names)
    onnx.save(model, path)


def _rename_in(graph: Any, names: dict[str, str]) -> None:
    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = names.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
        for attribute in node.attribute:  # If/Loop bodies see the outer graph's values
            for sub in [*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs]:
                _rename_in(sub, names)
