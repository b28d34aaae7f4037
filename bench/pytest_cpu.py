"""A pytest plugin that records the CPU time each test costs (this process's user+sys, plus the
interpreters it started and waited for), and the process's peak RSS, into a JSON file.

    ARCHC_CPU_JSON=out.json python -m pytest tests/test_zoo.py -p bench.pytest_cpu -p no:randomly

Wall time on a shared machine says little; CPU time is what two pytest-xdist workers divide
between them on an idle one. A test's cost includes its share of setup and teardown (the first
test of a module pays for the module's fixtures). BENCHMARKS.md, "The test suite", uses it file
by file (`bench/suite_cpu.py`).
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Generator
from typing import Any

import pytest

_TESTS: dict[str, float] = {}
_START: dict[str, float] = {}


def _children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pytest_collection_finish(session: pytest.Session) -> None:
    _START["self"] = _self()
    _START["children"] = _children()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Generator[None, None, None]:
    before = time.process_time() + _children()
    yield
    _TESTS[item.nodeid] = time.process_time() + _children() - before


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("ARCHC_CPU_JSON")
    if not out:
        return
    record = {
        "tests": _TESTS,
        "tests_cpu": sum(_TESTS.values()),
        # before the first test: interpreter start, imports, collection
        "startup_cpu": _START["self"] + _START["children"],
        "process_cpu": _self() + _children(),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "exitstatus": int(session.exitstatus),
        "load": os.getloadavg()[0],
    }
    with open(out, "w") as f:
        json.dump(record, f, indent=1)
