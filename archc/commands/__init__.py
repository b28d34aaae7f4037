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
import os
from collections.abc import Callable
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
    # exit handlers, where that teardown is a share of the time (a cold `check`: ~25 ms of CPU);
    # or a test of the process, for a command that must skip the teardown only sometimes
    exits_hard: bool | Callable[[], bool] = False

    def load(self) -> ModuleType:
        return importlib.import_module(f"archc.commands.{self.module}")

    def ends_hard(self) -> bool:
        return self.exits_hard() if callable(self.exits_hard) else self.exits_hard


def _one_of_several_processes() -> bool:
    """A process torchrun started for a distributed run (archc/train/dist.py). Its work is done
    and its process group left when `archc train` returns; torch's C++ teardown of that group's
    objects at the interpreter's exit then aborted it ("terminate called without an active
    exception", SIGABRT, no Python frame) in 8 of 80 runs of tests/test_train_dist.py's
    command beside a busy core, failing the whole run after every file was written (0 of 25
    ending here)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


COMMANDS: tuple[Command, ...] = (
    Command("check", "check", "shape-check specs statically (no torch)", exits_hard=True),
    Command("build", "build", "build the torch module; print it and its shapes"),
    Command("summary", "summary",
            "parameters, MACs, FLOPs and memory per layer (static, no torch)"),
    Command("graph", "graph", "draw the network (.dot, .svg, .png), or .html to explore"),
    Command("fmt", "fmt", "format specs in the canonical layout, in place"),
    Command("train", "train",
            "train a spec's network on MNIST, CIFAR or an image-folder tree",
            exits_hard=_one_of_several_processes),
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
