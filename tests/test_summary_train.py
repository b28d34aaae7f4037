"""`archc summary --train` and `--fit` from the CLI, as a user runs them: the saved bytes
equal what autograd saves in one training-mode forward of the built model (the same hook as
tests/test_memory_train.py), the model-state lines follow the optimizer and precision, the
spec's `train { }` gives the defaults, `--fit` prints the largest batch that fits, and bad
values are usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import torch

import archc
from archc.cli import main
from archc.expansion.memory_train import saved_bytes
from tests.test_memory_train import autograd_saved
from tests.util import run_cli


def test_resnet50_batch_8(capsys) -> None:
    """The issue's measurement: torchvision's resnet50, 224x224, batch 8, fp32 keeps
    687,488,512 B of activations and 212,480 B of BatchNorm running statistics."""
    code, out, _ = run_cli(capsys, "summary", "tv_resnet", "--set", "depth=50", "--train",
                           "--batch", "8", "--depth", "1")
    assert code == 0
    assert "saved for backward: 687.7 MB" in out and "687,700,992 B; exact" in out
    assert "layer1" in out and "bottleneck_layer" in out and "%" in out
    code, out, _ = run_cli(capsys, "summary", "tv_resnet", "--set", "depth=50", "--train",
                           "--batch", "8", "--json")
    data = json.loads(out)
    assert data["saved_bytes"] == 687_488_512 + 212_480
    assert sum(layer["saved_bytes"] for layer in data["layers"]) == data["saved_bytes"]
    params = data["params"]
    assert data["param_bytes"] == data["gradient_bytes"] == 4 * params
    assert data["optimizer_bytes"] == 0 and data["optimizer"] == "sgd"
    assert data["total_bytes"] == data["param_bytes"] + data["gradient_bytes"] + \
        data["saved_bytes"] + data["transient_bytes"]


def test_saved_equals_autograd(capsys, one_torch_thread) -> None:
    code, out, _ = run_cli(capsys, "summary", "resnet18", "--train", "--batch", "3",
                           "--device", "cpu", "--input", "1x32x32", "--json")
    assert code == 0
    net = archc.load("resnet18", input_shape=(1, 32, 32))
    model = archc.build(net).train()
    assert json.loads(out)["saved_bytes"] == autograd_saved(model, torch.randn(3, 1, 32, 32))


def test_optimizer_precision_and_recipe(capsys, tmp_path: Path) -> None:
    spec = tmp_path / "r.arch"
    spec.write_text("network r {\n  input 3x16x16\n  conv(8, k=3, pad=1) bn relu dropout(0.5)"
                    " gap flatten linear(4)\n  train { optimizer = \"adamw\"  batch_size = 5 "
                    " precision = \"bf16\" }\n}\n")
    code, out, _ = run_cli(capsys, "summary", str(spec), "--train", "--json")
    data = json.loads(out)
    assert (data["batch"], data["optimizer"], data["precision"]) == (5, "adamw", "amp")
    assert data["optimizer_bytes"] == 2 * 4 * data["params"] and not data["exact"]
    net = archc.load(spec)
    for flags, width, device in ((["--precision", "bf16"], 2, "cuda"),
                                 (["--precision", "fp32", "--device", "cpu"], 4, "cpu")):
        code, out, _ = run_cli(capsys, "summary", str(spec), "--train", "--optimizer",
                               "momentum", "--json", *flags)
        data = json.loads(out)
        assert data["optimizer_bytes"] == width * data["params"] and data["exact"]
        assert data["saved_bytes"] == saved_bytes(net, width, device=device).total.at(5)
    # dropout keeps a bool mask on cuda, a float one on cpu
    cpu, cuda = (saved_bytes(net, 4, device=d).total.per_sample for d in ("cpu", "cuda"))
    assert cpu - cuda == 3 * 8 * 16 * 16


def test_fit(capsys) -> None:
    code, out, _ = run_cli(capsys, "summary", "tv_resnet", "--set", "depth=50", "--fit",
                           "24GB", "--optimizer", "adamw")
    assert code == 0 and "fit 24GB (24,000,000,000 B): largest batch" in out
    code, out, _ = run_cli(capsys, "summary", "tv_resnet", "--set", "depth=50", "--fit",
                           "24GiB", "--json")
    data = json.loads(out)
    n, limit = data["fit"]["batch"], data["fit"]["limit_bytes"]
    assert limit == 24 * 2**30 and n > 8
    assert data["fixed_bytes"] + n * data["per_sample_bytes"] <= limit
    assert data["fixed_bytes"] + (n + 1) * data["per_sample_bytes"] > limit
    code, out, _ = run_cli(capsys, "summary", "tv_resnet", "--set", "depth=50", "--fit", "1MB")
    assert code == 0 and "no batch fits" in out


def test_usage_errors(capsys) -> None:
    code, out, err = run_cli(capsys, "summary", "resnet18", "--fit", "lots")
    assert code == 2 and "--fit: expected a size" in err and "Traceback" not in err
    try:
        main(["summary", "resnet18", "--train", "--precision", "fp8"])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("--precision fp8 accepted")


def test_plain_summary_says_what_it_sums(capsys) -> None:
    code, out, _ = run_cli(capsys, "summary", "resnet18")
    assert code == 0 and "layer outputs:" in out and "not what training keeps" in out
