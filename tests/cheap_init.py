"""`cheap_init()`: torch.nn.init's random fills made cheap, for the comparisons that need
weights with many different values, not weights of a given distribution.

The equivalence proofs (an exported file against archc.build, ONNX against PyTorch, archc
against torchvision, an in-place module against an out-of-place one) give both sides the same
weights; what those weights are does not matter, as long as no two of them are likely equal and
the activations stay in range. Drawing them is not free: kaiming_uniform_ on fp64 VGG and ViT
weights was a sixth of tests/export_check.py's CPU (14 of 82 s under cProfile). Here every
random fill is a slice of one random pool, scaled as the real function scales it (kaiming's and
xavier's bounds, uniform_'s range, normal_'s and trunc_normal_'s standard deviation as a
uniform's): copying is several times cheaper than drawing. The pool's length is a prime, so no
row of a matrix of fewer rows repeats another, and where a slice starts is drawn from torch's
own generator: two builds after the same `torch.manual_seed` get the same values (the ONNX check
builds its model twice). zeros_, ones_ and constant_ stay as they are (a test perturbs those
where a constant would hide a dropped bias). Only the comparisons use it: the tests that train
(tests/test_train*.py) and `--init` (tests/test_train_recipes.py) run on the real fills.

Standalone (no archc import): tests/export_check.py and tests/onnx_check.py run it in their own
interpreters."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.nn import init

_POOL = 1_000_003  # a prime
_pools: dict[torch.dtype, torch.Tensor] = {}


def _values(dtype: torch.dtype) -> torch.Tensor:
    """The pool: uniform on [-1, 1], drawn once per process from its own generator (one copy
    per dtype asked for, so that a fill is one pass: scale and write)."""
    if dtype not in _pools:
        g = torch.Generator().manual_seed(20261206)
        values = torch.rand(_POOL, dtype=torch.float64, generator=g).mul_(2).sub_(1)
        _pools[dtype] = values.to(dtype)
    return _pools[dtype]


def _fill(tensor: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """`tensor` filled with pool values scaled onto [low, high], from a random place."""
    if tensor.device.type == "meta" or not tensor.numel():
        return tensor  # nothing to fill
    if tensor.device.type != "cpu" or not tensor.is_floating_point():
        with torch.no_grad():
            return tensor.uniform_(low, high)  # torch's own draw: no pool for these
    if not tensor.is_contiguous():  # a view: filled through a contiguous copy
        with torch.no_grad():
            return tensor.copy_(_fill(torch.empty(tensor.shape, dtype=tensor.dtype), low, high))
    pool = _values(tensor.dtype)
    flat = tensor.detach().view(-1)
    start = int(torch.randint(_POOL, ()))
    half, mid = (high - low) / 2, (high + low) / 2
    done = 0
    with torch.no_grad():
        while done < flat.numel():
            take = min(flat.numel() - done, _POOL - start)
            torch.mul(pool[start:start + take], half, out=flat[done:done + take])
            done, start = done + take, 0
        if mid:
            flat.add_(mid)
    return tensor


def fill_(tensor: torch.Tensor, low: float = -1.0, high: float = 1.0) -> torch.Tensor:
    """`tensor` filled with values on [low, high] as cheaply as above (outside `cheap_init()`
    too): for memory from `to_empty`, whose garbage holds denormal floats, on which x86
    computes many times slower (a 13x209x209 clip through S3D: 7.6 s against 1.1)."""
    return _fill(tensor, low, high)


def _fan(tensor: torch.Tensor, mode: str = "fan_in") -> int:
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _kaiming_uniform(tensor: torch.Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", *args: Any, **kw: Any) -> torch.Tensor:
    bound = init.calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return _fill(tensor, -bound, bound)


def _kaiming_normal(tensor: torch.Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", *args: Any, **kw: Any) -> torch.Tensor:
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return _fill(tensor, -std * math.sqrt(3), std * math.sqrt(3))


def _xavier(tensor: torch.Tensor, gain: float = 1.0, *args: Any, **kw: Any) -> torch.Tensor:
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _fill(tensor, -bound, bound)


def _uniform(tensor: torch.Tensor, a: float = 0.0, b: float = 1.0, *args: Any,
             **kw: Any) -> torch.Tensor:
    return _fill(tensor, a, b)


def _normal(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, *args: Any,
            **kw: Any) -> torch.Tensor:
    return _fill(tensor, mean - std * math.sqrt(3), mean + std * math.sqrt(3))


def _trunc_normal(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0,
                  a: float = -2.0, b: float = 2.0, *args: Any, **kw: Any) -> torch.Tensor:
    return _fill(tensor, max(a, mean - std), min(b, mean + std))


CHEAP: dict[str, Callable[..., torch.Tensor]] = {
    "kaiming_uniform_": _kaiming_uniform, "kaiming_normal_": _kaiming_normal,
    "xavier_uniform_": _xavier, "xavier_normal_": _xavier, "uniform_": _uniform,
    "normal_": _normal, "trunc_normal_": _trunc_normal,
}


@contextlib.contextmanager
def _swapped(fills: dict[str, Callable[..., torch.Tensor]]) -> Iterator[None]:
    """Inside: torch.nn.init's functions named in `fills` are those fills."""
    saved = {name: getattr(init, name) for name in fills}
    for name, fill in fills.items():
        setattr(init, name, fill)
    try:
        yield
    finally:
        for name, fill in saved.items():
            setattr(init, name, fill)


def cheap_init() -> contextlib.AbstractContextManager[None]:
    """Inside: torch.nn.init's random fills (what nn.Linear, nn.Conv*, nn.Embedding,
    nn.MultiheadAttention and torchvision's builders call) are the cheap ones above."""
    return _swapped(CHEAP)


def _zero(tensor: torch.Tensor, *args: Any, **kw: Any) -> torch.Tensor:
    with torch.no_grad():
        return tensor.zero_()


def zero_init() -> contextlib.AbstractContextManager[None]:
    """Inside: those random fills write zeros (one memset each), for the tests whose result
    no value changes (what autograd saves for backward: tests/test_memory_train.py); no
    garbage (to_empty's denormals) to compute on."""
    return _swapped(dict.fromkeys(CHEAP, _zero))


def _unchanged(tensor: torch.Tensor, *args: Any, **kw: Any) -> torch.Tensor:
    return tensor


def no_init() -> contextlib.AbstractContextManager[None]:
    """Inside: torch.nn.init does nothing at all, a module's tensors stay as allocated (pages
    never written): for a module every tensor of which is then imported (asserted where
    used), a build at half the cost of one on the meta device then `to_empty`."""
    return _swapped(dict.fromkeys(
        [n for n in dir(init) if n.endswith("_") and not n.startswith("_")], _unchanged))
