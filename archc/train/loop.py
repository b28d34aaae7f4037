"""The training loop: d2l's `train_ch6` (003) with the data on the device, checkpoints every
epoch, exact resume, NaN stops and data parallelism.

Determinism: the shuffle of epoch e and the RNG that dropout draws from are both seeded from
(seed, e), so an epoch redone after a crash replays exactly, given the state saved before it.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archc.emit.torch import init_weights
from archc.train import checkpoint, host, memory, optim, report
from archc.train.batches import Augment, to_device
from archc.train.config import Recipe, TrainError
from archc.train.data import Split
from archc.train.dist import World, all_sum, barrier, shard
from archc.train.engine import Outputs, Stepper, choose_engine, describe, evaluate
from archc.train.memory import measuring

STALL_ENV = "ARCHC_TRAIN_STALL_AT"  # "epoch:batch": stop there until killed (crash tests)


class NonFiniteLoss(TrainError):
    """The training loss became NaN or infinite."""


@dataclass
class RunConfig:
    """How to run a recipe (none of this changes what is computed)."""

    recipe: Recipe
    size: int | tuple[int, int] = 28  # the image side (or H, W) the network sees
    seed: int = 0
    device: str = "auto"
    engine: str = "auto"
    channels_last: bool | None = None
    deterministic: bool | None = None
    progress: bool = True
    tensorboard: bool = True
    eval_batch_size: int = 1024
    log_points: int = 20  # host reads per epoch (progress bar and NaN checks)
    sync_bn: bool = True
    world: World = field(default_factory=World)


@dataclass
class Runtime:
    device: torch.device
    amp: torch.dtype | None
    channels_last: bool
    engine: str


def resolve_device(name: str, world: World) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainError(f"--device {name}: CUDA is not available here",
                             hint="use --device cpu")
        if device.index is None:
            device = torch.device("cuda", world.local_rank if world.distributed else 0)
        torch.cuda.set_device(device)
    return device


def setup(cfg: RunConfig) -> Runtime:
    """Pick the device, precision, layout and engine, and set the global switches they need."""
    device = resolve_device(cfg.device, cfg.world)
    on_gpu = device.type == "cuda"
    deterministic = (not on_gpu) if cfg.deterministic is None else cfg.deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=on_gpu)
    if on_gpu:
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if not on_gpu:
        host.keep_freed_memory()  # no page faults for each step's buffers (archc/train/host.py)
        if deterministic:  # no result reads uninitialised memory: skip filling it with NaN
            torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
    precision = cfg.recipe.precision
    if precision == "auto":
        precision = "bf16" if on_gpu else "fp32"
    amp = torch.bfloat16 if precision == "bf16" else None
    channels_last = on_gpu if cfg.channels_last is None else cfg.channels_last
    try:
        choose_engine(cfg.engine, device, cfg.world)  # reject impossible choices early
    except ValueError as exc:
        raise TrainError(str(exc)) from None
    return Runtime(device, amp, channels_last, cfg.engine)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    return (seed * 1_000_003 + epoch * 7919 + rank) % (2**63)


def batches_per_epoch(n: int, batch_size: int, world: World) -> int:
    batches = math.ceil(n / batch_size)
    if world.distributed and n - (batches - 1) * batch_size < world.size:
        batches -= 1  # a last batch too small to give every rank an example
    return batches


@dataclass
class Trainer:
    """One run: model, optimizer, device data and history, with a checkpoint per epoch."""

    model_fn: Callable[[], nn.Module]
    train_split: Split
    test_split: Split
    run_dir: Path
    cfg: RunConfig
    info: dict[str, Any] = field(default_factory=dict)
    out: Callable[[str], None] = print
    # the checked archc Network, for the memory estimate set beside the first step's
    # measurement (archc/train/memory.py); None for a module factory
    network: Any = None

    def run(self, resume: bool = False) -> list[dict[str, Any]]:
        from archc.train import dist

        world = self.cfg.world
        self.t_start = time.perf_counter()
        self.writer = report.BackgroundWriter()
        self.history: list[dict[str, Any]] = []
        self.tb: report.TensorBoard | None = None
        rt = setup(self.cfg)
        dist.init(world, rt.device)
        try:
            self._run(rt, resume)
        except BaseException:
            _quiet_flush(self.writer)
            self._finish(quiet=True)
            dist.shutdown(world, synchronize=False)
            raise
        self.writer.flush()  # the last checkpoint is on disk before the closing lines
        self._finish()
        dist.shutdown(world)
        return self.history

    def _finish(self, quiet: bool = False) -> None:
        """Close the event files and draw the curves of the epochs done (once, at the end)."""
        if self.tb is not None:
            self.tb.close()
        if not self.cfg.world.is_main or not self.history:
            return
        try:
            report.plot(self.run_dir / "curves.png", self.history,
                        str(self.info.get("name", "training")))
        except Exception as exc:  # noqa: BLE001 - a plot is never worth a failed run
            if not quiet:
                print(f"warning: curves.png not drawn ({type(exc).__name__}: {exc})",
                      file=sys.stderr)

    def _build(self, rt: Runtime, graph: bool) -> tuple[nn.Module, torch.optim.Optimizer]:
        r = self.cfg.recipe
        torch.manual_seed(self.cfg.seed)
        model = self.model_fn()
        init_weights(model, r.init)
        model = model.to(rt.device)
        if rt.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model, optim.make_optimizer(model, r, rt.device, graph)

    def _start(self, model: nn.Module, opt: torch.optim.Optimizer, resume: bool
               ) -> list[dict[str, Any]]:
        self.best = -1.0
        if not resume:
            self._save(0, model, opt, [])
            return []
        index, tensors = checkpoint.load(self.run_dir)
        tensor_lr = opt.param_groups[0]["lr"]
        checkpoint.restore(model, opt, index, tensors)
        optim.apply_recipe(opt, self.cfg.recipe,
                           tensor_lr if isinstance(tensor_lr, torch.Tensor) else None)
        if (self.run_dir / checkpoint.BEST).exists():
            try:
                best = checkpoint.read_index(self.run_dir / checkpoint.BEST)[1]["history"]
                self.best = float(best[-1]["test_acc"]) if best else -1.0
            except (checkpoint.CheckpointError, KeyError, TypeError, ValueError):
                self.best = -1.0
        return list(index.get("history", []))[: index["epoch"]]

    def _done_epochs(self, resume: bool) -> int:
        return checkpoint.read_index(self.run_dir)[1]["epoch"] if resume else 0

    def _run(self, rt: Runtime, resume: bool) -> None:
        cfg, world, r = self.cfg, self.cfg.world, self.cfg.recipe
        norm = (r.mean, r.std) if r.normalize else (None, None)
        train = to_device(self.train_split, cfg.size, rt.device, *norm, rt.channels_last,
                          Augment.of(r))
        test = to_device(self.test_split, cfg.size, rt.device, *norm, rt.channels_last)
        todo = (r.epochs - self._done_epochs(resume)) * len(train)
        rt.engine = choose_engine(cfg.engine, rt.device, world, todo)
        model, opt = self._build(rt, graph=rt.engine in ("graph", "compile-graph"))
        self.history = self._start(model, opt, resume)
        from archc.train.dist import wrap

        net = wrap(model, world, rt.device, cfg.sync_bn)
        stepper = Stepper(net, opt, train, r.batch_size, rt.engine, rt.amp, world,
                          r.label_smoothing, r.clip_grad_norm,
                          Outputs.of(model, r.aux_weight))
        schedule = optim.Schedule(r, opt, batches_per_epoch(len(train), r.batch_size, world))
        if world.is_main and cfg.tensorboard:
            self.tb = report.TensorBoard(self.run_dir, len(self.history) + 1)
        if world.is_main:
            dev = str(rt.device) if rt.device.type == "cpu" or rt.device.index is None else \
                f"cuda:{rt.device.index}"
            procs = f" x {world.size} processes" if world.distributed else ""
            self.out(f"training on {dev}{procs} ({describe(rt.engine, rt.amp, rt.channels_last)})")
        self.first_epoch = len(self.history) + 1
        for epoch in range(len(self.history) + 1, r.epochs + 1):
            record = self._epoch(epoch, stepper, schedule, model, train, test, rt)
            if self.info.get("classes", 6) <= 5:  # top-5 of 5 classes or fewer: always 1
                record.pop("test_top5", None)
            if world.is_main and not cfg.progress:  # no bar: one line per epoch (CI logs)
                self.out(report.epoch_line(record, r.epochs))
            self.history.append(record)
            if self.tb is not None:
                self.tb.epoch(record)
            best = record["test_acc"] > self.best
            self.best = max(self.best, record["test_acc"])
            self._save(epoch, model, opt, self.history, best)

    def _epoch(self, epoch: int, stepper: Stepper, schedule: optim.Schedule, model: nn.Module,
               train: Any, test: Any, rt: Runtime) -> dict[str, Any]:
        cfg, world, r = self.cfg, self.cfg.world, self.cfg.recipe
        torch.manual_seed(epoch_seed(cfg.seed, epoch, world.rank))
        gen = torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch))
        perm = torch.randperm(len(train), generator=gen).to(rt.device)
        bsz = r.batch_size
        batches = batches_per_epoch(len(train), bsz, world)
        every = max(1, batches // cfg.log_points)
        stall = _stall_point()
        stepper.take_sums()
        model.train()
        t0 = time.perf_counter()
        with report.EpochBar(epoch, r.epochs, batches, cfg.progress and world.is_main) as bar:
            for b in range(batches):
                if stall == (epoch, b):
                    self.writer.flush()
                    _stall(epoch, b)
                schedule.set((epoch - 1) * batches + b)
                gidx = perm[b * bsz:(b + 1) * bsz]
                if b == 0 and epoch == self.first_epoch and self._measures(rt):
                    with measuring(model, len(shard(gidx, world)), rt.device) as measured:
                        stepper.step(shard(gidx, world), gidx.shape[0])
                else:
                    stepper.step(shard(gidx, world), gidx.shape[0])
                if (b + 1) % every == 0 or b == batches - 1:
                    s = all_sum(stepper.sums, world).tolist()
                    self._check_finite(s[0], epoch, b, batches)
                    bar.update(b + 1, s[0] / s[2], s[1] / s[2],
                               s[2] / max(time.perf_counter() - t0, 1e-9))
        if rt.device.type == "cuda":
            torch.cuda.synchronize(rt.device)
        seconds = time.perf_counter() - t0
        tr = all_sum(stepper.take_sums(), world).tolist()
        t1 = time.perf_counter()
        te = all_sum(evaluate(model, test, cfg.eval_batch_size, rt.amp, world), world).tolist()
        if epoch == self.first_epoch and self._measures(rt) and world.is_main:
            for line in memory.report(self.network, measured, r.optimizer if r.optimizer ==
                                      "adamw" else "momentum" if r.momentum else "sgd",
                                      rt.amp is not None, rt.device, self.run_dir,
                                      rt.channels_last):
                self.out(line)
        return {"epoch": epoch, "train_loss": tr[0] / tr[2], "train_acc": tr[1] / tr[2],
                "test_loss": te[0] / te[2], "test_acc": te[1] / te[2],
                "test_top5": te[3] / te[2], "examples": int(tr[2]),
                "train_seconds": seconds, "examples_per_sec": tr[2] / seconds,
                "eval_seconds": time.perf_counter() - t1, "lr": schedule.current,
                "elapsed_s": time.perf_counter() - self.t_start}

    def _measures(self, rt: Runtime) -> bool:
        """Whether the first step is measured: for an archc network, stepped eagerly (the
        hook does not reach into a captured graph or compiled code)."""
        return self.network is not None and rt.engine == "eager"

    def _check_finite(self, loss_sum: float, epoch: int, b: int, batches: int) -> None:
        if math.isfinite(loss_sum):
            return
        self.writer.flush()
        last = checkpoint.resolve(self.run_dir)
        what = "nan" if math.isnan(loss_sum) else "infinite"
        raise NonFiniteLoss(
            f"loss is {what} in epoch {epoch} (by batch {b + 1} of {batches}); training stopped",
            hint=f"the last good checkpoint, {last} (epoch {epoch - 1}), is kept; "
                 f"lower the learning rate (lr = {self.cfg.recipe.lr:g})")

    def _save(self, epoch: int, model: nn.Module, opt: torch.optim.Optimizer,
              history: list[dict[str, Any]], best: bool = False) -> None:
        world = self.cfg.world
        if world.is_main:
            history = list(history)
            info = {**self.info, "recipe": self.cfg.recipe.model_dump(), "seed": self.cfg.seed,
                    "history": history, "torch": torch.__version__, "world_size": world.size}
            tensors, optim_meta = checkpoint.flatten_state(model, opt)  # now, not later
            self.writer.submit(lambda: self._write(epoch, tensors, optim_meta, info, history,
                                                   best))
        barrier(world)

    def _write(self, epoch: int, tensors: dict[str, torch.Tensor], optim_meta: dict[str, Any],
               info: dict[str, Any], history: list[dict[str, Any]], best: bool) -> None:
        try:
            checkpoint.write(self.run_dir, epoch, tensors, optim_meta, info, best)
            if history:
                report.write_metrics(self.run_dir / "metrics.jsonl", history)
        except OSError as exc:
            raise TrainError(f"{self.run_dir}: cannot write the checkpoint "
                             f"({exc.strerror or exc})", hint="is the disk full, or the run "
                             "folder read-only?") from None


def _quiet_flush(writer: report.BackgroundWriter) -> None:
    """Finish writing while another error is on its way out (that one is the one to report)."""
    try:
        writer.flush()
    except Exception:  # noqa: BLE001
        pass


def _stall_point() -> tuple[int, int] | None:
    spec = os.environ.get(STALL_ENV)
    if not spec:
        return None
    epoch, _, batch = spec.partition(":")
    return int(epoch), int(batch or 0)


def _stall(epoch: int, batch: int) -> None:
    """Fault injection for the crash tests: announce the point, then wait to be killed."""
    sys.stderr.write(f"archc: stalled at epoch {epoch} batch {batch} ({STALL_ENV})\n")
    sys.stderr.flush()
    while True:
        time.sleep(3600)
