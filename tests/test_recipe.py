"""The recipe schema (archc/core/recipe.py, torch-free): every key a flag, merging, schedules, and
the rules between keys. Located errors in specs are in tests/errors/recipe.arch."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from archc.core.recipe import (
    RECIPE_KEYS,
    Recipe,
    RecipeError,
    UnknownRecipeKey,
    make_recipe,
)

ROOT = Path(__file__).resolve().parents[1]


def test_every_key_is_a_flag_of_archc_train():
    import argparse

    from archc.commands.train import add_arguments

    train = argparse.ArgumentParser()
    add_arguments(train)
    dests = {a.dest for a in train._actions}  # noqa: SLF001
    assert set(RECIPE_KEYS) <= dests
    args = train.parse_args(["x", "--optimizer", "adamw", "--no-hflip", "--lr", "0.5",
                             "--mean", "0.5, 0.4, 0.3", "--warmup-epochs", "1.5"])
    assert (args.optimizer, args.hflip, args.lr, args.warmup_epochs) == ("adamw", False, 0.5, 1.5)
    assert make_recipe({"normalize": True, "mean": args.mean, "std": 0.2}).mean == [0.5, 0.4, 0.3]


def test_schema_and_flag_parsing_stay_torch_free():
    code = ("import sys, archc.core.recipe, archc.train.cli, archc.commands.train; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_merge_and_errors():
    r = make_recipe({"lr": 0.05, "resize": 96}, {"epochs": 2}, {"lr": None})
    assert (r.lr, r.resize, r.epochs, r.batch_size, r.init) == (0.05, 96, 2, 256, "xavier")
    with pytest.raises(UnknownRecipeKey, match="unknown training key 'warmup'") as e:
        make_recipe({"warmup": 3})
    assert e.value.hint == "did you mean 'warmup_epochs'?"
    with pytest.raises(RecipeError, match=r"train: lr must be a finite number, got nan"):
        make_recipe({"lr": float("nan")}, source="train")
    with pytest.raises(RecipeError, match="--resume: nesterov needs momentum > 0"):
        make_recipe({"nesterov": True}, source="--resume")
    # A stored recipe lists every key at its default: only keys that change something count.
    stored = Recipe().model_dump()
    assert make_recipe(stored, {"optimizer": "adamw"}).optimizer == "adamw"


def lrs(recipe: Recipe, epochs: float, per_epoch: int = 10) -> list[float]:
    return [recipe.lr_at(s, per_epoch) for s in range(int(epochs * per_epoch))]


def test_schedules():
    const = make_recipe({"lr": 0.1, "epochs": 3})
    assert set(lrs(const, 3)) == {0.1}
    step = make_recipe({"lr": 1.0, "epochs": 9, "schedule": "step", "step_size": 3,
                        "gamma": 0.5})
    assert [step.lr_at(e * 10, 10) for e in range(9)] == [1, 1, 1, .5, .5, .5, .25, .25, .25]
    cos = make_recipe({"lr": 1.0, "epochs": 4, "schedule": "cosine", "min_lr": 0.1,
                       "warmup_epochs": 1})
    got = lrs(cos, 4)
    assert got[0] == pytest.approx(0.01) and got[5] == pytest.approx(0.01 + 0.99 * 0.5)
    assert got[10] == pytest.approx(1.0)  # warmup ends at the peak
    assert got[25] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert all(a >= b for a, b in zip(got[10:], got[11:], strict=False))
    assert got[-1] > 0.1 and cos.lr_at(40, 10) == pytest.approx(0.1)


@pytest.mark.parametrize("values, message", [
    ({"optimizer": "adamw", "nesterov": True}, "nesterov is only used with optimizer"),
    ({"beta2": 0.99}, 'beta2 is only used with optimizer = "adamw"'),
    ({"crop_scale": 0.5}, "crop_scale is only used with random_resized_crop = true"),
    ({"schedule": "cosine", "lr": 0.1, "min_lr": 0.2}, "min_lr (0.2) must be below lr (0.1)"),
    ({"normalize": True, "mean": [0.5, 0.5, 0.5, 0.5, 0.5]}, "expected 1 to 4 numbers"),
    ({"normalize": True, "mean": 0.5, "std": 0}, "every std must be > 0"),
    ({"epochs": True}, "epochs must be an integer, got true"),
    ({"dataset": "imagenet"}, "dataset must be one of"),
])
def test_rules(values, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_recipe(values, source="train")
