"""`archc import` over torchvision's classification models, each in its own process: imported
and proven equal (fp64, eval and train), or refused (error[A0901] and its first line), with the
spec's line count. Models over --max-params parameters are skipped (the fp64 proof holds three
copies). Usage: python bench/import_torchvision.py [--input 3x224x224] [--max-params 150e6]"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torchvision.models as tvm

ROOT = Path(__file__).resolve().parents[1]


def _params(name: str) -> int:
    try:  # on the meta device: no memory, no init; regnet's builder computes widths in torch
        with torch.device("meta"):
            return sum(q.numel() for q in tvm.get_model(name).parameters())
    except NotImplementedError:
        return sum(q.numel() for q in tvm.get_model(name).parameters())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--input", default="3x224x224")
    p.add_argument("--max-params", type=float, default=150e6)
    p.add_argument("models", nargs="*")
    args = p.parse_args()
    names = args.models or tvm.list_models(module=tvm)
    counts = {"equal": 0, "refused": 0, "skipped": 0, "other": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            n = _params(name)
            if n > args.max_params:
                counts["skipped"] += 1
                print(f"{name:24} skipped: {n:,} parameters", flush=True)
                continue
            out = Path(tmp) / f"{name}.arch"
            done = subprocess.run([sys.executable, "-m", "archc", "import",
                                   f"torchvision.models:{name}", "-o", out, "--input",
                                   args.input], capture_output=True, text=True, cwd=ROOT)
            if done.returncode == 0 and "is equal to" in done.stdout:
                kind, why = "equal", f"{len(out.read_text().splitlines())} lines"
            elif "error[A0901]" in done.stderr:
                kind = "refused"
                why = next(ln for ln in done.stderr.splitlines() if "error[A0901]" in ln)
                why = why.split("error[A0901]: ", 1)[1]
            else:
                kind, why = "other", (done.stderr.strip().splitlines() or ["?"])[-1]
            counts[kind] += 1
            print(f"{name:24} {kind}: {why}", flush=True)
    print(", ".join(f"{v} {k}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
