"""`archc list`: every bundled spec and every family member (archc/pipeline/zoo.py) with the `--set`
values that select it, its parameters and MACs (counted statically, no torch) and the
torchvision builder it equals; a table or, with --json, one JSON array."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from archc.pipeline.zoo import BY_NAME, LM_MEMBERS, listed_name, members_of
from archc.registry.ops import fmt_shape

DESCRIPTION = ("List every bundled spec and family member: the --set values that select it, "
               "its parameters and MACs at its input size (counted from the spec, no torch), "
               "and the torchvision model it equals, weight for weight.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", metavar="TEXT",
                   help="only entries whose name or spec contains TEXT")
    p.add_argument("--json", action="store_true",
                   help="print one JSON array of objects (name, spec, network, set, params, "
                   "macs, input, torchvision)")


def run(args: argparse.Namespace) -> int:
    entries = list(catalogue(args.pattern))
    if args.json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
    else:
        print_table(entries)
    return 0


def _selector(e: Entry) -> str:
    """The arguments that build the entry: SPEC [--set K=V ...] [--network NAME]."""
    words = [e.spec] + [f"--set {k}={str(v).lower() if isinstance(v, bool) else v}"
                        for k, v in e.set.items()]
    if e.torchvision is None and e.reference is None and e.network != e.spec:  # not the first
        words.append(f"--network {e.network}")
    return " ".join(words)


def print_table(entries: list[Entry]) -> None:
    """Plain aligned columns (never truncated, whatever the terminal width)."""
    head = ("name", "build with: archc build ...", "input", "params", "GMACs", "torchvision")
    rows = [(e.name, _selector(e), fmt_shape(e.input), f"{e.params:,}",
             f"{e.macs / 1e9:.3f}", "equal to " + (e.torchvision or e.reference or "")
             if e.torchvision or e.reference else "")
            for e in entries]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    right = {3, 4}
    for r in [head, *rows]:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        print("  ".join(cells).rstrip())
    print("torchvision's alexnet, googlenet, resnet18 and vgg11 are listed as tv_NAME: the plain "
          "names are the book's own specs")
    aux = list(dict.fromkeys(e.spec for e in entries if e.aux))
    if aux:  # the auxiliary heads: DeepLabV3's `aux` output, GoogLeNet's training-only ones
        print(f"with their auxiliary heads (torchvision's aux_loss / aux_logits): --set aux=true "
              f"on {', '.join(aux)} (`archc summary inception_v3 --set aux=true`)")
    print(f"{len(entries)} networks; MACs at the input shown; each name works in place of a "
          "spec (`archc summary efficientnet_b0`); `archc list --json` for tools")


@dataclass(frozen=True)
class Entry:
    """One line of `archc list`: a network of a bundled spec, as a family member or as is."""

    name: str
    spec: str
    network: str
    set: Mapping[str, Any]
    torchvision: str | None
    params: int
    macs: int
    input: tuple[int, ...]
    reference: str | None = None  # what it equals where that is not torchvision
    # a member's Member.task ("classification", "video", "segmentation", "backbone"); None:
    # not a member
    task: str | None = None
    aux: bool = False  # the network takes `aux` (`--set aux=true`: its auxiliary heads)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "spec": self.spec, "network": self.network,
                "set": dict(self.set), "params": self.params, "macs": self.macs,
                "input": list(self.input), "torchvision": self.torchvision,
                "reference": self.reference, "task": self.task, "aux": self.aux}


def catalogue(pattern: str | None = None) -> Iterator[Entry]:
    """Every network of every bundled spec, once per family member where the spec is a family;
    counted statically (no torch). With a pattern, only the entries whose name or spec
    contains it (the others are not loaded)."""
    from archc.core.resources import specs_dir
    from archc.expansion.stats import count
    from archc.pipeline.driver import load_network
    from archc.pipeline.program import load_program

    for path in sorted(specs_dir().glob("*.arch")):
        members = members_of(path.stem)
        lms = {n: m for n, m in LM_MEMBERS.items() if m[0] == path.stem}
        runs: list[tuple[str, str | None, Mapping[str, Any], str | None, str | None]]
        if members:
            runs = [(listed_name(m), None, m.set, m.name, m.reference) for m in members]
        elif lms:
            runs = [(n, None, sets, None, ref) for n, (_, sets, ref) in lms.items()]
        else:
            runs = [(n, n, {}, None, None) for n in load_program(path).networks]
        for name, network, sets, builder, reference in runs:
            if pattern and pattern not in name and pattern not in path.stem:
                continue
            net, _ = load_network(path, sets, None, network)
            total = count(net.root)
            task = BY_NAME[builder].task if builder else None
            builder = None if reference else builder  # a backbone: no torchvision.models name
            yield Entry(name, path.stem, net.name, MappingProxyType(dict(sets)), builder,
                        total.params, total.macs, net.input_shape, reference, task,
                        "aux" in net.params)
