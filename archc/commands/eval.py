"""`archc eval`: evaluate a training run's checkpoint on the test (or train) set."""

from __future__ import annotations

import argparse
from pathlib import Path

from .train import data_flags, device_flags, spec_flags


def add_arguments(e: argparse.ArgumentParser) -> None:
    e.add_argument("spec", help="the spec (or module:function) the checkpoint was trained from")
    spec_flags(e)
    e.add_argument("--checkpoint", type=Path, required=True,
                   help="a run folder, its checkpoint.json or best.json, or its .safetensors")
    data_flags(e)
    device_flags(e)
    e.add_argument("--split", choices=["test", "train"], default="test")


def run(args: argparse.Namespace) -> int:
    from ..train.cli import cmd_eval

    return cmd_eval(args)
