"""Fuzz campaign for `archc check`, in-process: random mutations of random valid specs, random
bytes, deep nesting, huge numbers, non-UTF-8 and empty files (tests/strategies.gen_invalid),
plus unmutated valid specs. Every input must give exit 1 with a located diagnostic, or exit 0
with claims that hold for the built module (tests/oracles.check_input); anything else (a
traceback, a wrong claim, a hang) is a crash, saved to OUT/crashes/ and deduplicated by where
it happened. Prints a JSON summary at the end.

    python bench/fuzz.py --count 100000 --seed 1 --out /tmp/fuzz
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

from tests.oracles import Hang, check_input  # noqa: E402
from tests.strategies import gen_invalid, gen_valid  # noqa: E402


def signature(exc: BaseException) -> str:
    """Where a crash happened: the exception type and the innermost archc or test frame."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "/archc/" in f.filename or "/tests/" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(exc).__name__} at {where}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"


def campaign(count: int, seed: int, out: Path, seconds: float | None, valid_share: float) -> dict:
    crashes_dir = out / "crashes"
    crashes_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    crashes: dict[str, dict] = {}
    start = time.time()
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.arch"
        while n < count and (seconds is None or time.time() - start < seconds):
            n += 1
            if rng.random() < valid_share:
                data = gen_valid(rng).text.encode()
            else:
                data = gen_invalid(rng)
            (out / "current.arch").write_bytes(data)  # what was running if the process dies
            try:
                result = check_input(data, path, seconds=30)
                outcomes[f"exit {result.rc}" + (" verified" if result.verified else "")] += 1
            except (Exception, Hang) as exc:  # noqa: BLE001 - recording is the point
                sig = signature(exc)
                outcomes["crash"] += 1
                if sig not in crashes or len(data) < crashes[sig]["bytes"]:
                    name = hashlib.sha1(sig.encode()).hexdigest()[:12] + ".arch"
                    (crashes_dir / name).write_bytes(data)
                    crashes[sig] = {"file": name, "bytes": len(data), "input": n,
                                    "trace": traceback.format_exc()[-2000:]}
            if n % 1000 == 0:
                rate = n / (time.time() - start)
                print(f"{n} inputs, {rate:.0f}/s, {dict(outcomes)}, {len(crashes)} distinct "
                      "crashes", file=sys.stderr, flush=True)
    summary = {"inputs": n, "seed": seed, "seconds": round(time.time() - start, 1),
               "outcomes": dict(outcomes), "distinct_crashes": len(crashes), "crashes": crashes}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--seconds", type=float, help="stop after this long even if short of --count")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--valid-share", type=float, default=0.1,
                   help="share of unmutated valid specs (built and verified)")
    p.add_argument("--out", type=Path, default=Path("fuzz-out"))
    p.add_argument("--memory-gb", type=int, default=16, help="address-space limit")
    args = p.parse_args()
    torch.set_num_threads(1)
    try:  # a runaway allocation becomes a recorded MemoryError, not a dead machine
        import resource

        limit = args.memory_gb << 30
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass
    summary = campaign(args.count, args.seed, args.out, args.seconds, args.valid_share)
    print(json.dumps({k: v for k, v in summary.items() if k != "crashes"}, indent=2))
    for sig, info in summary["crashes"].items():
        print(f"{info['file']}: {sig}")
    return 1 if summary["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
