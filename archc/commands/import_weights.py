"""`archc import-weights`: map a torchvision (or other) state_dict onto a spec's module by name
(archc/emit/weights.py), check every key and shape, and write the spec's state_dict. A torchvision
checkpoint file (`resnet50-11ad3fa6.pth`) names its zoo member: the spec and --set values may
then be left out."""

from __future__ import annotations

import argparse
import sys

from archc.commands.options import add_spec_options, parse_input, parse_sets, print_errors
from archc.core.errors import ArchcErrors, UsageError
from archc.emit.weights import (
    KEY_MAPS,
    expected_shapes,
    key_map_for,
    map_state_dict,
    read_state_dict,
)

DESCRIPTION = ("Rename a state_dict's keys onto the spec's module (per-network tables in "
               "archc.emit.weights.KEY_MAPS), check every key and shape, and write the spec's "
               "state_dict. For a torchvision checkpoint as torch.hub saves it "
               "(resnet50-11ad3fa6.pth) SPEC and --set may be left out: the file name says "
               "which zoo member it is.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="[SPEC] WEIGHTS",
                   help="a .arch file or bundled spec name (optional for torchvision's "
                   "checkpoint files), then a .pth/.pt/.bin or .safetensors file")
    p.set_defaults(trailing="files")  # `SPEC --set K=V WEIGHTS` too (archc/cli.py)
    p.add_argument("-o", "--output", required=True, metavar="OUT.safetensors")
    add_spec_options(p)
    p.add_argument("--family", choices=sorted(KEY_MAPS),
                   help="rename table to use (default: the one named like the network)")
    p.add_argument("--rename", action="append", default=[], metavar="PATTERN=REPLACEMENT",
                   help="rename foreign keys matching the regex PATTERN (re.sub; \\1 for a "
                   "group), after the family's renames; repeatable, applied in order")


def run(args: argparse.Namespace) -> int:
    from safetensors.torch import save

    from archc import load
    from archc.core.atomic import write_output
    from archc.pipeline.zoo import spec_for_checkpoint

    if len(args.files) > 2:
        raise UsageError(f"expected [SPEC] WEIGHTS, got {len(args.files)} paths")
    if not args.output.endswith(".safetensors"):
        raise UsageError(f"-o {args.output}: the output must be a .safetensors file")
    *spec, weights = args.files
    name, sets = spec_for_checkpoint(spec[0] if spec else None, weights, parse_sets(args.set))
    net = load(name, sets, parse_input(args.input), args.network)
    family = key_map_for(net, args.family, args.rename)
    state = read_state_dict(weights)
    try:
        mapped, report = map_state_dict(net, expected_shapes(net), state, family)
    except ArchcErrors as exc:
        print_many(exc)
        return 1
    import torch

    for key in report.filled:
        mapped[key] = torch.tensor(0)
    tensors = {k: v.detach().contiguous().clone() for k, v in mapped.items()}
    write_output(args.output, save(tensors))
    print(f"imported {report}; wrote {args.output}", file=sys.stderr)
    return 0


def print_many(exc: ArchcErrors, limit: int = 20) -> None:
    """The first `limit` errors and how many there were."""
    print_errors(exc, limit=limit)
    more = len(exc.errors) - limit
    print(f"{len(exc.errors)} error(s)" + (f" ({more} not shown)" if more > 0 else ""),
          file=sys.stderr)
