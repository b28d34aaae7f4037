"""`archc import pkg.module:factory -o model.arch`: an existing torch module written as a spec
(archc/importer/torch_import.py), then proven: the spec checks, builds, loads the module's
state_dict with strict=True and gives equal fp64 outputs in eval and train mode."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from archc.commands.options import Once, parse_shape
from archc.core.errors import ArchcError, UsageError

DESCRIPTION = ("Write an existing torch nn.Module (pkg.module:factory or path/to/file.py:factory) "
               "as a spec: one block per Python class, labels named as the module's "
               "submodules; traced with torch.fx, else torch.export. archc then proves the spec "
               "equal to the module (its state_dict loads with strict=True; fp64 outputs are "
               "equal in eval and train mode, or to the rounding a module states) and says "
               "what it compared. A module or call no archc op expresses is refused, naming it.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="pkg.module:factory",
                   help="the factory that returns the module (or path/to/file.py:factory)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.arch")
    p.add_argument("--kwargs", metavar="JSON", action=Once,
                   help="the factory's keyword arguments, a JSON object")
    p.add_argument("--input", metavar="CxHxW", action=Once,
                   help="the input shape of one sample (default 3x224x224); one number N "
                   "for a model that embeds token ids: N ids")
    p.add_argument("--name", action=Once, help="the network's name (default: the factory's)")


def run(args: argparse.Namespace) -> int:
    from archc.core.atomic import write_output
    from archc.importer.torch_import import import_model
    from archc.importer.torch_proof import prove
    from archc.importer.torch_trace import DEFAULT_INPUT, load_module

    shape = parse_shape(args.input) or DEFAULT_INPUT
    name = args.name or re.sub(r"\W", "_", args.target.rpartition(":")[2]) or "imported"
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise UsageError(f"--name '{name}' is not a name", hint="letters, digits and _")
    model = load_module(args.target, args.kwargs)
    imported = import_model(model, args.target, name, shape)
    text = imported.text
    out = Path(args.output)
    write_output(out, text.encode())
    print(f"traced with {imported.tracer}" + (f" ({imported.why})" if imported.why else ""))
    print(f"wrote {out} ({len(text.splitlines())} lines)")
    try:
        proof = prove(text, model, shape, str(out), rounding=imported.rounding)
    except ArchcError:
        print(f"{out}: the imported spec does not check; this is a bug in archc import")
        raise
    for line in proof.lines:
        print(line)
    if not proof.equal:
        print(f"{out}: NOT equal to {args.target}; this is a bug in archc import")
        return 1
    print(f"{out} is equal to {args.target}")
    return 0
