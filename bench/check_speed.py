"""Issue 2, speed: `archc check` of every bundled spec vs `python -c "import torch"`.

Both are timed as fresh processes in the same run (best of N, to drop noise from the other
core), and the ratio is printed. Target: ratio <= 0.25, and no torch import on the check path.
Every child runs with its bytecode cached, as an installed archc (and torch) has it: a shell
with PYTHONDONTWRITEBYTECODE=1 would otherwise compile archc's sources in every run (about
0.15 s of CPU) while torch's come compiled from its wheel.

    python bench/check_speed.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import functools
import glob
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYCACHE = os.path.join(tempfile.gettempdir(), "archc-bench-pycache")  # compiled once, then read


Timing = tuple[float, float]  # (wall seconds, CPU seconds)


def compiled_env(env: dict[str, str] | None, pycache: str) -> dict[str, str]:
    """`env` (else this process's) with bytecode written to and read from `pycache`."""
    out = {**(env if env is not None else os.environ), "PYTHONPYCACHEPREFIX": pycache}
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    return out


@functools.lru_cache(maxsize=1)
def _compile_archc(pycache: str) -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "archc")], check=True,
                   capture_output=True, cwd=ROOT, env=compiled_env(None, pycache))


def compile_archc(env: dict[str, str]) -> None:
    """archc's bytecode, written once into the children's PYTHONPYCACHEPREFIX."""
    _compile_archc(env["PYTHONPYCACHEPREFIX"])


def best_time(cmd: list[str], repeat: int, env: dict[str, str] | None = None) -> Timing:
    """(best wall seconds, best CPU seconds: user + system of the child) over `repeat` runs,
    archc's bytecode compiled beforehand. CPU time hardly depends on the machine's load; wall
    time does."""
    env = compiled_env(env, PYCACHE)
    compile_archc(env)
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, env=env)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def edited_run(specs: list[str], env: dict[str, str], folder: Path) -> Callable[[], Timing]:
    """The inner loop: every spec, the cache holding all but one, which has just been edited
    (the largest, a new comment each run, so its check is computed afresh)."""
    largest = max(specs, key=lambda s: Path(s).stat().st_size)
    text = Path(largest).read_text(encoding="utf-8")
    edited = folder / Path(largest).name
    cmd = [sys.executable, "-m", "archc", "check", *[s for s in specs if s != largest],
           str(edited)]

    def run() -> Timing:
        edited.write_text(f"{text}\n# edit {time.time()}\n", encoding="utf-8")
        return best_time(cmd, 1, env)
    return run


def interleaved(runs: dict[str, Callable[[], Timing]], repeat: int) -> dict[str, Timing]:
    """Each run once in turn, `repeat` times (A B C A B C ...: a drift in the machine's load
    falls on all alike); the best wall and the best CPU time of each."""
    seen: dict[str, list[Timing]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            seen[name].append(run())
    return {name: (min(w for w, _ in got), min(c for _, c in got)) for name, got in seen.items()}


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
    n = len(specs)
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "ARCHC_CACHE_DIR": cache}
        env.pop("ARCHC_NO_CACHE", None)
        best_time(check, 1, env)  # fill the cache
        load = os.getloadavg()[0]
        got = interleaved({
            f"check, cached ({n})": lambda: best_time(check, 1, env),
            f"check, 1 edited ({n})": edited_run(specs, env, Path(cache)),
            f"check --no-cache ({n})": lambda: best_time([*check, "--no-cache"], 1, env),
            "import torch": lambda: best_time([sys.executable, "-c", "import torch"], 1),
        }, args.repeat)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, "
          f"python {platform.python_version()}, {os.cpu_count()} cores, "
          f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"best of {args.repeat}, interleaved  wall ms   CPU ms   ratio (CPU) to import torch")
    torch_cpu = got["import torch"][1]
    for name, (wall, cpu) in got.items():
        print(f"{name:<24} {wall * 1000:8.0f} {cpu * 1000:8.0f}   {cpu / torch_cpu:.3f}")
    print("target: <= 0.25")
    print(f"torch imported by check: {torch_imported_by_check(specs)}")


if __name__ == "__main__":
    main()
