"""`archc generate`: sample text from a language model a run of `archc train SPEC --text FILE`
trained (archc/train/text.py); importing this module does not import torch."""

from __future__ import annotations

import argparse
import math

from archc.commands.options import add_spec_options, positive

DESCRIPTION = ("Sample tokens after a prompt from a language model's weights (a run folder of "
               "`archc train SPEC --text FILE`) and print the text, byte by byte.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="a .arch file or a bundled spec name")
    p.add_argument("--weights", required=True, metavar="RUN",
                   help="the run folder (or its model.safetensors)")
    p.add_argument("--prompt", default="", help="the text to continue (default: a newline)")
    p.add_argument("--tokens", type=positive, default=200, metavar="N",
                   help="how many tokens to sample (default 200)")
    p.add_argument("--temperature", type=temperature, default=1.0,
                   help="divide the logits by this before sampling (default 1; 0 picks the "
                   "likeliest token)")
    p.add_argument("--top-k", type=positive, metavar="K",
                   help="sample among the K likeliest tokens only")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    add_spec_options(p, input=False)


def temperature(text: str) -> float:
    """A finite number >= 0 (nan reached torch.multinomial as a traceback; a negative one
    sampled greedily without a word)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got '{text}'")
    return value


def run(args: argparse.Namespace) -> int:
    from archc.core.errors import ArchcError
    from archc.train.cli import report_error
    from archc.train.text import generate

    try:
        return generate(args)
    except ArchcError as exc:
        return report_error(exc)
