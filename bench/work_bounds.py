"""What the work budget costs at its worst: each reproducer of issue 16 and the biggest specs
under the limits, through `archc check`, `summary` and `build` in a fresh process each, with
CPU seconds (user + system, which a machine shared with other jobs stretches less than wall
time) and peak memory. Prints one row per spec and command.

    python bench/work_bounds.py [--commands check,build]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_work_bounds import CASES  # noqa: E402

NET = "network n {{ input 1x8x8 {body} }}\n"
# Under the limit, as big as it allows: the worst a spec can make each command do.
WORST = {
    "under: 96,000 empty iterations": NET.format(body="for i in 0..96 { for j in 0..1000 { } }"),
    "under: 48,000 relu layers": NET.format(body="{ relu * 1000 } * 48"),
    "under: 24,000 groups of two": NET.format(body="{ { relu relu } * 1000 } * 24"),
    "under: 24,000 empty joins": NET.format(body="{ add { | } * 1000 } * 24"),
}


def run(command: str, path: Path) -> tuple[int, float, float, float]:
    """(exit code, wall s, CPU s, peak MB) of one `archc COMMAND path` process."""
    start = time.time()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "archc", command, str(path)],
                                stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        if b"Traceback" in err.read():
            raise SystemExit(f"traceback from {command} {path}")
    return (proc.returncode, time.time() - start, usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--commands", default="check,summary,build")
    args = p.parse_args()
    specs = {name: text for name, (text, _, _) in CASES.items()} | WORST
    print(f"{'spec':45s} {'command':8s} {'exit':>4s} {'wall s':>7s} {'CPU s':>6s} "
          f"{'peak MB':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in specs.items():
            path = Path(tmp) / "spec.arch"
            path.write_text(text)
            for command in args.commands.split(","):
                rc, wall, cpu, peak = run(command, path)
                print(f"{name[:45]:45s} {command:8s} {rc:4d} {wall:7.1f} {cpu:6.1f} "
                      f"{peak:8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
