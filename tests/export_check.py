"""Run by tests/test_export.py in a fresh interpreter: import each exported model file and
compare it with archc.build's module for the same spec. Usage: export_check.py JOBS.json

Each job: {"file", "spec", "sets", "input", "jit", "compile"}. For each, the exported file is
imported under a fresh name; archc's module is built and initialised in fp64, the exported
class is built (on the meta device, then given empty CPU storage: no init to pay for) and
archc's state_dict is loaded into it with strict=True; both run in eval mode and in train mode
(same seed, so dropout draws the same masks) on the same input; parameter counts, state_dict
names, FLOPs (FlopCounterMode) and the buffers after the train step are compared; optionally
the exported model runs under torch.jit.script and torch.compile. One process for every job,
so torch is imported once. Prints each job's result as a line of JSON."""

from __future__ import annotations

import gc
import importlib.util
import json
import sys
import time
import traceback
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

import archc
from archc.emit.torch import example_inputs


def _load(path: str, index: int) -> type[torch.nn.Module]:
    spec = importlib.util.spec_from_file_location(f"exported_{index}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = [v for v in vars(module).values()
               if isinstance(v, type) and issubclass(v, torch.nn.Module)
               and v.__module__ == module.__name__]
    return classes[-1]  # the network is written last


def _flops(model: torch.nn.Module, xs: tuple[torch.Tensor, ...]) -> int:
    with FlopCounterMode(display=False) as counter:
        model(*xs)
    return counter.get_total_flops()


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _equal(a: Any, b: Any) -> bool:
    """Outputs equal: two tensors, or two dicts of them (a network's `output NAME`s), with
    their keys in the same order."""
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and _same(a, b)
    return torch.equal(a, b)


def check(job: dict[str, Any], index: int) -> dict[str, Any]:
    cls = _load(job["file"], index)
    inp = tuple(job["input"]) if job.get("input") else None
    net = archc.load(job["spec"], job.get("sets") or {}, inp)
    out: dict[str, Any] = {"class": cls.__name__}
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float64)  # built in fp64: no fp32 copy of big models
    try:
        ours = archc.build(net)
        with torch.device("meta"):
            theirs = cls()
    finally:
        torch.set_default_dtype(torch.float32)
    theirs = theirs.to_empty(device="cpu")
    if hasattr(theirs, "tie_weights"):  # to_empty unties shared parameters
        theirs.tie_weights()
    out["keys_equal"] = list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict(), strict=True)
    out["params"] = [sum(p.numel() for p in m.parameters()) for m in (ours, theirs)]
    x = example_inputs(net, 2, torch.float64)  # one batch per input: ours(*x)
    with torch.no_grad():
        out["eval_equal"] = _equal(ours.eval()(*x), theirs.eval()(*x))
        one = tuple(t[:1] for t in x)
        out["flops"] = [_flops(ours, one), _flops(theirs, one)]
        ys = []
        for m in (ours, theirs):
            torch.manual_seed(1)
            ys.append(m.train()(*x))
        out["train_equal"] = _equal(*ys)
        out["buffers_equal"] = _same(ours.state_dict(), theirs.state_dict())
        theirs.eval()
        want = theirs(*x)
        if job.get("jit"):
            out["jit_equal"] = _equal(torch.jit.script(theirs)(*x), want)
        if job.get("compile"):
            got = torch.compile(theirs, backend="inductor")(*x)
            out["compile_close"] = bool(torch.allclose(got, want, rtol=1e-9, atol=1e-12))
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
        gc.collect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
