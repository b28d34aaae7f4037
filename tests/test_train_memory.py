"""`archc train` records the memory estimate beside what it measured: after the first epoch
the run folder holds memory.json (archc summary --train's numbers at the first step's batch,
and the bytes autograd saved inside the model's forward in that step) and both are printed.
On CPU the two are equal; the GPU allocator's overhead is said to be unmeasured."""

from __future__ import annotations

import json
from pathlib import Path

from archc.cli import main
from tests.train_fixtures import write_idx_set

TINY_BN = Path(__file__).parent / "train_specs" / "tiny_bn.arch"


def test_first_epoch_records_estimate_and_measurement(tmp_path, capsys, one_torch_thread):
    data = write_idx_set(tmp_path / "data", n_train=48, n_test=16)
    code = main(["train", str(TINY_BN), "--data-dir", str(data), "--device", "cpu",
                 "--epochs", "1", "--batch-size", "32", "--out", str(tmp_path / "run"),
                 "--no-progress", "--no-tensorboard"])
    assert code == 0
    out = capsys.readouterr().out
    record = json.loads((tmp_path / "run" / "memory.json").read_text())
    estimate, measured = record["estimate"], record["measured"]
    assert estimate["batch"] == measured["batch"] == 32
    assert estimate["saved_bytes"] == measured["saved_bytes"] > 0
    assert estimate["device"] == "cpu" and estimate["precision"] == "fp32"
    assert measured["cuda_peak_bytes"] is None
    assert "saved for backward" in out and "(equal)" in out
    assert "GPU allocator's overhead is not measured" in out
