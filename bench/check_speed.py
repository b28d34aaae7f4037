"""Issue 2, speed: `archc check` of every bundled spec vs `python -c "import torch"`.

Both are timed as fresh processes in the same run (best of N, to drop noise from the other
core), and the ratio is printed. Target: ratio <= 0.25, and no torch import on the check path.

    python bench/check_speed.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def best_time(cmd: list[str], repeat: int, env: dict[str, str] | None = None
              ) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds: user + system of the child) over `repeat` runs.
    CPU time hardly depends on the machine's load; wall time does."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, env=env)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def one_edited(specs: list[str], repeat: int, env: dict[str, str]) -> tuple[float, float]:
    """The inner loop: every spec, the cache holding all but one, which has just been edited
    (the largest, a new comment each run, so its check is computed afresh)."""
    largest = max(specs, key=lambda s: Path(s).stat().st_size)
    text = Path(largest).read_text(encoding="utf-8")
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as folder:
        edited = Path(folder) / Path(largest).name
        for i in range(repeat):
            edited.write_text(f"{text}\n# edit {i} {time.time()}\n", encoding="utf-8")
            cmd = [sys.executable, "-m", "archc", "check",
                   *[s for s in specs if s != largest], str(edited)]
            wall, cpu = best_time(cmd, 1, env)
            walls.append(wall)
            cpus.append(cpu)
    return min(walls), min(cpus)


def torch_imported_by_check(specs: list[str]) -> bool:
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "archc", "check", *specs],
                         capture_output=True, text=True, cwd=ROOT)
    return any(line.split("|")[-1].strip() == "torch" for line in out.stderr.splitlines())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    specs = sorted(glob.glob(str(ROOT / "specs" / "*.arch")))
    check = [sys.executable, "-m", "archc", "check", *specs]
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "ARCHC_CACHE_DIR": cache}
        env.pop("ARCHC_NO_CACHE", None)
        cold = best_time([*check, "--no-cache"], args.repeat, env)
        subprocess.run(check, check=True, capture_output=True, cwd=ROOT, env=env)  # fill it
        warm = best_time(check, args.repeat, env)
        edited = one_edited(specs, args.repeat, env)
    torch_t = best_time([sys.executable, "-c", "import torch"], args.repeat)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, "
          f"python {platform.python_version()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"best of {args.repeat}           wall ms   CPU ms   ratio (CPU) to import torch")
    for name, (wall, cpu) in [(f"check, cached ({len(specs)})", warm),
                              (f"check, 1 edited ({len(specs)})", edited),
                              (f"check --no-cache ({len(specs)})", cold),
                              ("import torch", torch_t)]:
        print(f"{name:<24} {wall * 1000:8.0f} {cpu * 1000:8.0f}   {cpu / torch_t[1]:.3f}")
    print("target: <= 0.25")
    print(f"torch imported by check: {torch_imported_by_check(specs)}")


if __name__ == "__main__":
    main()
