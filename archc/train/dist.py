"""Data parallelism: process-group setup from torchrun's environment, sharding and reductions.

Each global batch of the recipe's size is cut into one contiguous slice per rank, and every rank
scales its summed loss by world/n_global, so DDP's gradient average equals the one-process
gradient of the same batch (up to summation order).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as tdist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def from_env() -> World:
    """The world torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK (one process if unset)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def init(world: World, device: torch.device) -> None:
    """Join the process group: NCCL between GPUs, gloo on the host."""
    if world.distributed and not tdist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        tdist.init_process_group(backend=backend, rank=world.rank, world_size=world.size)


def shutdown(world: World, synchronize: bool = True) -> None:
    """Leave the process group. After a run, every rank first waits for the others (rank 0
    still writing and drawing the curves), so that none tears its side of the group down
    while another may still use it. Not after an error (`synchronize=False`): a rank that
    failed cannot count on the others reaching a barrier. The process itself then ends
    without the interpreter's teardown (archc/commands/__init__.py)."""
    if world.distributed and tdist.is_initialized():
        if synchronize:
            tdist.barrier()
        tdist.destroy_process_group()


def shard(idx: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's contiguous part of one global batch of indices."""
    if not world.distributed:
        return idx
    return torch.tensor_split(idx, world.size)[world.rank]


def all_sum(t: torch.Tensor, world: World) -> torch.Tensor:
    """The sum of `t` over all ranks (a copy; `t` itself is left alone)."""
    out = t.detach().clone()
    if world.distributed:
        tdist.all_reduce(out, op=tdist.ReduceOp.SUM)
    return out


def barrier(world: World) -> None:
    if world.distributed:
        tdist.barrier()


def broadcast_object(obj: Any, world: World) -> Any:
    """Rank 0's value of `obj` on every rank."""
    if not world.distributed:
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=0)
    return box[0]


def wrap(model: torch.nn.Module, world: World, device: torch.device,
         sync_bn: bool) -> torch.nn.Module:
    """DistributedDataParallel around `model` (parameters broadcast from rank 0)."""
    if not world.distributed:
        return model
    if sync_bn and device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
