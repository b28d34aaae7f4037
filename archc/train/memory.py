"""Training memory, estimated beside measured: at the first step of a run, what autograd saves
inside the model's forward (`saved_tensors_hooks`, each storage once, parameters excluded, as
tests/test_memory_train.py measures it) and, on a GPU, the allocator's peak over the step;
after the first epoch both are written to the run folder (memory.json) beside the static
estimate of archc/expansion/memory_train.py, and printed. Reading the hook changes nothing
computed."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from archc.expansion.memory import fmt_bytes
from archc.expansion.memory_train import estimate

FILE = "memory.json"


@dataclass
class Measured:
    """What one training step kept and used, as measured."""

    batch: int = 0
    saved_bytes: int = 0
    cuda_base_bytes: int | None = None  # allocated before the step (data, weights)
    cuda_peak_bytes: int | None = None  # the allocator's peak during the step
    _seen: dict[int, int] = field(default_factory=dict)


@contextlib.contextmanager
def measuring(model: torch.nn.Module, batch: int, device: torch.device) -> Iterator[Measured]:
    """Measure the step run inside: the storages autograd saves while `model`'s forward runs
    (the loss's own are left out) and, on CUDA, the peak allocated."""
    found = Measured(batch)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    depth = [0]

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if depth[0] and storage.data_ptr() not in params:
            found._seen.setdefault(storage.data_ptr(), storage.nbytes())
        return t

    def enter(module: Any, inputs: Any) -> None:
        depth[0] += 1

    def leave(module: Any, inputs: Any, output: Any) -> None:
        depth[0] -= 1

    hooks = [model.register_forward_pre_hook(enter), model.register_forward_hook(leave)]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        found.cuda_base_bytes = torch.cuda.memory_allocated(device)
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            yield found
    finally:
        for h in hooks:
            h.remove()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        found.cuda_peak_bytes = torch.cuda.max_memory_allocated(device)
    found.saved_bytes = sum(found._seen.values())


def report(net: Any, measured: Measured, optimizer: str, amp: bool, device: torch.device,
           run_dir: Path, channels_last: bool = False) -> list[str]:
    """Write memory.json beside the checkpoints; the lines to print after the first epoch. An
    estimate archc cannot make (a plugin's op without a saved rule) is said, never fatal."""
    from archc.core.errors import ArchcError

    try:
        est = estimate(net, measured.batch, optimizer, "amp" if amp else "fp32",
                       "cuda" if device.type == "cuda" else "cpu", channels_last)
    except ArchcError as exc:
        (run_dir / FILE).write_text(json.dumps({"estimate": None, "why": exc.message,
                                                "measured": {"batch": measured.batch,
                                                             "saved_bytes": measured.saved_bytes}},
                                               indent=2) + "\n")
        return [f"memory (batch {measured.batch}): saved for backward "
                f"{fmt_bytes(measured.saved_bytes)} measured; not estimated: {exc.message}"]
    data: dict[str, Any] = {
        "estimate": {"name": net.name, "params": est.params, **est.to_json()},
        "measured": {"batch": measured.batch, "saved_bytes": measured.saved_bytes,
                     "how": "saved_tensors_hooks inside the model's forward, first step, "
                            "each storage once, parameters excluded",
                     "cuda_base_bytes": measured.cuda_base_bytes,
                     "cuda_peak_bytes": measured.cuda_peak_bytes},
    }
    (run_dir / FILE).write_text(json.dumps(data, indent=2) + "\n")
    saved = est.saved.total.at(measured.batch)
    same = "equal" if saved == measured.saved_bytes else \
        f"off by {measured.saved_bytes - saved:+,} B"
    lines = [f"memory (batch {measured.batch}): saved for backward {fmt_bytes(saved)} estimated, "
             f"{fmt_bytes(measured.saved_bytes)} measured ({same}"
             + (", amp: an estimate)" if amp else ")")]
    if measured.cuda_peak_bytes is not None and measured.cuda_base_bytes is not None:
        step = measured.cuda_peak_bytes - measured.cuda_base_bytes
        lines.append(f"memory: the step's peak on the GPU {fmt_bytes(step)} above what was "
                     f"allocated before it; estimated {fmt_bytes(est.total - est.param_bytes)} "
                     "(gradients, optimizer state, saved, backward transient; the difference "
                     "is the allocator's and the kernels' workspace)")
    else:
        lines.append("memory: no GPU in this run: the GPU allocator's overhead is not measured")
    return lines
