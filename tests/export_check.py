"""Run by tests/test_export.py in a fresh interpreter: import each exported model file and
compare it with archc.build's module for the same spec. Usage: export_check.py JOBS.json

Each job: {"file", "spec", "sets", "input", "jit", "compile"}. For
each, the exported file is imported under a fresh name; archc's module is built and
initialised in float32, the exported class is built (on the meta device, then given empty CPU
storage: no init to pay for) and archc's state_dict is loaded into it with strict=True (its
parameters assigned: shared, not copied; its buffers copies); both run in eval mode and in
train mode (same seed, so dropout draws the same masks) on the same input, train first, so
that eval mode runs on the BatchNorm statistics it moved; parameter counts, state_dict names,
the buffers after the train step and FLOPs (FlopCounterMode, counted on the eval pass) are
compared; optionally the exported model runs under torch.jit.script (TorchScript's
interpreter, its graph passes off) and torch.compile (one graph, fullgraph=True, traced by
dynamo and AOTAutograd and run by the aot_eager backend), and equals the eager eval output. One
process for every job, so torch is imported once. Prints each job's result as a line of JSON."""

from __future__ import annotations

import gc
import importlib.util
import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import torch
from cheap_init import cheap_init  # tests/ (this script's folder)
from torch.utils.flop_counter import FlopCounterMode

import archc
from archc.emit.torch import example_inputs

# float32 (torch's default, in which both modules are built): the two run the same operations
# in the same order, so their outputs are equal bit for bit in float32 as in float64 (all 120
# jobs), and float32 is 16% less CPU
DTYPE = torch.float32


def _load(path: str, index: int) -> type[torch.nn.Module]:
    spec = importlib.util.spec_from_file_location(f"exported_{index}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = [v for v in vars(module).values()
               if isinstance(v, type) and issubclass(v, torch.nn.Module)
               and v.__module__ == module.__name__]
    return classes[-1]  # the network is written last


def _counted(model: torch.nn.Module, xs: tuple[torch.Tensor, ...]) -> tuple[Any, int]:
    """The model's output and its FLOPs (FlopCounterMode) in one forward pass."""
    with FlopCounterMode(display=False) as counter:
        y = model(*xs)
    return y, counter.get_total_flops()


def _buffers(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    params = {name for name, _ in model.named_parameters()}
    return {k: v for k, v in model.state_dict().items() if k not in params}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _equal(a: Any, b: Any, same: Callable[[torch.Tensor, torch.Tensor], bool] = torch.equal
           ) -> bool:
    """Outputs equal (bit for bit, or by `same`): two tensors, or two dicts of them (a
    network's `output NAME`s), with their keys in the same order."""
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return same(a, b)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal to float32's precision."""
    return torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def _parse_each_method_once() -> None:
    """TorchScript parses each module instance's `forward` from its source again
    (torch.jit._recursive's `get_jit_def`: inspect.getsource, ast.parse, the tree view): 2,215
    parses for the 2,073 modules of four networks, of far fewer methods. The tree of one
    function is the same for every instance, so it is parsed once per job (a fresh memo per
    job: no exported file's functions kept past it); each instance is still compiled and run
    as before. tv_efficientnet_v2, tv_maxvit, tv_densenet, tv_efficientnet: 9.3 -> 7.8 s."""
    from torch.jit import _recursive

    parse = getattr(_recursive.get_jit_def, "__wrapped__", _recursive.get_jit_def)
    memo: dict[tuple[Any, ...], Any] = {}

    def get_jit_def(fn: Any, def_name: str, self_name: str | None = None,
                    is_classmethod: bool = False) -> Any:
        key = (getattr(fn, "__func__", fn), def_name, self_name, is_classmethod)
        if key not in memo:
            memo[key] = parse(fn, def_name, self_name, is_classmethod)
        return memo[key]

    get_jit_def.__wrapped__ = parse  # type: ignore[attr-defined]
    _recursive.get_jit_def = get_jit_def

    # Likewise its search for `@torch.jit._overload_method`s, twice per instance: every name
    # in dir() of the instance's class looked up and its source lines read (1.2M calls of
    # `_get_overloaded_methods` over the 120 jobs, 7 s). No exported class declares
    # overloads, so a class found to have none is not searched again.
    annotations = getattr(_recursive.get_overload_annotations, "__wrapped__",
                          _recursive.get_overload_annotations)
    none: set[type] = set()

    def get_overload_annotations(mod: Any, ignored: Any) -> Any:
        if type(mod) in none:
            return {}
        found = annotations(mod, ignored)
        if not found:
            none.add(type(mod))
        return found

    get_overload_annotations.__wrapped__ = annotations  # type: ignore[attr-defined]
    _recursive.get_overload_annotations = get_overload_annotations


def check(job: dict[str, Any], index: int) -> dict[str, Any]:
    _parse_each_method_once()
    cls = _load(job["file"], index)
    inp = tuple(job["input"]) if job.get("input") else None
    net = archc.load(job["spec"], job.get("sets") or {}, inp)
    out: dict[str, Any] = {"class": cls.__name__}
    torch.manual_seed(0)
    with cheap_init():  # the same weights on both sides: any values do (tests/cheap_init.py)
        ours = archc.build(net)  # in float32, torch's default (DTYPE)
    with torch.device("meta"):
        theirs = cls()
    out["params"] = [sum(p.numel() for p in m.parameters()) for m in (ours, theirs)]
    theirs = theirs.to_empty(device="cpu")  # storage never written: assigned over below
    out["keys_equal"] = list(ours.state_dict()) == list(theirs.state_dict())
    # strict, shapes checked; the parameters shared (no pass writes them: no copy of a
    # 144M-parameter VGG), the buffers copied (each model's BatchNorm moves its own)
    params = {name for name, _ in ours.named_parameters(remove_duplicate=False)}
    theirs.load_state_dict({k: v if k in params else v.clone()
                            for k, v in ours.state_dict().items()}, strict=True, assign=True)
    if hasattr(theirs, "tie_weights"):  # to_empty and assign untie shared parameters
        theirs.tie_weights()
    x = example_inputs(net, 2, DTYPE)  # one per input: ours(*x)
    with torch.no_grad():
        ys = []
        for m in (ours, theirs):
            torch.manual_seed(1)
            ys.append(m.train()(*x))
        out["train_equal"] = _equal(*ys)
        # the buffers (BatchNorm's statistics) after the train pass; the parameters were
        # copied by load_state_dict and no pass changes them
        out["buffers_equal"] = _same(_buffers(ours), _buffers(theirs))
        # eval with the statistics the train pass left (not BatchNorm's identity), FLOPs
        # counted on that pass itself (one pass per model, not two more)
        got, flops_ours = _counted(ours.eval(), x)
        want, flops_theirs = _counted(theirs.eval(), x)
        out["eval_equal"] = _equal(got, want)
        out["flops"] = [flops_ours, flops_theirs]
        # scripted and compiled against that eager eval output (no second eager pass)
        if job.get("jit"):
            # the scripted graph run by TorchScript's interpreter without its graph passes
            # (the default executor's first call runs an instrumented, profiling copy; its
            # fusions come from the second call, which this never made): 0.4-0.6 s less for
            # EfficientNetV2 and MaxViT, the compilation itself unchanged
            with torch.jit.optimized_execution(False):
                out["jit_equal"] = _equal(torch.jit.script(theirs)(*x), want)
        if job.get("compile"):
            # what torch.compile asks of the exported source: that dynamo traces the forward
            # in one graph (no graph break) and AOTAutograd traces that graph. Inductor's C++
            # code for the same aten ops is PyTorch's to prove: on a machine with no inductor
            # cache (a fresh one, CI) resnet_mnist's job took 22.7 s of CPU, gcc's mostly, 5.3 s
            # with the cache; this backend adds 0.5-1.0 s to the job
            got = torch.compile(theirs, backend="aot_eager", fullgraph=True)(*x)
            # close to float32's last bit, not equal: AOTAutograd decomposes some aten ops
            # (bilinear upsampling: 3e-8 apart on tv_lraspp)
            out["compile_close"] = _equal(got, want, _close)
    return out


def main() -> int:
    torch.set_num_threads(1)  # small inputs: a second thread only spins
    for i, job in enumerate(json.load(open(sys.argv[1]))):
        start = time.process_time()
        try:
            result = check(job, i)
        except Exception:
            result = {"error": traceback.format_exc()}
        result["cpu_s"] = round(time.process_time() - start, 2)
        print(json.dumps({"file": job["file"], **result}), flush=True)
        # the job's models freed now, and what survives them (TorchScript's caches, the
        # imported classes) frozen: no later collection walks it again. Without the freeze
        # each collection walked the whole grown heap: 27 of the 120 s over 120 jobs
        gc.collect()
        gc.freeze()
    return 0


if __name__ == "__main__":
    sys.exit(main())
