"""`archc import-weights`: map a torchvision (or other) state_dict onto a spec's module by name
(archc/weights.py), check every key and shape, and write the spec's state_dict."""

from __future__ import annotations

import argparse
import sys

from ..errors import ArchcErrors, UsageError
from ..weights import FAMILIES, expected_shapes, family_for, map_state_dict, read_state_dict
from .options import add_spec_options, load_from_args, print_errors

DESCRIPTION = ("Rename a state_dict's keys onto the spec's module (per-network tables in "
               "archc.weights.FAMILIES), check every key and shape, and write the spec's "
               "state_dict.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC", help="a .arch file or a bundled spec name")
    p.add_argument("weights", metavar="WEIGHTS", help="a .pth/.pt/.bin or .safetensors file")
    p.add_argument("-o", "--output", required=True, metavar="OUT.safetensors")
    add_spec_options(p)
    p.add_argument("--family", choices=sorted(FAMILIES),
                   help="rename table to use (default: the one named like the network)")
    p.add_argument("--rename", action="append", default=[], metavar="PATTERN=REPLACEMENT",
                   help="rename foreign keys matching the regex PATTERN (re.sub; \\1 for a "
                   "group), after the family's renames; repeatable, applied in order")


def run(args: argparse.Namespace) -> int:
    from safetensors.torch import save

    from ..atomic import atomic_write_bytes

    if not args.output.endswith(".safetensors"):
        raise UsageError(f"-o {args.output}: the output must be a .safetensors file")
    net = load_from_args(args)
    family = family_for(net, args.family, args.rename)
    state = read_state_dict(args.weights)
    try:
        mapped, report = map_state_dict(net, expected_shapes(net), state, family)
    except ArchcErrors as exc:
        print_errors(exc, limit=20)
        more = len(exc.errors) - 20
        print(f"{len(exc.errors)} error(s)" + (f" ({more} not shown)" if more > 0 else ""),
              file=sys.stderr)
        return 1
    import torch

    for key in report.filled:
        mapped[key] = torch.tensor(0)
    tensors = {k: v.detach().contiguous().clone() for k, v in mapped.items()}
    atomic_write_bytes(args.output, save(tensors))
    print(f"imported {report}; wrote {args.output}", file=sys.stderr)
    return 0
