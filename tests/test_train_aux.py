"""`archc train` with a network that returns several outputs (`output NAME`, `output NAME
training`): the loss is the main output's cross-entropy plus the recipe's aux_weight times each
auxiliary output's (archc/train/engine.py loss_sum), checked against a hand computation and
against a hand-written training loop; accuracy and evaluation read the main output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import archc
from archc.cli import main
from archc.expansion.training_only import output_roles
from archc.train import checkpoint, data
from archc.train.config import make_recipe
from archc.train.engine import Outputs, loss_sum
from archc.train.loop import RunConfig, Trainer, epoch_seed
from tests.train_fixtures import write_idx_set
from tests.util import cpu_seed

SPEC = Path(__file__).parent / "train_specs" / "tiny_aux.arch"


def test_loss_is_main_plus_weighted_aux() -> None:
    cpu_seed(0)
    y = torch.tensor([1, 0, 3])
    out = {"aux1": torch.randn(3, 4), "logits": torch.randn(3, 4), "aux2": torch.randn(3, 4)}
    roles = Outputs("logits", ("aux1", "aux2"), 0.4)
    by_hand = sum(-torch.log_softmax(out["logits"], 1)[i, y[i]] for i in range(3)) + 0.4 * sum(
        -torch.log_softmax(out[k], 1)[i, y[i]] for k in ("aux1", "aux2") for i in range(3))
    torch.testing.assert_close(loss_sum(out, y, roles), by_hand)
    # eval mode's dict lacks the training-only outputs: the main output's loss alone
    torch.testing.assert_close(loss_sum({"logits": out["logits"]}, y, roles),
                               F.cross_entropy(out["logits"], y, reduction="sum"))
    torch.testing.assert_close(loss_sum(out["logits"], y, None),
                               F.cross_entropy(out["logits"], y, reduction="sum"))


def test_which_output_is_main() -> None:
    aux = ("aux_logits1", "aux_logits2")
    assert output_roles(["aux_logits1", "aux_logits2", "logits"], aux) == ("logits", aux)
    assert output_roles(["out", "aux"], []) == ("out", ("aux",))  # DeepLabV3's aux head
    assert output_roles(["x", "out"], ["x"]) == ("out", ("x",))
    with pytest.raises(ValueError, match="eval mode returns the outputs a, b, and none is named"):
        output_roles(["a", "b"], [])


def test_trainer_matches_a_hand_written_loop_with_the_aux_loss(tmp_path: Path) -> None:
    folder = write_idx_set(tmp_path / "data", n_train=64, n_test=16)
    split = data.load_data("mnist", folder)
    net = archc.load(SPEC)
    recipe = make_recipe({"lr": 0.1, "batch_size": 32, "epochs": 1, "aux_weight": 0.4})
    cfg = RunConfig(recipe=recipe, seed=3, device="cpu", progress=False)
    source = archc_source(net)
    Trainer(source, split.train, split.test, tmp_path / "run", cfg, out=lambda s: None).run()
    _, saved = checkpoint.load(tmp_path / "run")

    cpu_seed(3)
    ref = archc.build(net)
    for m in ref.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.xavier_uniform_(m.weight)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    images = torch.from_numpy(split.train.images).float() / 255
    labels = torch.from_numpy(split.train.labels)
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(epoch_seed(3, 1)))
    for b in range(0, 64, 32):
        idx = perm[b:b + 32]
        opt.zero_grad()
        out = ref(images[idx])
        assert set(out) == {"logits", "aux_logits"}
        (F.cross_entropy(out["logits"], labels[idx])
         + 0.4 * F.cross_entropy(out["aux_logits"], labels[idx])).backward()
        opt.step()
    for name, value in ref.state_dict().items():
        torch.testing.assert_close(saved[f"model.{name}"], value, rtol=1e-4, atol=1e-5,
                                   msg=name)


def archc_source(net: archc.Network):
    def model():
        m = archc.build(net)
        m.archc_outputs = output_roles(net.outputs, net.training_outputs)
        return m
    return model


def test_train_from_the_cli(tmp_path: Path, capsys, one_torch_thread) -> None:
    """The spec's aux_weight (0.4) and `--aux-weight 0` train the shared conv differently: the
    aux head's gradient reaches it only with a weight."""
    folder = write_idx_set(tmp_path / "data", n_train=64, n_test=32)
    runs = {}
    for flags in ((), ("--aux-weight", "0")):
        out = tmp_path / f"run{len(runs)}"
        code = main(["train", str(SPEC), "--data-dir", str(folder), "--device", "cpu",
                     "--out", str(out), "--no-progress", "--no-tensorboard", *flags])
        assert code == 0, capsys.readouterr().err
        index, saved = checkpoint.load(out)
        assert index["recipe"]["aux_weight"] == (0.0 if flags else 0.4)
        (record,) = index["history"]
        assert record["train_loss"] > 0 and 0 <= record["test_acc"] <= 1
        runs[flags] = saved
    weighted, unweighted = runs.values()
    assert not torch.equal(weighted["model.conv1.weight"], unweighted["model.conv1.weight"])
    # the trained run evaluates and predicts with its main output
    code = main(["eval", str(SPEC), "--weights", str(tmp_path / "run0"), "--data-dir",
                 str(folder), "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0 and "test loss" in out and "(32 examples, epoch 1)" in out
    image = tmp_path / "digit.png"
    Image.fromarray(np.full((28, 28), 200, np.uint8), mode="L").save(image)
    code = main(["predict", str(SPEC), "--weights", str(tmp_path / "run0"), str(image),
                 "--format", "json", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    (result,) = json.loads(out)
    assert len(result["top"]) == 5 and result["top"][0]["probability"] > 0


def test_outputs_must_be_the_classes_logits(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "two.arch"
    spec.write_text("network two {\n  input 1x28x28\n  flatten tap f\n  linear(10)\n"
                    "  output out\n  from f  linear(5)\n  output aux\n}\n")
    folder = write_idx_set(tmp_path / "data", n_train=32, n_test=16)
    code = main(["train", str(spec), "--data-dir", str(folder), "--device", "cpu",
                 "--out", str(tmp_path / "run"), "--no-progress", "--no-tensorboard"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "output aux is 5, the data has 10 classes: archc train trains classifiers" in err
