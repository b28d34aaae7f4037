"""What `check` and `build` print: diagnostics in text, GitHub and JSON formats, shape tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .errors import ArchcError, ArchcErrors, UsageError, render
from .graph import Join, Layer, Network, walk
from .ops import fmt_shape


def _diagnostic(err: ArchcError) -> dict[str, Any]:
    s = err.span
    return {"file": s.path if s else None, "line": s.line if s else None,
            "col": s.col if s else None, "end_line": s.end_line if s else None,
            "end_col": s.end_col if s else None, "kind": type(err).__name__.rstrip("_"),
            "message": err.message, "hint": err.hint}


def _github(err: ArchcError) -> str:
    """A GitHub Actions workflow command: `::error file=F,line=L,col=C,...::message`."""
    def esc(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(text: str) -> str:  # property values also escape the separators
        return esc(text).replace(":", "%3A").replace(",", "%2C")
    s = err.span
    props = [f"file={prop(s.path)}", f"line={s.line}", f"col={s.col}"] if s else []
    if s and s.end_line == s.line and s.end_col > s.col:
        props.append(f"endColumn={s.end_col}")
    props.append("title=archc")
    msg = err.message + (f" (hint: {err.hint})" if err.hint else "")
    return f"::error {','.join(props)}::{esc(msg)}"


def check_files(files: list[str], fmt: str, overrides: dict, input_shape) -> int:
    """`archc check`: every error of every file; exit 1 if any."""
    from .program import check_program, load_program, resolve_spec

    all_errors: list[ArchcError] = []
    checked = []
    for name in files:
        try:
            prog = load_program(resolve_spec(name))
            errors = check_program(prog, overrides, input_shape)
        except ArchcErrors as exc:
            prog, errors = None, exc.errors
        except UsageError:
            raise
        except ArchcError as exc:
            prog, errors = None, [exc]
        all_errors.extend(errors)
        checked.append({"file": name, "ok": not errors,
                        "networks": sorted(prog.networks) if prog else []})
        if fmt == "text":
            for err in errors:
                print(render(err, prog.sources if prog else {}), file=sys.stderr)
        elif fmt == "github":
            for err in errors:
                print(_github(err))
    if fmt == "json":
        print(json.dumps({"files": checked, "diagnostics": [_diagnostic(e) for e in all_errors]},
                         indent=2))
    elif fmt == "text":
        bad = sum(not c["ok"] for c in checked)
        status = f"{len(all_errors)} error(s) in {bad} file(s)" if all_errors else "all ok"
        print(f"checked {len(checked)} file(s): {status}", file=sys.stderr)
    return 1 if all_errors else 0


def shape_rows(net: Network, depth: int | None = None) -> list[tuple[str, str, str]]:
    """(name, op, output shape) rows down to `depth` levels of nesting."""
    rows = [("input", "", fmt_shape(net.input_shape))]
    for name, node in walk(net.root.items):
        level = name.count(".")
        if depth is not None and level >= depth:
            continue
        kind = node.op if isinstance(node, (Layer, Join)) else node.label
        rows.append((name, kind, fmt_shape(node.out_shape)))
    return rows


def build_report(net: Network, output: str | None, seed: int) -> int:
    """`archc build`: the module, a shape table, the parameter count; optionally a file."""
    import torch
    from rich.console import Console
    from rich.table import Table

    from . import build

    torch.manual_seed(seed)
    model = build(net)
    console = Console(record=True, width=120)
    console.print(repr(model), markup=False, highlight=False)
    table = Table(title=f"{net.name}: shapes (batch axis omitted)")
    for col in ("layer", "op", "output"):
        table.add_column(col)
    for row in shape_rows(net, depth=2):
        table.add_row(*row)
    console.print(table)
    params = sum(p.numel() for p in model.parameters())
    console.print(f"parameters: {params:,}", markup=False)
    if output:
        _write_output(Path(output), model, console)
        print(f"wrote {output}", file=sys.stderr)
    return 0


def _write_output(path: Path, model, console) -> None:
    from .atomic import atomic_write_bytes

    if path.suffix == ".safetensors":
        from safetensors.torch import save

        tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
        atomic_write_bytes(path, save(tensors))
    elif path.suffix == ".txt":
        atomic_write_bytes(path, console.export_text().encode())
    else:
        raise ArchcError(f"-o {path}: unknown output type '{path.suffix}' "
                         "(expected .safetensors or .txt)")
