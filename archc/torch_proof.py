"""`archc import`, its proof: the imported spec built, the module's state_dict loaded with
strict=True, and the outputs compared in fp64 in eval and train mode."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class Proof:
    """What `prove` compared, one sentence each, and whether every comparison held."""

    lines: tuple[str, ...]
    equal: bool


def prove(text: str, model: nn.Module, input_shape: tuple[int, ...], path: str,
          batch: int = 2) -> Proof:
    """Build the spec, load the model's state_dict into it with strict=True, and compare the
    outputs in fp64 on one seeded random batch, in eval mode and in train mode (dropout
    drawing from the same seed). Raises ArchcErrors if the spec does not check."""
    import torch

    from . import build, loads

    net = loads(text, path=path)
    ours = build(net).double()
    state = model.state_dict()
    ours.load_state_dict(state, strict=True)
    lines = [f"checked: {net.name}, {len(state)} state_dict tensors loaded with strict=True"]
    theirs = model.double()
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)
    equal = True
    for mode in ("eval", "train"):
        outs = []
        for m in (theirs, ours):
            m.train(mode == "train")
            torch.manual_seed(0)
            with torch.no_grad():
                outs.append(m(x))
        same = outs[0].shape == outs[1].shape and torch.equal(outs[0], outs[1])
        diff = (outs[0] - outs[1]).abs().max().item() if outs[0].shape == outs[1].shape \
            else float("inf")
        equal &= same
        shape = "x".join(map(str, x.shape))
        lines.append(f"{mode} mode: outputs {'equal' if same else 'DIFFER'} (fp64, "
                     f"a seeded random {shape} input, max |diff| {diff:g})")
    return Proof(tuple(lines), equal)
