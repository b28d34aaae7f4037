"""Shared test helpers: real shapes from a forward pass, static parameter counts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from archc import Network
from archc.core.graph import Layer, walk
from archc.emit.torch import example_inputs
from archc.registry.ops import REGISTRY


def cpu_seed(n: int) -> torch.Generator:
    """`torch.manual_seed(n)` for the CPU's generator alone, the only one these tests draw
    from. torch.manual_seed also queues the seed for CUDA, XPU and MTIA where those have not
    started, each with a formatted copy of the caller's stack (`traceback.format_stack`):
    0.49 ms a call at pytest's stack depth (33 frames; 1.06 ms at 60) against 1.5 us this way,
    and the suite seeds thousands of times (tests/test_export_cases.py's new-argument test
    alone 2,845)."""
    return torch.default_generator.manual_seed(n)


def static_layers(net: Network) -> dict[str, Layer]:
    return {name: node for name, node in walk(net.root.items) if isinstance(node, Layer)}


def static_params(net: Network) -> int:
    return sum(REGISTRY[layer.op].params(layer.args, layer.in_shape, layer.out_shape)
               for layer in static_layers(net).values())


def real_shapes(model: torch.nn.Module, net: Network, batch: int = 2) -> dict[str, tuple]:
    """Output shape (batch axis dropped) of every leaf module, from a real forward pass."""
    seen: dict[str, tuple] = {}
    hooks = [m.register_forward_hook(
        lambda mod, inp, out, name=name: seen.__setitem__(name, tuple(out.shape[1:])))
        for name, m in model.named_modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model.eval()(*example_inputs(net, batch))
    finally:
        for h in hooks:
            h.remove()
    return seen


def _sdpa_flop(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)  # torch's sdpa_flop, on the CPU kernel's shapes


@contextlib.contextmanager
def flop_counter() -> Iterator[FlopCounterMode]:
    """torch's FlopCounterMode, seeing attention's matrix products on CPU too: torch counts
    scaled_dot_product_attention's CUDA kernels with `sdpa_flop` but has no formula for the
    CPU kernel, so the same count is registered for it; and nn.MultiheadAttention's fused
    inference path (one opaque kernel) is turned off while counting."""
    aten = torch.ops.aten
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with FlopCounterMode(display=False, custom_mapping={
                aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flop}) as counter:
            yield counter
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """`archc ARGV...` as a user runs it, in process: (exit code, stdout, stderr)."""
    from archc.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err
