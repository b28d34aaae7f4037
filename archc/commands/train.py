"""`archc train`: train the network a spec describes with the spec's recipe (its train { }
section; flags override it, one flag per recipe key, generated from the schema in
archc/core/recipe.py). The run itself is archc/train/; importing this module does not import
torch."""

from __future__ import annotations

import argparse
import types
import typing
from pathlib import Path
from typing import Any

from archc.commands.options import add_spec_options, positive

DESCRIPTION = ("Train the network a spec describes with the spec's recipe (its train { } "
               "section); flags override the recipe.")


def add_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument("spec", help="a .arch file, a bundled spec name, or module:function")
    data_flags(t)
    recipe_flags(t.add_argument_group("recipe (overrides the spec's train section)"))
    r = t.add_argument_group("run")
    add_spec_options(r, input=False)
    r.add_argument("--seed", type=int, help="seed for init, shuffling and dropout (default 0)")
    r.add_argument("--out", type=Path, help="run folder (default runs/NAME, then NAME-2, ...)")
    r.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_DIR",
                   help="continue a run from its last checkpoint (RUN_DIR, else --out, else "
                        "the latest runs/NAME*)")
    device_flags(t)
    r.add_argument("--engine", default="auto",
                   choices=["auto", "eager", "graph", "compile", "compile-graph"],
                   help="auto: a CUDA graph per step on one GPU, eager elsewhere")
    r.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    r.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=None,
                   help="deterministic kernels (default: on for CPU)")
    r.add_argument("--limit-train", type=positive, metavar="N",
                   help="use the first N training images")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--quiet", action="store_true",
                   help="print only the closing lines, warnings and errors (for CI logs)")
    r.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=True,
                   help="write TensorBoard event files into the run folder (default on)")


def run(args: argparse.Namespace) -> int:
    from archc.train.cli import cmd_train

    return cmd_train(args)  # (--text: archc/train/text.py)


def _flag_kwargs(annotation: Any) -> dict[str, Any]:
    """argparse options for a recipe field's type (one branch per type the schema uses)."""
    parts = [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        parts = [a for a in typing.get_args(annotation) if a is not type(None)]
    (kind,) = parts
    if typing.get_origin(kind) is typing.Literal:
        return {"choices": list(typing.get_args(kind))}
    if kind is bool:
        return {"action": argparse.BooleanOptionalAction}
    if kind in (int, float):
        return {"type": kind}
    return {"type": str}  # mean / std: "0.49, 0.48, 0.45"


def recipe_flags(group: argparse._ActionsContainer) -> None:
    """One flag per recipe key (`--batch-size` for batch_size), and `--recipe KEY=VALUE`."""
    from archc.core.recipe import Recipe

    for key, field in Recipe.model_fields.items():
        group.add_argument("--" + key.replace("_", "-"), dest=key, default=None,
                           help=field.description, **_flag_kwargs(field.annotation))
    group.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                       help="any recipe key (repeatable)")


def data_flags(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument("--data-dir", type=Path,
                   help="MNIST/Fashion-MNIST IDX files, CIFAR-10/100 binaries, or an "
                        "image-folder tree (DIR/train/CLASS/*.png, DIR/val/CLASS/*.png)")
    d.add_argument("--cache-dir", type=Path,
                   help="download and decoded-image cache (default ~/.cache/archc)")
    d.add_argument("--no-download", action="store_true", help="never use the network")
    d.add_argument("--limit-test", type=positive, metavar="N", help="use the first N test images")
    d.add_argument("--text", type=Path, metavar="FILE",
                   help="train a language model (`input tokens(N, vocab)`) on next-token "
                        "prediction: a text file read as bytes (ids 0..255), or a .bin of "
                        "uint16 token ids (nanoGPT's); the last tenth is held out")


def device_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--eval-batch-size", type=positive, default=1024)
