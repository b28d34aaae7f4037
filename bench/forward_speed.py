"""Issue 2, speed: forward time of the archc-built ResNet-18 vs the hand-written one of seed
002 (tests/reference), same process, same input; prints the median time of each and the ratio.

    python bench/forward_speed.py [--device cpu|cuda] [--batch 32] [--repeat 30]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import archc  # noqa: E402
from tests.reference.models import resnet18 as reference_resnet18  # noqa: E402


def median_ms(model, x, repeat: int) -> float:
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    with torch.no_grad():
        for _ in range(5):
            model(x)
        times = []
        for _ in range(repeat):
            sync()
            start = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    torch.manual_seed(0)
    ours = archc.build(archc.load("resnet18")).to(args.device).eval()
    ref = reference_resnet18().to(args.device).eval()
    x = torch.randn(args.batch, 1, 96, 96, device=args.device)
    # Interleave to share any drift in clocks or load between the two.
    a, b = [], []
    for _ in range(3):
        a.append(median_ms(ref, x, args.repeat))
        b.append(median_ms(ours, x, args.repeat))
    ref_ms, ours_ms = min(a), min(b)
    name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu"
    print(f"device: {args.device} ({name}), torch {torch.__version__}, batch {args.batch}, "
          f"input 1x96x96")
    print(f"hand-written ResNet-18 (seed 002): {ref_ms:8.2f} ms/forward")
    print(f"archc-built ResNet-18:             {ours_ms:8.2f} ms/forward")
    print(f"ratio archc / hand-written: {ours_ms / ref_ms:.3f}")


if __name__ == "__main__":
    main()
