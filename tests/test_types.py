"""mypy over archc/ (pyproject.toml's [tool.mypy]: `disallow_untyped_defs`), as a test: the
README's test command runs it on one pytest-xdist worker while the other runs tests, instead of
before them all (about 18 s of one core, 9 of the wall clock on two). `tests/conftest.py`
schedules it first, so that it never runs alone at the end. `mypy` alone runs the same check;
here it writes no cache (`--cache-dir /dev/null`: a clean checkout has none to read, and writing
one was 4 of its 24 s of CPU)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_passes() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", os.devnull], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "Success: no issues found" in done.stdout
