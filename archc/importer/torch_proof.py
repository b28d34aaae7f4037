"""`archc import`, its proof: the imported spec built, the module's state_dict loaded with
strict=True, and the outputs compared in fp64 in eval and train mode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from archc.importer.torch_ops import Rounding


@dataclass(frozen=True)
class Proof:
    """What `prove` compared, one sentence each, and whether every comparison held."""

    lines: tuple[str, ...]
    equal: bool


def prove(text: str, model: nn.Module, input_shape: tuple[int, ...], path: str,
          batch: int = 2, rounding: tuple[Rounding, ...] = ()) -> Proof:
    """Build the spec, load the model's state_dict into it with strict=True, and compare the
    outputs in fp64 on one seeded random batch (token ids for `input tokens`), in eval mode
    and in train mode (dropout drawing from the same seed): bit for bit, or to fp64 rounding
    where `rounding` says why a module rounds otherwise. Raises ArchcErrors if the spec does
    not check."""
    from archc import build, loads
    from archc.expansion.stats import count
    from archc.importer.torch_graph import storage_key

    net = loads(text, path=path)
    ours = build(net).double()
    state = model.state_dict()
    ours.load_state_dict(state, strict=True)
    params = {storage_key(p): p.numel() for p in model.parameters()}  # a shared weight once
    lines = [f"checked: {net.name}, {len(state)} state_dict tensors loaded with strict=True; "
             f"{count(net.root).params:,} parameters, as the module's "
             f"{sum(params.values()):,}"]
    theirs = model.double()
    x = _example(net.input_shape, batch)
    equal = True
    for mode in ("eval", "train"):
        same, line = _compare(theirs, ours, x, mode, rounding)
        equal &= same
        lines.append(line)
    return Proof(tuple(lines), equal)


def _example(shape: Any, batch: int) -> Any:
    import torch

    from archc.core.graph import Ids

    g = torch.Generator().manual_seed(0)
    if isinstance(shape, Ids):
        return torch.randint(shape.vocab, (batch, *shape), generator=g)
    return torch.randn(batch, *shape, generator=g, dtype=torch.float64)


def _compare(theirs: nn.Module, ours: nn.Module, x: Any, mode: str,
             rounding: tuple[Rounding, ...]) -> tuple[bool, str]:
    import torch

    raw = []
    for m in (theirs, ours):
        m.train(mode == "train")
        torch.manual_seed(0)
        with torch.no_grad():
            raw.append(m(x))
    pairs, label = _pairs(raw[0], raw[1])
    label = f"{mode} mode: {label}"
    fits = pairs is not None and all(
        isinstance(w, torch.Tensor) and isinstance(g, torch.Tensor) and w.shape == g.shape
        for w, g in pairs)
    diff = max((w - g).abs().max().item() for w, g in pairs) if fits and pairs \
        else float("inf")
    scale = max(w.abs().max().item() for w, _ in pairs) if fits and pairs else 0.0
    what = ("token ids" if x.dtype == torch.long else "input")
    seen = f"(fp64, a seeded random {'x'.join(map(str, x.shape))} {what}, max |diff| {diff:g}"
    if fits and pairs and all(torch.equal(w, g) for w, g in pairs):
        return True, f"{label} equal {seen})"
    tolerance = max((r.tolerance for r in rounding), default=0.0)
    if fits and diff <= tolerance * max(scale, 1.0):
        kind = "fp64" if tolerance <= 1e-12 else "float32"
        return True, (f"{label} equal to {kind} rounding {seen} <= {tolerance:g} "
                      f"x {max(scale, 1.0):.3g}: {'; '.join(r.why for r in rounding)})")
    return False, f"{label} DIFFER {seen})"


def _pairs(theirs: Any, ours: Any) -> tuple[list[tuple[Any, Any]] | None, str]:
    """The tensors to compare, and what they are: a dict's outputs key by key (the same keys
    in the same order, else None), a ModelOutput's logits, or the one output."""
    from archc.importer.torch_export import output_tensor

    if isinstance(theirs, dict) and not hasattr(theirs, "logits"):
        if not isinstance(ours, dict) or list(theirs) != list(ours):
            return None, "outputs"
        return [(theirs[k], ours[k]) for k in theirs], \
            f"outputs {', '.join(map(repr, theirs))}"
    want, got = output_tensor(theirs), output_tensor(ours)
    return [(want, got)], "outputs" if want is theirs else "logits"  # a ModelOutput's
