"""torchvision's segmentation models (torchvision.models.segmentation) against the zoo's members
(archc/zoo.py, task "segmentation"): the table covers the module's builders (or says what each
waits for); statically, the parameter count equals the weights' published `num_params` (less
the auxiliary head where the member leaves it out) and torchvision's model, every state_dict
key maps by name, MACs equal the weights' `_ops` at 520x520; numerically (fp64, a small input),
the returned dict equals torchvision's in eval and train mode after importing its random
weights. From the command line, as a user runs it: `archc summary MEMBER --json` reports each
output with its shape, and `archc export MEMBER -o m.py` writes a module whose forward returns
the same dict as torchvision's model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
import torchvision.models as tvm
import torchvision.models.segmentation as seg  # a dev dependency: nothing here skips

import archc
from archc import zoo
from archc.cli import main
from archc.stats import summarize
from archc.weights import expected_shapes, import_state_dict, map_state_dict

try:
    from tests.test_zoo import _perturb, published_params, skeleton, weight_enum
except ImportError:  # tests/ itself on sys.path
    from test_zoo import (  # type: ignore[no-redef]
        _perturb,
        published_params,
        skeleton,
        weight_enum,
    )

SPECS = Path(__file__).resolve().parent.parent / "specs"
MEMBERS = [m.name for m in zoo.MEMBERS if m.task == "segmentation"]
# segmentation builders no spec covers yet, each with what it waits for
NOT_YET = {
    **dict.fromkeys(["fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50",
                     "deeplabv3_resnet101", "deeplabv3_mobilenet_v3_large"],
                    "the dilated ResNet backbone and the FCN/ASPP heads"),
}
SIDE = 64  # the small input of the numeric proofs


def load(m: zoo.Member, side: int | None = None) -> archc.Network:
    return archc.load(SPECS / f"{m.spec}.arch", m.set, (3, side, side) if side else None)


def test_table_covers_torchvision_segmentation() -> None:
    assert not set(MEMBERS) & set(NOT_YET)
    assert set(MEMBERS) | set(NOT_YET) == set(tvm.list_models(module=seg))


@pytest.mark.parametrize("name", MEMBERS)
def test_params_keys_and_macs(name: str) -> None:
    m = zoo.member(name)
    net = load(m)
    theirs = skeleton(m)
    total = summarize(net).total
    assert total.params == published_params(m) == sum(p.numel() for p in theirs.parameters())
    target = expected_shapes(net)
    mapped, report = map_state_dict(net, target, theirs.state_dict())
    assert {k: tuple(v.shape) for k, v in mapped.items()} == target
    assert set(target) == set(theirs.state_dict())  # the very names, none renamed
    assert not report.renamed and not report.filled
    for weights in weight_enum(m):  # torchvision measures its segmentation weights at 520
        if not m.published_kwargs:  # (with the aux head the member leaves out, if any)
            assert round(total.macs / 1e9, 3) == weights.meta["_ops"]


@pytest.mark.parametrize("name", MEMBERS)
def test_outputs_equal_in_eval_and_train(name: str, one_torch_thread) -> None:
    m = zoo.member(name)
    torch.manual_seed(0)
    net = load(m, SIDE)
    theirs = tvm.get_model(name, weights=None, **m.torchvision_kwargs).double()
    _perturb(theirs)
    with torch.device("meta"):  # no init: every tensor is imported
        ours = archc.build(net)
    ours = ours.to_empty(device="cpu").double()
    assert import_state_dict(net, ours, theirs.state_dict()).mapped == \
        len(theirs.state_dict())
    x = torch.rand(2, 3, SIDE, SIDE, dtype=torch.float64)
    for train in (False, True):
        theirs.train(train), ours.train(train)
        with torch.no_grad():
            torch.manual_seed(1)
            want = theirs(x)
            torch.manual_seed(1)
            got = ours(x)
        assert list(got) == list(want) == list(net.outputs)  # the same keys, in order
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=1e-9, atol=1e-9)


def test_summary_json_reports_each_output(capsys) -> None:
    assert main(["summary", "lraspp_mobilenet_v3_large", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"] == 3_221_538
    # torchvision's LRASPP returns only "out" (it has no auxiliary head)
    assert data["outputs"] == {"out": [21, 520, 520]}
    assert data["output"] == [21, 520, 520]


def test_exported_source_returns_torchvision_dict(tmp_path: Path, capsys,
                                                  one_torch_thread) -> None:
    path = tmp_path / "lraspp.py"
    assert main(["export", "lraspp_mobilenet_v3_large", "--input", f"3x{SIDE}x{SIDE}",
                 "-o", str(path)]) == 0
    spec = importlib.util.spec_from_file_location("lraspp_export", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    theirs = seg.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None).double()
    _perturb(theirs)
    ours = module.TvLraspp().double()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.rand(2, 3, SIDE, SIDE, dtype=torch.float64)
    for train in (False, True):
        ours.train(train), theirs.train(train)
        with torch.no_grad():
            got, want = ours(x), theirs(x)
        assert list(got) == list(want) == ["out"]
        assert torch.equal(got["out"], want["out"])
