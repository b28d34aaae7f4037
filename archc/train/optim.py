"""Optimizers and learning-rate schedules from a recipe (one registry entry per optimizer).

The schedule (archc/core/recipe.py: `Recipe.lr_at`) is applied before every step. Engines that
replay a captured CUDA graph cannot see a Python float change, so there the learning rate is
a device tensor updated in place (SGD's fused kernel and capturable AdamW read it on the device).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from archc.core.recipe import Recipe

Params = Iterable[torch.nn.Parameter]


def _sgd(params: Params, r: Recipe, lr: float | torch.Tensor, graph: bool) -> torch.optim.Optimizer:
    extra = {"fused": True} if isinstance(lr, torch.Tensor) else {}
    return torch.optim.SGD(params, lr=lr, momentum=r.momentum, nesterov=r.nesterov,
                           weight_decay=r.weight_decay, **extra)


def _adamw(params: Params, r: Recipe, lr: float | torch.Tensor, graph: bool
           ) -> torch.optim.Optimizer:
    # Adam keeps its step count on the host unless capturable: a graph needs it on the device.
    return torch.optim.AdamW(params, lr=lr, betas=(r.beta1, r.beta2),
                             weight_decay=r.weight_decay, capturable=graph)


OPTIMIZERS: dict[str, Callable[[Params, Recipe, Any, bool], torch.optim.Optimizer]] = {
    "sgd": _sgd, "adamw": _adamw}


def constant_lr(r: Recipe) -> bool:
    return r.schedule == "constant" and r.warmup_epochs == 0


def make_optimizer(model: torch.nn.Module, r: Recipe, device: torch.device,
                   graph: bool) -> torch.optim.Optimizer:
    """The recipe's optimizer; with a tensor learning rate when a graph replays the step and
    the rate changes."""
    lr: float | torch.Tensor = r.lr_at(0, 1)
    if graph and not constant_lr(r):
        lr = torch.tensor(lr, dtype=torch.float32, device=device)
    return OPTIMIZERS[r.optimizer](model.parameters(), r, lr, graph)


class Schedule:
    """Sets the learning rate of every step; a no-op after the first when it is constant."""

    def __init__(self, r: Recipe, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
        self.recipe, self.optimizer = r, optimizer
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.constant = constant_lr(r)
        self.current: float | None = None

    def set(self, step: int) -> float:
        lr = self.recipe.lr if self.constant else self.recipe.lr_at(step, self.steps_per_epoch)
        if lr != self.current:
            for group in self.optimizer.param_groups:
                if isinstance(group["lr"], torch.Tensor):
                    group["lr"].fill_(lr)
                else:
                    group["lr"] = lr
            self.current = lr
        return lr


def apply_recipe(optimizer: torch.optim.Optimizer, r: Recipe, tensor_lr: torch.Tensor | None
                 ) -> None:
    """After a resume: the recipe's numbers (which may have changed) over the restored ones;
    `tensor_lr` (the optimizer's own, before the restore replaced it) stays its lr."""
    numbers: dict[str, Any] = {"weight_decay": r.weight_decay}
    if r.optimizer == "sgd":
        numbers.update(momentum=r.momentum, nesterov=r.nesterov)
    else:
        numbers.update(betas=(r.beta1, r.beta2))
    for group in optimizer.param_groups:
        group.update(numbers)
        if tensor_lr is not None:
            group["lr"] = tensor_lr
