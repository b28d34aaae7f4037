"""Issue 2, speed: `archc check` of every bundled spec vs `python -c "import torch"`.

Both are timed as fresh processes in the same run (best of N, to drop noise from the other
core), and the ratio is printed. Target: ratio <= 0.25, and no torch import on the check path.

    python bench/check_speed.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import glob
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def best_time(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return min(times)


def torch_imported_by_check(specs: list[str]) -> bool:
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "archc", "check", *specs],
                         capture_output=True, text=True, cwd=ROOT)
    return any(line.split("|")[-1].strip() == "torch" for line in out.stderr.splitlines())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    specs = sorted(glob.glob(str(ROOT / "specs" / "*.arch")))
    check = best_time([sys.executable, "-m", "archc", "check", *specs], args.repeat)
    torch_t = best_time([sys.executable, "-c", "import torch"], args.repeat)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, "
          f"python {platform.python_version()}")
    print(f"archc check ({len(specs)} specs): {check * 1000:7.0f} ms (best of {args.repeat})")
    print(f"import torch:                {torch_t * 1000:7.0f} ms (best of {args.repeat})")
    print(f"ratio: {check / torch_t:.3f} (target <= 0.25)")
    print(f"torch imported by check: {torch_imported_by_check(specs)}")


if __name__ == "__main__":
    main()
