"""Training steps: eager, one CUDA graph per step, torch.compile, or compile inside a graph.

Every engine runs the same step (gather the batch on the device, forward under autocast,
cross-entropy, backward, optimizer step, add loss and hits to on-device sums). None of them
reads a value back to the host: the loop does that a few times per epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from archc.train.data import DeviceData
from archc.train.dist import World, shard

ENGINES = ("auto", "eager", "graph", "compile", "compile-graph")
# Eager steps before a graph is captured: cuDNN picks its algorithms and the optimizer
# creates its buffers there, on a side stream, as the CUDA-graphs notes in PyTorch require.
WARMUP_STEPS = 3


class Stepper:
    """Runs training steps for one model and optimizer, keeping [loss_sum, hits, count]."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 data: DeviceData, batch_size: int, engine: str, amp: torch.dtype | None,
                 world: World, plain: torch.nn.Module | None = None):
        self.model, self.optimizer, self.data = model, optimizer, data
        self.plain = plain or model  # the uncompiled module, for odd-sized batches
        self.world, self.amp = world, amp
        self.device = data.labels.device
        self.sums = torch.zeros(3, dtype=torch.float32, device=self.device)
        self.engine = engine
        self.use_graph = engine in ("graph", "compile-graph")
        self.forward: Callable[[torch.Tensor], torch.Tensor] = model
        if engine in ("compile", "compile-graph"):
            self.forward = torch.compile(model)
        self.full = len(shard(torch.empty(batch_size), world))  # this rank's full batch
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_idx: torch.Tensor | None = None
        self.warm = 0
        self.side: torch.cuda.Stream | None = None

    def _body(self, idx: torch.Tensor, n_global: int,
              forward: Callable[[torch.Tensor], torch.Tensor]) -> None:
        x, y = self.data.batch(idx)
        with torch.autocast(self.device.type, dtype=self.amp or torch.float32,
                            enabled=self.amp is not None, cache_enabled=False):
            out = forward(x)
        loss_sum = F.cross_entropy(out.float(), y, reduction="sum")
        # world/n_global: DDP averages gradients over ranks, giving the global batch's mean.
        (loss_sum * (self.world.size / n_global)).backward()
        self.optimizer.step()
        with torch.no_grad():
            self.sums[0] += loss_sum.detach()
            self.sums[1] += (out.argmax(dim=1) == y).sum()
            self.sums[2] += y.shape[0]

    def step(self, idx: torch.Tensor, n_global: int) -> None:
        """One optimizer step on this rank's indices `idx` of a global batch of `n_global`."""
        if self.graph is not None and idx.shape[0] == self.full:
            self.static_idx.copy_(idx)
            self.graph.replay()
            return
        odd = idx.shape[0] != self.full
        # Once a graph holds the .grad tensors they must stay in place: zero, don't free.
        self.optimizer.zero_grad(set_to_none=self.graph is None)
        forward = self.plain if odd and self.forward is not self.model else self.forward
        if not self.use_graph or odd:
            self._body(idx, n_global, forward)
            return
        self._warm_and_capture(idx, n_global)

    def _warm_and_capture(self, idx: torch.Tensor, n_global: int) -> None:
        if self.side is None:
            self.side = torch.cuda.Stream(self.device)
        self.side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.side):
            self._body(idx, n_global, self.forward)
        torch.cuda.current_stream(self.device).wait_stream(self.side)
        self.warm += 1
        if self.warm < WARMUP_STEPS:
            return
        self.static_idx = idx.clone()
        self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        # The captured body adds to self.sums in place and writes .grad in the graph's pool.
        with torch.cuda.graph(graph):
            self._body(self.static_idx, n_global, self.forward)
        self.graph = graph

    def take_sums(self) -> torch.Tensor:
        """The sums so far (a copy) and reset them to zero, in place (graphs hold them)."""
        out = self.sums.clone()
        self.sums.zero_()
        return out


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: DeviceData, batch_size: int,
             amp: torch.dtype | None, world: World) -> torch.Tensor:
    """[loss_sum, hits, count] of `model` on this rank's share of `data` (eval mode)."""
    was_training = model.training
    model.eval()
    device = data.labels.device
    sums = torch.zeros(3, dtype=torch.float32, device=device)
    idx_all = shard(torch.arange(len(data), device=device), world)
    for start in range(0, idx_all.shape[0], batch_size):
        idx = idx_all[start:start + batch_size]
        x, y = data.batch(idx)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            out = model(x)
        sums[0] += F.cross_entropy(out.float(), y, reduction="sum")
        sums[1] += (out.argmax(dim=1) == y).sum()
        sums[2] += y.shape[0]
    model.train(was_training)
    return sums


def choose_engine(requested: str, device: torch.device, world: World) -> str:
    """`auto`: one CUDA graph per step on a single GPU (capture costs about a second and pays
    off within the first epoch), eager elsewhere. torch.compile is opt-in: see BENCHMARKS.md."""
    if requested == "auto":
        return "graph" if device.type == "cuda" and not world.distributed else "eager"
    if requested in ("graph", "compile-graph") and device.type != "cuda":
        raise ValueError(f"--engine {requested} needs a CUDA device")
    if requested in ("graph", "compile-graph") and world.distributed:
        raise ValueError(f"--engine {requested} is not supported with more than one process")
    return requested


def describe(engine: str, amp: Any, channels_last: bool) -> str:
    parts = [engine, "bf16 autocast" if amp is not None else "fp32"]
    if channels_last:
        parts.append("channels_last")
    return ", ".join(parts)
