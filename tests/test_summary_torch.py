"""`archc summary --torch pkg.module:factory`: an existing nn.Module counted the way archc counts
a spec, against the real thing: parameters against sum(numel) (a shared weight once), FLOPs
against FlopCounterMode, and every total against archc's own summary of the zoo spec that
builds the same torchvision model. Bad targets exit 2 with one line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision.models as tvm
from torch.utils.flop_counter import FlopCounterMode

from tests.util import run_cli

# (factory, --kwargs, --input, the zoo spec and its --set options that build the same model)
ZOO = [
    ("resnet18", None, None, ["tv_resnet", "--set", "depth=18"]),
    ("mobilenet_v3_small", None, None, ["tv_mobilenet_v3", "--set", "variant=small"]),
    ("efficientnet_b0", None, None, ["tv_efficientnet"]),  # 5,288,548 params, 0.386 GMACs
    ("vit_b_16", '{"image_size": 64}', "3x64x64",
     ["tv_vit", "--set", "variant=b_16", "--input", "3x64x64"]),
]


def summary_json(capsys, *argv: str) -> dict:
    code, out, err = run_cli(capsys, "summary", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("factory, kwargs, size, spec", ZOO, ids=[z[0] for z in ZOO])
def test_equals_the_zoo_spec_and_torch(capsys, factory, kwargs, size, spec):
    argv = [f"torchvision.models:{factory}", "--torch"] + (["--kwargs", kwargs] if kwargs else [])
    ours = summary_json(capsys, *argv, *(["--input", size] if size else []))
    theirs = summary_json(capsys, *spec)
    assert ours["traced_with"] == "torch.fx"
    for key in ("params", "macs", "flops", "output"):
        assert ours[key] == theirs[key], key
    assert sum(r["params"] for r in ours["layers"]) == ours["params"]
    assert sum(r["macs"] for r in ours["layers"]) == ours["macs"]
    # and against torch itself, on the meta device (shapes alone)
    with torch.device("meta"):
        model = getattr(tvm, factory)(**json.loads(kwargs or "{}")).eval()
    shape = tuple(int(d) for d in (size or "3x224x224").split("x"))
    with FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, *shape, device="meta"))
    assert ours["params"] == sum(p.numel() for p in model.parameters())
    # FlopCounterMode skips the CPU flash-attention kernel; the trace uses the math one
    assert ours["flops"] >= fc.get_total_flops()
    if factory != "vit_b_16":
        assert ours["flops"] == fc.get_total_flops()


def test_resnet18_table_and_depth(capsys):
    code, out, _ = run_cli(capsys, "summary", "--torch", "torchvision.models:resnet18",
                           "--depth", "2")
    assert code == 0
    assert out.startswith("traced with torch.fx\n")
    assert "parameters:  11,689,512 total" in out
    assert "MACs:        1.81 G per sample (1,814,073,344)" in out
    assert "layer1.0-1" in out and "BasicBlock ×2" in out


USER = '''
import torch
from torch import nn


class Tied(nn.Module):
    """A shared linear layer called twice, and a data-dependent branch fx cannot trace."""

    def __init__(self, width=8):
        super().__init__()
        self.body = nn.Linear(width, width)
        self.head = nn.Linear(width, 3)
        self.unused = nn.Linear(2, 2)

    def forward(self, x):
        x = self.body(x).relu()
        if x.sum() > 1e9:
            x = -x
        return self.head(self.body(x))


def make(width=8):
    return Tied(width)


def broken():
    raise ValueError("no such variant")
'''


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "user_model.py"
    path.write_text(USER)
    return path


def test_file_factory_shared_weights_and_hooks(capsys, user_file):
    s = summary_json(capsys, "--torch", f"{user_file}:make", "--kwargs", '{"width": 6}',
                     "--input", "6")
    # body counted once though called twice; the unused layer listed so the rows add up
    assert s["params"] == (6 * 6 + 6) + (6 * 3 + 3) + (2 * 2 + 2)
    assert s["traced_with"] == "forward hooks"
    assert [r["name"] for r in s["layers"]] == ["body", "body", "head", "(unused parameters)"]
    assert [r["params"] for r in s["layers"]] == [42, 0, 21, 6]
    assert s["macs"] == 36 + 36 + 18


@pytest.mark.parametrize("argv, message", [
    (["no_such_pkg.models:net"], "cannot import 'no_such_pkg.models'"),
    (["torchvision.models:no_such_model"], "has no callable 'no_such_model'"),
    (["torchvision.models"], "expects pkg.module:factory"),
    (["torchvision.models:resnet18", "--kwargs", "{bad"], "--kwargs is not JSON"),
    (["torchvision.models:resnet18", "--input", "5x32x32"], "the forward pass raised"),
    (["torchvision.models:resnet18", "--set", "depth=18"], "--set and --network are for specs"),
    (["missing.py:make"], "'missing.py': no such file"),
    (["tests/cases:make"], "'tests/cases': a folder, not a Python file"),  # was "no such file"
])
def test_bad_targets(capsys, argv, message):
    code, out, err = run_cli(capsys, "summary", "--torch", *argv)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_factory_that_raises(capsys, user_file):
    code, _, err = run_cli(capsys, "summary", "--torch", f"{user_file}:broken")
    assert code == 2
    assert "broken() raised ValueError: no such variant" in err
