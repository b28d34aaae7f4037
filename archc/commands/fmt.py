"""`archc fmt`: rewrite specs in the canonical layout (archc/fmt/), or `--check` them."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

from archc.core.errors import ArchcError, render

DESCRIPTION = ("Format .arch specs in place in the canonical layout (comments kept). Exit 1 on a "
               "spec error, or with --check when a file would change.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE",
                   help=".arch files or folders (searched for *.arch); '-' formats stdin to "
                   "stdout")
    p.add_argument("--check", action="store_true",
                   help="write nothing; name each file that would change and exit 1 if any")
    p.add_argument("--diff", action="store_true", help="write nothing; print unified diffs")


def _lines(text: str) -> list[str]:
    """Lines as the lexer counts them, ends kept (str.splitlines also breaks at FF, VT, NEL,
    LS, ... inside comments)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _paths(names: list[str]) -> tuple[list[str], list[str]]:
    """The files to format, and the folders named that hold no .arch file (`fmt --check DIR`
    of a mistyped or emptied folder must not pass for checking nothing)."""
    out, empty = [], []
    for name in names:
        path = Path(name)
        found = sorted(map(str, path.rglob("*.arch"))) if path.is_dir() else [name]
        out.extend(found)
        if not found:
            empty.append(name)
    return out, empty


def run(args: argparse.Namespace) -> int:
    from archc.core.atomic import write_output
    from archc.core.limits import MAX_FILE_BYTES
    from archc.core.sources import decode_source, read_source
    from archc.fmt import format_text

    names, empty = _paths(args.files)
    for folder in empty:
        print(f"{folder}: error: no .arch file in this folder", file=sys.stderr)
    failed, changed, same = len(empty), 0, 0
    for name in names:
        text, display = None, "<stdin>" if name == "-" else name
        try:
            text = (decode_source(sys.stdin.buffer.read(MAX_FILE_BYTES + 1), display)
                    if name == "-" else read_source(Path(name), name))
            out = format_text(text, display)
        except ArchcError as exc:
            print(render(exc, {display: text} if text is not None else {}), file=sys.stderr)
            failed += 1
            continue
        if name == "-":
            sys.stdout.flush()
            sys.stdout.buffer.write(out.encode("utf-8"))  # as written to a file: UTF-8
            continue
        if out == text:
            same += 1
            continue
        changed += 1
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(
                _lines(text), _lines(out),
                f"{name} (original)", f"{name} (formatted)"))
        if args.check:
            print(f"would reformat {name}", file=sys.stderr)
        elif not args.diff:
            write_output(name, out.encode("utf-8"))
            print(f"reformatted {name}", file=sys.stderr)
    if changed + same + failed > 1 or args.check:
        verb = "would be reformatted" if args.check or args.diff else "reformatted"
        parts = [f"{changed} file(s) {verb}", f"{same} unchanged"]
        if failed:
            parts.append(f"{failed} with errors")
        print(", ".join(parts), file=sys.stderr)
    return 1 if failed or (args.check and changed) else 0
