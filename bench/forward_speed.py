"""Issue 2, speed: forward time of the archc-built ResNet-18 vs the hand-written one of seed
002 (tests/reference), same process, same input; prints the median time of each and the ratio.

    python bench/forward_speed.py [--device cpu|cuda] [--batch 32 256] [--bf16] [--compile]
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


def compare(batch: int, device: str, repeat: int, bf16: bool, compile_: bool) -> tuple:
    torch.manual_seed(0)
    ours = archc.build(archc.load("resnet18")).to(device).eval()
    ref = reference_resnet18().to(device).eval()
    x = torch.randn(batch, 1, 96, 96, device=device)
    if bf16:
        ours, ref = (m.to(memory_format=torch.channels_last) for m in (ours, ref))
        x = x.to(memory_format=torch.channels_last)
    if compile_:
        ours, ref = torch.compile(ours), torch.compile(ref)
    ctx = torch.autocast(device, torch.bfloat16) if bf16 else torch.autocast(device, enabled=False)
    a, b = [], []
    with ctx:
        for _ in range(3):  # interleaved, so drift in clocks or load hits both alike
            a.append(median_ms(ref, x, repeat))
            b.append(median_ms(ours, x, repeat))
    return min(a), min(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, nargs="+", default=[32])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--bf16", action="store_true", help="also bf16 autocast + channels_last")
    ap.add_argument("--compile", action="store_true", help="also torch.compile both")
    args = ap.parse_args()
    name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu"
    print(f"device: {args.device} ({name}), torch {torch.__version__}, input 1x96x96, "
          f"median of {args.repeat} forwards, best of 3 interleaved rounds")
    print(f"{'batch':>5} {'precision':>10} {'compiled':>8} {'hand-written ms':>16} "
          f"{'archc ms':>9} {'archc/hand':>10}")
    for batch in args.batch:
        for bf16 in ([False, True] if args.bf16 else [False]):
            for compile_ in ([False, True] if args.compile else [False]):
                ref_ms, ours_ms = compare(batch, args.device, args.repeat, bf16, compile_)
                print(f"{batch:>5} {'bf16+cl' if bf16 else 'fp32':>10} {str(compile_):>8} "
                      f"{ref_ms:>16.3f} {ours_ms:>9.3f} {ours_ms / ref_ms:>10.3f}", flush=True)


if __name__ == "__main__":
    main()
