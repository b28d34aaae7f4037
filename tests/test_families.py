"""The parameterised torchvision families (specs/tv_*.arch): stage shapes, the classes
parameter, VGG's flat layout, unsupported members. Parameter counts, names, MACs and outputs
against torchvision itself: tests/test_zoo.py."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import archc
from archc.pipeline import zoo

SPECS = Path(__file__).resolve().parent.parent / "specs"

# torchvision model name -> (spec, --set overrides), from the zoo table
MEMBERS: dict[str, tuple[str, Mapping[str, Any]]] = {m.name: (m.spec, m.set) for m in zoo.MEMBERS}


def load(model: str) -> archc.Network:
    spec, overrides = MEMBERS[model]
    return archc.load(SPECS / f"{spec}.arch", overrides)


def test_stage_shapes_at_224():
    table = {m: {n: s for n, _, s in archc.shapes(load(m))} for m in MEMBERS}
    for d, channels in ((121, 1024), (161, 2208), (169, 1664), (201, 1920)):
        assert table[f"densenet{d}"]["features"] == (channels, 7, 7)
    for d in (18, 34, 50, 101, 152):
        expansion = 1 if d < 50 else 4
        stages = [table[f"resnet{d}"][f"layer{i}"] for i in (1, 2, 3, 4)]
        assert stages == [(64 * expansion, 56, 56), (128 * expansion, 28, 28),
                          (256 * expansion, 14, 14), (512 * expansion, 7, 7)]
    assert table["vgg19_bn"]["features"] == (512, 7, 7)
    assert table["alexnet"]["features"] == (256, 6, 6)
    assert table["googlenet"]["inception5b"] == (1024, 7, 7)


def test_classes_parameter():
    for spec in ("tv_resnet", "tv_densenet", "tv_vgg", "tv_googlenet", "tv_alexnet"):
        assert archc.load(SPECS / f"{spec}.arch", {"classes": 10}).output_shape == (10,)


@pytest.mark.parametrize("model", ["vgg11", "vgg16_bn", "vgg19_bn"])
def test_vgg_features_are_torchvision_make_layers(model):
    # torchvision cfgs A/B/D/E ('M' = max pool): the loop must lay out the same flat Sequential
    cfgs = {11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
            13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
            16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512,
                 512, "M"],
            19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                 512, 512, 512, 512, "M"]}
    _, overrides = MEMBERS[model]
    want = []
    for v in cfgs[overrides["depth"]]:
        if v == "M":
            want.append(("maxpool", None))
        else:
            want += [("conv", v)] + [("bn", None)] * overrides["batch_norm"] + [("relu", None)]
    features = next(n for n in load(model).root.items if n.name == "features")
    got = [(layer.op, layer.args.out if layer.op == "conv" else None)
           for layer in features.items]
    assert [layer.name for layer in features.items] == [str(i) for i in range(len(want))]
    assert got == want


@pytest.mark.parametrize("spec, depth, valid", [("tv_resnet", 20, "18, 34, 50, 101 or 152"),
                                                 ("tv_densenet", 100, "121, 161, 169 or 201"),
                                                 ("tv_vgg", 12, "11, 13, 16 or 19")])
def test_unsupported_depth_is_an_error(spec, depth, valid):
    with pytest.raises(archc.ArchcErrors) as exc:
        archc.load(SPECS / f"{spec}.arch", {"depth": depth})
    (err,) = exc.value.errors
    assert err.message == f"depth must be {valid}"
    line = (SPECS / f"{spec}.arch").read_text().splitlines()[err.span.line - 1]
    assert line.strip().startswith("assert depth == ")
