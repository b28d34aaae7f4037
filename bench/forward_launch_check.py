"""Issue 2, speed, launch-bound case: archc's ResNet-18 vs the hand-written one at small batch
on CUDA, in alternating order; host (launch) time and total time per forward, medians.

    python bench/forward_launch_check.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import archc  # noqa: E402
from tests.reference.models import resnet18 as reference_resnet18  # noqa: E402


def timed(model, x, n: int = 100) -> tuple[float, float]:
    """(host launch ms, total ms) per forward, over n forwards."""
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(n):
        model(x)
    host = (time.perf_counter() - start) / n
    torch.cuda.synchronize()
    return host * 1e3, (time.perf_counter() - start) / n * 1e3


def main() -> None:
    models = {"hand-written": reference_resnet18().cuda().eval(),
              "archc": archc.build(archc.load("resnet18")).cuda().eval()}
    with torch.no_grad():
        for batch in (32, 64):
            x = torch.randn(batch, 1, 96, 96, device="cuda")
            for model in list(models.values()) * 2:
                for _ in range(20):
                    model(x)
            results: dict[str, list] = {name: [] for name in models}
            for rnd in range(10):  # alternate who goes first
                for name in (list(models) if rnd % 2 == 0 else list(reversed(models))):
                    results[name].append(timed(models[name], x))
            for name, runs in results.items():
                host = statistics.median(r[0] for r in runs)
                total = statistics.median(r[1] for r in runs)
                print(f"batch {batch} {name:12s}: launch (host) {host:.3f} ms/forward, "
                      f"total {total:.3f} ms/forward")


if __name__ == "__main__":
    main()
