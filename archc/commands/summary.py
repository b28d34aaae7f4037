"""`archc summary`: parameters, MACs, FLOPs and activation memory per layer, counted from the
spec alone (archc/expansion/stats.py); a table or one JSON object. Imports torch only to check that
--weights fit."""

from __future__ import annotations

import argparse
import json
import sys

from archc.commands import summary_train
from archc.commands.options import (
    Once,
    add_spec_argument,
    add_spec_options,
    add_weights_options,
    depth_option,
    fit_weights,
    load_from_args,
    load_with_weights,
    parse_shape,
    positive,
)
from archc.core.errors import UsageError
from archc.expansion.stats import (
    ACTIVATION_CONVENTION,
    DTYPE_BYTES,
    FLOP_CONVENTION,
    PARAM_CONVENTION,
    Row,
    Summary,
    summarize,
)
from archc.registry.ops import fmt_shape

DESCRIPTION = ("Count parameters, multiply-accumulates, FLOPs and activation memory per "
               "layer from the spec alone. " + FLOP_CONVENTION + ".")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_argument(p)
    add_spec_options(p)
    add_weights_options(p)
    depth_option(p)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--batch", type=positive, default=None, metavar="N",
                   help="batch size for the batch totals (default 1; with --train the spec's "
                   "train { batch_size }, else 1)")
    p.add_argument("--dtype", choices=tuple(DTYPE_BYTES), default="float32",
                   help="element type for parameter and activation bytes (default float32)")
    p.add_argument("--notes", action="store_true",
                   help="after the totals, say how FLOPs, activations and parameters are counted")
    summary_train.add_arguments(p)
    p.add_argument("--torch", action="store_true",
                   help="FILE is an existing torch module, pkg.module:factory or "
                   "path/to/file.py:factory: trace it (torch.fx, else forward hooks) and count "
                   "it the same way (--input defaults to 3x224x224)")
    p.add_argument("--kwargs", metavar="JSON", action=Once,
                   help="with --torch: the factory's keyword arguments, a JSON object")


def run(args: argparse.Namespace) -> int:
    if args.torch:
        args.batch = args.batch or 1
        summary = _torch_summary(args)
    elif args.train or args.fit is not None:
        return summary_train.run(load_from_args(args), args)
    else:
        args.batch = args.batch or 1
        net, weights = load_with_weights(args)
        if weights is not None:  # the trained network (a run's --set and input), fits
            fit_weights(net, weights)
            print(f"weights: {weights.source} fit {net.name}", file=sys.stderr)
        summary = summarize(net, args.depth)
    traced = getattr(summary, "method", None)
    if args.json:
        out = summary.to_json(args.batch, args.dtype)
        if traced:
            out["traced_with"] = traced
        print(json.dumps(out, indent=2))
    else:
        if traced:
            why = getattr(summary, "why", "")
            print(f"traced with {traced}" + (f" (torch.fx could not: {why})" if why else ""))
        print_summary(summary, args.batch, args.dtype, args.notes)
    return 0


def _torch_summary(args: argparse.Namespace) -> Summary:
    """`--torch pkg.module:factory`: the module's own calls, counted by torch (archc's
    conventions: FlopCounterMode's FLOPs, MACs = FLOPs / 2, shared weights once)."""
    if args.set or args.network:
        raise UsageError("--set and --network are for specs; with --torch give the factory's "
                         "arguments as --kwargs '{\"name\": value}'")
    from archc.importer.torch_summary import torch_summary
    from archc.importer.torch_trace import DEFAULT_INPUT, trace_target

    shape = parse_shape(args.input) or DEFAULT_INPUT
    return torch_summary(trace_target(args.spec, args.kwargs, shape), args.depth)


def _si(n: float, unit: str = "") -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {prefix}{unit}"
    return f"{n:g} {unit}".rstrip()


def _cells(r: Row, branches: bool) -> list[str]:
    name = "  " * (r.level + (r.branch is not None)) + r.name
    caption = r.caption + (f" ×{r.repeat}" if r.repeat > 1 else "")
    c = r.counts
    numbers = ["--"] * 3 if r.header else [f"{c.params:,}", f"{c.macs:,}", f"{c.activations:,}"]
    return [name, caption, *([r.branch or ""] if branches else []), fmt_shape(r.output), *numbers]


def print_summary(s: Summary, batch: int, dtype: str, notes: bool = False) -> None:
    """A torchinfo-like table, then the totals and what they count."""
    from rich.console import Console

    from archc.commands.table import table

    console = Console(file=sys.stdout, highlight=False,
                      width=None if sys.stdout.isatty() else 140)
    branches = any(r.branch for r in s.rows)
    columns = [c for c in ("layer", "op", "branch", "output", "params", "MACs", "outputs")
               if c != "branch" or branches]
    ins = ", ".join(f"{k} {fmt_shape(v)}" for k, v in s.inputs.items()) or fmt_shape(s.input)
    outs = ", ".join(f"{k} {fmt_shape(v)}" for k, v in s.outputs.items()) or fmt_shape(s.output)
    console.print(table(f"{s.name}: {ins} -> {outs} "
                        "(per sample, batch axis omitted)", columns,
                        [_cells(r, branches) for r in s.rows],
                        right=("params", "MACs", "outputs"), title_left=True,
                        dim=[r.header for r in s.rows], no_wrap=("layer", "output")))
    for line in _total_lines(s, batch, dtype) + (_NOTES if notes else [_POINTER]):
        console.print(line, markup=False)


def _total_lines(s: Summary, batch: int, dtype: str) -> list[str]:
    t = s.total
    per_batch = f" (batch {batch})" if batch > 1 else ""

    def both(n: int, unit: str) -> str:
        text = f"{_si(n, unit)} per sample ({n:,})"
        return text + (f", {_si(n * batch, unit)} per batch of {batch}" if batch > 1 else "")

    heads = [f"training only: {', '.join(s.training_outputs)} ({s.training.params:,} of the "
             f"parameters; {s.training.macs:,} MACs a sample in train mode, not counted above: "
             "eval mode skips them)"] if s.training_outputs else []
    return [
        f"parameters:  {t.params:,} total, {s.trainable_params:,} trainable, "
        f"{t.params - s.trainable_params:,} non-trainable",
        f"MACs:        {both(t.macs, '')}",
        f"FLOPs:       {both(t.flops, 'FLOP')}",
        *heads,
        f"param memory:      {_si(s.param_bytes(dtype), 'B')} ({dtype})",
        f"layer outputs:     {_si(s.activation_bytes(dtype), 'B')} per sample"
        + (f", {_si(s.activation_bytes(dtype, batch), 'B')}{per_batch}" if batch > 1 else "")
        + f" ({t.activations:,} elements, {dtype}; summed, not what training keeps: "
        "--train)",
    ]


# How the totals are counted: long, and the same for every spec, so shown on request only.
_NOTES = ["", f"note: {FLOP_CONVENTION}.", f"note: {ACTIVATION_CONVENTION}.",
          f"note: {PARAM_CONVENTION}. K/M/G are powers of 1000; B = bytes."]
_POINTER = "(K/M/G are powers of 1000; how each total is counted: archc summary SPEC --notes)"
