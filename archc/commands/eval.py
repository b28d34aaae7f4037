"""`archc eval`: evaluate a training run's checkpoint on the test (or train) set."""

from __future__ import annotations

import argparse

from archc.commands.options import add_spec_options
from archc.commands.train import data_flags, device_flags


def add_arguments(e: argparse.ArgumentParser) -> None:
    e.add_argument("spec", help="the spec (or module:function) the checkpoint was trained from")
    add_spec_options(e, input=False)
    e.add_argument("--weights", metavar="RUN",
                   help="the run folder (its best checkpoint, else its last), or a "
                   "checkpoint's .json or .safetensors")
    e.add_argument("--checkpoint", metavar="WHICH_OR_PATH",
                   help="with --weights: best, last or an epoch number; alone: a run folder "
                   "(its last checkpoint), its checkpoint.json or best.json, or its .safetensors")
    data_flags(e)
    device_flags(e)
    e.add_argument("--split", choices=["test", "train"], default="test")


def run(args: argparse.Namespace) -> int:
    from archc.train.cli import cmd_eval

    return cmd_eval(args)
