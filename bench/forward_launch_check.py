"""Issue 2, speed, launch-bound case: archc's ResNet-18 vs the hand-written one at small batch
on CUDA, in alternating order; host (launch) time and total time per forward, medians.

    python bench/forward_launch_check.py
"""

import statistics
import sys
import time

import torch

sys.path.insert(0, ".")
import archc
from tests.reference.models import resnet18 as ref18

torch.backends.cudnn.benchmark = False
dev = "cuda"
ours = archc.build(archc.load("resnet18")).to(dev).eval()
ref = ref18().to(dev).eval()
def timed(m, x, n=100):
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(n): m(x)
    host = (time.perf_counter() - t) / n
    torch.cuda.synchronize(); total = (time.perf_counter() - t) / n
    return host * 1e3, total * 1e3
with torch.no_grad():
    for batch in (32, 64):
        x = torch.randn(batch, 1, 96, 96, device=dev)
        for m in (ref, ours, ref, ours):
            for _ in range(20): m(x)
        res = {"ref": [], "ours": []}
        for r in range(10):
            order = (("ref", ref), ("ours", ours)) if r % 2 == 0 else (("ours", ours), ("ref", ref))
            for name, m in order:
                res[name].append(timed(m, x))
        for name in res:
            h = statistics.median(v[0] for v in res[name]); t = statistics.median(v[1] for v in res[name])
            print(f"batch {batch} {name:4s}: launch (host) {h:.3f} ms/forward, total {t:.3f} ms/forward")
