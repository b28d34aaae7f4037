"""archc: a declarative architecture language for convolutional networks.

    net = archc.load("resnet18")          # parse + static shape check (no torch)
    net.output_shape, archc.shapes(net)   # inferred shapes
    model = archc.build(net)              # torch.nn.Module
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archc.core.errors import ArchcError, ArchcErrors, Span
from archc.core.graph import InputShape, Join, Layer, Network, Scope, Shape, Wire, walk

if TYPE_CHECKING:
    import torch

__all__ = ["ArchcError", "ArchcErrors", "Join", "Layer", "Network", "Scope", "Span", "Wire",
           "build", "load", "load_trained", "loads", "shapes"]
__version__ = "0.1.0"


def load(source: str | Path, overrides: Mapping[str, Any] | None = None,
         input_shape: InputShape | None = None, network: str | None = None) -> Network:
    """Load and statically check a spec file (or a bundled spec by name); raise ArchcErrors."""
    from archc.core.overrides import input_shape_arg
    from archc.pipeline.driver import load_network

    return load_network(source, overrides, input_shape_arg(input_shape), network)[0]


def loads(text: str, overrides: Mapping[str, Any] | None = None,
          input_shape: InputShape | None = None, network: str | None = None,
          path: str = "<string>") -> Network:
    """Like `load`, from spec text (`use` paths resolve from the current folder)."""
    from archc.core.overrides import input_shape_arg
    from archc.pipeline.driver import load_network

    return load_network(path, overrides, input_shape_arg(input_shape), network, text=text)[0]


def shapes(net: Network) -> list[tuple[str, str, Shape]]:
    """(qualified name, op or block, output shape) for every node, in execution order, after
    a row per named input (`input:mask`, "input", its shape)."""
    if not isinstance(net, Network):
        raise TypeError(f"archc.shapes takes a network from archc.load, got {type(net).__name__}")
    rows: list[tuple[str, str, Shape]] = [(f"input:{k}", "input", v)
                                          for k, v in net.inputs.items()]
    for name, node in walk(net.root.items):
        kind = node.op if isinstance(node, (Layer, Join, Wire)) else node.title
        rows.append((name, kind, node.out_shape))
    return rows


def build(net: Network, max_memory: int | None = None, weights: str | Path | None = None,
          checkpoint: str | int | None = None) -> torch.nn.Module:
    """The torch.nn.Module of a checked network (imports torch). Raises a LimitError instead if
    its float32 parameters, or one sample's activations, need more than `max_memory` bytes
    (default archc.core.limits.MAX_MEMORY). `weights` loads by name what `--weights` takes: a run
    folder (`checkpoint`: best, last or N), a checkpoint's .json or .safetensors, a state_dict
    file."""
    if not isinstance(net, Network):
        hint = f": archc.build(archc.load({net!r}))" if isinstance(net, (str, Path)) else ""
        raise TypeError(f"archc.build takes a network from archc.load, got "
                        f"{type(net).__name__}{hint}")
    if weights is not None:
        from archc.emit.weights import import_state_dict
        from archc.train.trained import read_weights

        model = build(net, max_memory)
        which = None if checkpoint is None else str(checkpoint)  # an epoch as an int, too
        import_state_dict(net, model, read_weights(weights, which).state_dict)
        return model
    from archc.core.limits import MAX_MEMORY
    from archc.emit.torch import build_module
    from archc.expansion.memory import require

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


def load_trained(weights: str | Path, spec: str | Path | None = None,
                 checkpoint: str | int | None = None) -> torch.nn.Module:
    """The network of a training run with its weights, in eval mode: `weights` is the run
    folder (or a checkpoint's .json/.safetensors), `spec` defaults to the one the run was
    trained from, and the run's --set values and input shape apply. The module's
    `preprocessing` attribute turns a PIL image into its input: `model.preprocessing(img)`."""
    from archc.emit.preprocess import Preprocessing
    from archc.emit.weights import import_state_dict
    from archc.train.trained import read_weights

    found = read_weights(weights, None if checkpoint is None else str(checkpoint))
    if found.run is None:
        raise ArchcError(f"'{weights}' is not a training run's checkpoint",
                         hint="load a state_dict with archc.build(net, weights=...)")
    source = spec if spec is not None else found.run.get("spec")
    if not isinstance(source, (str, Path)):
        raise ArchcError(f"'{weights}' does not record its spec; pass spec=")
    if spec is not None:  # a spec that lacks the trained network: say so, not its shape error
        from archc.train.trained import same_network

        same_network(str(spec), found.network, found.run.get("name"), str(weights))
    net = load(source, found.params, found.input_shape, found.network)
    model = build(net)
    import_state_dict(net, model, found.state_dict)
    model.preprocessing = Preprocessing.from_run(found.run)  # type: ignore[assignment]
    return model.eval()
