"""torchvision's segmentation models (torchvision.models.segmentation) against the zoo's members
(archc/pipeline/zoo.py, task "segmentation"): the table covers the module's builders (or says what
each waits for); statically, the parameter count equals the weights' published `num_params` (less
the auxiliary head where the member leaves it out) and torchvision's model, every state_dict
key maps by name, MACs equal the weights' `_ops` at 520x520; numerically (float32 bit for bit,
a small input),
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
from archc.cli import main
from archc.emit.weights import expected_shapes, import_state_dict, map_state_dict
from archc.expansion.stats import summarize
from archc.pipeline import zoo
from tests.cheap_init import cheap_init, no_init
from tests.oracles import perturb
from tests.util import cpu_seed


def skeleton(m: zoo.Member, **kwargs) -> torch.nn.Module:
    """torchvision's model for its names and shapes only: on the meta device (no init)."""
    with torch.device("meta"):
        return tvm.get_model(m.name, weights=None, **{**m.torchvision_kwargs, **kwargs})


def weight_enum(m: zoo.Member):
    return tvm.get_model_weights(m.name)


def published_params(m: zoo.Member) -> int:
    """num_params of the member's weights, less the aux head the member leaves out (not
    tests/test_zoo.py's: importing it computes that file's tables, a minute of work)."""
    (count,) = {w.meta["num_params"] for w in weight_enum(m)}
    if m.published_kwargs:
        count -= sum(p.numel() for p in skeleton(m, **m.published_kwargs).parameters()) - \
            sum(p.numel() for p in skeleton(m).parameters())
    return count



SPECS = Path(__file__).resolve().parent.parent / "specs"
MEMBERS = [m.name for m in zoo.MEMBERS if m.task == "segmentation"]
# segmentation builders no spec covers yet, each with what it waits for (none)
NOT_YET: dict[str, str] = {}
# numerically: all but the ResNet-101 ones, whose blocks the ResNet-50 ones prove (each costs
# seconds in fp64; their parameter counts, keys and MACs are proven statically)
NUMERIC = [n for n in MEMBERS if not n.endswith("resnet101")]
SIDE = 32  # the small input of the numeric proofs (ResNet's output stride 8: 4x4 features)


def load(m: zoo.Member, side: int | None = None, aux: bool = False) -> archc.Network:
    sets = {**m.set, "aux": True} if aux else m.set
    return archc.load(SPECS / f"{m.spec}.arch", sets, (3, side, side) if side else None)


def test_table_covers_torchvision_segmentation() -> None:
    assert not set(MEMBERS) & set(NOT_YET)
    assert set(MEMBERS) | set(NOT_YET) == set(tvm.list_models(module=seg))


@pytest.mark.parametrize("name", MEMBERS)
def test_weight_enum_and_files(name: str) -> None:
    m = zoo.member(name)
    enum = weight_enum(m)
    assert enum.__name__ == m.weights
    assert m.files == tuple(w.url.rsplit("/", 1)[1] for w in enum)
    assert all(zoo.by_file(f) is m for f in m.files)


@pytest.mark.parametrize("name", MEMBERS)
def test_params_keys_and_macs(name: str) -> None:
    """Without the aux head (as torchvision builds the model without weights) and with it (as
    the weights have it: their num_params and _ops count it)."""
    m = zoo.member(name)
    for aux in (False, True) if m.published_kwargs else (False,):
        net = load(m, aux=aux)
        theirs = skeleton(m, **(m.published_kwargs if aux else {}))
        total = summarize(net).total
        assert total.params == sum(p.numel() for p in theirs.parameters())
        assert list(net.outputs) == (["out", "aux"] if aux else ["out"])
        target = expected_shapes(net)
        mapped, report = map_state_dict(net, target, theirs.state_dict())
        assert {k: tuple(v.shape) for k, v in mapped.items()} == target
        assert set(target) == set(theirs.state_dict())  # the very names, none renamed
        assert not report.renamed and not report.filled
        for weights in weight_enum(m):  # measured by torchvision at 520, with the aux head
            if aux or not m.published_kwargs:
                assert total.params == weights.meta["num_params"]
                assert round(total.macs / 1e9, 3) == weights.meta["_ops"]
    assert summarize(load(m)).total.params == published_params(m)


def test_checkpoint_with_aux_head_loads_either_way() -> None:
    """The COCO weights hold the aux head: they load with aux=true key for key, and into the
    member as built without weights with the `aux_classifier.*` keys skipped."""
    m = zoo.member("fcn_resnet50")
    state = skeleton(m, **m.published_kwargs).state_dict()
    with_aux = load(m, aux=True)
    mapped, report = map_state_dict(with_aux, expected_shapes(with_aux), state)
    assert len(mapped) == len(state) and not report.ignored
    plain = load(m)
    mapped, report = map_state_dict(plain, expected_shapes(plain), state)
    assert len(mapped) == len(expected_shapes(plain))
    assert report.ignored == [k for k in state if k.startswith("aux_classifier.")]


@pytest.mark.parametrize("name", NUMERIC)
def test_outputs_equal_in_eval_and_train(name: str, one_torch_thread) -> None:
    """With the aux head where the weights have one: "out" and "aux" both proven (without it
    the model is the same less that head, its names and counts proven statically above)."""
    m = zoo.member(name)
    aux = bool(m.published_kwargs)
    cpu_seed(0)
    net = load(m, SIDE, aux)
    with cheap_init():  # any values do: they are imported into ours
        theirs = tvm.get_model(name, weights=None, **m.torchvision_kwargs,
                               **(m.published_kwargs if aux else {}))
    perturb(theirs)
    with no_init():  # every tensor is imported
        ours = archc.build(net)
    assert import_state_dict(net, ours, theirs.state_dict()).mapped == len(theirs.state_dict())
    x = torch.rand(2, 3, SIDE, SIDE)
    for train in (False, True):
        theirs.train(train), ours.train(train)
        with torch.no_grad():
            cpu_seed(1)  # the same dropout masks: the same draws in the same order
            want = theirs(x)
            cpu_seed(1)
            got = ours(x)
        assert list(got) == list(want) == list(net.outputs)  # the same keys, in order
        for key in want:
            # float32, bit for bit: the same kernels in the same order as torchvision's
            torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)


def test_summary_json_reports_each_output(capsys) -> None:
    assert main(["summary", "lraspp_mobilenet_v3_large", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"] == 3_221_538
    # torchvision's LRASPP returns only "out" (it has no auxiliary head)
    assert data["outputs"] == {"out": [21, 520, 520]}
    assert data["output"] == [21, 520, 520]
    assert main(["summary", "fcn_resnet50", "--set", "aux=true", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"] == 35_322_218  # as FCN_ResNet50_Weights count it
    assert data["outputs"] == {"out": [21, 520, 520], "aux": [21, 520, 520]}
    assert main(["summary", "deeplabv3_mobilenet_v3_large", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == 11_025_477


def test_exported_source_returns_torchvision_dict(tmp_path: Path, capsys,
                                                  one_torch_thread) -> None:
    path = tmp_path / "lraspp.py"
    assert main(["export", "lraspp_mobilenet_v3_large", "--input", f"3x{SIDE}x{SIDE}",
                 "-o", str(path)]) == 0
    spec = importlib.util.spec_from_file_location("lraspp_export", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cpu_seed(0)
    theirs = seg.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None).double()
    perturb(theirs)
    ours = module.TvLraspp().double()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.rand(2, 3, SIDE, SIDE, dtype=torch.float64)
    for train in (False, True):
        ours.train(train), theirs.train(train)
        with torch.no_grad():
            got, want = ours(x), theirs(x)
        assert list(got) == list(want) == ["out"]
        assert torch.equal(got["out"], want["out"])
