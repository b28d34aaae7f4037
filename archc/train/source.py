"""Where a network comes from: a spec compiled by archc, or a Python factory `module:function`,
and the check that it fits the data before anything trains.

A spec is checked statically: its `input` against the images the network will see (channels
always; height and width unless the recipe resizes), and its output against the class count,
with errors located at the spec's `input` line or last layer. A factory is checked by one
forward pass of two blank images.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archc.core.errors import ArchcError, ArchcErrors, ShapeError, Span
from archc.expansion.training_only import output_roles

ModelFn = Callable[[], Any]
Shape = tuple[int, int, int]


@dataclass
class ModelSource:
    """`fit(shape, classes, resized)` checks the network against data of that image shape
    and class count and returns a model factory (`resized`: the recipe asked for this size)."""

    name: str
    fit: Callable[[Shape, int, bool], ModelFn]
    recipe: dict[str, Any] = field(default_factory=dict)
    # the checked archc Network at an input shape (after `fit` accepted it), for the memory
    # estimate; None for a module factory
    network: Callable[[Shape], Any] | None = None


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

    def fit(shape: Shape, classes: int, resized: bool) -> ModelFn:
        import torch

        model = fn(**kwargs)
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model(torch.zeros(2, *shape))
        except Exception as exc:  # noqa: BLE001 - any failure here is the model not fitting
            raise ArchcError(f"{spec}: the model fails on {_fmt(shape)} images "
                             f"({type(exc).__name__}: {str(exc)[:200]})") from None
        model.train(was)
        if tuple(out.shape) != (2, classes):
            raise ArchcError(f"{spec}: the model's output is {_fmt(tuple(out.shape)[1:])} per "
                             f"image, the data has {classes} classes")
        return lambda: fn(**kwargs)

    return ModelSource(attr, fit, dict(getattr(fn, "recipe", {})))


def _fmt(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def _input_span(spec: str, network: str | None, prog: Any) -> Span | None:
    from archc.front import tree
    from archc.pipeline.program import pick_network

    defn = pick_network(prog, network)
    return next((s.span for s in defn.body if isinstance(s, tree.Input)), defn.span)


def _from_spec(spec: str, params: dict[str, Any], network: str | None) -> ModelSource:
    import archc
    from archc.pipeline.driver import load_network

    net, prog = load_network(spec, params or None, None, network)
    where = _input_span(spec, network, prog)

    def fit(shape: Shape, classes: int, resized: bool) -> ModelFn:
        have = tuple(net.input_shape)
        shaped = net
        errors: list[ArchcError] = []  # every mismatch at once: input, then classes
        try:
            if len(getattr(net, "inputs", ())) > 1:  # the data loaders give one image each
                raise ShapeError(f"the network takes {len(net.inputs)} inputs ("
                                 f"{', '.join(net.inputs)}); archc train trains one-input "
                                 "networks", where, "train a network with one `input`")
            if have != shape:
                try:
                    _check_input(have, shape, resized, where)
                    shaped = archc.load(spec, params or None, shape, network)
                except ShapeError as exc:
                    errors.append(exc)
            try:
                _check_output(shaped, classes, where)
            except ShapeError as exc:
                errors.append(exc)
            if errors:
                raise errors[0] if len(errors) == 1 else ArchcErrors(errors)
        except ArchcError as exc:  # rendered with the line and caret from the text loaded
            if getattr(exc, "sources", None) is None:
                exc.sources = prog.sources
            raise
        fitted[shape] = shaped
        return lambda: _with_roles(archc.build(shaped), shaped)

    fitted: dict[Shape, Any] = {}
    return ModelSource(net.name, fit, dict(net.recipe or {}), fitted.get)


def _check_input(have: tuple[int, ...], shape: Shape, resized: bool, where: Span | None) -> None:
    c, h, w = shape
    what = f"input {_fmt(have)}"
    if len(have) != 3:
        raise ShapeError(f"{what}: the network takes vectors, the data are {_fmt(shape)} images",
                         where, f"write `input {_fmt(shape)}`")
    if have[0] != c:
        raise ShapeError(f"{what}: the data's images have {c} channel{'s' * (c != 1)} "
                         f"({_fmt(shape)})", where, f"write `input {c}x{have[1]}x{have[2]}`")
    if not resized:
        hint = f"write `input {_fmt(shape)}`"
        if have[1] == have[2]:
            hint += f", or set resize = {have[1]} in the train section"
        raise ShapeError(f"{what}: the data's images are {_fmt(shape)}", where, hint)


def _check_output(net: Any, classes: int, where: Span | None) -> None:
    if getattr(net, "outputs", None):  # forward returns a dict (`output NAME`)
        _check_outputs(net, classes, where)
        return
    out = tuple(net.output_shape)
    if out == (classes,):
        return
    last = net.root.items[-1].span if net.root.items else where
    hint = (f"pass --set classes={classes}" if "classes" in net.params
            else f"end the network with linear({classes})")
    raise ShapeError(f"the network's output is {_fmt(out)}, the data has {classes} classes",
                     last, hint)


def _check_outputs(net: Any, classes: int, where: Span | None) -> None:
    """A network with outputs trains as a classifier with auxiliary heads: its main output
    (archc/expansion/training_only.py output_roles) and every other one are `classes` logits."""
    try:
        output_roles(net.outputs, net.training_outputs)
    except ValueError as exc:
        raise ShapeError(f"archc train: {exc}", where,
                         "name the main output `out`, or mark the auxiliary ones "
                         "`output NAME training`") from None
    for name, shape in net.outputs.items():
        if tuple(shape) != (classes,):
            hint = (f"pass --set classes={classes}" if "classes" in net.params
                    else f"end the head with linear({classes})")
            raise ShapeError(f"output {name} is {_fmt(tuple(shape))}, the data has {classes} "
                             "classes: archc train trains classifiers (with auxiliary heads)",
                             where, hint)


def _with_roles(model: Any, net: Any) -> Any:
    """The built model, told which of its outputs the loss takes as the main one (the
    training engine reads `archc_outputs`: archc/train/engine.py Outputs)."""
    if net.outputs:
        model.archc_outputs = output_roles(net.outputs, net.training_outputs)
    return model
