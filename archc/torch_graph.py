"""`archc import`, before reading: the fx graph prepared (patterns rewritten into the calls
they are) and every node's output shape recorded (for widths left to inference)."""

from __future__ import annotations

from typing import Any

import torch
import torch.fx


def method(node: Any, *names: str) -> bool:
    return isinstance(node, torch.fx.Node) and node.op in ("call_method", "call_function") \
        and getattr(node.target, "__name__", node.target) in names


def shuffles(gm: torch.fx.GraphModule) -> None:
    """ShuffleNet's channel shuffle, `x.view(n, g, c // g, h, w)`, `transpose(1, 2)`,
    `contiguous()`, `view(n, c, h, w)` (its sizes read from `x.size()`), rewritten into one call
    of torch_ops.channel_shuffle(x, g), which maps to the op; the size arithmetic goes with it."""
    from .torch_ops import channel_shuffle

    changed = False
    for node in list(gm.graph.nodes):
        if not (method(node, "view", "reshape") and method(node.args[0], "contiguous")):
            continue
        t = node.args[0].args[0]
        if not (method(t, "transpose") and tuple(t.args[1:]) in ((1, 2), (2, 1))):
            continue
        first = t.args[0]
        if not (method(first, "view", "reshape") and len(first.args) == 6 and
                isinstance(first.args[2], int)):
            continue
        with gm.graph.inserting_before(node):
            new = gm.graph.call_function(channel_shuffle, (first.args[0], first.args[2]))
        new.meta = dict(node.meta)
        node.replace_all_uses_with(new)
        changed = True
    if changed:
        gm.graph.eliminate_dead_code()
        gm.recompile()


def channels(node: Any) -> int | None:
    """The channels of the CxHxW tensor a node computes (as _shapes recorded), if it is one."""
    shape = node.meta.get("archc_shape")
    return int(shape[1]) if shape is not None and len(shape) == 4 else None


class _ShapeRecorder(torch.fx.Interpreter):
    def run_node(self, n: Any) -> Any:
        result = super().run_node(n)
        if isinstance(result, torch.Tensor):
            n.meta["archc_shape"] = tuple(result.shape)
        return result


def shapes(gm: torch.fx.GraphModule, input_shape: tuple[int, ...]) -> None:
    """Every node's output shape, from one forward pass in eval mode on the module's device (the
    meta device costs nothing; no running statistics touched; the modes restored). A model this
    cannot run is imported without `in.c`."""
    modes = [(m, m.training) for m in gm.modules()]
    device = next((t.device for t in gm.state_dict().values()), torch.device("cpu"))
    gm.eval()
    try:
        with torch.no_grad():
            _ShapeRecorder(gm).run(torch.zeros(1, *input_shape, device=device))
    except Exception:  # noqa: BLE001 - shapes are an improvement, never a requirement
        for node in gm.graph.nodes:
            node.meta.pop("archc_shape", None)
    finally:
        for m, training in modes:
            m.training = training
