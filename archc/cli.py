"""The top-level parser: `archc COMMAND ...`, read from the command table (archc/commands/).

Only the module of the command being run is imported (for `archc --help`, none is), so each
command pays for its own imports only. Exit codes: 0 ok, 1 spec errors, 2 usage.
"""

from __future__ import annotations

import argparse
import os
import sys

from archc.commands import COMMANDS
from archc.core.errors import ArchcError, UsageError


def make_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archc", description="Write, check, draw, export and train neural networks from "
        ".arch specs.")
    parser.add_argument("--version", action="version", version="archc 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = next((a for a in argv or () if not a.startswith("-")), None)
    # the command asked for alone, where it is one (what argparse needs to parse it); every
    # command for `archc --help` and a mistyped one. The other commands' parsers were 15.4 ->
    # 13.3 ms of an in-process `archc check` of a bundled spec (the tests run thousands)
    known = any(command.name == wanted for command in COMMANDS)
    for command in COMMANDS:
        if command.name != wanted:
            if not known:
                sub.add_parser(command.name, help=command.help)
            continue
        module = command.load()
        p = sub.add_parser(command.name, help=command.help,
                           description=getattr(module, "DESCRIPTION", command.help))
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code. Called with no `argv` (the `archc` program), a command
    whose row says `exits_hard` ends the process here once its output is flushed."""
    program = argv is None
    argv = sys.argv[1:] if argv is None else argv
    parser = make_parser(argv)
    args, extra = parser.parse_known_args(argv)
    # a command whose last positional takes several values (`import-weights [SPEC] WEIGHTS`)
    # takes them also after an option (`tv_resnet --set depth=18 r18.pth`): argparse alone
    # stops that positional at the first option
    trailing = getattr(args, "trailing", None)
    if extra and trailing and not any(a.startswith("-") for a in extra):
        getattr(args, trailing).extend(extra)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    code = _run(args)
    if program and any(c.name == args.command and c.ends_hard() for c in COMMANDS):
        _exit_now(code)
    return code


def _run(args: argparse.Namespace) -> int:
    try:
        from archc.core import cache
        from archc.core.plugin_config import wanted

        cache.enable()  # for this command, unless it loads a plugin
        if wanted(args):  # the plugins the user chose (archc/plugins.py), before any spec
            from archc.plugins import setup_from_args

            setup_from_args(args)
            cache.disable("a plugin is loaded")
        return args.func(args)
    except UsageError as exc:
        print(f"archc: error: {exc.message}" + (f" (hint: {exc.hint})" if exc.hint else ""),
              file=sys.stderr)
        return 2
    except ArchcError as exc:
        from archc.commands.options import print_errors

        print_errors(exc)  # every command reports every diagnostic (archc/pipeline/driver.py)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `archc fmt --diff | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush cannot fail
        return 1


def _exit_now(code: int) -> None:
    """End the process with `code` once stdout and stderr are flushed, skipping the
    interpreter's teardown (as mypy does: freeing tens of thousands of objects one by one that
    the process's end frees at once)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `archc check ... | head`: the reader left
        pass
    os._exit(code)



if __name__ == "__main__":
    sys.exit(main())
