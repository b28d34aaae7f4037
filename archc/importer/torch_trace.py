"""A frontend from the other end: an existing torch `nn.Module`, named `pkg.module:factory` or
`path/to/file.py:factory`, loaded and traced (torch.fx, else forward hooks) into the calls it
makes, each with its module path, output shape, parameters and FLOPs as torch counts them."""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.fx
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from archc.core.errors import UsageError
from archc.importer.torch_graph import storage_key

DEFAULT_INPUT = (3, 224, 224)

Scope = tuple[str, str]  # (module path, class name) of a module the call happens inside


@dataclass(frozen=True)
class Call:
    """One tensor-producing call of a forward pass: a leaf module, a function or a method."""

    name: str  # the row's name: `layer1.0.conv1` (a module), `layer1.0.add` (a function)
    kind: str  # 'module' | 'function' | 'method' | 'attribute'
    op: str  # `Conv2d`, `add`, `flatten`
    scopes: tuple[Scope, ...]  # the modules it runs inside, outermost first (root excluded)
    output: tuple[int, ...]  # per sample: the batch axis dropped
    params: int  # parameters it is the first to use (shared ones counted once)
    macs: int  # FlopCounterMode's FLOPs / 2
    activations: int  # output elements per sample


@dataclass(frozen=True)
class Trace:
    target: str
    model_class: str
    method: str  # 'torch.fx' or 'forward hooks'
    why: str  # why fx was not used ('' when it was)
    input: tuple[int, ...]
    output: tuple[int, ...]
    calls: tuple[Call, ...]
    params: int
    trainable: int
    flops: int  # FlopCounterMode's total for the whole forward pass


# ----------------------------------------------------------------------------- loading


def _import_target(module: str) -> Any:
    if module.endswith(".py") or "/" in module:
        path = Path(module)
        if not path.is_file():
            what = "a folder, not a Python file" if path.is_dir() else "no such file"
            raise UsageError(f"'{module}': {what}", hint="give pkg.module:factory or "
                             "path/to/file.py:factory")
        spec = importlib.util.spec_from_file_location(f"_archc_user_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # so dataclasses and pickling inside it work
        spec.loader.exec_module(mod)
        return mod
    return importlib.import_module(module)


def trace_target(target: str, kwargs: str | None = None,
                 input_shape: tuple[int, ...] = DEFAULT_INPUT) -> Trace:
    """Load and trace: on the meta device first (no memory, no init, shapes and FLOPs alone),
    then, if the factory or the forward pass needs real data, on the CPU."""
    try:
        return trace(load_module(target, kwargs, "meta"), input_shape, target)
    except UsageError:
        return trace(load_module(target, kwargs), input_shape, target)


def load_module(target: str, kwargs: str | None = None, device: str = "cpu") -> nn.Module:
    """Call `factory(**kwargs)` of `pkg.module:factory` (or `file.py:factory`): an nn.Module.
    Every failure is a UsageError that says what went wrong, never a traceback."""
    module, sep, factory = target.rpartition(":")
    if not sep or not module or not factory:
        raise UsageError(f"--torch expects pkg.module:factory or file.py:factory, got "
                         f"'{target}'", hint="e.g. torchvision.models:resnet18")
    try:
        options = json.loads(kwargs) if kwargs else {}
    except json.JSONDecodeError as exc:
        raise UsageError(f"--kwargs is not JSON: {exc}") from None
    if not isinstance(options, dict):
        raise UsageError(f"--kwargs must be a JSON object, got {kwargs}")
    try:
        mod = _import_target(module)
    except UsageError:
        raise
    except (Exception, SystemExit) as exc:  # ModuleNotFoundError, the module failing (or
        # exiting: a script's sys.exit() would end archc with its status, nothing written)
        raise UsageError(f"cannot import '{module}': {type(exc).__name__}: {exc}") from None
    fn = getattr(mod, factory, None)
    if not callable(fn):
        raise UsageError(f"'{module}' has no callable '{factory}'")
    try:
        with torch.device(device):
            model = fn(**options)
    except (Exception, SystemExit) as exc:  # sys.exit(0) in the factory is no success
        raise UsageError(f"{target}({_kwargs_text(options)}) raised {type(exc).__name__}: "
                         f"{exc}") from None
    if not isinstance(model, nn.Module):
        raise UsageError(f"{target} returned a {type(model).__name__}, not an nn.Module")
    return model


def _kwargs_text(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in options.items())


# ----------------------------------------------------------------------------- tracing


def trace(model: nn.Module, input_shape: tuple[int, ...] = DEFAULT_INPUT,
          target: str = "") -> Trace:
    """Run one eval-mode forward pass of a batch of one on zeros (token ids 0 for `--input N`
    where the model has an nn.Embedding), recording every call."""
    from archc.importer.torch_export import example

    model = model.eval()
    x = example(model, input_shape)
    try:
        graph = torch.fx.symbolic_trace(model)
        method, why = "torch.fx", ""
        calls, out = _FxRun(graph, model).calls_of(x)
    except UsageError:
        raise
    except Exception as exc:  # fx cannot trace data-dependent Python: hooks see the modules
        method, why = "forward hooks", f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        calls, out = _hook_calls(model, x)
    params = {storage_key(p): p for p in model.parameters()}
    total = sum(p.numel() for p in params.values())
    trainable = sum(p.numel() for p in params.values() if p.requires_grad)
    counted = sum(c.params for c in calls)
    if counted < total:  # parameters no call used: listed, so the rows add up to the total
        calls.append(Call("(unused parameters)", "attribute", "unused", (), (), total - counted,
                          0, 0))
    flops = 2 * sum(c.macs for c in calls)
    return Trace(target, type(model).__name__, method, why, tuple(input_shape), _shape(out),
                 tuple(calls), total, trainable, flops)


def _shape(value: Any) -> tuple[int, ...]:
    t = next(_tensors(value), None)
    return tuple(t.shape[1:]) if t is not None else ()


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)


def _elements(value: Any) -> int:
    return sum(math.prod(t.shape[1:]) if t.dim() else 1 for t in _tensors(value))


class _Params:
    """Parameters by storage (torch_graph.storage_key): a shared one is counted by the first
    call that uses it."""

    def __init__(self) -> None:
        self.seen: set[tuple[Any, ...]] = set()

    def new(self, params: Iterator[nn.Parameter]) -> int:
        n = 0
        for p in params:
            if storage_key(p) not in self.seen:
                self.seen.add(storage_key(p))
                n += p.numel()
        return n


def _forward(run: Callable[[], Any], counter: FlopCounterMode) -> Any:
    # With gradients on, as FlopCounterMode is used in training: under no_grad in eval mode
    # nn.MultiheadAttention takes a fused fast path whose FLOPs it does not count.
    # The math kernel of scaled_dot_product_attention is matmuls that FlopCounterMode counts;
    # its CPU flash kernel is not counted (torchvision's published GFLOPS count them).
    from torch.nn.attention import SDPBackend, sdpa_kernel

    try:
        with counter, sdpa_kernel(SDPBackend.MATH):
            return run()
    except (Exception, SystemExit) as exc:
        raise UsageError(f"the forward pass raised {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}",
                         hint="give the input shape it expects with --input CxHxW") from None


class _FxRun:
    """Runs a torch.fx GraphModule node by node, measuring each node's FLOPs."""

    def __init__(self, graph: Any, model: nn.Module):
        self.graph, self.model, self.params = graph, model, _Params()

    def calls_of(self, x: torch.Tensor) -> tuple[list[Call], Any]:
        calls: list[Call] = []
        outer = self

        class Interp(torch.fx.Interpreter):
            def run_node(self, n: Any) -> Any:
                before = counter.get_total_flops()
                out = super().run_node(n)
                if n.op not in ("placeholder", "output") and next(_tensors(out), None) \
                        is not None:
                    calls.append(outer.call(n, out, counter.get_total_flops() - before))
                return out

        counter = FlopCounterMode(display=False)
        interp = Interp(self.graph)
        return calls, _forward(lambda: interp.run(x), counter)

    def call(self, n: Any, out: Any, flops: int) -> Call:
        stack = list(n.meta.get("nn_module_stack", {}).values())
        scopes = tuple((path, cls.__name__ if isinstance(cls, type) else str(cls).split(".")[-1])
                       for path, cls in stack if path)
        if n.op == "call_module":
            module = self.graph.get_submodule(n.target)
            scopes = tuple(s for s in scopes if s[0] != n.target)
            return Call(n.target, "module", type(module).__name__, scopes, _shape(out),
                        self.params.new(module.parameters()), flops // 2, _elements(out))
        if n.op == "get_attr":
            value = _attr(self.graph, n.target)
            params = self.params.new(iter([value])) if isinstance(value, nn.Parameter) else 0
            return Call(n.target, "attribute", "parameter", scopes, _shape(out), params, 0, 0)
        op = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", str(n.target))
        prefix = scopes[-1][0] + "." if scopes else ""
        return Call(prefix + n.name, "method" if n.op == "call_method" else "function", op,
                    scopes, _shape(out), 0, flops // 2, _elements(out))


def _attr(root: nn.Module, target: str) -> Any:
    value: Any = root
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _hook_calls(model: nn.Module, x: torch.Tensor) -> tuple[list[Call], Any]:
    """The fallback: every leaf module's call, from forward hooks; FLOPs outside any leaf
    module (functional code) land on one row, so the rows still add up to the total."""
    calls: list[Call] = []
    stack: list[tuple[str, str]] = []
    params = _Params()
    names = {id(m): name for name, m in model.named_modules()}
    counter = FlopCounterMode(display=False)
    start: list[int] = []

    def pre(module: nn.Module, _args: Any) -> None:
        stack.append((names[id(module)], type(module).__name__))
        start.append(counter.get_total_flops())

    def post(module: nn.Module, _args: Any, out: Any) -> None:
        path, cls = stack.pop()
        flops = counter.get_total_flops() - start.pop()
        if not any(True for _ in module.children()) and next(_tensors(out), None) is not None:
            calls.append(Call(path, "module", cls, tuple(s for s in stack if s[0]), _shape(out),
                              params.new(module.parameters()), flops // 2, _elements(out)))

    hooks = [h for m in model.modules()
             for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    try:
        out = _forward(lambda: model(x), counter)
    finally:
        for h in hooks:
            h.remove()
    rest = counter.get_total_flops() - 2 * sum(c.macs for c in calls)
    if rest:
        calls.append(Call("(functional code)", "function", "functional", (), _shape(out), 0,
                          rest // 2, 0))
    return calls, out
