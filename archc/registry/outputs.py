"""The output table: every file archc writes with `-o FILE` is one row here, keyed by FILE's
suffix: the command that writes it, the function that writes it (imported only when it runs)
and the words `--help` and the usage errors use. Each command's `-o` help, its check of the
suffix and the hint naming the command that does write an unknown suffix are generated from
these rows, so adding an output is one row and one function.

Adding an output: write the function (its signature is the command's, below) and add one
`Output` row (or call `register` from a test or a plugin)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archc.core.errors import UsageError

# What a command's writer is called with (each command documents its own):
#   build:  write(model, console) -> bytes            (the built module, the report console)
#   export: write(args, path) -> None                 (the parsed arguments, the output path)
#   graph:  write(args, path) -> int                  (the exit code)


@dataclass(frozen=True)
class Output:
    suffix: str  # ".onnx": lower case, with its dot
    command: str  # the `archc COMMAND` that writes it
    writer: str  # "module:function", the function that writes it (imported when it runs)
    help: str  # what the file holds, in a few words (`--help` and usage errors)

    def write(self) -> Any:
        module, _, name = self.writer.partition(":")
        return getattr(importlib.import_module(module), name)


OUTPUTS: dict[str, Output] = {}


def register(output: Output) -> Output:
    """Add a row (a suffix is written by one command only)."""
    if output.suffix in OUTPUTS and OUTPUTS[output.suffix] != output:
        raise KeyError(f"output {output.suffix}: already written by "
                       f"`archc {OUTPUTS[output.suffix].command}`")
    OUTPUTS[output.suffix] = output
    return output


for _row in (
    Output(".safetensors", "build", "archc.commands.build:write_safetensors",
           "the initialised weights"),
    Output(".txt", "build", "archc.commands.build:write_report", "the printed report"),
    Output(".py", "export", "archc.commands.export:write_python",
           "standalone PyTorch source"),
    Output(".onnx", "export", "archc.commands.export:write_onnx",
           "ONNX, a dynamic batch axis"),
    Output(".dot", "graph", "archc.commands.graph:write_drawing", "Graphviz DOT source"),
    Output(".gv", "graph", "archc.commands.graph:write_drawing", "Graphviz DOT source"),
    Output(".svg", "graph", "archc.commands.graph:write_drawing", "a diagram drawn by Graphviz"),
    Output(".png", "graph", "archc.commands.graph:write_drawing", "a diagram drawn by Graphviz"),
    Output(".pdf", "graph", "archc.commands.graph:write_drawing", "a diagram drawn by Graphviz"),
    Output(".html", "graph", "archc.commands.graph:write_page", "one offline page to explore"),
):
    register(_row)


def of(command: str) -> list[Output]:
    """The rows `command` writes, in table order."""
    return [o for o in OUTPUTS.values() if o.command == command]


def files(command: str) -> str:
    """`FILE.dot, FILE.svg or FILE.html`: the -o files `command` writes."""
    names = [f"FILE{o.suffix}" for o in of(command)]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def described(command: str) -> str:
    """`FILE.py (standalone PyTorch source) or FILE.onnx (...)`, for `-o`'s help."""
    names = [f"FILE{o.suffix} ({o.help})" for o in of(command)]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def lookup(command: str, output: str) -> Output:
    """The row for `-o output` of `command`; a usage error naming what it writes, and the
    command that writes this suffix if another does."""
    suffix = Path(output).suffix.lower()
    row = OUTPUTS.get(suffix)
    if row is not None and row.command == command:
        return row
    shown = repr(Path(output).suffix) if suffix else "a file without an extension"
    if row is not None:
        raise UsageError(f"-o {output}: {command} writes {files(command)}, not {shown}",
                         hint=f"write {suffix} ({row.help}) with "
                         f"`archc {row.command} SPEC -o {output}`")
    raise UsageError(f"-o {output}: {command} writes {files(command)}, not {shown}",
                     hint=f"name the file {files(command)}")
