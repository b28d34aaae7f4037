"""`archc build`: build the torch module of a spec; print it, its shape table and parameter
count; optionally write its initialised weights or the report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from archc.commands.options import (
    add_spec_argument,
    add_spec_options,
    add_weights_options,
    load_with_weights,
)
from archc.core.errors import ArchcErrors
from archc.core.graph import Join, Layer, Network, Wire, walk
from archc.core.limits import MAX_MEMORY
from archc.expansion.memory import fmt_bytes, parse_size
from archc.expansion.training_only import training_nodes
from archc.registry import outputs
from archc.registry.ops import fmt_shape

if TYPE_CHECKING:
    import torch
    from rich.console import Console

    from archc.train.trained import Weights


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_argument(p)
    add_spec_options(p)
    p.add_argument("-o", "--output", metavar="FILE",
                   help=f"also write {outputs.described('build')}")
    p.add_argument("--seed", type=int, default=0, help="seed for weight initialisation")
    add_weights_options(p)
    p.add_argument("--max-memory", metavar="SIZE", default=None,
                   help="refuse specs whose float32 parameters, or activations for one sample, "
                   f"need more than SIZE (like 64GB; default {fmt_bytes(MAX_MEMORY)})")


def run(args: argparse.Namespace) -> int:
    check_output(args.output)  # before anything is built or printed
    limit = MAX_MEMORY if args.max_memory is None else parse_size(args.max_memory)
    net, weights = load_with_weights(args)
    return build_report(net, args.output, args.seed, weights, limit)


def shape_rows(net: Network, depth: int | None = None) -> list[tuple[str, str, str]]:
    """(name, op, output shape) rows down to `depth` levels of nesting."""
    rows = [(f"input:{k}", "input", fmt_shape(v)) for k, v in net.inputs.items()] or \
        [("input", "", fmt_shape(net.input_shape))]
    heads = training_nodes(net.root.items)  # (train mode only: archc/expansion/training_only.py)
    for name, node in walk(net.root.items):
        level = name.count(".")
        if depth is not None and level >= depth:
            continue
        kind = node.op if isinstance(node, (Layer, Join, Wire)) else node.title
        kind += " training" if isinstance(node, Wire) and node.training else ""
        if id(node) in heads and not isinstance(node, Wire):
            kind += " (training only)"
        rows.append((name, kind, fmt_shape(node.out_shape)))
    return rows


def build_report(net: Network, output: str | None, seed: int, weights: Weights | None = None,
                 max_memory: int = MAX_MEMORY) -> int:
    """`archc build`: the module, a shape table, the parameter count; optionally the weights
    of a file loaded into it, and an output file."""
    import torch
    from rich.console import Console

    from archc import build
    from archc.commands.table import table

    torch.manual_seed(seed)
    model = build(net, max_memory)
    if weights is not None:
        from archc.emit.weights import import_state_dict

        try:
            report = import_state_dict(net, model, weights.state_dict)
        except ArchcErrors as exc:
            from archc.commands.import_weights import print_many

            print_many(exc)
            return 1
        print(f"loaded {weights.source}: {report}", file=sys.stderr)
    console = Console(record=True, width=120)
    text = repr(model)
    console.print(_shown(text), markup=False, highlight=False, soft_wrap=True)
    console.full_model = text  # type: ignore[attr-defined]  # what `-o x.txt` writes
    rows = shape_rows(net, depth=2)
    if len(rows) > SHOWN_LINES:  # rich lays out 1,000 rows a second: `archc summary` has all
        rows = [*rows[:SHOWN_LINES], (f"... {len(rows) - SHOWN_LINES:,} more", "", "")]
    console.print(table(f"{net.name}: shapes (batch axis omitted)", ("layer", "op", "output"),
                        rows))
    params = sum(p.numel() for p in model.parameters())
    console.print(f"parameters: {params:,}", markup=False)
    if output:
        _write_output(Path(output), model, console)
        print(f"wrote {output}", file=sys.stderr)
    return 0


def write_safetensors(model: torch.nn.Module, console: Console) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in model.state_dict().items()})


SHOWN_LINES = 400  # a module printed longer than this shows its head and a count


def _shown(text: str) -> str:
    """The module as printed: whole, or its first SHOWN_LINES lines and how many follow (a
    spec of 65,536 nested blocks printed 9 MB; the shape table lists every layer anyway)."""
    lines = text.split("\n", SHOWN_LINES + 1)
    if len(lines) <= SHOWN_LINES:
        return text
    more = text.count("\n") + 1 - SHOWN_LINES
    return "\n".join(lines[:SHOWN_LINES]) + \
        f"\n... {more:,} more lines (`-o FILE.txt` writes them all)"


def write_report(model: torch.nn.Module, console: Console) -> bytes:
    text = console.export_text()
    full = getattr(console, "full_model", None)
    if full is not None:
        text = text.replace(_shown(full), full, 1)
    return text.encode()


def check_output(output: str | None) -> None:
    """A usage error for an -o that build cannot write (archc/registry/outputs.py)."""
    if output is not None:
        outputs.lookup("build", output)


def _write_output(path: Path, model: torch.nn.Module, console: Console) -> None:
    from archc.core.atomic import write_output

    write_output(path, outputs.lookup("build", str(path)).write()(model, console))
