"""Training recipes: the `train { ... }` section of a spec, validated and merged with CLI flags.

The defaults are the book's (d2l `train_ch6`): plain SGD, 10 epochs, Xavier-uniform init of conv
and linear weights, Fashion-MNIST scaled to [0, 1] with no normalisation.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from archc.errors import ArchcError, did_you_mean


class TrainError(ArchcError):
    """A training run that cannot start or cannot go on (bad recipe, bad checkpoint, NaN loss)."""


class RecipeError(TrainError):
    """A recipe key or value that archc does not accept."""


class Recipe(BaseModel):
    """One training recipe; every field can come from the spec or from a CLI flag."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Literal["fashion-mnist", "mnist"] = "fashion-mnist"
    optimizer: Literal["sgd"] = "sgd"
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(256, ge=1)
    resize: int | None = Field(None, ge=1, le=1024)
    init: Literal["xavier", "default"] = "xavier"
    normalize: bool = False

    @property
    def image_size(self) -> int:
        """The side of the images the network sees: `resize`, or the datasets' native 28."""
        return self.resize if self.resize is not None else 28


RECIPE_KEYS: tuple[str, ...] = tuple(Recipe.model_fields)

# MNIST's mean and std (001: `transforms.Normalize((0.1307,), (0.3081,))`).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def make_recipe(*layers: dict[str, Any] | None, source: str = "recipe") -> Recipe:
    """Merge recipe layers (later ones win; None values are skipped) and validate the result."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update({k: v for k, v in (layer or {}).items() if v is not None})
    for key in merged:
        if key not in Recipe.model_fields:
            hint = did_you_mean(key, RECIPE_KEYS) or f"known keys: {', '.join(RECIPE_KEYS)}"
            raise RecipeError(f"{source}: unknown training key '{key}'", hint=hint)
    try:
        return Recipe.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "recipe"
        value = merged.get(str(err["loc"][0])) if err["loc"] else None
        raise RecipeError(f"{source}: {key} = {value!r}: {err['msg']}") from None


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse one `--set key=value` flag; the value is read as a bool, int, float or string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set {text!r}: expected key=value", hint="e.g. --set lr=0.05")
    raw = raw.strip()
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return key.strip(), lowered == "true"
    for cast in (int, float):
        try:
            return key.strip(), cast(raw)
        except ValueError:
            pass
    return key.strip(), raw
