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
    from .driver import load_network

    return load_network(source, overrides, input_shape, network)[0]


def loads(text: str, overrides: Mapping[str, Any] | None = None,
          input_shape: Shape | None = None, network: str | None = None,
          path: str = "<string>") -> Network:
    """Like `load`, from spec text (`use` paths resolve from the current folder)."""
    from .driver import load_network

    return load_network(path, overrides, input_shape, network, text=text)[0]


def shapes(net: Network) -> list[tuple[str, str, Shape]]:
    """(qualified name, op or block, output shape) for every node, in execution order."""
    rows = []
    for name, node in walk(net.root.items):
        kind = node.op if isinstance(node, (Layer, Join)) else node.title
        rows.append((name, kind, node.out_shape))
    return rows


def build(net: Network, max_memory: int | None = None) -> torch.nn.Module:
    """The torch.nn.Module of a checked network (imports torch). Raises a LimitError instead if
    its float32 parameters, or one sample's activations, need more than `max_memory` bytes
    (default archc.limits.MAX_MEMORY)."""
    from .emit.torch import build_module
    from .limits import MAX_MEMORY
    from .memory import require

    try:
        require(net, MAX_MEMORY if max_memory is None else max_memory)
    except ArchcError as exc:
        exc.sources = net.sources  # rendered with its source line, as load's errors are
        raise
    try:
        return build_module(net)
    except (MemoryError, RuntimeError) as exc:  # over a raised limit, or a machine short of it
        if not isinstance(exc, MemoryError) and "alloc" not in str(exc):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArchcError(f"building '{net.name}' ran out of memory: {first}",
                         hint="a smaller spec, or a machine with more memory") from None
