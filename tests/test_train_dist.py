"""Data parallelism on CPU: `torchrun --nproc_per_node=2 -m archc train` with gloo gives what one
process gives, within float tolerance (each global batch is split between the ranks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from archc.train import checkpoint
from tests.util import run_cli

ROOT = Path(__file__).resolve().parents[1]
MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-5k"
TINY = Path(__file__).parent / "train_specs" / "tiny.arch"
ARGS = ["train", str(TINY), "--data-dir", str(MNIST), "--device", "cpu",
        "--limit-train", "500", "--limit-test", "200", "--batch-size", "64", "--epochs", "2",
        "--no-progress", "--seed", "5"]


def _metrics(code: int, stdout: str, stderr: str, out: Path) -> list[dict]:
    assert code == 0, stderr[-3000:]
    assert "loss " in stdout and "examples/sec on cpu" in stdout
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def _run(cmd: list[str], out: Path) -> list[dict]:
    # torchrun makes a log folder under TMPDIR and leaves it there: here, in the test's own folder
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TMPDIR": str(out.parent)}
    proc = subprocess.run([*cmd, *ARGS, "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    return _metrics(proc.returncode, proc.stdout, proc.stderr, out)


@pytest.mark.skipif(not MNIST.exists(), reason=f"real data not found at {MNIST}")
@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_two_gloo_processes_match_one(tmp_path, capsys):
    # the one process is this one (`archc train` in process, as tests/test_train.py runs it):
    # an interpreter less to start, and nothing the process boundary would prove
    one = _metrics(*run_cli(capsys, *ARGS, "--out", tmp_path / "one"), tmp_path / "one")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node=2", "-m", "archc"]
    two = _run(torchrun, tmp_path / "two")
    assert [r["examples"] for r in two] == [r["examples"] for r in one] == [500, 500]
    for a, b in zip(one, two, strict=True):
        for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), key
    index, ta = checkpoint.load(tmp_path / "one")
    _, tb = checkpoint.load(tmp_path / "two")
    assert json.loads((tmp_path / "two" / "checkpoint.json").read_text())["world_size"] == 2
    for k in ta:
        torch.testing.assert_close(tb[k], ta[k], rtol=1e-4, atol=1e-5, msg=k)
