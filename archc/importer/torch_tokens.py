"""`archc import`, before reading: the token patterns of a Vision Transformer in the fx graph
rewritten into the calls they are (torchvision's VisionTransformer): `x.reshape(n, c, h * w)
.permute(0, 2, 1)` (or `flatten(2).transpose(1, 2)`) as `tokens`, `torch.cat([p.expand(n, -1,
-1), x], dim=1)` as `class_token`, `x + p` as `pos_embedding`, nn.MultiheadAttention called on
one input (q = k = v, need_weights=False, `[0]`) as self-attention, `x[:, 0]` as `token(0)`;
shape asserts (`torch._assert`) dropped. Each rewrite checks the shapes torch_graph.shapes
recorded; a pattern that does not match is left as it is, and refused where it is read."""

from __future__ import annotations

import operator
from typing import Any

import torch
import torch.fx
from torch import nn

from archc.importer.torch_graph import method, refused
from archc.importer.torch_ops import class_token, pos_embedding, token, tokens

# The rewritten calls that read a parameter of the module: the op, labelled with its name.
PARAMETERS = {class_token: "class_token", pos_embedding: "pos_embedding"}


def _shape(node: Any) -> tuple[int, ...] | None:
    shape = node.meta.get("archc_shape") if isinstance(node, torch.fx.Node) else None
    return tuple(shape) if shape is not None else None


def _replace(gm: torch.fx.GraphModule, node: Any, fn: Any, args: tuple) -> None:
    with gm.graph.inserting_before(node):
        new = gm.graph.call_function(fn, args)
    new.meta = dict(node.meta)
    node.replace_all_uses_with(new)
    gm.graph.erase_node(node)


def _param(gm: torch.fx.GraphModule, node: Any) -> bool:
    """Whether `node` reads a parameter of the model (not a buffer, not a constant)."""
    if not (isinstance(node, torch.fx.Node) and node.op == "get_attr"):
        return False
    try:
        gm.get_parameter(str(node.target))
    except AttributeError:
        return False
    return True


def _tokens(gm: torch.fx.GraphModule, node: Any) -> bool:
    """`permute(0, 2, 1)` / `transpose(1, 2)` of `reshape(n, c, h * w)` / `flatten(2)` of a
    NxCxHxW tensor, the reshape read by the permute alone."""
    if not (method(node, "permute") and tuple(node.args[1:]) in ((0, 2, 1), ((0, 2, 1),)) or
            method(node, "transpose") and tuple(node.args[1:]) in ((1, 2), (2, 1))):
        return False
    flat = node.args[0]
    if not (method(flat, "reshape", "view", "flatten") and len(flat.users) == 1):
        return False
    x, out = flat.args[0], _shape(flat)
    shape = _shape(x)
    if shape is None or len(shape) != 4 or out != (shape[0], shape[1], shape[2] * shape[3]):
        return False
    _replace(gm, node, tokens, (x,))
    return True


def _class_token(gm: torch.fx.GraphModule, node: Any) -> bool:
    """`torch.cat([p.expand(n, -1, -1), x], dim=1)` with p a 1x1xD parameter."""
    if node.target is not torch.cat or len(node.args) != 1 or len(node.args[0]) != 2:
        return False
    dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
    first, x = node.args[0]
    if dim not in (1, -2) or not method(first, "expand") or len(first.users) != 1 or \
            tuple(first.args[2:]) != (-1, -1) or not _param(gm, first.args[0]):
        return False
    p, shape = first.args[0], _shape(x)
    if _shape(p) not in (None, (1, 1, shape[-1] if shape else -1)) or shape is None:
        return False
    _replace(gm, node, class_token, (x, p))
    return True


def _pos_embedding(gm: torch.fx.GraphModule, node: Any) -> bool:
    """`x + p` (or `p + x`) with p a parameter of x's shape for one sample."""
    if node.target not in (operator.add, torch.add) or len(node.args) != 2 or node.kwargs:
        return False
    params = [a for a in node.args if _param(gm, a)]
    if len(params) != 1:
        return False
    (x,) = [a for a in node.args if a is not params[0]]
    shape, p = _shape(x), gm.get_parameter(str(params[0].target))
    if shape is None or len(shape) != 3 or tuple(p.shape) != (1, *shape[1:]):
        return False
    _replace(gm, node, pos_embedding, (x, params[0]))
    return True


def _attention(gm: torch.fx.GraphModule, node: Any) -> bool:
    """`attn(x, x, x, need_weights=False)` of an nn.MultiheadAttention, its `[0]` read and
    its `[1]` (None) not: the module called on x, read directly."""
    if node.op != "call_module" or \
            type(gm.get_submodule(node.target)).forward is not nn.MultiheadAttention.forward:
        return False  # not one, or one with its own forward (archc's SelfAttention(x))
    args = list(node.args) + [node.kwargs.get(k) for k in ("key", "value")
                              if k in node.kwargs]
    items = {u: u.args[1] if u.target is operator.getitem else None for u in node.users}
    if len(args) != 3 or len(set(args)) != 1 or set(node.kwargs) - {"key", "value"} != \
            {"need_weights"} or node.kwargs["need_weights"] is not False or \
            any(i not in (0, 1) or i == 1 and u.users for u, i in items.items()):
        raise refused(f"module '{node.target}' (MultiheadAttention) is called otherwise than "
                      "as self-attention, `attn(x, x, x, need_weights=False)[0]`: archc's "
                      "attention attends to its own input, without masks, and returns its "
                      "output alone", node)
    node.args, node.kwargs = (args[0],), {}
    for u, i in items.items():
        if i == 0:  # the output: its shape the module's (fx recorded none for the tuple)
            u.replace_all_uses_with(node)
            node.meta["archc_shape"] = u.meta.get("archc_shape")
        gm.graph.erase_node(u)
    return True


def _token(gm: torch.fx.GraphModule, node: Any) -> bool:
    """`x[:, i]` of a NxLxD tensor (the class token: `x[:, 0]`)."""
    if node.target is not operator.getitem or len(node.args) != 2:
        return False
    x, index = node.args
    shape = _shape(x)
    if not (isinstance(index, tuple) and len(index) == 2 and index[0] == slice(None) and
            isinstance(index[1], int) and shape is not None and len(shape) == 3):
        return False
    _replace(gm, node, token, (x, index[1]))
    return True


REWRITES = (_tokens, _class_token, _pos_embedding, _attention, _token)


def token_patterns(gm: torch.fx.GraphModule) -> None:
    """Rewrite every pattern above (after torch_graph.shapes), and drop `torch._assert`s and
    the size arithmetic only they read."""
    changed = False
    for node in list(gm.graph.nodes):
        if getattr(node, "_erased", False):  # a user _attention erased
            continue
        if node.op == "call_function" and node.target is torch._assert:
            gm.graph.erase_node(node)
            changed = True
            continue
        changed = any(rewrite(gm, node) for rewrite in REWRITES) or changed
    if changed:
        gm.graph.eliminate_dead_code()
        gm.recompile()
