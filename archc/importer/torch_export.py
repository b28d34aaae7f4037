"""`archc import`, its second tracer: torch.export, for modules torch.fx cannot trace (a shape
`assert`, control flow on sizes: transformers' GPT-2 and Llama). The exported aten graph is
reduced to the module-level fx graph the importer reads: each call of a module that maps as a
whole (torch_ops.is_mapped) becomes one `call_module` node, `x + y` and `x * y` become joins,
and what follows from the input's shape alone (position ids, causal masks, rotary tables) is
dropped, read by the module that maps it (attention's `causal`, `position_embedding`)."""

from __future__ import annotations

import inspect
import operator
import re
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx
from torch import nn

from archc.importer.torch_graph import (
    ImportRefused,
    dense_concats,
    fx_trace,
    refused,
    resizes,
    shapes,
    shuffles,
)
from archc.importer.torch_ops import ATEN, PASS_THROUGH, is_mapped
from archc.importer.torch_tokens import token_patterns

WRAPPER = "model"  # the attribute of _Tensor holding the model: stripped from module paths


class _Tensor(nn.Module):
    """The model with a ModelOutput's `logits` as its output (export flattens only tensors,
    not the DynamicCache beside them)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        setattr(self, WRAPPER, model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return output_tensor(getattr(self, WRAPPER)(x))


def output_tensor(out: Any) -> Any:
    """The tensor a model's output is: itself, or a transformers ModelOutput's `logits` (its
    key/value cache is no output); anything else as it is (several tensors are refused)."""
    if not isinstance(out, torch.Tensor) and getattr(out, "logits", None) is not None:
        return out.logits
    return out


def tokens(model: nn.Module, shape: tuple[int, ...]) -> bool:
    """Whether `--input N` is N token ids: one number, and the model has an nn.Embedding."""
    return len(shape) == 1 and any(isinstance(m, nn.Embedding) for m in model.modules())


def example(model: nn.Module, shape: tuple[int, ...]) -> torch.Tensor:
    """A batch of one to trace with: token ids 0 (below any vocabulary), else zeros."""
    first = next(model.parameters(), None)
    device = first.device if first is not None else None
    if tokens(model, shape):
        return torch.zeros(1, *shape, dtype=torch.long, device=device)
    return torch.zeros(1, *shape, device=device)


def trace(model: nn.Module, shape: tuple[int, ...], lines: bool = False
          ) -> tuple[torch.fx.GraphModule, str, str]:
    """The graph `archc import` reads, the tracer that made it, and why fx did not: torch.fx's
    (patterns rewritten, shapes recorded; with `lines`, each call's Python line: `fx_trace`),
    else, where fx cannot trace the model, torch.export's reduced to the same kind of graph
    (torch.export records the lines itself)."""
    if is_mapped(model):  # fx traces into the root's own forward: conv2d() has no op of its own
        raise ImportRefused(f"{type(model).__name__} is one layer, not a network of layers",
                            hint="wrap it: nn.Sequential(layer); archc import reads a "
                            "module's layers")
    try:
        gm = fx_trace(model, lines)
    except Exception as exc:  # noqa: BLE001 - any failure of fx: try torch.export
        why = f"torch.fx cannot trace {type(model).__name__}: {_first_line(exc)}"
    else:
        shuffles(gm)
        resizes(gm)
        dense_concats(gm)
        shapes(gm, shape)
        token_patterns(gm)
        return gm, "torch.fx", ""
    try:
        return export(model, example(model, shape)), "torch.export", why
    except ImportRefused as exc:
        exc.message += f" (traced with torch.export: {why})"
        raise
    except Exception as exc:  # noqa: BLE001 - torch.export's own errors
        embeds = any(isinstance(m, nn.Embedding) for m in model.modules())
        raise ImportRefused(f"{why}; torch.export cannot either: {_first_line(exc)}",
                            hint="a model with an nn.Embedding reads token ids: give --input N "
                            "for N of them" if embeds and len(shape) != 1 else "code that "
                            "branches on tensor values is traced by neither") from None


def _first_line(exc: Exception) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"


def export(model: nn.Module, example: torch.Tensor) -> torch.fx.GraphModule:
    """The module-level graph of `model` (in eval mode; its modes restored), from
    torch.export's non-strict trace on `example`."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            ep = torch.export.export(_Tensor(model), (example,), strict=False)
    finally:
        for m, training in modes:
            m.training = training
    return _Reduction(model, ep).run()


def _strip(path: str) -> str:
    return "" if path == WRAPPER else path.removeprefix(WRAPPER + ".")


def _stack(node: Any) -> dict[str, tuple[str, Any]]:
    """The modules a node runs inside, outermost first, their paths without the wrapper's;
    a container the code iterates and never calls (GPT-2's ModuleList `h`) filled in, so that
    its modules' scope is named as their state_dict keys are."""
    out: dict[str, tuple[str, Any]] = {}
    parent = ""
    for key, (path, cls) in node.meta.get("nn_module_stack", {}).items():
        path = _strip(path)
        head = parent + "." if parent else ""
        if path.startswith(head) and "." in path[len(head):]:
            for part in path[len(head):].split(".")[:-1]:
                head += part
                out[f"archc:{head}"] = (head, "")
                head += "."
        out[key] = (path, cls)
        parent = path
    return out


@dataclass
class _Group:
    """One call of a module mapped as a whole: the aten nodes it ran."""

    key: str
    path: str
    nodes: list[Any] = field(default_factory=list)


class _Reduction:
    """The exported graph, node by node, into the module-level graph."""

    def __init__(self, model: nn.Module, ep: Any):
        self.model, self.ep = model, ep
        self.graph = torch.fx.Graph()
        self.env: dict[Any, Any] = {}  # aten node -> its node in the new graph (None: dropped)
        self.depends: set[Any] = set()  # aten nodes computed from the input's values
        self.groups: dict[str, _Group] = {}  # nn_module_stack key -> the call's nodes
        self.group_of: dict[Any, _Group] = {}
        self.alias: dict[Any, Any] = {}  # a call that keeps its input as it is -> that input

    def run(self) -> torch.fx.GraphModule:
        nodes = list(self.ep.graph.nodes)
        (user,) = self.ep.graph_signature.user_inputs
        for node in nodes:
            if _keeps(node):  # `x.to(float32)` of a float32 x: x itself, read after it too
                self.alias[node] = self.resolve(node.args[0])
                continue
            owner = self.owner(node) if node.op == "call_function" else None
            if owner is not None:
                group = self.groups.setdefault(owner[0], _Group(*owner))
                group.nodes.append(node)
                self.group_of[node] = group
        for node in nodes:
            self.step(node, user)
        return torch.fx.GraphModule(self.model, self.graph)

    def step(self, node: Any, user: str) -> None:
        if (node.op == "placeholder" and node.name == user) or \
                any(i in self.depends for i in node.all_input_nodes):
            self.depends.add(node)  # computed from the input's values, not its shape alone
        if node in self.alias:
            return
        if node.op == "placeholder":
            if node.name == user:
                self.env[node] = self.graph.placeholder("x")
                self.env[node].meta = {"archc_shape": tuple(node.meta["val"].shape)}
                self.input = node
            return  # a parameter, a buffer, a constant: the module that reads it maps it
        if node.op == "output":
            if len(node.args[0]) != 1:
                raise refused(f"forward returns {len(node.args[0])} tensors; archc networks "
                              "return one", node)
            self.graph.output(self.value(node.args[0][0], node))
            return
        group = self.group_of.get(node)
        if group is not None:
            if node is group.nodes[-1]:
                self.close(group)
        elif node.users and node in self.depends:
            self.env[node] = self.plain(node)
        # else: an assert, or what follows from the input's shape alone (dropped)

    def owner(self, node: Any) -> tuple[str, str] | None:
        """The outermost module it runs inside that maps as a whole: (stack key, path)."""
        for key, (path, _) in _stack(node).items():
            if path and is_mapped(self.model.get_submodule(path)):
                return key, path
        return None

    def resolve(self, node: Any) -> Any:
        return self.alias.get(node, node)

    def readers(self, node: Any) -> list[Any]:
        """The nodes that read `node`, through the calls that keep it as it is."""
        return [r for u in node.users for r in (self.readers(u) if u in self.alias else [u])]

    def value(self, node: Any, reader: Any) -> Any:
        """The new graph's node for an aten node read by `reader`."""
        node = self.resolve(node)
        if node not in self.env:  # made inside a module call, not its output
            group = self.group_of.get(node)
            raise refused(f"'{reader.name}' reads a value made inside module "
                               f"'{group.path if group else '?'}' that is not its output",
                               reader)
        return self.env[node]

    def close(self, group: _Group) -> None:
        """One call_module node for a module's call, reading its one input computed from
        the network's input; an nn.Embedding reading none (`wpe(arange(n))`) embeds
        positions, read from the network's input."""
        members = set(group.nodes)
        outs = [n for n in group.nodes if any(u not in members for u in self.readers(n))]
        ins = list(dict.fromkeys(self.resolve(i) for n in group.nodes
                                 for i in n.all_input_nodes
                                 if self.resolve(i) not in members and i in self.depends))
        first = group.nodes[0]
        if len(outs) != 1:
            raise refused(f"module '{group.path}' gives {len(outs)} values to the code "
                               "after it; an archc op gives one", first)
        if len(ins) > 1:
            raise refused(f"module '{group.path}' reads {len(ins)} values computed from "
                               "the input; an archc op reads one", first)
        stack = list(_stack(first).items())
        keys = [k for k, _ in stack]
        module = self.model.get_submodule(group.path)
        meta: dict[str, Any] = {
            "nn_module_stack": dict(stack[:keys.index(group.key) + 1]),
            "stack_trace": _call_site(first.meta.get("stack_trace") or "", module),
            "archc_shape": tuple(outs[0].meta["val"].shape)}
        if not ins:
            if not isinstance(module, nn.Embedding):
                if any(True for _ in module.parameters()):
                    raise refused(f"module '{group.path}' ({type(module).__name__}) reads "
                                  "nothing computed from the input; an archc op reads the "
                                  "value before it", first)
                self.env[outs[0]] = None  # a stateless module on the shape alone
                return
            meta["archc_positions"] = True
            ins = [self.input]
        new = self.graph.call_module(group.path, (self.value(ins[0], first),))
        new.meta = meta
        self.depends.add(outs[0])
        self.env[outs[0]] = new

    def plain(self, node: Any) -> Any:
        """An aten call outside any mapped module, on values computed from the input: a
        join, a function of torch_ops.FUNCTIONS."""
        tensors = [i for i in node.all_input_nodes if i in self.depends]
        shape = tuple(node.meta["val"].shape)
        joins = {torch.ops.aten.add.Tensor: operator.add, torch.ops.aten.mul.Tensor: operator.mul}
        if node.target in joins and len(tensors) == 2 == len(node.all_input_nodes):
            new = self.graph.call_function(joins[node.target],
                                           tuple(self.value(t, node) for t in node.args))
        elif node.target in ATEN and len(tensors) == 1 == len(node.all_input_nodes):
            new = self.graph.call_function(ATEN[node.target], (self.value(node.args[0], node),
                                                               *node.args[1:]))
        else:
            what = str(node.target).removeprefix("aten.")
            raise refused(f"no archc op for aten.{what} on "
                               f"{len(tensors)} value(s) computed from the input", node)
        new.meta = {"nn_module_stack": _stack(node), "stack_trace": node.meta.get("stack_trace"),
                    "archc_shape": shape}
        return new


def _keeps(node: Any) -> bool:
    """A view, cast or copy of one tensor to its own shape and dtype (no op)."""
    if node.op != "call_function" or node.target not in PASS_THROUGH or \
            len(node.all_input_nodes) != 1 or node.args[0] is not node.all_input_nodes[0]:
        return False
    before, after = node.args[0].meta.get("val"), node.meta.get("val")
    return isinstance(before, torch.Tensor) and isinstance(after, torch.Tensor) and \
        before.shape == after.shape and before.dtype == after.dtype


_FRAME = re.compile(r'  File "([^"]+)", line (\d+), in (\S+)\n(?:    .*\n?)?')


def _call_site(trace: str, module: nn.Module) -> str:
    """The stack trace of a node inside `module`, cut where the module is called (its caller's
    line, not a line deep inside its forward): the frames before the module's own forward,
    less the wrappers around it (a decorator's frame is not a `forward`)."""
    code = inspect.unwrap(type(module).forward).__code__
    lines = {line for _, _, line in code.co_lines() if line is not None}
    frames = [(m.group(0), m.group(1), int(m.group(2)), m.group(3))
              for m in _FRAME.finditer(trace if trace.startswith("  ") else "  " + trace)]
    inside = next((i for i, (_, path, line, _) in enumerate(frames)
                   if path == code.co_filename and line in lines), len(frames))
    kept = frames[:inside]
    while kept and kept[-1][3] != "forward" and "/torch/" not in kept[-1][1]:
        kept.pop()
    return "".join(text for text, *_ in kept) if inside < len(frames) else trace
