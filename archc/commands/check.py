"""`archc check`: shape-check specs statically, reporting every error of every file, as text,
GitHub Actions annotations or JSON. Never imports torch."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archc.commands.options import INPUT_METAVAR, InputOption, parse_input, parse_sets
from archc.core import cache
from archc.core.errors import (
    ArchcError,
    ArchcErrors,
    Span,
    UsageError,
    located_for_ci,
    render,
)
from archc.core.plugin_config import add_plugin_option

if TYPE_CHECKING:
    from archc.core.graph import InputShape
    from archc.pipeline.driver import Compiled

DESCRIPTION = ("Shape-check .arch specs statically: every network of every file, every error "
               "with its line and column. Exit 0 when all are ok, 1 on any spec error.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help=".arch files or bundled spec names")
    p.add_argument("--format", choices=("text", "github", "json"), default="text",
                   help="text (default), GitHub Actions annotations, or one JSON object")
    p.add_argument("--input", metavar=INPUT_METAVAR, action=InputOption,
                   help="override every network's input shape (NAME=SHAPE: named inputs')")
    p.add_argument("--set", action="append", metavar="K=V", help="set a network parameter")
    add_plugin_option(p)
    p.add_argument("--no-cache", action="store_true",
                   help="check every file afresh: do not read or write the cache of files that "
                   "checked clean (archc/core/cache.py; also ARCHC_NO_CACHE=1)")


def run(args: argparse.Namespace) -> int:
    if args.no_cache:
        cache.disable("--no-cache")
    return check_files(args.files, args.format, parse_sets(args.set), parse_input(args.input))


def _cached_path(name: str) -> Path | None:
    """The file a name denotes, found without importing the compiler (None: let it say)."""
    from archc.core.resources import specs_dir

    for path in (Path(name), specs_dir() / f"{name}.arch"):
        try:
            if path.is_file():
                return path
        except (OSError, ValueError):
            return None
    return None


def _compiler() -> Callable[..., Compiled]:
    """The driver's `compile_spec`, imported (the first time) with Python's cycle collector
    paused, and what the import made frozen out of later collections: the compiler's modules
    (pydantic, lark, the op registry) are thousands of objects that live until the process
    ends, and the collector scanned them again at each full collection."""
    if "archc.pipeline.driver" not in sys.modules:
        was = gc.isenabled()
        gc.disable()
        try:
            import archc.pipeline.driver  # noqa: F401
        finally:
            gc.freeze()
            if was:
                gc.enable()
    from archc.pipeline.driver import compile_spec

    return compile_spec


def _location(s: Span | None, file: str | None = None) -> dict[str, Any]:
    return {"file": s.path if s else file, "line": s.line if s else None,
            "col": s.col if s else None, "end_line": s.end_line if s else None,
            "end_col": s.end_col if s else None}


def _diagnostic(err: ArchcError, file: str | None = None) -> dict[str, Any]:
    """One JSON diagnostic, located at the outermost call in the checked spec; `related` is the
    call chain (and the line inside the block that fails), innermost first; `labels` are
    secondary spans (a join's branches, the argument at fault)."""
    err = located_for_ci(err)
    return {**_location(err.span, file), "code": err.code, "kind": type(err).__name__.rstrip("_"),
            "message": err.message, "hint": err.hint,
            "labels": [{**_location(n.span), "message": n.message} for n in err.labels],
            "related": [{**_location(n.span), "message": n.message} for n in err.notes]}


def _github(err: ArchcError) -> str:
    """A GitHub Actions workflow command: `::error file=F,line=L,col=C,...::message`."""
    def esc(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(text: str) -> str:  # property values also escape the separators
        return esc(text).replace(":", "%3A").replace(",", "%2C")
    err = located_for_ci(err)  # a line of the checked spec, which GitHub can place
    s = err.span
    props = [f"file={prop(s.path)}", f"line={s.line}", f"col={s.col}"] if s else []
    if s and s.end_line == s.line and s.end_col > s.col:
        props.append(f"endColumn={s.end_col}")
    props.append(prop(f"title=archc {err.code}" if err.code else "title=archc"))
    msg = err.message + (f" (hint: {err.hint})" if err.hint else "")
    msg += "".join(f"\n{n.span}: {n.message}" for n in err.notes)
    return f"::{err.severity} {','.join(props)}::{esc(msg)}"  # ::error, or ::warning (A0215)


def check_files(files: list[str], fmt: str, overrides: dict[str, Any],
                input_shape: InputShape | None) -> int:
    """`archc check`: every error of every file; exit 1 if any, 2 if a file could not be
    checked at all (no such file, a --set the network lacks). Every format reports both kinds,
    JSON in its one object."""
    all_errors: list[ArchcError] = []
    diagnostics: list[dict[str, Any]] = []
    checked = []
    usage = False
    for name in files:
        path = _cached_path(name)
        known = cache.lookup(path, overrides, input_shape) if path is not None else None
        if known is not None:  # checked clean before, and nothing it reads has changed
            checked.append({"file": name, "ok": True, "networks": known})
            continue
        try:
            compile_spec = _compiler()
            done = compile_spec(name, overrides, input_shape)
            prog, errors = done.program, done.errors
            if not errors and path is not None:  # (a warning is shown again next time)
                used = [Path(p) for p in prog.sources if not p.startswith("<") and p != prog.path]
                cache.store(path, overrides, input_shape, used, sorted(prog.networks))
        except ArchcErrors as exc:
            prog, errors = None, exc.errors
        except UsageError as exc:
            prog, errors, usage = None, [exc], True
        except ArchcError as exc:
            prog, errors = None, [exc]
        all_errors.extend(e for e in errors if e.severity == "error")  # warnings: exit 0
        diagnostics.extend(_diagnostic(e, name) for e in errors)
        checked.append({"file": name, "ok": not any(e.severity == "error" for e in errors),
                        "networks": sorted(prog.networks) if prog else []})
        if fmt == "text":
            for err in errors:
                print(render(err, prog.sources if prog else None), file=sys.stderr)
        elif fmt == "github":
            for err in errors:
                print(_github(err))
    if fmt == "json":
        print(json.dumps({"files": checked, "diagnostics": diagnostics},
                         indent=2))
    elif fmt == "text":
        bad = sum(not c["ok"] for c in checked)
        status = f"{len(all_errors)} error(s) in {bad} file(s)" if all_errors else "all ok"
        print(f"checked {len(checked)} file(s): {status}", file=sys.stderr)
    return 2 if usage else 1 if all_errors else 0
