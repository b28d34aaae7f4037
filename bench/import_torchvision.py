"""`archc import` over torchvision's classification models, each in its own process: imported
and proven equal (fp64, eval and train), or refused (error[A0901] and its first line), with the
spec's line count and the command's wall time. A model the zoo covers is built with the zoo's
builder arguments (googlenet, inception_v3: aux_logits=False; archc/pipeline/zoo.py). Each model
runs at
--input unless it needs more (ViT and MaxViT: 224, Inception: 96). Models over --max-params
parameters are skipped (the fp64 proof holds three copies). --markdown prints the table for
BENCHMARKS.md. --segmentation runs torchvision's segmentation models instead (each with and
without aux_loss, 21 classes, no weights) and resnet_fpn_backbone, the zoo's other members.
Usage: python bench/import_torchvision.py [--input 3x64x64] [--max-params 150e6] [--markdown]
[--segmentation] [model ...]"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision.models as tvm

from archc.pipeline import zoo

ROOT = Path(__file__).resolve().parents[1]
KWARGS = {m.name: dict(m.torchvision_kwargs) for m in zoo.MEMBERS}
SIZES = {"vit_": 224, "maxvit": 224, "inception": 96}  # the smallest input each accepts


def _params(name: str) -> int:
    try:  # on the meta device: no memory, no init; regnet's builder computes widths in torch
        with torch.device("meta"):
            return sum(q.numel() for q in tvm.get_model(name, **KWARGS.get(name, {})).parameters())
    except NotImplementedError:
        return sum(q.numel() for q in tvm.get_model(name).parameters())


def _input(name: str, default: str) -> str:
    size = next((s for prefix, s in SIZES.items() if name.startswith(prefix)), None)
    return f"3x{size}x{size}" if size else default


SEG = "torchvision.models.segmentation"
# (row, target, builder kwargs): the zoo's segmentation members and its FPN backbone
SEGMENTATION = [
    (f"{name}{' (aux_loss=True)' if aux else ''}", f"{SEG}:{name}",
     {"weights": None, "weights_backbone": None, "num_classes": 21, "aux_loss": aux})
    for name in ("fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
                 "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")
    for aux in (False, True) if not (aux and name.startswith("lraspp"))  # LR-ASPP has none
] + [("resnet_fpn_backbone (resnet50)",
      "torchvision.models.detection.backbone_utils:resnet_fpn_backbone",
      {"backbone_name": "resnet50", "weights": None})]


def run(name: str, size: str, tmp: Path, target: str | None = None,
        kwargs: dict | None = None) -> tuple[str, str, float]:
    out = tmp / f"{name.split()[0]}.arch"
    argv = [sys.executable, "-m", "archc", "import", target or f"torchvision.models:{name}",
            "-o", str(out), "--input", size]
    kwargs = KWARGS.get(name) if kwargs is None else kwargs
    if kwargs:
        argv += ["--kwargs", json.dumps(kwargs)]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode == 0 and "is equal to" in done.stdout:
        return "equal", f"{len(out.read_text().splitlines())} lines", wall
    if "error[A0901]" in done.stderr:
        why = next(ln for ln in done.stderr.splitlines() if "error[A0901]" in ln)
        return "refused", why.split("error[A0901]: ", 1)[1], wall
    return "other", (done.stderr.strip().splitlines() or ["?"])[-1], wall


def _unproven(name: str, size: str, n: int) -> tuple[str, str, float]:
    """A model too large for the fp64 proof here: imported from its skeleton on the meta
    device (no weights), so at least refused or not; its spec's counts are compared with the
    zoo's in tests/test_import_zoo.py (ARCHC_ZOO_ALL=1)."""
    from archc.importer.torch_import import ImportRefused, import_spec

    start = time.perf_counter()
    try:
        with torch.device("meta"):
            model = tvm.get_model(name, **KWARGS.get(name, {}))
    except NotImplementedError:  # RegNet's builder computes widths with real tensors
        return "skipped", f"{n:,} parameters (over --max-params; its builder cannot run on " \
            "the meta device)", time.perf_counter() - start
    shape = tuple(int(d) for d in size.split("x"))
    try:
        text = import_spec(model, name, name, shape)
    except ImportRefused as exc:
        why = str(exc).splitlines()[0].split(": ", 1)[-1].split(" (hint:")[0]
        return "refused", why, time.perf_counter() - start
    return "imported", f"{len(text.splitlines())} lines; not proven: {n:,} parameters " \
        "(over --max-params)", time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--input", default="3x64x64")
    p.add_argument("--max-params", type=float, default=150e6)
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--segmentation", action="store_true")
    p.add_argument("models", nargs="*")
    args = p.parse_args()
    names = args.models or tvm.list_models(module=tvm)
    rows: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for row, target, kwargs in SEGMENTATION if args.segmentation else []:
            kind, why, wall = run(row, args.input, Path(tmp), target, kwargs)
            rows.append((row, args.input, kind, why, f"{wall:.0f}"))
            print(f"{row:40} {kind}: {why} ({wall:.0f} s)", flush=True)
        for name in [] if args.segmentation else names:
            n, size = _params(name), _input(name, args.input)
            kwargs = ", ".join(f"{k}={v}" for k, v in KWARGS.get(name, {}).items())
            if n > args.max_params:
                kind, why, wall = _unproven(name, size, n)
            else:
                kind, why, wall = run(name, size, Path(tmp))
            rows.append((name + (f" ({kwargs})" if kwargs else ""), size, kind, why,
                         f"{wall:.0f}"))
            print(f"{name:24} {kind}: {why} ({wall:.0f} s)", flush=True)
    kinds = ("equal", "imported", "refused", "skipped", "other")
    total = {k: sum(r[2] == k for r in rows) for k in kinds}
    print(", ".join(f"{v} {k}" for k, v in total.items()))
    if args.markdown:
        print("\n| model | input | result | spec lines, or why refused | wall s |")
        print("|---|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")


if __name__ == "__main__":
    main()
