"""archc.build against the hand-written constructors of tests/reference/models.py, same process:
median build time of each bundled document spec and of its reference model, and the ratio.
Also a 60-deep chain of nested blocks, the case that was quadratic before each scope was
compiled once. Usage: python bench/build_speed.py [--repeat N]"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from reference import models as ref  # noqa: E402

import archc  # noqa: E402

CASES = {"lenet": ref.lenet, "lenet_bn": ref.lenet_bn, "inception_mnist": ref.inception_mnist,
         "resnet_mnist": ref.resnet_mnist, "resnet18": ref.resnet18, "nin": ref.nin,
         "googlenet": ref.googlenet, "densenet": ref.densenet}
NESTED = "\n".join(f"block b{i}() {{ b{i + 1} relu }}" for i in range(60)) + \
    "\nblock b60() { relu }\nnetwork deep { input 3x8x8 b0 }\n"


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=7)
    a = p.parse_args()
    torch.set_num_threads(1)
    print(f"{'spec':16} {'archc ms':>9} {'hand ms':>9} {'ratio':>6}")
    for name, factory in CASES.items():
        net = archc.load(name)
        archc.build(net), factory()  # warm up
        ours = median_ms(lambda net=net: archc.build(net), a.repeat)
        hand = median_ms(factory, a.repeat)
        print(f"{name:16} {ours:9.1f} {hand:9.1f} {ours / hand:6.2f}")
    deep = archc.loads(NESTED)
    print(f"{'60 nested blocks':16} {median_ms(lambda: archc.build(deep), a.repeat):9.1f}")


if __name__ == "__main__":
    main()
