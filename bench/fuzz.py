"""Fuzz campaign for `archc check`, in-process: random mutations of random valid specs, random
bytes, deep nesting, huge numbers, non-UTF-8, empty files and work bombs
(tests/strategies.gen_invalid), plus unmutated valid specs; or, with `--kind bombs`, only work
bombs and huge literals (tests/bombs.py). Every input must give exit 1 with a located
diagnostic, or exit 0 with claims that hold for the built module (tests/oracles.check_input);
with `--build`, an input that checks clean must also `archc build` (exit 0, or 1 with a located
error). Anything else (a traceback, a wrong claim, no result within --seconds-per-input of CPU
time, which other jobs on a shared machine do not stretch) is a crash, saved to OUT/crashes/
and deduplicated by where it happened. Prints a JSON summary.

    python bench/fuzz.py --count 100000 --seed 1 --out /tmp/fuzz
    python bench/fuzz.py --kind bombs --build --count 5000 --out /tmp/bombs
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from tests.bombs import gen_bomb  # noqa: E402
from tests.oracles import Hang, build_input, check_input  # noqa: E402
from tests.strategies import gen_invalid, gen_valid  # noqa: E402


def signature(exc: BaseException) -> str:
    """Where a crash happened: the exception type and the innermost archc or test frame."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "/archc/" in f.filename or "/tests/" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__} at {where}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"


def draw(rng: random.Random, kind: str, valid_share: float) -> bytes:
    if kind == "bombs":
        return gen_bomb(rng)
    if rng.random() < valid_share:
        return gen_valid(rng).text.encode()
    return gen_invalid(rng)


def campaign(count: int, seed: int, out: Path, seconds: float | None, valid_share: float,
             kind: str = "mixed", build: bool = False, per_input: int = 30) -> dict:
    crashes_dir = out / "crashes"
    crashes_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    crashes: dict[str, dict] = {}
    slowest = {"cpu_seconds": 0.0, "input": 0}
    start = time.time()
    n = 0

    def report() -> dict:
        summary = {"inputs": n, "seed": seed, "kind": kind, "build": build,
                   "cpu_seconds_per_input": per_input, "slowest": slowest,
                   "seconds": round(time.time() - start, 1),
                   "cpu_seconds": round(time.process_time(), 1), "outcomes": dict(outcomes),
                   "distinct_crashes": len(crashes), "crashes": crashes}
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.arch"
        while n < count and (seconds is None or time.time() - start < seconds):
            n += 1
            data = draw(rng, kind, valid_share)
            (out / "current.arch").write_bytes(data)  # what was running if the process dies
            cpu = time.process_time()
            try:
                result = check_input(data, path, seconds=per_input, cpu=True)
                outcomes[f"exit {result.rc}" + (" verified" if result.verified else "")] += 1
                if build and result.rc == 0:
                    outcomes[f"build exit {build_input(path, seconds=per_input, cpu=True)}"] += 1
            except (Exception, Hang) as exc:  # noqa: BLE001 - recording is the point
                sig = signature(exc)
                outcomes["crash"] += 1
                if sig not in crashes or len(data) < crashes[sig]["bytes"]:
                    name = hashlib.sha1(sig.encode()).hexdigest()[:12] + ".arch"
                    (crashes_dir / name).write_bytes(data)
                    crashes[sig] = {"file": name, "bytes": len(data), "input": n,
                                    "trace": traceback.format_exc()[-2000:]}
            cpu = time.process_time() - cpu
            if cpu > slowest["cpu_seconds"]:
                slowest = {"cpu_seconds": round(cpu, 2), "input": n}
                (out / "slowest.arch").write_bytes(data)
            if n % 100 == 0:  # a campaign stopped early still leaves its numbers
                report()
            if n % 1000 == 0:
                rate = n / (time.time() - start)
                print(f"{n} inputs, {rate:.0f}/s, {dict(outcomes)}, {len(crashes)} distinct "
                      "crashes", file=sys.stderr, flush=True)
    return report()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--seconds", type=float, help="stop after this long even if short of --count")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--valid-share", type=float, default=0.1,
                   help="share of unmutated valid specs (built and verified)")
    p.add_argument("--out", type=Path, default=Path("fuzz-out"))
    p.add_argument("--memory-gb", type=int, default=16, help="address-space limit")
    p.add_argument("--kind", choices=("mixed", "bombs"), default="mixed",
                   help="mixed: mutations, bytes, bombs and valid specs; bombs: work bombs and "
                   "huge literals only (tests/bombs.py)")
    p.add_argument("--build", action="store_true",
                   help="also run `archc build` on every input that checks clean")
    p.add_argument("--seconds-per-input", type=int, default=30,
                   help="an input with no result after this much CPU time is a hang (each of "
                   "check and build)")
    args = p.parse_args()
    torch.set_num_threads(1)
    try:  # a runaway allocation becomes a recorded MemoryError, not a dead machine
        import resource

        limit = args.memory_gb << 30
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass
    summary = campaign(args.count, args.seed, args.out, args.seconds, args.valid_share,
                       args.kind, args.build, args.seconds_per_input)
    print(json.dumps({k: v for k, v in summary.items() if k != "crashes"}, indent=2))
    for sig, info in summary["crashes"].items():
        print(f"{info['file']}: {sig}")
    return 1 if summary["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
