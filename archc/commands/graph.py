"""`archc graph`: draw a spec's network with Graphviz (archc/emit/dot.py): one node per layer,
blocks as nested clusters, shapes on the edges."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from .options import (
    add_spec_argument,
    add_spec_options,
    add_weights_options,
    depth_option,
    fit_weights,
    load_with_weights,
)

DESCRIPTION = ("Draw one node per layer, blocks as nested clusters, shapes on the edges. "
               "With no -o, print the DOT source. .dot needs nothing installed; .svg/.png/.pdf run "
               "Graphviz's dot program.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_argument(p)
    add_spec_options(p)
    add_weights_options(p)
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write FILE.dot, FILE.svg, FILE.png or FILE.pdf (default: DOT on stdout)")
    depth_option(p)
    p.add_argument("--rankdir", choices=("TB", "LR"), default="TB",
                   help="layout direction: top to bottom (default) or left to right")


def run(args: argparse.Namespace) -> int:
    from ..emit.dot import EMITTERS, draw

    path = Path(args.output) if args.output is not None else None
    kind = path.suffix.lstrip(".").lower() if path is not None else "dot"
    if kind not in EMITTERS:  # (before the spec is loaded: arguments first)
        raise UsageError(f"-o {args.output}: unknown output type '{path and path.suffix}'",
                         hint=f"use one of {', '.join('.' + k for k in EMITTERS)}")
    net, weights = load_with_weights(args)
    if weights is not None:  # the trained network (a run's --set and input), checked to fit
        fit_weights(net, weights)
    if path is None:
        sys.stdout.write(draw(net, "dot", args.depth, args.rankdir).decode())
        return 0
    data = draw(net, kind, args.depth, args.rankdir)
    from ..atomic import atomic_write_bytes

    atomic_write_bytes(path, data)
    print(f"wrote {path}", file=sys.stderr)
    return 0
