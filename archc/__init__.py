"""archc: a declarative architecture language for convolutional networks.

    net = archc.load("resnet18")          # parse + static shape check (no torch)
    net.output_shape, archc.shapes(net)   # inferred shapes
    model = archc.build(net)              # torch.nn.Module
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ArchcError, ArchcErrors, Span
from .graph import Join, Layer, Network, Scope, Shape, walk

if TYPE_CHECKING:
    import torch

__all__ = ["ArchcError", "ArchcErrors", "Join", "Layer", "Network", "Scope", "Span", "build",
           "load", "loads", "shapes"]
__version__ = "0.1.0"


def load(source: str | Path, overrides: Mapping[str, Any] | None = None,
         input_shape: Shape | None = None, network: str | None = None) -> Network:
    """Load and statically check a spec file (or a bundled spec by name); raise ArchcErrors."""
    from .program import load_network

    return load_network(source, overrides, input_shape, network)[0]


def loads(text: str, overrides: Mapping[str, Any] | None = None,
          input_shape: Shape | None = None, network: str | None = None,
          path: str = "<string>") -> Network:
    """Like `load`, from spec text (`use` paths resolve from the current folder)."""
    from .program import load_network

    return load_network(path, overrides, input_shape, network, text=text)[0]


def shapes(net: Network) -> list[tuple[str, str, Shape]]:
    """(qualified name, op or block, output shape) for every node, in execution order."""
    rows = []
    for name, node in walk(net.root.items):
        kind = node.op if isinstance(node, (Layer, Join)) else node.title
        rows.append((name, kind, node.out_shape))
    return rows


def build(net: Network) -> torch.nn.Module:
    """The torch.nn.Module of a checked network (imports torch)."""
    from .emit.torch import build_module

    return build_module(net)
