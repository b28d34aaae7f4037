"""`archc summary --train`: the memory of one training step (archc/expansion/memory_train.py) per
layer and per block, and in total; `--fit SIZE`: the largest batch that fits. Never imports
torch."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from archc.core.graph import Join, Network
from archc.expansion.memory import fmt_bytes, parse_size
from archc.expansion.memory_train import (
    OPTIMIZER_STATE,
    PRECISIONS,
    SAVED_CONVENTION,
    TRANSIENT_CONVENTION,
    Bytes,
    Estimate,
    estimate,
    recipe_defaults,
)
from archc.expansion.stats import Row, summarize
from archc.registry.ops import fmt_shape


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags `archc summary` takes for --train (and --fit, which implies it)."""
    p.add_argument("--train", action="store_true",
                   help="the memory of one training step: parameters, gradients, optimizer "
                   "state, what autograd saves for backward (exact, per layer), the backward "
                   "transient (estimated)")
    p.add_argument("--optimizer", choices=tuple(OPTIMIZER_STATE), default=None,
                   help="optimizer state to count: sgd none, momentum one buffer, adamw two "
                   "(default: the spec's train { }, else sgd)")
    p.add_argument("--precision", choices=tuple(PRECISIONS), default=None,
                   help="fp32; bf16 (a bfloat16 model); amp (autocast to 16 bits, float32 "
                   "weights; short where ops run in float32 under autocast) (default: the "
                   "spec's train { }, else fp32)")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="where it trains: dropout keeps a bool mask on cuda, a float one on "
                   "cpu (default cuda)")
    p.add_argument("--fit", metavar="SIZE", default=None,
                   help="print the largest batch whose training step fits in SIZE (24GB, "
                   "80GiB); implies --train")


def run(net: Network, args: argparse.Namespace) -> int:
    defaults = recipe_defaults(net)
    batch = args.batch or defaults["batch"]
    est = estimate(net, batch, args.optimizer or defaults["optimizer"],
                   args.precision or defaults["precision"], args.device)
    limit = parse_size(args.fit, "--fit") if args.fit is not None else None
    rows = summarize(net, args.depth).rows
    if args.json:
        data: dict[str, Any] = {"name": net.name, "params": est.params, **est.to_json()}
        if limit is not None:
            data["fit"] = {"limit_bytes": limit, "batch": est.fit(limit)}
        data["layers"] = [{"name": r.name, "kind": r.kind, "op": r.op,
                           "saved_bytes": _share(est, r).at(batch)}
                          for r in rows if not r.header]
        print(json.dumps(data, indent=2))
        return 0
    _print(est, rows, args.notes)
    if limit is not None:
        _print_fit(est, limit, args.fit)
    return 0


def _share(est: Estimate, row: Row) -> Bytes:
    """What the nodes of a row keep (a join: itself only; its branches have rows)."""
    total = Bytes()
    for node in row.nodes:
        total = total + (est.saved.by_node.get(id(node), Bytes()) if isinstance(node, Join)
                         else est.saved.of(node))
    return total


def _print(est: Estimate, rows: tuple[Row, ...], notes: bool) -> None:
    from rich.console import Console

    from archc.commands.table import table

    console = Console(file=sys.stdout, highlight=False,
                      width=None if sys.stdout.isatty() else 140)
    whole = max(est.saved.total.at(est.batch), 1)
    cells = []
    for r in rows:
        name = "  " * (r.level + (r.branch is not None)) + r.name
        caption = r.caption + (f" ×{r.repeat}" if r.repeat > 1 else "")
        kept = _share(est, r).at(est.batch)
        numbers = ["--", "--"] if r.header else \
            [fmt_bytes(kept), f"{100 * kept / whole:.1f}%" if kept else ""]
        cells.append([name, caption, fmt_shape(r.output), *numbers])
    console.print(table(f"{est.name}: one training step, batch {est.batch}, {est.precision}, "
                        f"{est.optimizer}, {est.device}", ["layer", "op", "output",
                                                           "saved", "share"],
                        cells, right=("saved", "share"), title_left=True,
                        dim=[r.header for r in rows], no_wrap=("layer", "output")))
    for line in _total_lines(est) + (_notes() if notes else [_POINTER]):
        console.print(line, markup=False)


def _total_lines(est: Estimate) -> list[str]:
    saved = est.saved.total
    b = est.batch
    amp = (" (amp: exact for convolutional networks; short where autocast runs ops in float32,"
           " e.g. layer norm)")
    return [
        f"parameters:       {fmt_bytes(est.param_bytes)} ({est.params:,})",
        f"gradients:        {fmt_bytes(est.gradient_bytes)}",
        f"optimizer state:  {fmt_bytes(est.optimizer_bytes)} ({est.optimizer})",
        f"saved for backward: {fmt_bytes(saved.at(b))} = {saved.per_sample:,} B per sample "
        f"x {b} + {saved.constant:,} B ({saved.at(b):,} B; "
        + ("exact)" if est.precision != "amp" else "16-bit weight copies included)" + amp),
        f"backward transient: {fmt_bytes(est.transient.at(b))} (estimated: the largest "
        "gradient of one layer's input and output)",
        f"total:            {fmt_bytes(est.total)} = {fmt_bytes(est.fixed)} + "
        f"{fmt_bytes(est.per_sample)} per sample x {b}",
    ]


def _notes() -> list[str]:
    return ["", f"note: {SAVED_CONVENTION}.",
            f"note: {TRANSIENT_CONVENTION}; neither is the CUDA context.",
            "note: K/M/G are powers of 1000; B = bytes."]


_POINTER = "(K/M/G are powers of 1000; how each line is counted: --notes)"


def _print_fit(est: Estimate, limit: int, text: str) -> None:
    n = est.fit(limit)
    where = f"fit {text.strip()} ({limit:,} B)"
    if n == 0:
        print(f"{where}: no batch fits: one sample needs {fmt_bytes(est.fixed + est.per_sample)}")
        return
    print(f"{where}: largest batch {n:,} ({fmt_bytes(est.fixed + est.per_sample * n)}; the "
          "GPU allocator's overhead and the CUDA context not counted)")
