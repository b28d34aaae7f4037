"""`archc train`: train the network a spec describes with the spec's recipe (its train { }
section; flags override it). The run itself is archc/train/; importing this module does not
import torch."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = ("Train the network a spec describes with the spec's recipe (its train { } "
               "section); flags override the recipe.")


def add_arguments(t: argparse.ArgumentParser) -> None:
    t.add_argument("spec", help="a .arch file, a bundled spec name, or module:function")
    data_flags(t)
    g = t.add_argument_group("recipe (overrides the spec's train section)")
    g.add_argument("--dataset", choices=["fashion-mnist", "mnist"])
    g.add_argument("--optimizer", choices=["sgd"])
    g.add_argument("--lr", type=float)
    g.add_argument("--momentum", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--resize", type=int, help="image side the network sees (native 28)")
    g.add_argument("--init", choices=["xavier", "default"])
    g.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None,
                   help="MNIST mean/std normalisation (0.1307/0.3081)")
    g.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                   help="any recipe key (repeatable)")
    r = t.add_argument_group("run")
    spec_flags(r)
    r.add_argument("--seed", type=int, help="seed for init, shuffling and dropout (default 0)")
    r.add_argument("--out", type=Path, help="run folder (default runs/NAME, then NAME-2, ...)")
    r.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_DIR",
                   help="continue a run from its last checkpoint (RUN_DIR, else --out, else "
                        "the latest runs/NAME*)")
    device_flags(t)
    r.add_argument("--engine", default="auto",
                   choices=["auto", "eager", "graph", "compile", "compile-graph"],
                   help="auto: a CUDA graph per step on one GPU, eager elsewhere")
    r.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="auto: bf16 autocast on GPU, fp32 on CPU")
    r.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    r.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=None,
                   help="deterministic kernels (default: on for CPU)")
    r.add_argument("--limit-train", type=int, metavar="N", help="use the first N training images")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from ..train.cli import cmd_train

    return cmd_train(args)


def spec_flags(p: argparse._ActionsContainer) -> None:
    p.add_argument("--set", action="append", default=[], metavar="K=V",
                   help="set a network parameter (repeatable), as in `archc build`")
    p.add_argument("--network", help="which network of the file (default: the first)")


def data_flags(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument("--data-dir", type=Path, help="folder with the four IDX files")
    d.add_argument("--cache-dir", type=Path, help="download cache (default ~/.cache/archc)")
    d.add_argument("--no-download", action="store_true", help="never use the network")
    d.add_argument("--limit-test", type=int, metavar="N", help="use the first N test images")


def device_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--eval-batch-size", type=int, default=1024)
