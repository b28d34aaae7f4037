"""The README's test command groups the tests as tests/conftest.py's pytest_xdist_make_scheduler
says: each file on one worker, the HEAVY files together on one. Run for real: pytest with two
pytest-xdist workers over a folder of small files that log the worker each test ran on. When
the grouping silently stopped under pytest 9.2 (pytest-dev/pytest-xdist#1386), both workers
built test_export's fixture; this fails instead."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from tests.conftest import HEAVY, work_unit

ROOT = Path(__file__).resolve().parent.parent

TEST_FILE = """import os

import pytest


@pytest.mark.parametrize("i", range(8))
def test_logs_its_worker(i):
    with open(os.environ["GROUPS_LOG"], "a") as log:
        log.write(f"{os.environ['PYTEST_XDIST_WORKER']} {__name__}\\n")
"""


def test_work_units() -> None:
    assert work_unit("tests/test_zoo.py::test_x[a::b]") == "heavy"
    assert work_unit("tests/test_cli.py::TestX::test_y") == "tests/test_cli.py"
    assert work_unit("test_lexer.py::test_z[x@y]") == "test_lexer.py"


def test_two_workers_run_each_file_and_the_heavy_ones_together(tmp_path: Path) -> None:
    heavy = sorted(HEAVY)[:2]
    names = [*heavy, "test_one.py", "test_two.py", "test_three.py"]
    for name in names:
        (tmp_path / name).write_text(TEST_FILE)
    # the project's own hooks, and nothing else of its conftest's fixtures
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_collection_modifyitems, pytest_xdist_make_scheduler\n")
    log = tmp_path / "groups.log"
    env = {**os.environ, "GROUPS_LOG": str(log), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
         "--dist", "loadgroup", "-o", "addopts=", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    workers: dict[str, set[str]] = defaultdict(set)
    runs = 0
    for line in log.read_text().splitlines():
        worker, module = line.split()
        workers[f"{module}.py"].add(worker)
        runs += 1
    assert runs == 8 * len(names)
    assert all(len(w) == 1 for w in workers.values()), dict(workers)  # a file on one worker
    assert workers[heavy[0]] == workers[heavy[1]]  # the heavy files on the same one
    assert len(set().union(*workers.values())) == 2  # and the other worker had work too
