"""`archc export`: a spec -> standalone PyTorch source (.py, archc/export/python.py) or ONNX
(.onnx, archc/emit/onnx.py), chosen by the output's suffix (its rows in
archc/registry/outputs.py)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from archc import load
from archc.commands.options import (
    add_spec_argument,
    add_spec_options,
    add_weights_options,
    spec_with_weights,
)
from archc.registry import outputs

if TYPE_CHECKING:
    from archc.train.trained import Weights

DESCRIPTION = ("Write the network as one Python file that needs only torch (one class per "
               "block; the state_dict of `archc build` loads into it with strict=True), or as "
               "an ONNX model with a dynamic batch axis (needs `pip install 'archc[onnx]'`).")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_argument(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help=outputs.described("export"))
    add_spec_options(p)
    add_weights_options(p)
    p.add_argument("--seed", type=int, default=0, help=".onnx: seed for the init")


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    outputs.lookup("export", args.output).write()(args, out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def write_python(args: argparse.Namespace, out: Path) -> None:
    """The source; with --weights, also the weights beside it (FILE.safetensors, the module's
    own names) and, from a run, its preprocessing as constants and `preprocess()`."""
    from archc.core.atomic import write_output
    from archc.export.python import export_python

    spec, sets, shape, network, weights = spec_with_weights(args)
    text = export_python(spec, sets, shape, network, command=_command(args))
    if weights is not None:
        from archc.commands.options import fit_weights
        from archc.emit.preprocess import Preprocessing

        net = load(spec, sets, shape, network)
        fit_weights(net, weights)
        prep = Preprocessing.from_run(weights.run) if weights.run else None
        if prep is not None:
            text += prep.python_source()
        beside = out.with_suffix(".safetensors")
        text += _loading_note(beside.name)
        _write_weights(beside, weights)
        print(f"wrote {beside} (from {weights.source})", file=sys.stderr)
    write_output(out, text.encode())


def _loading_note(name: str) -> str:
    return "\n".join(["", "", f"# The trained weights are in {name} beside this file:",
                      "#   from safetensors.torch import load_file",
                      f'#   model.load_state_dict(load_file("{name}"), strict=True)', ""])


def _write_weights(path: Path, weights: Weights) -> None:
    from safetensors.torch import save

    from archc.core.atomic import write_output

    write_output(path, save({k: v.contiguous() for k, v in weights.state_dict.items()}))


def write_onnx(args: argparse.Namespace, out: Path) -> None:
    from archc.commands.options import load_with_weights
    from archc.emit.onnx import export_onnx, require_onnx, stage_printer

    require_onnx()  # before loading anything: say first what is missing
    net, weights = load_with_weights(args)
    metadata = {}
    if weights is not None and weights.run is not None:
        from archc.emit.preprocess import Preprocessing

        prep = Preprocessing.from_run(weights.run)
        metadata = prep.metadata() if prep is not None else {}
    progress = stage_printer(sys.stderr)
    used = export_onnx(net, out, weights.state_dict if weights is not None else None,
                       args.seed, metadata, progress=progress)
    progress(f"exported by the {used} exporter")


def _command(args: argparse.Namespace) -> str:
    """The command line that made the file, for its header (the spec as the user wrote it)."""
    words = ["archc", "export", args.spec, "-o", Path(args.output).name]
    for item in args.set or ():
        words += ["--set", item]
    if args.input:
        words += ["--input", args.input]
    if args.network:
        words += ["--network", args.network]
    for plugin in args.plugin or ():
        words += ["--plugin", plugin]
    return shlex.join(words)
