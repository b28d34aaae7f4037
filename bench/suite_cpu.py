"""The test suite's CPU cost, file by file: each test file in a pytest process of its own (one
torch thread, as on a pytest-xdist worker), recorded by `bench/pytest_cpu.py`, then the two
workers' estimated critical path.

    python bench/suite_cpu.py OUT_DIR [tests/test_zoo.py ...]   # measure (default: every file)
    python bench/suite_cpu.py OUT_DIR --table                    # print the table of OUT_DIR

A file's cost is its tests' CPU (module fixtures included) and its peak RSS; the start-up
(interpreter, imports, collection) is left out: on xdist each worker pays it once for the whole
suite, not once per file. A JSON written by one pytest process over several files (the light
ones: cheaper to measure together) gives each file's CPU, not its peak RSS. The critical path
assumes `--dist loadgroup` as in tests/conftest.py: the HEAVY files on one worker, every other
file a unit, placed greedily (largest first) on the less loaded worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(out_dir: Path, files: list[str]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=str(ROOT))
    for name in files:
        out = out_dir / (Path(name).stem + ".json")
        env["ARCHC_CPU_JSON"] = str(out)
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "bench.pytest_cpu", name]
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        tail = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
        print(f"{name}: rc {done.returncode}: {tail[0]}", flush=True)


def heavy_files() -> frozenset[str]:
    sys.path.insert(0, str(ROOT))
    from tests.conftest import HEAVY

    return HEAVY


def critical_path(costs: dict[str, float], heavy: frozenset[str]) -> tuple[float, float]:
    workers = [sum(c for f, c in costs.items() if f in heavy), 0.0]
    for f, c in sorted(costs.items(), key=lambda fc: -fc[1]):
        if f not in heavy:
            workers[workers.index(min(workers))] += c
    return max(workers), min(workers)


def per_file(out_dir: Path) -> dict[str, dict[str, float]]:
    """{file: {tests, cpu, rss, child}} from every JSON in `out_dir`; a JSON of several files
    (one pytest process over them) gives their CPU but no peak RSS of each (-1)."""
    rows: dict[str, dict[str, float]] = {}
    for path in sorted(out_dir.glob("*.json")):
        record = json.loads(path.read_text())
        files: dict[str, list[float]] = {}
        for nodeid, cpu in record["tests"].items():
            files.setdefault(Path(nodeid.split("::")[0]).name, []).append(cpu)
        for name, cpus in files.items():
            one = len(files) == 1
            rows[name] = {"tests": len(cpus), "cpu": sum(cpus),
                          "rss": record["maxrss_mb"] if one else -1,
                          "child": record["children_maxrss_mb"] if one else -1}
    return rows


def table(out_dir: Path) -> None:
    heavy = heavy_files()
    rows = per_file(out_dir)
    print("| file | tests | CPU s | peak RSS MB | its largest child's |")
    print("|---|---:|---:|---:|---:|")
    for f, r in sorted(rows.items(), key=lambda fr: -fr[1]["cpu"]):
        mark = " (heavy)" if f in heavy else ""
        rss = f"{r['rss']:.0f} | {r['child']:.0f}" if r["rss"] >= 0 else " | "
        print(f"| {f}{mark} | {r['tests']:.0f} | {r['cpu']:.1f} | {rss} |")
    costs = {f: r["cpu"] for f, r in rows.items()}
    longest, other = critical_path(costs, heavy)
    print(f"\nsum {sum(costs.values()):.1f} s; heavy group "
          f"{sum(c for f, c in costs.items() if f in heavy):.1f} s; "
          f"two workers: {longest:.1f} s and {other:.1f} s")


def main() -> None:
    out_dir = Path(sys.argv[1])
    if sys.argv[2:] == ["--table"]:
        table(out_dir)
        return
    files = sys.argv[2:] or sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("tests/test_*.py"))
    measure(out_dir, files)


if __name__ == "__main__":
    main()
