"""Where a network comes from: a spec compiled by archc, or a Python factory `module:function`.

Either way the trainer gets a name, the recipe the source carries, and a builder that, given the
image side the recipe asks for, returns a zero-argument model factory.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archc.errors import ArchcError

ModelFn = Callable[[], Any]


@dataclass
class ModelSource:
    name: str
    builder: Callable[[int], ModelFn]
    recipe: dict[str, Any] = field(default_factory=dict)


def _parse_params(params: list[str]) -> dict[str, Any]:
    from archc.train.config import parse_assignment

    return dict(parse_assignment(p) for p in params)


def load_model(spec: str, params: list[str], network: str | None = None) -> ModelSource:
    """Resolve SPEC: an existing file or bundled spec name goes to the compiler; `pkg.mod:fn`
    is imported and `fn()` called (its `recipe` attribute, if any, is the recipe)."""
    if ":" in spec and not Path(spec).exists() and not spec.endswith(".arch"):
        return _from_factory(spec, params)
    return _from_spec(spec, _parse_params(params), network)


def _from_factory(spec: str, params: list[str]) -> ModelSource:
    module_name, _, attr = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ArchcError(f"{spec}: cannot import model factory ({exc})",
                         hint="use module:function, e.g. mypackage.nets:resnet18") from None
    kwargs = _parse_params(params)
    return ModelSource(attr, lambda size: (lambda: fn(**kwargs)), dict(getattr(fn, "recipe", {})))


def _from_spec(spec: str, params: dict[str, Any], network: str | None) -> ModelSource:
    import archc

    net = archc.load(spec, params or None, None, network)
    native = tuple(net.input_shape)

    def builder(size: int) -> ModelFn:
        shaped = net
        if native[1:] != (size, size):
            shaped = archc.load(spec, params or None, (native[0], size, size), network)
        if shaped.input_shape[0] != 1:
            raise ArchcError(f"{spec}: the network takes {shaped.input_shape[0]} input channels,"
                             " (Fashion-)MNIST images have 1")
        return lambda: archc.build(shaped)

    return ModelSource(net.name, builder, dict(net.recipe or {}))


