"""Training configuration: the recipe schema (archc/core/recipe.py, torch-free) seen from training,
the training error kinds, and `--recipe key=value` parsing."""

from __future__ import annotations

import argparse
from typing import Any

from archc.core.errors import ArchcError
from archc.core.recipe import (
    RECIPE_KEYS,
    Recipe,
    RecipeError,
    UnknownRecipeKey,
    make_recipe,
)

__all__ = ["RECIPE_KEYS", "Recipe", "RecipeError", "TrainError", "UnknownRecipeKey",
           "make_recipe", "parse_assignment"]


class TrainError(ArchcError):
    """A training run that cannot start or cannot go on (bad data, bad checkpoint, NaN loss)."""


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse one `--recipe key=value` flag; the value is read as a bool, int, float or string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--recipe {text!r}: expected key=value", hint="e.g. --recipe lr=0.05")
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


def cli_recipe(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe keys the command line sets: one flag per key, then each --recipe K=V."""
    from archc.core.recipe import RECIPE_KEYS

    flags = {k: getattr(args, k) for k in RECIPE_KEYS if getattr(args, k, None) is not None}
    flags.update(parse_assignment(s) for s in args.recipe)
    return flags
