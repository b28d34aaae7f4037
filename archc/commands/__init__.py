"""The command table: every `archc` command is one row here and one module in this package.

A command module defines `add_arguments(parser)` and `run(args) -> int` (exit code: 0 ok, 1 spec
errors, 2 usage), and may define DESCRIPTION. The top-level parser (archc/cli.py) imports a
command's module only when that command runs (or prints its --help), so a light command such
as `check` never pays for a heavy one's imports (torch).

Adding a command: write `archc/commands/NAME.py` with those two functions and add one Command
row below.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from archc.core.records import record


@record
class Command:
    """A row of the command table: the name typed, its module, its help line, how it ends."""

    name: str  # as typed: `archc NAME`
    module: str  # archc.commands.<module>
    help: str  # the one line `archc --help` shows
    # Run as a program, the process ends without the interpreter's teardown, which frees every
    # object one by one (archc/cli.py `main`): for a command that holds no files, threads or
    # exit handlers, where that teardown is a share of the time (a cold `check`: ~25 ms of CPU)
    exits_hard: bool = False

    def load(self) -> ModuleType:
        return importlib.import_module(f"archc.commands.{self.module}")


COMMANDS: tuple[Command, ...] = (
    Command("check", "check", "shape-check specs statically (no torch)", exits_hard=True),
    Command("build", "build", "build the torch module; print it and its shapes"),
    Command("summary", "summary",
            "parameters, MACs, FLOPs and memory per layer (static, no torch)"),
    Command("graph", "graph", "draw the network (.dot, .svg, .png), or .html to explore"),
    Command("fmt", "fmt", "format specs in the canonical layout, in place"),
    Command("train", "train",
            "train a spec's network on MNIST, CIFAR or an image-folder tree"),
    Command("eval", "eval", "evaluate a checkpoint on the test set"),
    Command("generate", "generate", "sample text from a language model trained with --text"),
    Command("predict", "predict",
            "classify image files with a trained run: top-k classes and probabilities"),
    Command("list", "list", "every bundled spec and zoo member: params, MACs, torchvision model"),
    Command("import-weights", "import_weights",
            "map a torchvision (or other) state_dict onto a spec, by name"),
    Command("lsp", "lsp", "run the language server (for editors) on stdio"),
    Command("import", "import_model",
            "write an existing torch module as a spec, proven equal (fp64, eval and train)"),
    Command("export", "export", "write a spec as standalone PyTorch source (.py) or ONNX"),
    Command("explain", "explain", "print the page of a diagnostic code (error[A0405])"),
    Command("plugin", "plugin",
            "check a plugin's ops: shapes, params and MACs against a real forward pass"),
)

BY_NAME: dict[str, Command] = {c.name: c for c in COMMANDS}
