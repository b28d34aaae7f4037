"""Issue 21 item 8: `archc export SPEC -o m.onnx` through torch.onnx's TorchScript exporter
(`dynamo=False`) and its torch.export one (`dynamo=True`), side by side in one run, each in a
fresh interpreter (so neither inherits the other's imports or caches), interleaved, for
EfficientNet-B0, MobileNetV3-Small and a small ViT. Prints the CPU and wall seconds of the
export call (archc.emit.onnx.export_onnx: build, trace, convert, check) and of the whole
`archc export` command with the default ('auto': TorchScript first), and checks every file in
onnxruntime against the module (max |difference| at a batch of 3).

With --specs, instead: every bundled spec at tests/test_export.py's sizes, exported with the
default ('auto') as tests/onnx_check.py does, one interpreter per checkout looping over them,
printing per spec the exporter that wrote the file and the CPU seconds of the export call; with
--baseline DIR, also those of another archc checkout (say, `git archive REV | tar -x -C DIR`),
side by side.

    python bench/onnx_speed.py [--rounds 2]
    python bench/onnx_speed.py --specs [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {  # label: spec and --set values
    "efficientnet_b0": ("tv_efficientnet", {"variant": "b0"}),
    "mobilenet_v3_small": ("tv_mobilenet_v3", {"variant": "small"}),
    "vit (d=192, 6 layers)": ("tv_vit", {"d": 192, "layers": 6, "heads": 3, "mlp": 768}),
}
EXPORTERS = ("torchscript", "dynamo")

CHILD = """
import json, sys, time
import numpy as np, onnxruntime as ort, torch
import archc
from archc.emit.onnx import export_onnx
from archc.emit.torch import example_input
spec, sets, exporter, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
net = archc.load(spec, sets)
torch.manual_seed(0)
model = archc.build(net).train()
with torch.no_grad():  # BatchNorm statistics of data, so that outputs depend on the input
    for _ in range(3):
        model(example_input(net.input_shape, 4))
model.eval()
state = model.state_dict()
cpu, wall = time.process_time(), time.perf_counter()
used = export_onnx(net, out, state, exporter=exporter)
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
x = example_input(net.input_shape, 3)
with torch.no_grad():
    want = model(x).numpy()
session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
(got,) = session.run(None, {"input": x.numpy()})
print(json.dumps({"cpu": cpu, "wall": wall, "used": used,
                  "max_abs": float(np.abs(got - want).max()),
                  "scale": float(np.abs(want).max()),
                  "spread": float(np.abs(want - want[:1]).max())}))
"""


SPECS_CHILD = """
import json, sys, time
import torch
from tests.test_export import JOBS, ONNX
import archc
from archc.emit.onnx import export_onnx
torch.set_num_threads(1)  # as tests/onnx_check.py
for spec in ONNX:
    job = JOBS[spec]
    net = archc.load(job["spec"], job["sets"] or {}, tuple(job["input"] or ()) or None)
    cpu = time.process_time()
    used = export_onnx(net, sys.argv[1], seed=0)
    print(json.dumps({"spec": spec, "used": used, "cpu": time.process_time() - cpu}),
          flush=True)
"""


def spec_exports(root: Path, out: str) -> dict[str, dict]:
    """Per bundled spec: the exporter and the export's CPU seconds, with archc from `root`."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, "-c", SPECS_CHILD, out], capture_output=True,
                          text=True, env=env, check=True, cwd=root)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {r["spec"]: r for r in rows}


def specs_table(baseline: Path | None, out: str) -> None:
    roots = {"this": ROOT, **({"baseline": baseline} if baseline else {})}
    runs = {label: spec_exports(root, out) for label, root in roots.items()}
    heads = [f"{label} {word}" for label in reversed(roots) for word in ("exporter", "cpu s")]
    print(f"{'spec':20} " + " ".join(f"{h:>16}" for h in heads))
    totals = dict.fromkeys(roots, 0.0)
    for spec in runs["this"]:
        cells = []
        for label in reversed(roots):
            r = runs[label][spec]
            totals[label] += r["cpu"]
            cells += [f"{r['used']:>16}", f"{r['cpu']:16.2f}"]
        print(f"{spec:20} " + " ".join(cells), flush=True)
    print("total cpu s: " + ", ".join(f"{k} {v:.1f}" for k, v in reversed(totals.items())))


def child_cpu(run) -> tuple[float, float, object]:
    """CPU seconds (user + system) and wall seconds of a child process, and its result."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = run()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return cpu, wall, result


def export_call(spec: str, sets: dict, exporter: str, out: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CHILD, spec, json.dumps(sets), exporter, out],
                          capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.splitlines()[-1])


def command(spec: str, sets: dict, out: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    words = [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
    proc = subprocess.run([sys.executable, "-m", "archc", "export", spec, *words, "-o", out],
                          capture_output=True, text=True, env=env, check=True)
    return proc.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--specs", action="store_true", help="every bundled spec, as the tests")
    ap.add_argument("--baseline", type=Path, help="with --specs: another archc checkout")
    args = ap.parse_args()
    import torch

    load = os.getloadavg()
    print(f"{platform.node()}: {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {load[0]:.1f}")
    if args.specs:
        with tempfile.TemporaryDirectory() as tmp:
            specs_table(args.baseline, f"{tmp}/m.onnx")
        print(f"load at the end {os.getloadavg()[0]:.1f}")
        return
    print(f"{'model':24} {'path':12} {'export cpu s':>12} {'wall s':>7} "
          f"{'max |ort - torch|':>17} {'max |torch|':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, (spec, sets) in MODELS.items():
            best: dict[str, dict] = {}
            for _ in range(args.rounds):  # interleaved: load drifts hit both alike
                for exporter in EXPORTERS:
                    r = export_call(spec, sets, exporter, f"{tmp}/{exporter}.onnx")
                    if exporter not in best or r["cpu"] < best[exporter]["cpu"]:
                        best[exporter] = r
            for exporter, r in best.items():
                assert r["used"] == exporter and r["spread"] > 0, r
                print(f"{label:24} {exporter:12} {r['cpu']:12.2f} {r['wall']:7.1f} "
                      f"{r['max_abs']:17.1e} {r['scale']:11.2e}", flush=True)
            cpu, wall, err = child_cpu(lambda s=spec, v=sets: command(s, v, f"{tmp}/cli.onnx"))
            used = "auto"
            for line in str(err).splitlines():
                if "exported by the" in line:
                    used = line.split("exported by the ")[1]
            print(f"{label:24} {'command':12} {cpu:12.2f} {wall:7.1f}   (archc export, "
                  f"imports included: {used})", flush=True)
    print(f"load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
