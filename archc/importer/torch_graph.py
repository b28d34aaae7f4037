"""`archc import`, before reading: the module traced with torch.fx, the fx graph prepared
(patterns rewritten into the calls they are), every node's output shape recorded (for widths
left to inference), the weights two modules share found by their storage; and the refusal
(A0901) both tracers raise, located at the Python line of the call."""

from __future__ import annotations

import operator
import re
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from archc.core.codes import TORCH_UNSUPPORTED
from archc.core.errors import ArchcError, Span

HINT = "archc import maps the nn modules and calls of archc/importer/torch_ops.py; see " \
    "`archc explain A0901`"


class ImportRefused(ArchcError):
    """A torch module with a part archc's language cannot express: refused, never written
    partially. Located at the Python line that makes the call."""

    default_code = TORCH_UNSUPPORTED
    # the refused call was traced without its Python line (`fx_trace`'s `lines`):
    # archc/importer/torch_import.py `import_model` traces again to place it
    unlined = False


def refused(message: str, node: Any) -> ImportRefused:
    """The refusal of `node`, located at the Python line that made the call."""
    return located(ImportRefused(message, hint=HINT), node)


_FRAME = re.compile(r'File "([^"]+)", line (\d+), in \S+\n\s*(.*)')


def located(error: ImportRefused, node: Any) -> ImportRefused:
    """The error at the innermost Python line outside torch that made the call, with that
    file's text, so it renders like a spec error (the line and a caret under the call)."""
    from archc.core.sources import SourceStore

    if "stack_trace" not in node.meta:
        error.unlined = True
        return error
    frames = [f for f in _FRAME.findall(node.meta["stack_trace"] or "")
              if "/torch/" not in f[0]]
    if not frames:
        return error
    path, line, code = frames[-1]
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        return error
    src = text.splitlines()[int(line) - 1] if int(line) <= len(text.splitlines()) else ""
    col = len(src) - len(src.lstrip()) + 1
    error.span = Span(path, int(line), col, int(line), col + len(code.strip()))
    error.sources = SourceStore({path: text})
    return error


class _Tracer(torch.fx.Tracer):
    """torch.fx's tracer, keeping a module that maps to one op whole (torchvision's
    StochasticDepth) instead of tracing into its functional code."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        from archc.importer.torch_ops import is_mapped

        return is_mapped(m) or super().is_leaf_module(m, module_qualified_name)


def fx_trace(model: nn.Module, lines: bool = False) -> torch.fx.GraphModule:
    """torch.fx's graph of `model`; with `lines`, the Python line of every call, which only a
    refusal reads (`located`): recording them was a third to a half of an import (ResNet-50
    0.22 -> 0.11 s of CPU), so archc/importer/torch_import.py traces with them only again,
    after a refusal."""
    tracer = _Tracer()
    tracer.record_stack_traces = lines
    return torch.fx.GraphModule(model, tracer.trace(model))


def storage_key(p: torch.Tensor) -> tuple[Any, ...]:
    """What makes two tensors one weight: their untyped storage, offset, shape and strides (on
    the meta device, where every storage is at 0, the tensor itself)."""
    where = id(p) if p.is_meta else p.untyped_storage().data_ptr()
    return (where, p.storage_offset(), tuple(p.shape), p.stride())


def tied_weights(model: nn.Module) -> dict[str, str]:
    """Module path -> the path of the first module whose `weight` is the same storage (GPT-2's
    lm_head and transformer.wte): the same Parameter, or two over one untyped storage at the
    same offset, shape and strides. On the meta device, where every storage is at 0, only the
    same Parameter."""
    first: dict[tuple[Any, ...], str] = {}
    tied: dict[str, str] = {}
    for path, m in model.named_modules():
        w = m._parameters.get("weight")
        if w is None:
            continue
        key = storage_key(w)
        if key in first:
            tied[path] = first[key]
        else:
            first[key] = path
    return tied


def method(node: Any, *names: str) -> bool:
    return isinstance(node, torch.fx.Node) and node.op in ("call_method", "call_function") \
        and getattr(node.target, "__name__", node.target) in names


def shuffles(gm: torch.fx.GraphModule) -> None:
    """ShuffleNet's channel shuffle, `x.view(n, g, c // g, h, w)`, `transpose(1, 2)`,
    `contiguous()`, `view(n, c, h, w)` (its sizes read from `x.size()`), rewritten into one call
    of torch_ops.channel_shuffle(x, g), which maps to the op; the size arithmetic goes with it."""
    from archc.importer.torch_ops import channel_shuffle

    changed = False
    for node in list(gm.graph.nodes):
        if not (method(node, "view", "reshape") and method(node.args[0], "contiguous")):
            continue
        t = node.args[0].args[0]
        if not (method(t, "transpose") and tuple(t.args[1:]) in ((1, 2), (2, 1))):
            continue
        first = t.args[0]
        if not (method(first, "view", "reshape") and len(first.args) == 6 and
                isinstance(first.args[2], int)):
            continue
        with gm.graph.inserting_before(node):
            new = gm.graph.call_function(channel_shuffle, (first.args[0], first.args[2]))
        new.meta = dict(node.meta)
        node.replace_all_uses_with(new)
        changed = True
    if changed:
        gm.graph.eliminate_dead_code()
        gm.recompile()


def _size_of(size: Any) -> Any:
    """`ref` of `ref.shape[-2:]` (an fx getattr then getitem), else None."""
    if not (isinstance(size, torch.fx.Node) and size.op == "call_function" and
            size.target is operator.getitem and size.args[1] == slice(-2, None, None)):
        return None
    shape = size.args[0]
    if isinstance(shape, torch.fx.Node) and shape.op == "call_function" and \
            shape.target is getattr and shape.args[1] == "shape":
        return shape.args[0]
    return None


def resizes(gm: torch.fx.GraphModule) -> None:
    """`F.interpolate(x, size=ref.shape[-2:], mode=..., align_corners=...)` (torchvision's
    segmentation heads, ASPP's pooling branch), rewritten into one call of
    torch_ops.resize_like(x, ref, mode, align_corners); the size arithmetic goes with it. A
    call with a scale factor, antialiasing or another size is left alone (and refused)."""
    from archc.importer.torch_ops import resize_like

    changed = False
    for node in list(gm.graph.nodes):
        if not (node.op == "call_function" and node.target is F.interpolate and
                len(node.args) == 1):
            continue
        kw = node.kwargs
        ref = _size_of(kw.get("size"))
        if ref is None or kw.get("scale_factor") is not None or kw.get("antialias") or \
                kw.get("recompute_scale_factor") or \
                kw.get("mode", "nearest") not in ("bilinear", "nearest"):
            continue
        with gm.graph.inserting_before(node):
            new = gm.graph.call_function(resize_like, (node.args[0], ref, kw.get(
                "mode", "nearest"), kw.get("align_corners")))
        new.meta = dict(node.meta)
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        changed = True
    if changed:
        gm.graph.eliminate_dead_code()
        gm.recompile()


def dense_concats(gm: torch.fx.GraphModule) -> None:
    """DenseNet's layers, each reading `torch.cat(features, 1)` of the list of every earlier
    output, rewritten into a running concatenation, as archc writes it: layer k ends in
    `torch.cat([y_{k-1}, new_k], 1)` (in its own scope: `concat { | ... }`), which the next layer
    reads, and the list's last cat (the block's output) is that value. Equal to the bit: a cat of
    a cat is the same cat. A list that does not grow one output at a time is left as it is."""
    running: dict[tuple[Any, ...], Any] = {}
    changed = False
    for node in list(gm.graph.nodes):
        if node.target is not torch.cat or not isinstance(node.args[0], (list, tuple)) or \
                (node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)) != 1:
            continue
        items = tuple(node.args[0])
        if len(items) == 1:
            value = items[0]
        elif items[:-1] in running and items not in running:
            value = _grown(gm, running[items[:-1]], items[-1])
        elif items in running:
            value = running[items]
        else:
            continue
        running[items] = value
        node.replace_all_uses_with(value)
        gm.graph.erase_node(node)
        changed = True
    if changed:
        gm.recompile()


def _grown(gm: torch.fx.GraphModule, before: Any, new: Any) -> Any:
    """`torch.cat([before, new], 1)` right after `new`, in the scope of the module that
    computed `new` (the layer, not its last conv)."""
    with gm.graph.inserting_after(new):
        node = gm.graph.call_function(torch.cat, ([before, new], 1))
    stack = dict(new.meta.get("nn_module_stack", {}))
    if new.op == "call_module":
        stack = {k: v for k, v in stack.items() if v[0] != new.target}
    node.meta = {"nn_module_stack": stack, "stack_trace": new.meta.get("stack_trace")}
    return node


def channels(node: Any) -> int | None:
    """The channels of the CxHxW tensor a node computes (as _shapes recorded), if it is one."""
    shape = node.meta.get("archc_shape")
    return int(shape[1]) if shape is not None and len(shape) == 4 else None


class _ShapeRecorder(torch.fx.Interpreter):
    def run_node(self, n: Any) -> Any:
        result = super().run_node(n)
        if isinstance(result, torch.Tensor):
            n.meta["archc_shape"] = tuple(result.shape)
        return result


def shapes(gm: torch.fx.GraphModule, input_shape: tuple[int, ...]) -> None:
    """Every node's output shape, from one forward pass in eval mode on the module's device (the
    meta device costs nothing; no running statistics touched; the modes restored). A model this
    cannot run is imported without `in.c`."""
    modes = [(m, m.training) for m in gm.modules()]
    device = next((t.device for t in gm.state_dict().values()), torch.device("cpu"))
    gm.eval()
    try:
        with torch.no_grad():
            _ShapeRecorder(gm).run(torch.zeros(1, *input_shape, device=device))
    except Exception:  # noqa: BLE001 - shapes are an improvement, never a requirement
        for node in gm.graph.nodes:
            node.meta.pop("archc_shape", None)
    finally:
        for m, training in modes:
            m.training = training
