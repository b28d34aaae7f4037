"""Shared test helpers: real shapes from a forward pass, static parameter counts."""

from __future__ import annotations

import torch

from archc import Network
from archc.graph import Layer, walk
from archc.ops import REGISTRY


def static_layers(net: Network) -> dict[str, Layer]:
    return {name: node for name, node in walk(net.root.items) if isinstance(node, Layer)}


def static_params(net: Network) -> int:
    return sum(REGISTRY[layer.op].params(layer.args, layer.in_shape, layer.out_shape)
               for layer in static_layers(net).values())


def real_shapes(model: torch.nn.Module, net: Network, batch: int = 2) -> dict[str, tuple]:
    """Output shape (batch axis dropped) of every leaf module, from a real forward pass."""
    seen: dict[str, tuple] = {}
    hooks = [m.register_forward_hook(
        lambda mod, inp, out, name=name: seen.__setitem__(name, tuple(out.shape[1:])))
        for name, m in model.named_modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model.eval()(torch.randn(batch, *net.input_shape))
    finally:
        for h in hooks:
            h.remove()
    return seen
