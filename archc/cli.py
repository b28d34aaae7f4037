"""Command line: argument parsing only; each command calls the public API.

Exit codes: 0 ok, 1 spec errors, 2 usage. Commands register themselves in COMMANDS, so a new
command is a new `register_*` function, not a branch here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from .errors import ArchcError, ArchcErrors, UsageError, render


def parse_value(text: str) -> Any:
    """A --set value: integer, number, true/false, or a string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got '{item}'")
        out[key.strip()] = parse_value(value.strip())
    return out


def parse_input(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        dims = ()
    if len(dims) not in (1, 3) or min(dims) < 1:
        raise UsageError(f"--input expects CxHxW (like 1x224x224) or F, got '{text}'")
    return dims


def add_spec_options(p: argparse.ArgumentParser) -> None:
    """--input / --set / --network, shared by every command that loads one spec."""
    p.add_argument("--input", metavar="CxHxW", help="override the spec's input shape")
    p.add_argument("--set", action="append", metavar="K=V", help="set a network parameter")
    p.add_argument("--network", help="which network of the file (default: the first)")


def load_from_args(args: argparse.Namespace):
    """Load the spec named by args.spec with its --set/--input/--network options."""
    from . import load

    return load(args.spec, parse_sets(args.set), parse_input(args.input), args.network)


def print_errors(exc: ArchcError, limit: int | None = None, stream=None) -> None:
    errors = exc.errors if isinstance(exc, ArchcErrors) else [exc]
    for err in errors[:limit]:
        print(render(err, _sources_for(err)), file=stream or sys.stderr)


def _sources_for(err: ArchcError) -> dict[str, str]:
    if err.span is None:
        return {}
    from .resources import prelude_path

    path = prelude_path() if err.span.path == "<prelude>" else err.span.path
    try:
        return {err.span.path: open(path, encoding="utf-8", errors="replace").read()}
    except OSError:
        return {}


# ----------------------------------------------------------------------------- commands


def cmd_check(args: argparse.Namespace) -> int:
    from .report import check_files

    return check_files(args.files, args.format, parse_sets(args.set), parse_input(args.input))


def register_check(sub) -> None:
    p = sub.add_parser("check", help="shape-check specs statically (no torch)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--format", choices=("text", "github", "json"), default="text")
    p.add_argument("--input", metavar="CxHxW", help="override every network's input shape")
    p.add_argument("--set", action="append", metavar="K=V", help="set a network parameter")
    p.set_defaults(func=cmd_check)


def cmd_build(args: argparse.Namespace) -> int:
    from .report import build_report

    return build_report(load_from_args(args), args.output, args.seed)


def register_build(sub) -> None:
    p = sub.add_parser("build", help="build the torch module; print it and its shapes")
    p.add_argument("spec", metavar="FILE", help="a .arch file or a bundled spec name")
    add_spec_options(p)
    p.add_argument("-o", "--output", metavar="FILE",
                   help="also write the initialised weights (.safetensors) or the report (.txt)")
    p.add_argument("--seed", type=int, default=0, help="seed for weight initialisation")
    p.set_defaults(func=cmd_build)


def _optional(module: str) -> Callable[[Any], None]:
    """A command group that lives in its own module (registered only if present)."""
    def register(sub) -> None:
        import importlib

        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            return
        mod.register(sub)
    return register


# (command names, register function). Other modules are imported only when one of their
# commands runs (or for --help), so `archc check` stays light.
COMMANDS: list[tuple[tuple[str, ...], Callable[[Any], None]]] = [
    (("check",), register_check),
    (("build",), register_build),
    (("summary", "graph"), _optional("archc.summary_cli")),
    (("train", "eval"), _optional("archc.train.cli")),
    (("import-weights",), _optional("archc.weights")),
    (("fmt",), _optional("archc.fmt_cli")),
]


def make_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archc", description="Write, check, draw and train CNNs from .arch specs.")
    parser.add_argument("--version", action="version", version="archc 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = next((a for a in argv or () if not a.startswith("-")), None)
    known = {name for names, _ in COMMANDS for name in names}
    for names, register in COMMANDS:
        if wanted not in known or wanted in names:
            register(sub)
    if wanted in known and wanted not in sub.choices:  # its module is absent: list the rest
        for names, register in COMMANDS:
            if wanted not in names:
                register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = make_parser(argv).parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"archc: error: {exc.message}" + (f" (hint: {exc.hint})" if exc.hint else ""),
              file=sys.stderr)
        return 2
    except ArchcError as exc:
        print_errors(exc, limit=1 if args.command != "check" else None)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
