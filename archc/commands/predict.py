"""`archc predict`: run a trained network on image files: the top classes with their
probabilities, each image preprocessed as the run's training evaluated it
(archc/emit/preprocess.py); text or JSON. An unreadable file is reported by path and the rest go on
(exit 1 at the end)."""

from __future__ import annotations

import argparse
import json
import stat
import sys
from pathlib import Path
from typing import Any

from archc.commands.options import (
    add_spec_argument,
    add_spec_options,
    add_weights_options,
    load_with_weights,
    positive,
)
from archc.core.errors import ArchcError, ArchcErrors, UsageError

DESCRIPTION = ("Classify image files with a trained network: the top-K classes and their "
               "probabilities, each image preprocessed exactly as the run's evaluation did "
               "(size, scaling, mean/std, from its checkpoint.json).")
BATCH = 32


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_argument(p)
    p.add_argument("images", nargs="+", metavar="FILE_OR_DIR",
                   help="image files, or folders (every file below them, in sorted order)")
    add_weights_options(p, required=True)
    add_spec_options(p)
    p.add_argument("--top", type=positive, default=5, metavar="K",
                   help="how many classes to show per image (default 5, at most the classes)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text lines, or one JSON array on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar over folders")


def run(args: argparse.Namespace) -> int:
    from archc import build
    from archc.emit.preprocess import Preprocessing
    from archc.emit.weights import import_state_dict

    net, weights = load_with_weights(args)
    assert weights is not None  # (--weights is required)
    if len(net.inputs) > 1:
        raise ArchcError(f"predict reads one image per sample; {net.name} takes "
                         f"{len(net.inputs)} inputs ({', '.join(net.inputs)})",
                         hint="build it with archc.build and call it with each input")
    files = _files(args.images)
    prep = Preprocessing.from_run(weights.run) if weights.run else None
    if prep is None:
        if len(net.input_shape) != 3:
            raise UsageError(f"predict reads images; {net.name} takes "
                             f"{'x'.join(map(str, net.input_shape))} inputs")
        c, h, w = net.input_shape
        prep = Preprocessing((c, h, w))
        print(f"warning: {args.weights} records no preprocessing (not an archc run): images "
              "are scaled to [0, 1] and resized, not normalised", file=sys.stderr)
    model = build(net).eval()
    try:
        import_state_dict(net, model, weights.state_dict)
    except ArchcErrors as exc:
        from archc.commands.import_weights import print_many

        print_many(exc)
        return 1
    print(f"loaded {weights.source}", file=sys.stderr)
    names = list(prep.class_names) or [f"class {i}" for i in range(net.output_shape[-1])]
    results = _classify(_main_output(net, model), prep, files, names, args.top,
                        not args.no_progress)
    if args.format == "json":
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            if "error" in r:
                continue
            top = ", ".join(f"{t['class']} {t['probability']:.3f}" for t in r["top"])
            print(f"{r['file']}: {top}")
    failed = [r for r in results if "error" in r]
    for r in failed:
        print(f"error: {r['file']}: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


def _files(items: list[str]) -> list[Path]:
    """The files named, folders expanded (hidden files left out); a path that does not exist
    is kept, to be reported with the others."""
    out: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if not p.name.startswith(".")
                          and not p.is_dir())
        else:
            out.append(path)
    if not out:
        raise UsageError(f"no files in {', '.join(items)}")
    return out


def _read(path: Path, prep: Any) -> Any:
    """The preprocessed tensor of one image file, or the reason it is unreadable."""
    from PIL import Image

    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return "not a regular file"
        with Image.open(path) as img:
            return prep(img)
    except FileNotFoundError:
        return "no such file" + (" (a dangling symbolic link)" if path.is_symlink() else "")
    except Exception as exc:  # noqa: BLE001 - any decoder failure: report the file, go on
        return f"not a readable image ({type(exc).__name__}: {str(exc)[:160]})"


def _main_output(net: Any, model: Any) -> Any:
    """The model, or for a network with outputs a function returning its main output (the one
    `archc train` trained as the classifier: archc/expansion/training_only.py output_roles)."""
    if not net.outputs:
        return model
    from archc.expansion.training_only import output_roles

    try:
        main = output_roles(net.outputs, net.training_outputs)[0]
    except ValueError as exc:
        raise UsageError(f"predict: {exc}", hint="name the main output `out`") from None
    return lambda x: model(x)[main]


def _classify(model: Any, prep: Any, files: list[Path], names: list[str], top: int,
              progress: bool) -> list[dict[str, Any]]:
    import torch

    from archc.train.folder import _bar

    k = min(top, len(names))
    results: list[dict[str, Any]] = []
    pending: list[tuple[int, Any]] = []

    def flush() -> None:
        with torch.no_grad():
            probs = model(torch.stack([x for _, x in pending])).softmax(dim=1)
        for (i, _), p in zip(pending, probs, strict=True):
            values, index = p.topk(k)
            results[i]["top"] = [{"class": names[j], "index": j, "probability": float(v)}
                                 for v, j in zip(values.tolist(), index.tolist(), strict=True)]
        pending.clear()

    with _bar(len(files), "predicting", progress and len(files) > 1) as advance:
        for path in files:
            x = _read(path, prep)
            results.append({"file": str(path)})
            if isinstance(x, str):
                results[-1]["error"] = x
            else:
                pending.append((len(results) - 1, x))
                if len(pending) == BATCH:
                    flush()
            advance()
        if pending:
            flush()
    return results
