"""`archc export`: a spec -> standalone PyTorch source (.py, archc/emit/python.py) or ONNX
(.onnx, archc/emit/onnx.py), chosen by the output's suffix (one entry per format in FORMATS)."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import UsageError
from .options import add_spec_argument, add_spec_options, parse_input, parse_sets

DESCRIPTION = ("Write the network as one Python file that needs only torch (one class per "
               "block; the state_dict of `archc build` loads into it with strict=True), or as "
               "an ONNX model with a dynamic batch axis (needs `pip install 'archc[onnx]'`).")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_argument(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="model.py (PyTorch source) or model.onnx")
    add_spec_options(p)
    p.add_argument("--weights", metavar="FILE",
                   help=".onnx: weights (.safetensors, .pth) instead of a seeded init")
    p.add_argument("--seed", type=int, default=0, help=".onnx: seed for the init")


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    write = FORMATS.get(out.suffix)
    if write is None:
        raise UsageError(f"-o {args.output}: unknown output type '{out.suffix}'",
                         hint="write model.py (PyTorch source) or model.onnx")
    write(args, out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _python(args: argparse.Namespace, out: Path) -> None:
    from ..atomic import atomic_write_bytes
    from ..emit.python import export_python

    if args.weights is not None:
        raise UsageError("--weights applies to .onnx; a .py file holds no weights",
                         hint="load them with model.load_state_dict(...)")
    text = export_python(args.spec, parse_sets(args.set), parse_input(args.input),
                         args.network, command=_command(args))
    atomic_write_bytes(out, text.encode())


def _onnx(args: argparse.Namespace, out: Path) -> None:
    from ..emit.onnx import export_onnx, require_onnx
    from .options import load_from_args

    require_onnx()  # before loading anything: say first what is missing
    export_onnx(load_from_args(args), out, args.weights, args.seed)


FORMATS: dict[str, Callable[[argparse.Namespace, Path], None]] = {
    ".py": _python, ".onnx": _onnx}


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
