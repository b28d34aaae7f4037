"""Arguments are checked before any work, and a mistake in them is a usage error (exit 2) with
a clear message: a repeated single-valued option, an output file a command cannot write."""

from __future__ import annotations

from pathlib import Path

import pytest

from archc.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", [
    ["check", "lenet"], ["build", "lenet"], ["summary", "lenet"], ["graph", "lenet"],
])
def test_repeated_input_is_a_usage_error(capsys, argv: list[str]) -> None:
    code, out, err = run(capsys, *argv, "--input", "1x28x28", "--input", "1x32x32")
    assert code == 2 and out == ""
    assert "--input given twice (1x28x28, then 1x32x32)" in err and "Traceback" not in err


def test_repeated_network_is_a_usage_error(capsys) -> None:
    code, _, err = run(capsys, "summary", "lenet", "--network", "a", "--network", "b")
    assert code == 2 and "--network given twice" in err


@pytest.mark.parametrize("name", ["x.onnx", "x.pt", "x"])
def test_build_checks_its_output_before_building(capsys, tmp_path: Path, name: str) -> None:
    bad = tmp_path / "bad.arch"  # a spec error would be exit 1: the argument is checked first
    bad.write_text("network n { input 1x8x8 conv(4, k=9) }\n")
    code, out, err = run(capsys, "build", str(bad), "-o", str(tmp_path / name))
    assert code == 2 and out == "" and not (tmp_path / name).exists()
    assert "build writes FILE.safetensors or FILE.txt, not" in err and "Traceback" not in err


def test_build_names_the_command_that_writes_onnx(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "build", "lenet", "-o", str(tmp_path / "x.onnx"))
    assert code == 2 and f"`archc export SPEC -o {tmp_path / 'x.onnx'}`" in err


def test_graph_checks_its_output_before_loading(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.arch"
    bad.write_text("network n { input 1x8x8 conv(4, k=9) }\n")
    code, _, err = run(capsys, "graph", str(bad), "-o", str(tmp_path / "x.jpeg"))
    assert code == 2 and "graph writes FILE.dot, " in err and "not '.jpeg'" in err


TINY_MODEL = """import torch
def make():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
"""


@pytest.mark.parametrize("argv", [
    ["export", "lenet", "-o", "{out}.py"], ["export", "lenet", "-o", "{out}.onnx"],
    ["graph", "lenet", "-o", "{out}.dot"], ["graph", "lenet", "-o", "{out}.html"],
    ["build", "lenet", "-o", "{out}.txt"], ["import", "{model}:make", "-o", "{out}.arch",
                                            "--input", "3x8x8"],
])
@pytest.mark.parametrize("where", ["a folder", "under a file"])
def test_an_output_that_cannot_be_written_is_a_usage_error(capsys, tmp_path: Path,
                                                           argv: list[str], where: str) -> None:
    """`-o` naming a folder, or a path under a plain file, ended in an OSError traceback after
    the work (IsADirectoryError from os.replace; ONNX after seconds of exporting)."""
    model = tmp_path / "model.py"
    model.write_text(TINY_MODEL)
    if where == "a folder":
        out = tmp_path / "out"
        for suffix in (".py", ".onnx", ".dot", ".html", ".txt", ".arch"):
            (tmp_path / f"out{suffix}").mkdir()
    else:
        (tmp_path / "plain").write_text("")
        out = tmp_path / "plain" / "out"
    args = [a.format(out=out, model=model) for a in argv]
    code, _, err = run(capsys, *args)
    assert code == 2 and "Traceback" not in err, err
    assert f"archc: error: cannot write '{args[3]}': " in err, err
    if where == "a folder":
        assert err.rstrip().endswith("it is a folder"), err


def test_summary_points_at_a_command_that_runs(capsys) -> None:
    """The pointer said `archc summary --notes`, which is a usage error (FILE is required)."""
    code, out, _ = run(capsys, "summary", "lenet")
    assert code == 0 and "how each total is counted: archc summary SPEC --notes)" in out
    code, out, _ = run(capsys, "summary", "lenet", "--notes")
    assert code == 0 and "note: parameters are weights and biases" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "lenet", "--set", "foo=1"], "--set foo: network 'lenet' has no parameter 'foo'"),
    (["train", "no_such_spec"], "no such spec file or bundled spec: 'no_such_spec'"),
    (["eval", "lenet", "--weights", "{tmp}/nope"], "no such weights file: '{tmp}/nope'"),
    (["eval", "lenet", "--weights", "{tmp}/w.pth", "--checkpoint", "last"],
     "--checkpoint last: only a run folder holds several checkpoints"),
    (["generate", "gpt2", "--weights", "{tmp}", "--set", "foo=1"],
     "--set foo: network 'gpt2' has no parameter 'foo'"),
])
def test_training_commands_exit_2_on_usage_errors(capsys, tmp_path: Path, argv: list[str],
                                                  message: str) -> None:
    """train, eval and generate printed usage errors as spec errors and exited 1; every other
    command exits 2 (the README's exit codes)."""
    (tmp_path / "w.pth").write_bytes(b"")
    code, _, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2 and f"archc: error: {message.format(tmp=tmp_path)}" in err, err


@pytest.mark.parametrize("specs, code", [
    (["lenet", "resnet18", "tv_vit"], 0),
    (["tests/errors/joins.arch", "lenet", "tests/errors/calls.arch"], 1),
])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_program_says_what_main_says(capsys, specs: list[str], code: int, fmt: str) -> None:
    """`archc check` as a program ends without the interpreter's teardown (its row's
    `exits_hard`): its output, flushed to a pipe, and its exit code are main's in process."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    specs = [str(root / s) if s.endswith(".arch") else s for s in specs]
    argv = ["check", "--no-cache", "--format", fmt, *specs]
    want = run(capsys, *argv)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as in a shell
    done = subprocess.run([sys.executable, "-m", "archc", *argv], capture_output=True,
                          text=True, cwd=root, env=env, check=False)
    assert (done.returncode, done.stdout, done.stderr) == want
    assert want[0] == code and (want[1] or want[2])


def test_a_distributed_train_process_ends_hard(monkeypatch) -> None:
    """`archc train` ends without the interpreter's teardown only in a process torchrun started
    (WORLD_SIZE > 1; tests/test_train_dist.py runs two): torch's teardown of the process group
    aborted such a process now and then after the run was written. Alone, it ends as usual."""
    from archc.commands import BY_NAME

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not BY_NAME["train"].ends_hard() and BY_NAME["check"].ends_hard()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not BY_NAME["train"].ends_hard()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert BY_NAME["train"].ends_hard() and not BY_NAME["build"].ends_hard()
