"""Training steps: eager, one CUDA graph per step, torch.compile, or compile inside a graph.

Every engine runs the same step (gather the batch on the device, forward under autocast,
cross-entropy, backward, optimizer step, add loss and hits to on-device sums). None of them
reads a value back to the host: the loop does that a few times per epoch.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from archc.train.batches import DeviceData
from archc.train.dist import World, shard

ENGINES = ("auto", "eager", "graph", "compile", "compile-graph")
# Eager steps before a graph is captured: cuDNN picks its algorithms and the optimizer
# creates its buffers there, on a side stream, as the CUDA-graphs notes in PyTorch require.
WARMUP_STEPS = 3
# `auto` compiles when a run trains on at least this many examples. On an H100 (BENCHMARKS.md)
# compiling 002's ResNet-18 cost ~32 s from a cold cache (imports included) and raised a step
# from 41.8k to 63.4k examples/s, 7.8 us saved per example: it pays for itself after ~4M.
COMPILE_PAYS_AFTER = 4_000_000


@contextlib.contextmanager
def no_autotune() -> Iterator[None]:
    """cuDNN heuristics instead of benchmarking, for shapes seen once an epoch (the last, odd
    batch; evaluation): autotuning them cost seconds on the first epoch and saves nothing."""
    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = old


@dataclass(frozen=True)
class Outputs:
    """How the loss reads a network that returns a dict (`output NAME`): its main output's
    cross-entropy plus `aux_weight` times each auxiliary output's (GoogLeNet's and
    Inception-v3's training-only heads), as Szegedy et al. 2014 weight theirs (by 0.3)."""

    main: str
    aux: tuple[str, ...] = ()
    aux_weight: float = 0.4

    @classmethod
    def of(cls, model: torch.nn.Module, aux_weight: float) -> Outputs | None:
        """From the roles archc/train/source.py put on the built model; None: one tensor."""
        roles = getattr(model, "archc_outputs", None)
        return None if roles is None else cls(roles[0], tuple(roles[1]), aux_weight)

    def logits(self, out: Any) -> torch.Tensor:
        return out[self.main] if isinstance(out, dict) else out


def loss_sum(out: Any, y: torch.Tensor, outputs: Outputs | None,
             label_smoothing: float = 0.0) -> torch.Tensor:
    """The summed cross-entropy of a batch: of the one output, or of the main output plus
    aux_weight x each auxiliary output the forward returned (train mode: all of them)."""
    def ce(logits: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), y, reduction="sum",
                               label_smoothing=label_smoothing)

    if outputs is None:
        return ce(out)
    total = ce(out[outputs.main])
    for name in outputs.aux:
        if name in out:
            total = total + outputs.aux_weight * ce(out[name])
    return total


class Stepper:
    """Runs training steps for one model and optimizer, keeping [loss_sum, hits, count]."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 data: DeviceData, batch_size: int, engine: str, amp: torch.dtype | None,
                 world: World, label_smoothing: float = 0.0, clip: float | None = None,
                 outputs: Outputs | None = None):
        # `model` is never compiled (odd-sized batches use it); `forward` may be.
        self.model, self.optimizer, self.data = model, optimizer, data
        self.world, self.amp = world, amp
        self.label_smoothing, self.clip = label_smoothing, clip
        self.outputs = outputs  # a dict's main and auxiliary outputs; None: one tensor
        self.params = [p for p in model.parameters() if p.requires_grad]
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
        x, y = self.data.batch(idx, train=True)
        with torch.autocast(self.device.type, dtype=self.amp or torch.float32,
                            enabled=self.amp is not None, cache_enabled=False):
            out = forward(x)
        total = loss_sum(out, y, self.outputs, self.label_smoothing)
        out = self.outputs.logits(out) if self.outputs is not None else out
        # world/n_global: DDP averages gradients over ranks, giving the global batch's mean.
        (total * (self.world.size / n_global)).backward()
        if self.clip is not None:  # no host sync: the norm stays on the device
            torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.optimizer.step()
        with torch.no_grad():
            self.sums[0] += total.detach()
            self.sums[1] += (out.argmax(dim=1) == y).sum()
            self.sums[2] += y.shape[0]

    def step(self, idx: torch.Tensor, n_global: int) -> None:
        """One optimizer step on this rank's indices `idx` of a global batch of `n_global`."""
        if self.graph is not None and idx.shape[0] == self.full:
            assert self.static_idx is not None
            self.static_idx.copy_(idx)
            self.graph.replay()
            return
        odd = idx.shape[0] != self.full
        # Once a graph holds the .grad tensors they must stay in place: zero, don't free.
        self.optimizer.zero_grad(set_to_none=self.graph is None)
        if odd:  # uncompiled and outside the graph: a shape seen once an epoch
            with no_autotune():
                self._body(idx, n_global, self.model)
        elif self.use_graph:
            self._warm_and_capture(idx, n_global)
        else:
            self._first_step_or_body(idx, n_global)

    def _first_step_or_body(self, idx: torch.Tensor, n_global: int) -> None:
        if self.warm == 0:
            self._first_compiled(idx, n_global)
        else:
            self._body(idx, n_global, self.forward)
        self.warm += 1

    def _first_compiled(self, idx: torch.Tensor, n_global: int) -> None:
        """The first step compiles; if torch.compile fails, say so and go on uncompiled."""
        if self.forward is self.model:
            self._body(idx, n_global, self.forward)
            return
        try:
            self._body(idx, n_global, self.forward)
        except Exception as exc:  # noqa: BLE001 - any compiler failure: fall back, loudly
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            print(f"warning: torch.compile failed ({type(exc).__name__}: {first}); "
                  "training uncompiled", file=sys.stderr)
            self.forward = self.model
            self.optimizer.zero_grad(set_to_none=True)
            self._body(idx, n_global, self.forward)

    def _warm_and_capture(self, idx: torch.Tensor, n_global: int) -> None:
        if self.side is None:
            self.side = torch.cuda.Stream(self.device)
        self.side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.side):
            self._first_step_or_body(idx, n_global)
        torch.cuda.current_stream(self.device).wait_stream(self.side)
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
    """[loss_sum, top-1 hits, count, top-5 hits] of `model` on this rank's share of `data`
    (eval mode; top-5 is top-k with k = min(5, classes))."""
    was_training = model.training
    model.eval()
    with no_autotune():
        sums = _eval_sums(model, data, batch_size, amp, world)
    model.train(was_training)
    return sums


def _eval_sums(model: torch.nn.Module, data: DeviceData, batch_size: int,
               amp: torch.dtype | None, world: World) -> torch.Tensor:
    device = data.labels.device
    sums = torch.zeros(4, dtype=torch.float32, device=device)
    idx_all = shard(torch.arange(len(data), device=device), world)
    for start in range(0, idx_all.shape[0], batch_size):
        idx = idx_all[start:start + batch_size]
        x, y = data.batch(idx)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            out: Any = model(x)
        if isinstance(out, dict):  # eval mode: the main output (engine.Outputs)
            out = out[getattr(model, "archc_outputs")[0]]  # noqa: B009 - set by source.py
        sums[0] += F.cross_entropy(out.float(), y, reduction="sum")
        sums[1] += (out.argmax(dim=1) == y).sum()
        sums[2] += y.shape[0]
        top = out.topk(min(5, out.shape[1]), dim=1).indices
        sums[3] += (top == y[:, None]).any(dim=1).sum()
    return sums


def choose_engine(requested: str, device: torch.device, world: World,
                  examples: int = 0) -> str:
    """`auto`: on one GPU, a CUDA graph per step (capture costs well under a second), with
    torch.compile inside it for runs long enough to repay the compile (COMPILE_PAYS_AFTER);
    eager on the CPU and with several processes."""
    if requested == "auto":
        if device.type != "cuda" or world.distributed:
            return "eager"
        return "compile-graph" if examples >= COMPILE_PAYS_AFTER else "graph"
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
