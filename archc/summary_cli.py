"""`archc summary` and `archc graph`: argument parsing and printing; the counts are in
stats.py and the diagram in emit/dot.py. Importing this module does not import torch."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .cli import add_spec_options, load_from_args
from .errors import UsageError
from .ops import fmt_shape
from .stats import (
    ACTIVATION_CONVENTION,
    DTYPE_BYTES,
    FLOP_CONVENTION,
    PARAM_CONVENTION,
    Row,
    Summary,
    summarize,
)


def register(subparsers: Any) -> None:
    """Add the `summary` and `graph` subcommands to an argparse subparsers object."""
    s = subparsers.add_parser(
        "summary", help="parameters, MACs, FLOPs and memory per layer (static, no torch)",
        description="Count parameters, multiply-accumulates, FLOPs and activation memory per "
        "layer from the spec alone. " + FLOP_CONVENTION + ".")
    s.add_argument("spec", metavar="FILE", help="a .arch file or a bundled spec name")
    add_spec_options(s)
    _depth_option(s)
    s.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    s.add_argument("--batch", type=_positive, default=1, metavar="N",
                   help="batch size for the batch totals (default 1)")
    s.add_argument("--dtype", choices=tuple(DTYPE_BYTES), default="float32",
                   help="element type for parameter and activation bytes (default float32)")
    s.set_defaults(func=cmd_summary)

    g = subparsers.add_parser(
        "graph", help="draw the network with Graphviz (.dot, .svg, .png)",
        description="Draw one node per layer, blocks as nested clusters, shapes on the edges. "
        "With no -o, print the DOT source. .dot needs nothing installed; .svg/.png/.pdf run "
        "Graphviz's dot program.")
    g.add_argument("spec", metavar="FILE", help="a .arch file or a bundled spec name")
    add_spec_options(g)
    g.add_argument("-o", "--output", metavar="FILE",
                   help="write FILE.dot, FILE.svg, FILE.png or FILE.pdf (default: DOT on stdout)")
    _depth_option(g)
    g.add_argument("--rankdir", choices=("TB", "LR"), default="TB",
                   help="layout direction: top to bottom (default) or left to right")
    g.set_defaults(func=cmd_graph)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return value


def _depth_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--depth", type=_positive, metavar="N",
                   help="show N levels of blocks; deeper blocks collapse into one row/node, and "
                   "identical consecutive ones into one marked xN (default: everything)")


# ----------------------------------------------------------------------------- summary


def cmd_summary(args: argparse.Namespace) -> int:
    summary = summarize(load_from_args(args), args.depth)
    if args.json:
        print(json.dumps(summary.to_json(args.batch, args.dtype), indent=2))
    else:
        print_summary(summary, args.batch, args.dtype)
    return 0


def _si(n: float, unit: str = "") -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {prefix}{unit}"
    return f"{n:g} {unit}".rstrip()


def _cells(r: Row, branches: bool) -> list[str]:
    name = "  " * (r.level + (r.branch is not None)) + r.name
    label = r.label + (f" ×{r.repeat}" if r.repeat > 1 else "")
    c = r.counts
    numbers = ["--"] * 3 if r.header else [f"{c.params:,}", f"{c.macs:,}", f"{c.activations:,}"]
    return [name, label] + ([r.branch or ""] if branches else []) + [fmt_shape(r.output)] + numbers


def print_summary(s: Summary, batch: int, dtype: str) -> None:
    """A torchinfo-like table, then the totals and what they count."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, highlight=False,
                      width=None if sys.stdout.isatty() else 140)
    table = Table(title=f"{s.name}: {fmt_shape(s.input)} -> {fmt_shape(s.output)} "
                  "(per sample, batch axis omitted)", title_justify="left")
    branches = any(r.branch for r in s.rows)
    for col in ("layer", "op", "branch", "output", "params", "MACs", "activations"):
        if col != "branch" or branches:
            table.add_column(col, justify="left" if col in ("layer", "op", "branch", "output")
                             else "right", no_wrap=col in ("layer", "output"))
    for r in s.rows:
        table.add_row(*_cells(r, branches), style="dim" if r.header else None)
    console.print(table)
    for line in _total_lines(s, batch, dtype):
        console.print(line, markup=False)


def _total_lines(s: Summary, batch: int, dtype: str) -> list[str]:
    t = s.total
    per_batch = f" (batch {batch})" if batch > 1 else ""

    def both(n: int, unit: str) -> str:
        text = f"{_si(n, unit)} per sample ({n:,})"
        return text + (f", {_si(n * batch, unit)} per batch of {batch}" if batch > 1 else "")

    return [
        f"parameters:  {t.params:,} total, {s.trainable_params:,} trainable, "
        f"{t.params - s.trainable_params:,} non-trainable",
        f"MACs:        {both(t.macs, '')}",
        f"FLOPs:       {both(t.flops, 'FLOP')}",
        f"param memory:      {_si(s.param_bytes(dtype), 'B')} ({dtype})",
        f"activation memory: {_si(s.activation_bytes(dtype), 'B')} per sample"
        + (f", {_si(s.activation_bytes(dtype, batch), 'B')}{per_batch}" if batch > 1 else "")
        + f" ({t.activations:,} elements, {dtype})",
        "",
        f"note: {FLOP_CONVENTION}.",
        f"note: {ACTIVATION_CONVENTION}.",
        f"note: {PARAM_CONVENTION}. K/M/G are powers of 1000; B = bytes.",
    ]


# ----------------------------------------------------------------------------- graph


def cmd_graph(args: argparse.Namespace) -> int:
    from .emit.dot import EMITTERS, render

    net = load_from_args(args)
    if args.output is None:
        sys.stdout.write(render(net, "dot", args.depth, args.rankdir).decode())
        return 0
    path = Path(args.output)
    kind = path.suffix.lstrip(".").lower()
    if kind not in EMITTERS:
        raise UsageError(f"-o {args.output}: unknown output type '{path.suffix}'",
                         hint=f"use one of {', '.join('.' + k for k in EMITTERS)}")
    data = render(net, kind, args.depth, args.rankdir)
    from .atomic import atomic_write_bytes

    atomic_write_bytes(path, data)
    print(f"wrote {path}", file=sys.stderr)
    return 0
