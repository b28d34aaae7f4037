"""`archc import` over torchvision's segmentation models (archc's zoo: tv_fcn, tv_deeplabv3,
tv_lraspp): the backbone read at two depths becomes `tap`/`from`, `F.interpolate(x,
size=ref.shape[-2:])` becomes `resize(in.h, in.w)` or `resize(like=TAP)`, the returned dict
`output` statements. Proven equal from the CLI (fp64, eval and train, dict outputs key by key),
and the imported specs' parameters and MACs equal the hand-written zoo specs'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision.models as tvm

import archc
from archc.expansion.stats import count
from archc.importer.torch_import import ImportRefused, import_spec
from archc.importer.torch_proof import prove
from archc.pipeline import zoo
from tests.test_import_torch import counts
from tests.util import run_cli

SPECS = Path(__file__).resolve().parent.parent / "specs"
MEMBERS = {m.name: m for m in zoo.MEMBERS if m.task == "segmentation"}
SEG = "torchvision.models.segmentation"
# (member, aux_loss): each head once, the aux heads on both backbones (ResNet, MobileNetV3)
PROVEN = [("fcn_resnet50", True), ("deeplabv3_mobilenet_v3_large", True),
          ("lraspp_mobilenet_v3_large", False)]
COUNTED = [("fcn_resnet50", False), ("deeplabv3_resnet50", False),
           ("deeplabv3_resnet50", True), ("deeplabv3_mobilenet_v3_large", False)]
SIZE = 32


def _kwargs(name: str, aux: bool) -> dict:
    return {**MEMBERS[name].torchvision_kwargs, "weights": None, "num_classes": 21,
            **({"aux_loss": True} if aux else {})}


def _zoo_args(name: str, aux: bool) -> list[str]:
    return [*MEMBERS[name].set_args(), *(["--set", "aux=true"] if aux else [])]


@pytest.mark.parametrize(("name", "aux"), PROVEN)
def test_proven_equal_from_the_cli(capsys, tmp_path, name, aux, one_torch_thread):
    out, target = tmp_path / f"{name}.arch", f"{SEG}:{name}"
    code, stdout, err = run_cli(capsys, "import", target, "-o", out, "--input",
                                f"3x{SIZE}x{SIZE}", "--kwargs", json.dumps(_kwargs(name, aux)))
    assert code == 0, err
    keys = "'out', 'aux'" if aux else "'out'"
    for mode in ("eval", "train"):
        assert f"{mode} mode: outputs {keys} equal (fp64" in stdout
    assert f"{out} is equal to {target}" in stdout and "loaded with strict=True" in stdout
    text = out.read_text()
    assert "output out" in text and ("output aux" in text) == aux
    assert "resize(in.h, w=in.w)" in text
    if aux:  # the aux head reads the backbone's earlier stage by name
        assert "\n  from backbone_" in text and "  tap backbone_" in text
    if name.startswith("lraspp"):  # the head reads `low` (features.4) by name
        assert "tap backbone_4" in text and "resize(like=backbone_4)" in text
        assert "from backbone_4" in text
    if name.startswith("deeplab"):  # ASPP's ModuleList of branches, labelled as torch has it
        assert "convs: concat {" in text
    assert counts(capsys, out) == counts(capsys, MEMBERS[name].spec, *_zoo_args(name, aux),
                                         "--input", f"3x{SIZE}x{SIZE}")


@pytest.mark.parametrize(("name", "aux"), COUNTED)
def test_imported_counts_equal_the_zoo_spec(name, aux, one_torch_thread):
    with torch.device("meta"):
        model = tvm.get_model(name, **_kwargs(name, aux))
    shape = (3, SIZE, SIZE)
    ours = count(archc.loads(import_spec(model, f"{SEG}:{name}", name, shape)).root)
    setting = {**MEMBERS[name].set, **({"aux": True} if aux else {})}
    theirs = count(archc.load(SPECS / f"{MEMBERS[name].spec}.arch", setting, shape).root)
    assert (ours.params, ours.macs) == (theirs.params, theirs.macs)


class _Pair(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.relu(), x.sigmoid()


class _Reread(torch.nn.Module):
    """Values read again: a conv's output (read by a join and by a second output) and the
    input itself (read by the last output)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(3, 4, 1), torch.nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        y = self.a(x)
        z = self.b(y) + y.relu()
        return {"out": z, "mid": torch.sigmoid(y), "skip": x.relu()}


def test_values_read_again_are_tapped_and_proven():
    model = _Reread()
    text = import_spec(model, "m:reread", "reread", (3, 8, 8))
    body = text.split("network reread {", 1)[1].split()
    assert body[:6] == ["input", "3x8x8", "tap", "network_input", "a:", "conv(4,"]
    assert ["tap", "a", "add", "{"] == body[7:11]
    assert ["from", "a", "sigmoid", "output", "mid", "from", "network_input", "relu", "output",
            "skip"] == body[-11:-1]
    proof = prove(text, model, (3, 8, 8), "reread.arch")
    assert proof.equal, proof.lines
    assert "train mode: outputs 'out', 'mid', 'skip' equal" in proof.lines[-1]


class _Twice(torch.nn.Module):
    """One stateless module called twice, both its values read again: two taps, two names."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2, self.c3 = (torch.nn.Conv2d(3 if i == 0 else 4, 4, 1) for i in range(3))
        self.act = torch.nn.ReLU()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        a = self.act(self.c1(x))
        b = self.act(self.c2(a))
        return {"out": self.c3(b), "a": a.sigmoid(), "b": b.tanh()}


def test_two_values_of_one_module_get_two_taps():
    model = _Twice()
    text = import_spec(model, "m:twice", "twice", (3, 8, 8))
    assert "tap act\n" in text and "tap act_2\n" in text
    assert "from act\n  sigmoid" in text and "from act_2\n  tanh" in text
    assert prove(text, model, (3, 8, 8), "twice.arch").equal


def test_a_tuple_of_outputs_is_refused():
    with pytest.raises(ImportRefused, match="not as a dict of them") as exc:
        import_spec(_Pair(), "m:pair", "pair", (3, 8, 8))
    assert exc.value.code == "A0901"


def test_every_segmentation_member_is_imported_here():
    assert {n for n, _ in PROVEN + COUNTED} == set(MEMBERS) - {"fcn_resnet101",
                                                              "deeplabv3_resnet101"}
