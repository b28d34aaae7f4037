"""Training runs do not trust their own files (issue 16, item 4): a damaged checkpoint index, a
tensor file outside the run folder or a device, a pickle in place of safetensors, an unusable
--out, an IDX file with no images or a header whose sizes overflow 64 bits. Each is a clear
error and exit 1, never a traceback, a hang or an unbounded read."""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from archc.cli import main
from tests.train_fixtures import idx_bytes, write_idx_set

TINY = Path(__file__).parent / "train_specs" / "tiny.arch"


def cli(command: str, *argv) -> int:
    return main([command, str(TINY), *(str(a) for a in argv), "--device", "cpu"])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, Path]:
    """(data folder, run folder) of one finished 1-epoch CPU run of `tiny`."""
    base = tmp_path_factory.mktemp("safety")
    data = write_idx_set(base / "data", n_train=64, n_test=16)
    assert cli("train", "--data-dir", data, "--epochs", "1", "--out", base / "run",
               "--no-progress", "--no-tensorboard", "--batch-size", "32") == 0
    return data, base / "run"


@pytest.fixture
def run(finished_run, tmp_path) -> tuple[Path, Path]:
    data, run = finished_run
    shutil.copytree(run, tmp_path / "run", symlinks=True)
    return data, tmp_path / "run"


def expect_error(capsys, code: int, *fragments: str) -> str:
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err and "error: " in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def edit_index(run: Path, change) -> None:
    index = json.loads((run / "checkpoint.json").read_text())
    change(index)
    (run / "checkpoint.json").write_text(json.dumps(index))


@pytest.mark.parametrize("text, fragment", [
    ("{not json", "not a JSON checkpoint index"),
    ("[1, 2, 3]", "not an archc checkpoint index (a JSON list, expected an object)"),
    ('{"format": "archc-checkpoint/1"}', "bad checkpoint index: epoch: Field required"),
    ("", "not a JSON checkpoint index"),
])
@pytest.mark.parametrize("command", ["resume", "eval"])
def test_damaged_index(run, capsys, text, fragment, command):
    data, run = run
    (run / "checkpoint.json").write_text(text)
    if command == "resume":
        code = cli("train", "--data-dir", data, "--resume", run, "--epochs", "2")
    else:
        code = cli("eval", "--data-dir", data, "--checkpoint", run)
    expect_error(capsys, code, f"{run / 'checkpoint.json'}: {fragment}")


@pytest.mark.parametrize("name", ["/dev/zero", "../outside/ckpt-0001.safetensors",
                                  "ckpt-0001.safetensors/../../x", "/etc/passwd", "."])
def test_index_cannot_name_files_outside_the_run_folder(run, capsys, name):
    data, run = run
    edit_index(run, lambda index: index.update(tensors=name))
    code = cli("eval", "--data-dir", data, "--checkpoint", run)
    expect_error(capsys, code, "bad checkpoint index: tensors", "named like ckpt-0001")


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "outside"])
def test_tensor_file_must_be_a_plain_file_in_the_folder(run, capsys, tmp_path, target):
    data, run = run
    name = json.loads((run / "checkpoint.json").read_text())["tensors"]
    (run / name).unlink()
    if target == "fifo":
        os.mkfifo(run / name)  # a read would block forever
        code = cli("eval", "--data-dir", data, "--checkpoint", run)
        expect_error(capsys, code, f"{run / name}: not a regular file")
        return
    outside = tmp_path / "elsewhere.safetensors"
    outside.write_bytes(b"x")
    os.symlink("/dev/zero" if target == "/dev/zero" else outside, run / name)
    code = cli("eval", "--data-dir", data, "--checkpoint", run)
    expect_error(capsys, code, f"{run / name}: a symbolic link")


def test_pickle_in_place_of_safetensors_is_refused_not_loaded(run, capsys, monkeypatch):
    data, run = run
    index = json.loads((run / "checkpoint.json").read_text())
    blob = pickle.dumps({"model.0.weight": np.zeros(3)})
    (run / index["tensors"]).write_bytes(blob)
    edit_index(run, lambda i: i.update(sha256=hashlib.sha256(blob).hexdigest()))

    def refuse(*a, **k):
        raise AssertionError("unpickled")
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    code = cli("eval", "--data-dir", data, "--checkpoint", run)
    expect_error(capsys, code, "a pickle; archc reads checkpoint tensors only from "
                               "safetensors and never unpickles them")
    (run / index["tensors"]).write_bytes(b"\x10\0\0\0\0\0\0\0{not a header!!}")
    edit_index(run, lambda i: i.update(sha256=hashlib.sha256(
        (run / index["tensors"]).read_bytes()).hexdigest()))
    code = cli("train", "--data-dir", data, "--resume", run, "--epochs", "2")
    expect_error(capsys, code, "not a readable safetensors file")


def test_bad_optimizer_state_and_history_in_index(run, capsys):
    data, run = run
    edit_index(run, lambda i: i.update(optimizer={"param_groups": "nonsense"}))
    code = cli("train", "--data-dir", data, "--resume", run, "--epochs", "2")
    expect_error(capsys, code, "optimizer state does not fit")
    edit_index(run, lambda i: i.update(history=[1, 2], optimizer={}))
    code = cli("train", "--data-dir", data, "--resume", run, "--epochs", "2")
    expect_error(capsys, code, "bad checkpoint index: history.0")
    edit_index(run, lambda i: i.update(history=[], input_shape=[1, "x", 28]))
    code = cli("eval", "--data-dir", data, "--checkpoint", run)
    expect_error(capsys, code, "bad checkpoint index: input_shape")


def test_out_under_a_file_or_unwritable(finished_run, capsys, tmp_path, monkeypatch):
    data, _ = finished_run
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "run"):
        code = cli("train", "--data-dir", data, "--out", out)
        expect_error(capsys, code, f"{out}: cannot write the run folder (a file is in the way")
    import archc.train.checkpoint as run_module  # (where the run folder is made)

    def read_only(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(run_module.tempfile, "mkstemp", read_only)  # root ignores chmod
    code = cli("train", "--data-dir", data, "--out", tmp_path / "ro")
    expect_error(capsys, code, "cannot write the run folder (Permission denied)")
    monkeypatch.undo()
    if os.geteuid() != 0:  # the real thing, where permissions apply
        (tmp_path / "ro2").mkdir(mode=0o555)
        code = cli("train", "--data-dir", data, "--out", tmp_path / "ro2")
        expect_error(capsys, code, "cannot write the run folder")


def test_checkpoint_write_failing_mid_run_is_an_error(finished_run, capsys, tmp_path,
                                                       monkeypatch):
    from archc.train import checkpoint

    data, _ = finished_run

    def disk_full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(checkpoint, "write", disk_full)
    code = cli("train", "--data-dir", data, "--out", tmp_path / "run", "--no-progress",
               "--no-tensorboard", "--epochs", "1")
    expect_error(capsys, code, "cannot write the checkpoint (No space left on device)")


@pytest.mark.parametrize("victim, content, fragment", [
    ("train-images-idx3-ubyte.gz", idx_bytes(np.zeros((0, 28, 28), np.uint8)),
     "the training split holds no images"),
    ("train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(0, np.uint8)), "0 labels for 64 images"),
    ("t10k-images-idx3-ubyte.gz", bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 3,
     "IDX header says 4294967295x4294967295x4294967295 = "),
    ("train-images-idx3-ubyte.gz", bytes([0, 0, 8, 3]) + (2**16).to_bytes(4, "big") * 3,
     "more than archc reads"),
    ("train-images-idx3-ubyte.gz", bytes([0, 0, 8, 255]) + b"\xff" * 1020, "more than archc"),
])
def test_idx_files_that_lie(finished_run, capsys, tmp_path, victim, content, fragment):
    data, _ = finished_run
    shutil.copytree(data, tmp_path / "data")
    (tmp_path / "data" / victim).write_bytes(gzip.compress(content))
    if victim.startswith("train-images") and "no images" in fragment:
        (tmp_path / "data" / "train-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(np.zeros(0, np.uint8))))
    code = cli("train", "--data-dir", tmp_path / "data", "--out", tmp_path / "run")
    expect_error(capsys, code, fragment)


def test_idx_file_that_is_a_device(finished_run, capsys, tmp_path):
    data, _ = finished_run
    shutil.copytree(data, tmp_path / "data")
    (tmp_path / "data" / "t10k-images-idx3-ubyte.gz").unlink()
    os.symlink("/dev/zero", tmp_path / "data" / "t10k-images-idx3-ubyte.gz")
    code = cli("train", "--data-dir", tmp_path / "data", "--out", tmp_path / "run")
    expect_error(capsys, code, "t10k-images-idx3-ubyte.gz: not a regular file")
