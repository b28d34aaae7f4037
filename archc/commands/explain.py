"""`archc explain [CODE]`: the page of a diagnostic code (archc/explain/CODE.md), or the list of
every code with its one-line title (ruff's `ruff rule`, rustc's `--explain`)."""

from __future__ import annotations

import argparse
import json
import sys

from archc.core.codes import CODES, Code, page
from archc.core.errors import UsageError, did_you_mean

DESCRIPTION = ("Print the page of a diagnostic code (what it means, why, a wrong and a right "
               "example): `archc explain A0405` or by its name, `archc explain add-shapes`. "
               "Without a code, list every code with its title.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("code", nargs="?", metavar="CODE",
                   help="a code as printed in `error[A0405]`, or its name (add-shapes)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: the code, name, title and page (or the list) as JSON")


def find(word: str) -> Code:
    """A code by its number (any case) or its name; a usage error with did-you-mean otherwise."""
    by_name = {c.name: c for c in CODES.values()}
    key = word.strip()
    found = CODES.get(key.upper()) or by_name.get(key.lower())
    if found is not None:
        return found
    near = did_you_mean(key.upper(), CODES) or did_you_mean(key.lower(), by_name)
    raise UsageError(f"no diagnostic code {word!r}",
                     hint=near or "`archc explain` lists every code")


def run(args: argparse.Namespace) -> int:
    if args.code is None:
        return _list(args.format)
    code = find(args.code)
    text = page(code.code)
    if args.format == "json":
        print(json.dumps({"code": code.code, "name": code.name, "title": code.title,
                          "page": text}, indent=2))
    elif sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text))
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _list(fmt: str) -> int:
    codes = sorted(CODES.values(), key=lambda c: c.code)
    if fmt == "json":
        print(json.dumps([{"code": c.code, "name": c.name, "title": c.title} for c in codes],
                         indent=2))
        return 0
    width = max(len(c.name) for c in codes)
    for c in codes:
        print(f"{c.code}  {c.name.ljust(width)}  {c.title}")
    print(f"{len(codes)} codes; `archc explain CODE` prints one's page")
    return 0
