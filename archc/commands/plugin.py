"""`archc plugin check FILE_OR_MODULE...`: load plugins and prove each op's record as the
registry's own ops are proved (tests/test_language.py, tests/test_export.py): its example's
declared shape against a real forward pass, its parameter count against `numel`, its MACs
against FlopCounterMode, its export form against its torch factory; and its shape rule on
inputs of every rank, which must answer a shape or an OpShapeError. A false
claim is refused with the mismatch shown (exit 1). Imports torch."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archc.core import codes
from archc.core.errors import ArchcError, ArchcErrors, render
from archc.core.graph import Layer, Shape
from archc.registry.ops import Op, OpShapeError, fmt_shape

DESCRIPTION = ("Check plugins (archc/plugins.py): each op's example is built and run, and its "
               "declared output shape, parameter count and MACs are compared with the forward "
               "pass, numel and FlopCounterMode. Exit 1 on any mismatch.")

BATCH = 2
# inputs of every rank the shape rule is tried on: an answer or an OpShapeError, never a crash
PROBES: tuple[tuple[int, ...], ...] = ((1,), (12,), (4, 6), (1, 1, 1), (3, 9, 9), (8, 2, 5))


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = sub.add_parser("check", help="prove each op's shape, params and MACs against torch",
                       description=DESCRIPTION)
    c.add_argument("targets", nargs="+", metavar="FILE_OR_MODULE",
                   help="a plugin: a .py file or an importable module")


@dataclass
class Proof:
    op: str
    facts: list[str] = field(default_factory=list)  # what held
    mismatches: list[str] = field(default_factory=list)  # what did not


def run(args: argparse.Namespace) -> int:
    from archc.plugins import load

    failed = 0
    for target in args.targets:
        for plugin in load(target):
            print(f"plugin {plugin.name} ({target}): {len(plugin.ops)} op(s), "
                  f"{len(plugin.blocks)} block(s)")
            for op in plugin.ops.values():
                proof = prove(op)
                failed += bool(proof.mismatches)
                mark = "FAIL" if proof.mismatches else "ok"
                print(f"  {mark} {op.name}: {'; '.join(proof.facts)}")
                for m in proof.mismatches:
                    print(f"    mismatch: {m}")
            if plugin.blocks_file is not None:
                failed += _check_blocks(plugin.blocks_file, sorted(plugin.blocks))
    print(f"{failed} op(s) refused" if failed else "every op holds its claims",
          file=sys.stderr)
    return 1 if failed else 0


def _check_blocks(path: Path, names: list[str]) -> int:
    """The plugin's blocks checked as `archc check` checks a spec's: 1 if any error."""
    from archc.pipeline.driver import compile_spec

    done = compile_spec(path)
    prog, errors = done.program, done.errors
    print(f"  {'FAIL' if errors else 'ok'} blocks {path.name}: {', '.join(names)}")
    for err in errors:
        print("    " + render(err, prog.sources).replace("\n", "\n    "))
    return 1 if errors else 0


def prove(op: Op) -> Proof:
    """The record of `op` against torch, on its example (what tests/test_language.py asserts
    for archc's own ops), and its shape rule on PROBES."""
    import archc

    proof = Proof(op.name)
    try:
        net = archc.loads(f"network t {{ input {op.example_input} x: {op.example} }}",
                          path=f"<example of {op.name}>")
    except ArchcError as exc:
        errors = exc.errors if isinstance(exc, ArchcErrors) else [exc]
        proof.mismatches += [f"its example `{op.example}` on {op.example_input} does not "
                             f"check:\n      " + render(e, exc.sources).replace("\n", "\n      ")
                             for e in errors]
        return proof
    layer = net.root.items[0]
    assert isinstance(layer, Layer)
    args, i, o = layer.args, layer.in_shape, layer.out_shape
    proof.mismatches += _probe_rule(op, args)
    try:
        real = _measure(archc.build(net), net.input_shape)
    except Exception as exc:  # the plugin's torch code: report whatever it raises
        proof.mismatches.append(f"building and running `{op.example}` failed: "
                                f"{type(exc).__name__}: {exc}")
        return proof
    shape, params, flops = real
    _compare(proof, "output shape", f"{fmt_shape(o)}", fmt_shape(shape),
             f"{fmt_shape(i)} -> ", "the forward pass")
    _compare(proof, "params", f"{op.params(args, i, o):,}", f"{params:,}", "",
             "sum of numel")
    macs = op.macs(args, i, o)
    _compare(proof, "MACs", f"{macs:,}", f"{flops // (2 * BATCH):,}"
             if flops % (2 * BATCH) == 0 else f"{flops / (2 * BATCH):,}", "",
             f"FlopCounterMode ({flops:,} FLOPs for a batch of {BATCH})")
    proof.mismatches += _prove_source(op, args, i, o, proof)
    return proof


def _prove_source(op: Op, args: Any, i: Shape, o: Shape, proof: Proof) -> list[str]:
    """How `archc export` writes the op (tests/test_export.py's proof): its source, run with
    its imports, builds a module of the factory's class and repr."""
    import torch
    from torch import nn

    from archc.export.support import SUPPORT

    if op.source is None:
        proof.facts.append("no export form (archc export refuses it)")
        return []
    try:
        source = op.source(args, i, o)
        space: dict[str, Any] = {"torch": torch, "nn": nn, "Tensor": torch.Tensor,
                                 "F": torch.nn.functional}
        for need in source.support:
            exec(need if need.startswith("from ") else SUPPORT[need], space)
        written, made = eval(source.text(), space), op.torch(args, i, o)
    except Exception as exc:
        return [f"export: its source form fails: {type(exc).__name__}: {exc}"]
    if op.inline:
        proof.facts.append(f"export {source.text()}")
        return []
    if (type(written).__name__, repr(written)) != (type(made).__name__, repr(made)):
        return [f"export: `{source.text()}` builds {written!r:.200}, the torch factory "
                f"{made!r:.200}"]
    proof.facts.append(f"export {source.text()}")
    return []


def _compare(proof: Proof, what: str, declared: str, measured: str, prefix: str,
             by: str) -> None:
    if declared == measured:
        proof.facts.append(f"{what} {prefix}{declared}")
    else:
        proof.facts.append(f"{what} refused")
        proof.mismatches.append(f"{what}: declared {prefix}{declared}, {by} gives "
                                f"{prefix}{measured}")


def _measure(model: Any, input_shape: Shape) -> tuple[tuple[int, ...], int, int]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = model.eval()
    x = torch.randn(BATCH, *input_shape)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(x)
    return (tuple(out.shape[1:]), sum(p.numel() for p in model.parameters()),
            counter.get_total_flops())


def _probe_rule(op: Op, args: Any) -> list[str]:
    """The shape rule on inputs of every rank, with the example's arguments: each answer is a
    shape or an OpShapeError (the plugin guard turns anything else into code A0411)."""
    bad = []
    for shape in PROBES:
        try:
            op.shape(args, shape)
        except OpShapeError as exc:
            if exc.code == codes.PLUGIN_RULE:
                bad.append(f"shape rule on input {fmt_shape(shape)}: {exc.message}")
    return bad
