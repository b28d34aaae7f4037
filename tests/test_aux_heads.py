"""torchvision's GoogLeNet and Inception-v3 with their auxiliary classifiers (aux_logits=True)
against the zoo's members built with `--set aux=true` (`output NAME training`,
archc/expansion/training_only.py): parameter counts, every state_dict key, and the outputs
(float32, bit for bit) after importing torchvision's random weights, in eval mode (where both
return the logits only) and in train mode (where torchvision returns a namedtuple, archc a dict
keyed by its fields)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
import torchvision.models as tvm

import archc
from archc.cli import main
from archc.emit.weights import expected_shapes, import_state_dict, map_state_dict
from archc.expansion.stats import summarize
from archc.pipeline import zoo
from tests.cheap_init import cheap_init, no_init
from tests.oracles import perturb
from tests.util import cpu_seed

SPECS = Path(__file__).resolve().parent.parent / "specs"
# (member, the smallest input side its aux head takes: GoogLeNet's pools adaptively to 4x4 on
# inception4a's 1/16 grid; Inception-v3's 5x5 conv needs Mixed_6e's 17x17 grid, so 299)
MEMBERS = {"googlenet": 64, "inception_v3": 299}
# torchvision's parameter counts with the aux heads (measured: sum of numel, aux_logits=True)
PARAMS = {"googlenet": 13_004_888, "inception_v3": 27_161_264}
# train mode's fields, in torchvision's namedtuple order (GoogLeNetOutputs, InceptionOutputs)
FIELDS = {"googlenet": ("logits", "aux_logits2", "aux_logits1"),
          "inception_v3": ("logits", "aux_logits")}


def load(name: str, side: int | None = None) -> archc.Network:
    m = zoo.member(name)
    return archc.load(SPECS / f"{m.spec}.arch", {**m.set, "aux": True},
                      (3, side, side) if side else None)


def theirs(name: str, device: str | None = None) -> torch.nn.Module:
    m = zoo.member(name)
    kwargs = {**m.torchvision_kwargs, "aux_logits": True, "init_weights": device is None}
    with torch.device(device or "cpu"):
        return tvm.get_model(name, weights=None, **kwargs)


@pytest.mark.parametrize("name", MEMBERS)
def test_params_keys_and_outputs(name: str) -> None:
    net = load(name)
    reference = theirs(name, "meta")
    total = summarize(net).total.params
    assert total == PARAMS[name] == sum(p.numel() for p in reference.parameters())
    assert set(net.outputs) == set(FIELDS[name])
    assert set(net.training_outputs) == set(FIELDS[name][1:])
    target = expected_shapes(net)
    assert set(target) == set(reference.state_dict())  # the very names: aux1.conv.conv, ...
    mapped, report = map_state_dict(net, target, reference.state_dict())
    assert {k: tuple(v.shape) for k, v in mapped.items()} == target
    assert not report.renamed and not report.filled and not report.ignored


@pytest.mark.parametrize("name", MEMBERS)
def test_inference_macs_exclude_the_aux_heads(name: str) -> None:
    """torchvision's published GFLOPS (the weights' `_ops`) are the eval-mode model's: the
    summary's MACs equal them with the heads built, and the heads' own MACs are reported."""
    m = zoo.member(name)
    s = summarize(load(name))
    for weights in tvm.get_model_weights(name):
        assert round(s.total.macs / 1e9, 3) == weights.meta["_ops"]
    assert s.total.macs == summarize(archc.load(SPECS / f"{m.spec}.arch", m.set)).total.macs
    assert s.training.macs > 0 and s.training.params == PARAMS[name] - \
        summarize(archc.load(SPECS / f"{m.spec}.arch", m.set)).total.params


@pytest.mark.parametrize("name", MEMBERS)
def test_outputs_equal_in_eval_and_train(name: str, one_torch_thread) -> None:
    side = MEMBERS[name]
    net = load(name, side)
    with cheap_init():  # any values do: they are imported into ours
        reference = theirs(name)
    perturb(reference)
    with no_init():  # every tensor is imported
        ours = archc.build(net)
    state = reference.state_dict()
    assert import_state_dict(net, ours, state).mapped == len(state)
    x = torch.rand(2, 3, side, side)  # (train mode: BN needs 2 at 1x1)
    for train in (False, True):
        reference.train(train), ours.train(train)
        with torch.no_grad():
            cpu_seed(1)  # the same dropout masks: the heads run where torchvision's do
            want = reference(x)
            cpu_seed(1)
            got = ours(x)
        want = want._asdict() if train else {"logits": want}  # namedtuple in train mode
        assert set(got) == set(want) == set(FIELDS[name] if train else ("logits",))
        for key in want:
            # float32, bit for bit: the same kernels in the same order as torchvision's
            torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)


def test_summary_of_inception_v3_with_aux(capsys) -> None:
    assert main(["summary", "inception_v3", "--set", "aux=true"]) == 0
    out = capsys.readouterr().out
    assert "parameters:  27,161,264 total" in out
    assert "training only: aux_logits (3,326,696 of the parameters" in out
    assert "inception_aux (training only)" in out
    assert main(["summary", "tv_inception_v3", "--set", "aux=true", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"] == 27_161_264
    assert data["outputs"] == {"aux_logits": [1000], "logits": [1000]}
    assert data["training_only"]["outputs"] == ["aux_logits"]
    assert data["training_only"]["params"] == 3_326_696


def test_exported_googlenet_returns_torchvisions_outputs(tmp_path: Path, capsys,
                                                         one_torch_thread) -> None:
    """`archc export tv_googlenet --set aux=true -o g.py`: each head under `if self.training:`,
    equal to torchvision's in both modes, and TorchScript-compilable."""
    side = MEMBERS["googlenet"]
    path = tmp_path / "g.py"
    assert main(["export", "tv_googlenet", "--set", "aux=true", "--input", f"3x{side}x{side}",
                 "-o", str(path)]) == 0
    loader = importlib.util.spec_from_file_location("googlenet_export", path)
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    with cheap_init():  # any values do: they are loaded into ours
        reference = theirs("googlenet")
    perturb(reference)
    with no_init():  # every tensor is loaded (strict)
        ours = module.TvGooglenet()
    ours.load_state_dict(reference.state_dict(), strict=True)
    scripted = torch.jit.script(ours)
    x = torch.rand(2, 3, side, side)
    for train in (False, True):
        for m in (reference, ours, scripted):
            m.train(train)
        with torch.no_grad():
            cpu_seed(1)
            want = reference(x)
            want = want._asdict() if train else {"logits": want}
            cpu_seed(1)
            got = ours(x)
            scripted_got = scripted(x)
        assert set(got) == set(want) == set(scripted_got)
        for key in want:
            # float32, bit for bit: the same kernels in the same order as torchvision's
            torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)
        if not train:  # (in train mode TorchScript's dropout draws differ from eager's)
            torch.testing.assert_close(scripted_got["logits"], want["logits"], rtol=1e-9,
                                       atol=1e-9)
