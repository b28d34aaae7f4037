"""Weight import (archc.emit.weights, `archc import-weights`): torchvision's state_dict keys and
shapes (tests/reference/torchvision_keys.json) map exactly onto the tv_* specs; located errors
for what does not fit; the CLI round trip. Equal outputs with torchvision: tests/test_zoo.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import archc
from archc.cli import main
from archc.core.errors import ArchcErrors
from archc.emit.weights import expected_shapes, import_state_dict, map_state_dict
from archc.pipeline import zoo
from tests.util import cpu_seed

try:
    from tests.reference import models as ref
    from tests.reference import torchvision_counts as tvc
except ImportError:  # tests/ itself on sys.path
    from reference import models as ref
    from reference import torchvision_counts as tvc

SPECS = Path(__file__).resolve().parent.parent / "specs"
TV_KEYS = json.loads(Path(tvc.__file__).with_name("torchvision_keys.json").read_text())

def load(model: str, **kw) -> archc.Network:
    m = zoo.member(model)
    return archc.load(SPECS / f"{m.spec}.arch", m.set, **kw)


def fake_state(pairs) -> dict[str, torch.Tensor]:
    """A state_dict of shape-only (meta) tensors."""
    return {k: torch.empty(shape, device="meta") for k, shape in pairs}


# ----------------------------------------------------------------------------- key maps


@pytest.mark.parametrize("model", tvc.TORCHVISION_KEY_MODELS)
def test_torchvision_keys_map_exactly(model):
    net = load(model)
    target = expected_shapes(net)
    mapped, report = map_state_dict(net, target, fake_state(TV_KEYS[model]))
    assert {k: tuple(v.shape) for k, v in mapped.items()} == target  # all keys, all shapes
    assert not report.ignored and not report.filled
    # names equal torchvision's except DenseNet's 1-based denselayerN
    renamed = {old.split(".denselayer")[0] for old, _ in report.renamed}
    assert renamed == ({"features.denseblock1", "features.denseblock2", "features.denseblock3",
                        "features.denseblock4"} if model.startswith("densenet") else set())


def test_old_densenet_checkpoint_names():
    # torchvision checkpoints from before 0.3 say norm.1 / conv.2 for norm1 / conv2
    pairs = [(k.replace("norm1", "norm.1").replace("conv2", "conv.2"), s)
             for k, s in TV_KEYS["densenet121"]]
    net = load("densenet121")
    mapped, _ = map_state_dict(net, expected_shapes(net), fake_state(pairs))
    assert len(mapped) == len(TV_KEYS["densenet121"])


def test_pretrained_googlenet_aux_heads_are_skipped():
    pairs = TV_KEYS["googlenet"] + [("aux1.conv.conv.weight", [128, 512, 1, 1]),
                                    ("aux2.fc2.bias", [1000])]
    net = load("googlenet")
    _, report = map_state_dict(net, expected_shapes(net), fake_state(pairs))
    assert report.ignored == ["aux1.conv.conv.weight", "aux2.fc2.bias"]


def test_old_checkpoint_without_num_batches_tracked():
    pairs = [(k, s) for k, s in TV_KEYS["resnet18"] if not k.endswith("num_batches_tracked")]
    net = load("resnet18")
    _, report = map_state_dict(net, expected_shapes(net), fake_state(pairs))
    assert len(report.filled) == 20 and "bn1.num_batches_tracked" in report.filled


# ----------------------------------------------------------------------------- errors


def _errors(model: str, pairs, **kw) -> list:
    net = load(model, **kw)
    with pytest.raises(ArchcErrors) as exc:
        map_state_dict(net, expected_shapes(net), fake_state(pairs))
    return exc.value.errors


def test_wrong_depth_reports_missing_and_unplaced_keys():
    errors = _errors("resnet34", TV_KEYS["resnet18"])  # resnet18 weights, depth=34 spec
    messages = [e.message for e in errors]
    assert "'layer1.2.conv1': weight missing from the state_dict" in messages
    assert "'layer1.2.bn1': bias, running_mean, running_var, weight missing from the " \
           "state_dict" in messages
    assert all("missing" in m for m in messages)  # 18's blocks all exist in 34
    err = errors[messages.index("'layer1.2.conv1': weight missing from the state_dict")]
    assert err.span.path.endswith("tv_resnet.arch") and err.span.line == 10  # basic's conv1
    assert err.hint is None  # nothing left over to suggest
    errors = _errors("resnet18", TV_KEYS["resnet50"])  # bottleneck weights on basic blocks
    assert "'layer1.0.conv3' (weight) has no place in network 'tv_resnet': 'layer1.0' (basic) " \
           "has no 'conv3'" in [e.message for e in errors]


def test_shape_mismatch_is_located_at_the_layer():
    errors = _errors("alexnet", TV_KEYS["alexnet"], input_shape=(1, 224, 224))
    (err,) = errors
    assert err.message == "'features.0.weight': shape 64x3x11x11 in the state_dict, " \
                          "64x1x11x11 in the spec"
    assert err.span.path.endswith("tv_alexnet.arch") and err.span.line == 8
    assert "--input" in err.hint


def test_unknown_key_gets_a_suggestion():
    errors = _errors("alexnet", TV_KEYS["alexnet"] + [("classifier.7.weight", [10, 4096])])
    (err,) = errors
    assert err.message == "'classifier.7' (weight) has no place in network 'tv_alexnet': " \
                          "'classifier' (group) has no '7'"
    assert err.hint == "did you mean 'classifier.6.weight'?"


# ----------------------------------------------------------------------------- round trips


def test_import_state_dict_d2l_densenet_outputs_equal():
    cpu_seed(0)
    reference, net = ref.densenet().double().eval(), archc.load(SPECS / "densenet.arch")
    module = archc.build(net).double().eval()
    report = import_state_dict(net, module, reference.state_dict())
    assert report.mapped == len(reference.state_dict())
    assert len(report.renamed) == 16 * 7  # 16 dense layers: norm (5 tensors) + conv (2)
    x = torch.rand(2, 1, 96, 96, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(module(x), reference(x), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_cli_round_trip(tmp_path, capsys, suffix):
    cpu_seed(0)
    reference = ref.resnet18().eval()
    src, out = tmp_path / f"ref{suffix}", tmp_path / "out.safetensors"
    if suffix == ".pth":
        torch.save({"state_dict": reference.state_dict()}, src)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(src))
    assert main(["import-weights", "resnet18", str(src), "-o", str(out)]) == 0
    assert "0 renamed" in capsys.readouterr().err
    from safetensors.torch import load_file

    module = archc.build(archc.load("resnet18")).eval()
    module.load_state_dict(load_file(str(out)), strict=True)
    x = torch.rand(2, 1, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(module(x), reference(x))


def test_cli_errors(tmp_path, capsys):
    src = tmp_path / "lenet.pth"
    torch.save(ref.lenet().state_dict(), src)
    out = tmp_path / "out.safetensors"
    assert main(["import-weights", "resnet_mnist", str(src), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "resnet_mnist.arch:" in err and "error(s)" in err and not out.exists()
    assert main(["import-weights", "lenet", str(tmp_path / "nope.pth"), "-o", str(out)]) == 2
    assert "no such weights file" in capsys.readouterr().err
    assert main(["import-weights", "lenet", str(src), "-o", str(tmp_path / "x.pth")]) == 2
    capsys.readouterr()
    # an option between SPEC and WEIGHTS (was argparse's "unrecognized arguments: lenet.pth")
    assert main(["import-weights", "lenet", "--set", "classes=10", str(src), "-o", str(out)]) == 0
    with pytest.raises(SystemExit) as usage:  # argparse's own usage error, as before
        main(["import-weights", "lenet", str(src), "-o", str(out), "--bogus"])
    assert usage.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
