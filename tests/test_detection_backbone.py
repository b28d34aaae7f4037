"""The zoo's backbone (archc/pipeline/zoo.py, task "backbone"): specs/tv_resnet_fpn.arch against
torchvision's resnet_fpn_backbone, the ResNet + FPN its detection models build on. Statically
(torchvision's model on the meta device): the parameter count, every state_dict key in order
(FrozenBatchNorm2d's four buffers; BatchNorm2d's five with norm="bn"), the five outputs'
shapes and MACs against FlopCounterMode at 800x800; numerically (float32 bit for bit, 3x32x32:
layer4 and "pool" at 1x1): the returned dict equals torchvision's in eval and train mode after
importing its random weights. From the command line: `archc summary resnet50_fpn --json` and the
exported `.py`; `archc import` reads FrozenBatchNorm2d as frozen_bn."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch
import torchvision.models as tvm
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.ops import FrozenBatchNorm2d

import archc
from archc.emit.weights import import_state_dict
from archc.expansion.stats import summarize
from archc.importer.torch_import import import_spec
from archc.pipeline import zoo
from tests.cheap_init import cheap_init, no_init
from tests.oracles import perturb
from tests.util import cpu_seed, flop_counter, run_cli

SPECS = Path(__file__).resolve().parent.parent / "specs"
SIDE = 32  # the output stride is 32: layer4 (and "pool") 1x1
KEYS = ["0", "1", "2", "3", "pool"]


def theirs(depth: int = 50, norm: str = "frozen", meta: bool = False) -> torch.nn.Module:
    kwargs = {"norm_layer": torch.nn.BatchNorm2d} if norm == "bn" else {}
    with torch.device("meta" if meta else "cpu"):
        return resnet_fpn_backbone(backbone_name=f"resnet{depth}", weights=None, **kwargs)


def load(depth: int = 50, norm: str = "frozen", side: int | None = None) -> archc.Network:
    m = zoo.member("resnet50_fpn")
    return archc.load(SPECS / f"{m.spec}.arch", {**m.set, "depth": depth, "norm": norm},
                      (3, side, side) if side else None)


@pytest.mark.parametrize("depth,norm", [(50, "frozen"), (50, "bn"), (101, "frozen"),
                                        (152, "frozen")])
def test_params_keys_and_output_shapes(depth: int, norm: str) -> None:
    net, model = load(depth, norm), theirs(depth, norm, meta=True)
    total = summarize(net).total
    assert total.params == sum(p.numel() for p in model.parameters())
    with torch.device("meta"):
        ours = archc.build(net)
    assert list(ours.state_dict()) == list(model.state_dict())  # the very names, in order
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in model.state_dict().items()}
    assert net.outputs == {"0": (256, 200, 200), "1": (256, 100, 100), "2": (256, 50, 50),
                           "3": (256, 25, 25), "pool": (256, 13, 13)}


def test_resnet50_fpn_counts_and_macs() -> None:
    """26,799,296 parameters (sum of numel over torchvision's; its trainable_layers=3 only
    sets requires_grad), no parameter in FrozenBatchNorm2d, MACs as FlopCounterMode counts
    torchvision's forward at 800x800 (on the meta device: shapes only)."""
    net, model = load(), theirs(meta=True)
    total = summarize(net).total
    assert total.params == 26_799_296
    frozen = [m for m in model.modules() if type(m).__name__ == "FrozenBatchNorm2d"]
    assert len(frozen) == 53 and not any(list(m.parameters()) for m in frozen)
    with flop_counter() as counter:
        out = model(torch.empty(1, 3, 800, 800, device="meta"))
    assert counter.get_total_flops() == 2 * total.macs == 2 * 88_381_440_000
    assert {k: tuple(v.shape[1:]) for k, v in out.items()} == net.outputs


@pytest.mark.parametrize("norm", ["frozen", "bn"])
def test_outputs_equal_in_eval_and_train(norm: str, one_torch_thread) -> None:
    cpu_seed(0)
    net = load(norm=norm, side=SIDE)
    with cheap_init():  # any values do: they are imported into ours
        model = theirs(norm=norm)
    perturb(model)
    with no_init():  # every tensor is imported
        ours = archc.build(net)
    assert import_state_dict(net, ours, model.state_dict()).mapped == len(model.state_dict())
    x = torch.rand(2, 3, SIDE, SIDE)  # float32, compared bit for bit below
    for train in (False, True):  # FrozenBatchNorm2d: the same; BatchNorm2d: batch statistics
        model.train(train), ours.train(train)
        with torch.no_grad():
            want, got = model(x), ours(x)
        assert list(got) == list(want) == KEYS
        for key in KEYS:
            torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)
    if norm == "bn":  # the running statistics moved alike
        torch.testing.assert_close(ours.state_dict(), model.state_dict(), rtol=0, atol=0)


def test_import_reads_frozen_batchnorm() -> None:
    """`archc import` (archc/importer/torch_ops.py) writes torchvision.ops.FrozenBatchNorm2d as
    frozen_bn: a ResNet-18 built with it, read back key for key."""
    with torch.device("meta"):
        model = tvm.resnet18(norm_layer=FrozenBatchNorm2d)
        text = import_spec(model, "torchvision.models:resnet18", "frozen_resnet18", (3, 64, 64))
        ours = archc.build(archc.loads(text))
    assert "frozen_bn" in text and not re.search(r": bn\b", text)  # no plain BatchNorm
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in model.state_dict().items()}
    assert sum(p.numel() for p in ours.parameters()) == \
        sum(p.numel() for p in model.parameters()) == 11_679_912


def test_summary_and_list_from_the_cli(capsys) -> None:
    code, out, err = run_cli(capsys, "summary", "resnet50_fpn", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["params"] == 26_799_296 and data["macs"] == 88_381_440_000
    assert data["outputs"] == {"0": [256, 200, 200], "1": [256, 100, 100], "2": [256, 50, 50],
                               "3": [256, 25, 25], "pool": [256, 13, 13]}
    code, out, err = run_cli(capsys, "summary", "resnet50_fpn")
    assert code == 0, err
    cells = [[c.strip() for c in line.split("│")] for line in out.splitlines()]
    rows = [[c[1], c[4]] for c in cells if len(c) > 4 and "output:" in c[1]]  # name, shape
    assert rows == [[f"fpn.layer_blocks.output:{k}", f"256x{s}x{s}"]
                    for k, s in zip(KEYS, (200, 100, 50, 25), strict=False)] + \
        [["fpn.output:pool", "256x13x13"]]
    code, out, err = run_cli(capsys, "list", "fpn")
    assert code == 0, err
    assert out.splitlines()[1].split()[:6] == ["resnet50_fpn", "tv_resnet_fpn", "--set",
                                               "depth=50", "3x800x800", "26,799,296"]
    # `--set norm=bn` (a shell's `--set norm="bn"`): BatchNorm2d's weight and bias count
    code, out, err = run_cli(capsys, "summary", "resnet50_fpn", "--set", "norm=bn", "--json")
    assert code == 0, err
    assert json.loads(out)["params"] == sum(p.numel() for p in theirs(norm="bn", meta=True)
                                            .parameters()) == 26_852_416


def test_exported_source_returns_torchvision_dict(tmp_path: Path, capsys,
                                                  one_torch_thread) -> None:
    path = tmp_path / "fpn.py"
    code, out, err = run_cli(capsys, "export", "resnet50_fpn", "--input", f"3x{SIDE}x{SIDE}",
                             "-o", str(path))
    assert code == 0, err
    assert "class FrozenBatchNorm2d(nn.Module):" in path.read_text()
    spec = importlib.util.spec_from_file_location("fpn_export", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cpu_seed(0)
    with cheap_init():  # any values do: they are loaded into ours
        model = theirs()
    perturb(model)
    with no_init():  # every tensor is loaded (strict)
        ours = module.TvResnetFpn()
    ours.load_state_dict(model.state_dict(), strict=True)
    x = torch.rand(2, 3, SIDE, SIDE)
    with torch.no_grad():
        got, want = ours(x), model(x)
    assert list(got) == list(want) == KEYS
    assert all(torch.equal(got[k], want[k]) for k in KEYS)
