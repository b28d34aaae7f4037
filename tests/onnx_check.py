"""Run by tests/test_export.py in a fresh interpreter (beside export_check.py, so the two use
both CI cores): export each spec to ONNX as `archc export SPEC -o FILE.onnx` does (checked by
onnx.checker inside), run it with onnxruntime at a batch size other than the one exported
(1, exported at 2: the batch axis is dynamic) and compare with archc's module in PyTorch. Usage:
onnx_check.py JOBS.json; each job {"spec", "sets", "input", "onnx", "weights"}; prints one line
of JSON per job."""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import traceback
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from cheap_init import cheap_init  # tests/ (this script's folder)

import archc
from archc.emit.onnx import export_onnx
from archc.emit.torch import example_inputs
from archc.emit.weights import read_state_dict


def check(job: dict[str, Any]) -> dict[str, Any]:
    inp = tuple(job["input"]) if job.get("input") else None
    net = archc.load(job["spec"], job.get("sets") or {}, inp)
    # both builds (the exporter's and this one) fill the same cheap values after seed 0
    with cheap_init():
        exporter = export_onnx(net, job["onnx"], job.get("weights"), seed=0)
        torch.manual_seed(0)
        model = archc.build(net).eval()
    if job.get("weights"):
        model.load_state_dict(read_state_dict(job["weights"]), strict=True)
    xs = example_inputs(net, 1)  # exported at 2: a batch of one, as a deployed model runs
    with torch.no_grad():
        result = model(*xs)
    # a network with `output NAME`s returns a dict: one named ONNX output each, in order
    wants = [v.numpy() for v in result.values()] if isinstance(result, dict) else \
        [result.numpy()]
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(job["onnx"], options, providers=["CPUExecutionProvider"])
    names = list(net.inputs) or ["input"]  # ONNX's inputs are named as the spec's
    gots = session.run(None, {n: x.numpy() for n, x in zip(names, xs, strict=True)})
    size = os.path.getsize(job["onnx"])
    os.remove(job["onnx"])  # big models: do not keep hundreds of MB around
    pairs = list(zip(gots, wants, strict=True))
    return {"shape_ok": all(g.shape == w.shape for g, w in pairs),
            "max_abs": max(float(np.abs(g - w).max()) for g, w in pairs),
            "close": all(bool(np.allclose(g, w, rtol=1e-5, atol=1e-5)) for g, w in pairs),
            "inputs": [i.name for i in session.get_inputs()],
            "outputs": [o.name for o in session.get_outputs()],
            "dict_keys": list(result) if isinstance(result, dict) else None,
            "batch_dim": str(session.get_inputs()[0].shape[0]), "bytes": size,
            "exporter": exporter}


def main() -> int:
    torch.set_num_threads(1)
    for job in json.load(open(sys.argv[1])):
        start = time.process_time()
        try:
            result = check(job)
        except Exception:
            result = {"error": traceback.format_exc()}
        result["cpu_s"] = round(time.process_time() - start, 2)
        print(json.dumps({"onnx": job["onnx"], **result}), flush=True)
        gc.collect()
        gc.freeze()  # what survives a job is kept for good: no collection walks it again
    return 0


if __name__ == "__main__":
    sys.exit(main())
