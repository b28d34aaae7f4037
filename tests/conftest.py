"""Shared fixtures; the `quick` subset (`python -m pytest -m quick`); one torch thread per
pytest-xdist worker. torch is imported only by the tests that use it, so the quick subset and
collection of torch-free files do not pay for it."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest

# A representative subset that runs in about a minute: the language and its errors (every case
# of tests/errors/ through every command), the driver, the walker, diagnostics codes and their
# pages, hints, formatting, the CLI's arguments and CI formats, static counts against torch for
# every bundled spec, and the language server's analysis. Files, not tests: a new test in one of
# these files is quick by being there.
QUICK = frozenset({
    "test_ast_walk.py", "test_ci_formats.py", "test_cli_args.py", "test_driver.py",
    "test_errors.py", "test_explain.py", "test_hints.py", "test_lsp_analysis.py",
    "test_specs.py", "test_syntax.py",
})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "quick: the representative subset (`pytest -m quick`)")
    # `archc check`'s cache of clean files (archc/core/cache.py) stays out of the tests, and out of
    # the user's ~/.cache; tests/test_cache.py turns it on in a folder of its own.
    os.environ["ARCHC_NO_CACHE"] = "1"
    # Transparent huge pages for glibc's malloc (glibc >= 2.35 reads it when a process starts:
    # the xdist workers this process starts next, and every interpreter a test starts; older
    # glibc and other libcs ignore it). The suite allocates big tensors again and again (fp64
    # VGG weights, 13x209x209 clips): each page of them was a page fault, 4 KB at a time.
    # BENCHMARKS.md, "The test suite": 2.4M -> 0.12M faults and 3.6 -> 1.5 s of system time in
    # tests/export_check.py over seven specs.
    os.environ.setdefault("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Each xdist worker is one process on one core: torch's intra-op threads would only
        # fight the other worker (set before any test imports torch; inherited by the
        # interpreters a test starts, which run beside the other worker too).
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[object]:
    """Collection (every worker collects every file) creates ~570,000 objects that live to the
    end of the run: modules, torch's and torchvision's, parameters, items. The collector runs
    without the cyclic GC, then one collection, and the survivors are frozen: no later pass of
    the GC walks them again (`archc check` does the same, archc/commands/check.py). 3-4 s of a
    worker's 10-12 s collection, and less each time the tests' garbage reaches the oldest
    generation."""
    gc.disable()
    try:
        return (yield)
    finally:
        # imported before the freeze: importing Hypothesis registers trio's generator
        # (register_random), which checks with gc.get_referrers, blind to frozen objects, that
        # something holds it, and warns when trio's module was frozen before (0.1 s)
        import hypothesis  # noqa: F401

        gc.enable()
        gc.collect()
        gc.freeze()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """One collection of the run's garbage, then everything left frozen. pytest's unraisable-
    exception plugin collects five times over at the end (its `gc_collect_harder`) to report a
    `__del__` that raised: over a worker's heap of torch modules that was ~1 s per process.
    This collection runs while its hook still listens (so an unraisable exception is reported
    as before); its five then find nothing to walk."""
    gc.collect()
    gc.freeze()


# Files that build the big models (torchvision's families in fp64, every zoo member's forward,
# the export proof's two interpreters): one worker runs them one after another, so that two of
# them never hold their models at once (two at once took a worker past 10 GB: the OOM killer).
# Only those: a file that holds little (meta-device skeletons, small inputs) runs on the other
# worker beside them, so that the heavy worker, the critical path, carries no more than it
# must. Peak RSS and CPU per file: BENCHMARKS.md, "The test suite" (test_families 77 MB,
# test_weights 0.9 GB, test_export_cases 0.6 GB, test_import_zoo and test_segmentation 1.4 GB
# each, test_aux_heads and test_detection_backbone 1.5 GB each, test_memory_train 2.3 GB and
# test_inplace 3.6 GB since the saved-tensor hook no longer keeps every test's tensors (11.7 GB
# before); in the heavy group test_zoo 7.2 GB and test_export, whose two interpreters run at
# once, 0.7 + 4.7 + 3.7 GB: at most ~13 GB on both workers together).
# test_export_cases.py runs there too, after test_export.py: it reads that file's exports
# (tests/test_export.py TEXTS) instead of exporting the 40 bundled specs a second time.
# mypy (tests/test_types.py) runs there as well, before them: pytest-xdist hands out the
# largest groups first, so a file of one test would be handed out last and run alone at the end.
HEAVY = frozenset({"test_types.py", "test_export.py", "test_export_cases.py", "test_zoo.py"})
FIRST = "test_types.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name != FIRST)  # stable: the rest keep their order
    for item in items:
        if item.path.name in QUICK:
            item.add_marker(pytest.mark.quick)


def work_unit(nodeid: str) -> str:
    """The group a test runs in under `--dist loadgroup`: its file, or "heavy" (HEAVY)."""
    path = nodeid.split("::", 1)[0]
    return "heavy" if path.rsplit("/", 1)[-1] in HEAVY else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """`--dist loadgroup`: each file on one worker (its module fixtures built once), the heavy
    files together on one, grouped by work_unit here rather than by `xdist_group` marks.
    pytest-xdist carries a mark's group to its scheduler by appending it to the test's node id,
    and pytest 9.2's structured node ids drop that silently (pytest-dev/pytest-xdist#1386): in a
    fresh venv (pytest 9.2.0) every test was handed out on its own, both workers built
    test_export's fixture, and the README's test command took 1.2x the CPU of the same code
    under pytest 9.0.3. The scheduler is pytest-xdist's own for `--dist loadscope`, with this
    one method changed; tests/test_suite_groups.py runs it on two workers."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return FileGroups(config, log)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny tensors: a second intra-op thread only adds contention (10x slower on 2 cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
