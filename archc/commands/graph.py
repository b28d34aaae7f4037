"""`archc graph`: draw a spec's network with Graphviz (archc/emit/dot.py): one node per layer,
blocks as nested clusters, shapes on the edges; or write an explorable page (archc/emit/html.py)
that still draws a spec that fails to check."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from archc.commands.options import (
    ALL_LEVELS,
    add_spec_argument,
    add_spec_options,
    add_weights_options,
    depth_option,
    fit_weights,
    load_from_args,
    load_with_weights,
)
from archc.core.errors import ArchcError, UsageError
from archc.registry import outputs

if TYPE_CHECKING:
    from archc.core.graph import Network

DESCRIPTION = ("Draw one node per layer, blocks as nested clusters, shapes on the edges. "
               "With no -o, print the DOT source. .dot needs nothing installed; .svg/.png/.pdf run "
               "Graphviz's dot program; .html is one offline page to explore (click a block to "
               "open it, search, heat map, each node's source line), drawn even for a spec with "
               "errors (then the exit code is 1).")

RENDERED = ("svg", "png", "pdf")  # laid out by Graphviz: collapsed by themselves when too tall
# --format NAME: the emitter module whose files(net, path) gives every (path, bytes) to write
FORMATS = {"model-explorer": "archc.emit.model_explorer"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_argument(p)
    add_spec_options(p)
    add_weights_options(p)
    p.add_argument("-o", "--output", metavar="FILE",
                   help=f"write {outputs.files('graph')} (default: DOT on stdout)")
    depth_option(p, "everything; for .svg/.png/.pdf, the deepest that can be viewed (at most "
                 "100 rows tall), saying so; .html opens at the deepest that fits the window; "
                 "`all` draws every layer", allow_all=True)
    p.add_argument("--rankdir", choices=("TB", "LR"), default="TB",
                   help="layout direction: top to bottom (default) or left to right")
    p.add_argument("--format", choices=sorted(FORMATS),
                   help="another tool's format: model-explorer writes -o FILE.json, Google Model "
                   "Explorer's graph JSON, and FILE.params.json / FILE.macs.json, its node data")


def run(args: argparse.Namespace) -> int:
    path = Path(args.output) if args.output is not None else None
    if args.format is not None:
        return _other_format(args, path)
    if path is None:
        return write_drawing(args, None)
    # (the output is checked before the spec is loaded: arguments first)
    write: Callable[[argparse.Namespace, Path], int] = outputs.lookup("graph", str(path)).write()
    return write(args, path)


def write_drawing(args: argparse.Namespace, path: Path | None) -> int:
    """The diagram drawn by archc/emit/dot.py in the format of path's suffix (DOT on stdout
    when there is no path)."""
    from archc.emit.dot import draw

    kind = path.suffix.lstrip(".").lower() if path is not None else "dot"
    net, weights = load_with_weights(args)
    if weights is not None:  # the trained network (a run's --set and input), checked to fit
        fit_weights(net, weights)
    depth = None if args.depth == ALL_LEVELS else args.depth
    if path is None:
        sys.stdout.write(draw(net, "dot", depth, args.rankdir).decode())
        return 0
    if args.depth is None and kind in RENDERED:
        depth = _viewable_depth(net)
    data = draw(net, kind, depth, args.rankdir)
    _write(path, data)
    return 0


def _viewable_depth(net: Network) -> int | None:
    from archc.emit.dot import fitting_depth

    fit = fitting_depth(net)
    if fit is None:
        return None
    depth, ranks = fit
    print(f"note: every layer would be {ranks:,} rows tall, too tall to view; drawn with "
          f"--depth {depth} (--depth all draws every layer, -o FILE.html explores them)",
          file=sys.stderr)
    return depth


def _other_format(args: argparse.Namespace, path: Path | None) -> int:
    if path is None or path.suffix.lower() != ".json":
        raise UsageError(f"--format {args.format} writes JSON: give -o FILE.json")
    files = importlib.import_module(FORMATS[args.format]).files
    for out, data in files(load_from_args(args), path):
        _write(out, data)
    return 0


def _write(path: Path, data: bytes) -> None:
    from archc.core.atomic import write_output

    write_output(path, data)
    print(f"wrote {path}", file=sys.stderr)


def write_page(args: argparse.Namespace, path: Path) -> int:
    """The page of the spec; of a spec with errors, the page of what is known, the failing
    node marked, and exit 1 after printing the errors as `check` does."""
    from archc.commands.options import print_errors
    from archc.core.sources import errors_of, sources_of
    from archc.emit.html import page

    try:
        net = load_from_args(args)
    except UsageError:
        raise
    except ArchcError as exc:
        known = _known(args)
        _write(path, page(known, errors_of(exc), sources_of(exc), Path(args.spec).stem,
                          args.depth))
        print_errors(exc)
        return 1
    _write(path, page(net, depth=args.depth))
    return 0


def _known(args: argparse.Namespace) -> Network | None:
    """As much of the network as expands (None if nothing does): each failing statement is
    left out and what follows it has unknown shapes."""
    from archc.commands.options import parse_input, parse_sets
    from archc.expansion.expand import expand_network
    from archc.pipeline.program import load_program, pick_network, resolve_spec

    try:
        prog = load_program(resolve_spec(args.spec))
        defn = pick_network(prog, args.network)
        net, _ = expand_network(defn, prog.blocks, prog.cyclic, parse_sets(args.set),
                                parse_input(args.input), prog.path)
    except ArchcError:
        return None
    return net
