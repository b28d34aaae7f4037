"""`archc import` over archc's zoo (archc/pipeline/zoo.py): torchvision's classification models come
back as specs whose parameter count and MACs equal the hand-written zoo spec's. One member per
family is proven in full from the CLI (fp64, eval and train mode, strict state_dict); the others are
imported from torchvision's skeleton on the meta device (no weights, no init) and counted, a
sample of them in a normal run (the cost is fx's trace: ~250 s for all 73 on 2 cores) and all of
them with ARCHC_ZOO_ALL=1. What archc cannot express yet is refused, with the reason recorded
here and in BENCHMARKS.md (bench/import_torchvision.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torchvision.models as tvm

import archc
from archc.expansion.stats import count
from archc.importer.torch_import import ImportRefused, import_spec
from archc.pipeline import zoo
from tests.test_import_torch import counts, imported

SPECS = Path(__file__).resolve().parent.parent / "specs"
MEMBERS = {m.name: m for m in zoo.MEMBERS if m.reference is None}  # torchvision.models builders

# the refusals, one reason per family (bench/import_torchvision.py lists every member)
REFUSED = {
    # the window attentions compute their partition from the input's size
    "swin": "shifted_window_attention() reads 2 values",
    "maxvit": ".reshape() reads 4 values",
}

# proven in full (fp64 outputs in both modes) from the CLI: one member per family not already
# proven in tests/test_import_torch.py (resnet18/50, squeezenet1_1, mobilenet_v3_small,
# efficientnet_b0), at the smallest input each allows
PROVEN = ["convnext_tiny", "shufflenet_v2_x0_5", "mnasnet0_5", "regnet_x_400mf",
          "regnet_y_400mf", "mobilenet_v2", "googlenet"]

# imported and counted in a normal run: a member of every family and every block structure
# (ResNet's BasicBlock and Bottleneck, VGG with and without BN, RegNet X and Y, EfficientNet v1
# and v2, ...); ARCHC_ZOO_ALL=1 counts every member
SAMPLE = ["alexnet", "resnet34", "resnet152", "vgg11", "vgg19_bn", "wide_resnet50_2",
          "resnext101_64x4d", "squeezenet1_0", "mnasnet1_3", "regnet_y_1_6gf", "regnet_x_3_2gf",
          "efficientnet_b1", "efficientnet_v2_s", "mobilenet_v3_large", "inception_v3",
          "convnext_tiny", "shufflenet_v2_x1_5",
          # a ViT's tokens, class token, position embedding, attention (0.6 s each), at both
          # patch sizes (L and H: the same blocks, deeper and wider)
          "vit_b_16", "vit_b_32",
          # the list concatenation read as a running concat (1-2 s each), at both growth
          # rates (169 and 201: 121's blocks, deeper)
          "densenet121", "densenet161"]


def _family(name: str) -> str | None:
    return next((f for f in REFUSED if name.startswith(f)), None)


def _size(name: str) -> int:
    return 224 if name.startswith(("vit", "maxvit")) else 96 if name.startswith("inception") else \
        32 if name.startswith("convnext") else 64


def _skeleton(m: zoo.Member) -> torch.nn.Module:
    try:
        with torch.device("meta"):
            return tvm.get_model(m.name, weights=None, **m.torchvision_kwargs)
    except NotImplementedError:  # RegNet computes its widths with tensors
        return tvm.get_model(m.name, weights=None, **m.torchvision_kwargs)


COUNTED = [n for n in MEMBERS if _family(n) is None and
           (os.environ.get("ARCHC_ZOO_ALL") or n in SAMPLE)]


@pytest.mark.parametrize("name", COUNTED)
def test_imported_counts_equal_the_zoo_spec(name, one_torch_thread):
    m, size = MEMBERS[name], _size(name)
    text = import_spec(_skeleton(m), f"torchvision.models:{name}", name, (3, size, size))
    ours = count(archc.loads(text).root)
    theirs = count(archc.load(SPECS / f"{m.spec}.arch", m.set, (3, size, size)).root)
    assert (ours.params, ours.macs) == (theirs.params, theirs.macs)


@pytest.mark.parametrize("name", PROVEN)
def test_proven_equal_from_the_cli(capsys, tmp_path, name, one_torch_thread):
    m = MEMBERS[name]
    out, size = tmp_path / f"{name}.arch", f"3x{_size(name)}x{_size(name)}"
    options = ["--kwargs", json.dumps(dict(m.torchvision_kwargs))] if m.torchvision_kwargs \
        else []
    imported(capsys, f"torchvision.models:{name}", out, "--input", size, *options)
    assert counts(capsys, out) == counts(capsys, m.spec, *m.set_args(), "--input", size)


# torchvision's VisionTransformer class at a small size (its builders need 224 at patch 16),
# proven in full, its counts equal to the zoo spec's with the same sizes
VIT = {"image_size": 32, "patch_size": 16, "num_layers": 2, "num_heads": 2, "hidden_dim": 16,
       "mlp_dim": 32, "num_classes": 10}


def test_vision_transformer_proven_equal_from_the_cli(capsys, tmp_path, one_torch_thread):
    out = tmp_path / "vit.arch"
    text = imported(capsys, "torchvision.models.vision_transformer:VisionTransformer", out,
                    "--kwargs", json.dumps(VIT), "--input", "3x32x32")
    for line in ("block encoder_block {", "self_attention: attention(2)",
                 '"encoder_layer_{i}": encoder_block', "pos_embedding: pos_embedding",
                 "conv_proj: conv(16, 16, stride=16)", "tokens", "class_token: class_token"):
        assert line in text
    sizes = ["patch=16", "layers=2", "heads=2", "d=16", "mlp=32", "classes=10"]
    assert counts(capsys, out) == counts(capsys, "tv_vit", *(a for s in sizes
                                                           for a in ("--set", s)),
                                         "--input", "3x32x32")


def test_densenet_proven_equal_from_the_cli(capsys, tmp_path, one_torch_thread):
    """torchvision's DenseNet class at a small size: every layer reads the list of all earlier
    outputs, written as a running concat, `for i in 1..n + 1 { "denselayer{i}": ... }`."""
    out = tmp_path / "densenet.arch"
    kwargs = {"growth_rate": 4, "block_config": [2, 3], "num_init_features": 8,
              "bn_size": 2, "num_classes": 10}
    text = imported(capsys, "torchvision.models.densenet:DenseNet", out, "--kwargs",
                    json.dumps(kwargs), "--input", "3x32x32")
    for line in ("block _dense_block(n) {", "for i in 1..n + 1 {",
                 '"denselayer{i}": _dense_layer', "denseblock1: _dense_block(2)",
                 "denseblock2: _dense_block(3)", "| norm1: bn"):
        assert line in text


@pytest.mark.parametrize("family", sorted(REFUSED))
def test_refused_with_the_reason(family, one_torch_thread):
    name = next(n for n in MEMBERS if n.startswith(family))
    with pytest.raises(ImportRefused, match=r".*" + REFUSED[family].replace(".", r"\.")
                       .replace("(", r"\(").replace(")", r"\)")):
        import_spec(_skeleton(MEMBERS[name]), name, name, (3, _size(name), _size(name)))


def test_the_sample_and_the_refusals_cover_every_family():
    # the classifiers; the video ResNets' import is proven in tests/test_import_torch.py, the
    # segmentation members' in tests/test_import_segmentation.py
    families = {m.spec for m in zoo.MEMBERS if m.task == "classification"}
    covered = {MEMBERS[n].spec for n in SAMPLE + PROVEN} | \
        {MEMBERS[n].spec for n in MEMBERS if _family(n)}
    assert families <= covered
    assert all(any(n.startswith(f) for n in MEMBERS) for f in REFUSED)
