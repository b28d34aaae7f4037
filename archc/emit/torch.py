"""Stage 3, resolved graph -> torch.nn.Module.

Each scope (the network, a block instance, a labelled group, a repetition) becomes one module
whose children are named after the spec: an nn.Sequential where its items run one after
another, else a module whose `forward` is generated code (torch.fx): a flat sequence of calls
with no per-forward interpretation, readable with `model.code`, and traceable by
torch.compile. Branches of `add`/`concat` do not add a level, so a residual
block's layers sit beside each other (`layer1.0.conv1`), as in hand-written PyTorch.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import torch
from torch import Tensor, fx, nn

from archc.core.graph import (
    Ids,
    Join,
    Layer,
    Network,
    Node,
    Scope,
    Shape,
    Wire,
    flows,
    walk,
)
from archc.expansion.ids import tied
from archc.expansion.inplace import in_place
from archc.front.work import paused_gc
from archc.registry import joins
from archc.registry.ops import REGISTRY


class ArchcModule(fx.GraphModule):
    """A generated scope. Prints like nn.Module (children, not code); `.code` has the forward."""

    def __str__(self) -> str:
        return nn.Module.__repr__(self)


class TrainingHeads(nn.Module):
    """The network with training-only outputs (`output aux training`,
    archc/expansion/training_only.py): in train mode its forward runs the whole graph, in eval
    mode the graph without those outputs and the heads only they read, as torchvision's GoogLeNet
    skips `self.aux1` unless `self.training`. A plain module with a Python branch, not a
    GraphModule, so that torch.export and torch.compile trace the mode's own forward."""

    train_code: str = ""
    eval_code: str = ""
    # each network's class (_training_heads) holds the two generated forwards
    train_forward: Callable[..., dict[str, torch.Tensor]]
    eval_forward: Callable[..., dict[str, torch.Tensor]]

    def forward(self, *inputs: torch.Tensor, **named: torch.Tensor) -> dict[str, torch.Tensor]:
        """The mode's forward, given the network's inputs (`forward(image, mask)` where it
        names several)."""
        run = self.train_forward if self.training else self.eval_forward
        return run(*inputs, **named)

    @property
    def code(self) -> str:
        return f"# train mode\n{self.train_code.strip()}\n\n# eval mode\n{self.eval_code.strip()}"

    def __str__(self) -> str:
        return nn.Module.__repr__(self)


def _training_heads(module: fx.GraphModule, training: tuple[str, ...]) -> TrainingHeads:
    """The module's children, parameters and buffers, in order, under a TrainingHeads."""
    train, train_src = _compiled(module.graph)
    evaluate, eval_src = _compiled(_eval_graph(module.graph, training))
    cls = type(type(module).__name__, (TrainingHeads,), {
        "train_forward": train, "eval_forward": evaluate, "train_code": train_src,
        "eval_code": eval_src})
    heads = cls()
    for name, p in module._parameters.items():
        heads.register_parameter(name, p)
    for name, b in module._buffers.items():
        heads.register_buffer(name, b, persistent=name not in module._non_persistent_buffers_set)
    for name, m in module._modules.items():
        heads.add_module(name, m)
    return heads


def _eval_graph(graph: fx.Graph, training: tuple[str, ...]) -> fx.Graph:
    """`graph` without the training-only outputs and what only they read."""
    copy = fx.Graph()
    result = copy.graph_copy(graph, {})
    assert isinstance(result, dict)
    copy.output({k: v for k, v in result.items() if k not in training})
    for node in reversed(list(copy.nodes)):  # every node archc emits is pure
        if node.op not in ("placeholder", "output") and not node.users:
            copy.erase_node(node)
    return copy


def _compiled(graph: fx.Graph) -> tuple[Callable[..., object], str]:
    """The graph's forward, as GraphModule compiles it (fx's own codegen), and its source."""
    code = graph.python_code(root_module="self")
    namespace = dict(code.globals)
    exec(compile(code.src, "<archc generated forward>", "exec"), namespace)
    return namespace["forward"], code.src


def build_module(net: Network) -> nn.Module:
    """The module for a checked network."""
    wired = bool(net.outputs) or any(isinstance(n, Wire) for _, n in walk(net.root.items))
    with paused_gc():
        module = _scope_module(net.root, flows(net.root) if wired else {}, net.outputs,
                               tuple(net.inputs), net.training_outputs)
    for name, _, target in tied(net.root):  # one Parameter under both names (GPT-2's lm_head)
        module.get_submodule(name).weight = module.get_submodule(target).weight
    return module


def example_input(shape: Shape, batch: int = 1, dtype: torch.dtype | None = None,
                  device: str | torch.device | None = None) -> torch.Tensor:
    """A random input batch of a per-sample shape: token ids below the vocabulary for
    `input tokens(N, V)`, else normal floats."""
    if isinstance(shape, Ids):
        return torch.randint(shape.vocab, (batch, *shape), device=device)
    return torch.randn(batch, *shape, dtype=dtype, device=device)


def example_inputs(net: Network, batch: int = 1, dtype: torch.dtype | None = None,
                   device: str | torch.device | None = None) -> tuple[torch.Tensor, ...]:
    """A random batch for each input of a network, in declaration order: `model(*xs)`."""
    shapes = list(net.inputs.values()) or [net.input_shape]
    return tuple(example_input(s, batch, dtype, device) for s in shapes)


def _class_name(scope: Scope) -> str:
    base = scope.name if scope.kind == "network" else scope.title
    return "".join(part[:1].upper() + part[1:] for part in base.split("_")) or "Scope"


Flow = dict[int, tuple[tuple[str, ...], tuple[str, ...]]]


@dataclass
class _Values:
    """What a generated forward holds beyond `x`: the named values (`tap:low`, `output:out`)
    made so far, and each scope's imports and exports (graph.flows)."""

    flow: Flow
    env: dict[str, fx.Node] = field(default_factory=dict)


def _scope_module(scope: Scope, flow: Flow | None = None,
                  outputs: dict[str, Shape] | None = None,
                  inputs: tuple[str, ...] = (), training: tuple[str, ...] = ()) -> nn.Module:
    """A scope's module. A scope a tap crosses takes the taps it reads as arguments after
    `x` and returns `(x, *what it hands out)`; the network with outputs returns their dict.
    The network with named inputs takes them by name (forward(image, mask)), each a tap."""
    flow = flow or {}
    wired = id(scope) in flow or bool(outputs) or (outputs is not None and bool(flow)) \
        or bool(inputs)
    if not wired and all(isinstance(n, Scope) or (isinstance(n, Layer)
                                                  and not REGISTRY[n.op].inline)
                         for n in scope.items):
        return _sequence(scope, flow)
    imports, exports = flow.get(id(scope), ((), ()))
    root = nn.Module()
    graph = fx.Graph()
    x = graph.placeholder(inputs[0] if inputs else "x")
    values = _Values(flow, {k: graph.placeholder(k.replace(":", "_")) for k in imports})
    values.env.update({"tap:" + inputs[0]: x} if inputs else {})
    values.env.update({f"tap:{name}": graph.placeholder(name) for name in inputs[1:]})
    out = _emit_seq(scope.items, x, graph, root, values)
    if outputs:
        graph.output({name: values.env[f"output:{name}"] for name in outputs})
    elif exports:
        graph.output((out, *(values.env[k] for k in exports)))
    else:
        graph.output(out)
    cls = type(_class_name(scope), (ArchcModule,), {})
    # A GraphModule compiles its graph on construction, and then recompiles every GraphModule
    # among its children, recursively: built bottom-up, each scope would be recompiled once per
    # ancestor (quadratic in nesting depth). The children are compiled already, so they join
    # only after their parent is built; the order of children, and so of the state_dict, stays.
    compiled = {name: m for name, m in root.named_children() if isinstance(m, fx.GraphModule)}
    for name in compiled:
        setattr(root, name, nn.Module())
    module = cls(root, graph, class_name=cls.__name__)
    for name, child in compiled.items():
        setattr(module, name, child)
    return _training_heads(module, training) if training else module


def _emit_seq(items: tuple[Node, ...], x: fx.Node, graph: fx.Graph, root: nn.Module,
              values: _Values) -> fx.Node:
    for node, inplace in zip(items, in_place(items), strict=True):  # only layers run in place
        x = _EMIT[type(node)](node, x, graph, root, values, inplace)
    return x


def _emit_layer(layer: Layer, x: fx.Node, graph: fx.Graph, root: nn.Module, values: _Values,
                inplace: bool = False) -> fx.Node:
    op = REGISTRY[layer.op]
    if op.inline:  # a parameter of this scope, named after the layer (emit/layers.Inline)
        inline = op.torch(layer.args, layer.in_shape, layer.out_shape)
        root.register_parameter(layer.name, inline.tensor)
        return graph.call_function(inline.fn, (x, graph.get_attr(layer.name)))
    root.add_module(layer.name, _layer_module(layer, inplace))
    return graph.call_module(layer.name, (x,))


def _layer_module(layer: Layer, inplace: bool) -> nn.Module:
    """The layer's module, overwriting its input where archc/expansion/inplace.py says it may."""
    op = REGISTRY[layer.op]
    module = op.torch(layer.args, layer.in_shape, layer.out_shape)
    module.archc_op = op.name  # what init_weights and the exporters read back
    if inplace:
        module.inplace = True
    return module


def init_weights(model: nn.Module, how: str) -> None:
    """Initialise every layer of a built model as its op's record says (`Op.init`)."""
    for module in model.modules():
        op = REGISTRY.get(getattr(module, "archc_op", ""))
        if op is not None and op.init is not None:
            op.init(module, how)


class ArchcSequence(nn.Sequential):
    """A generated scope whose items run one after another (no join, no inline op): an
    nn.Sequential of the same children. torch.fx generates and compiles a forward in about 2 ms
    a module, so 65,536 nested blocks took minutes to build; this takes microseconds. `.code`
    shows the forward torch.fx would generate for it."""

    @property
    def code(self) -> str:
        return fx.GraphModule(self, _Shallow().trace(self)).code

    def __str__(self) -> str:
        return nn.Module.__repr__(self)


class _Shallow(fx.Tracer):
    """Traces one level: every child is called, not traced into (as a generated forward)."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return True


@lru_cache(maxsize=256)
def _sequence_class(name: str) -> type[ArchcSequence]:
    return type(name, (ArchcSequence,), {})


def _sequence(scope: Scope, flow: Flow) -> ArchcSequence:
    module = _sequence_class(_class_name(scope))()
    for node, inplace in zip(scope.items, in_place(scope.items), strict=True):
        if isinstance(node, Layer):
            module.add_module(node.name, _layer_module(node, inplace))
        elif isinstance(node, Scope):
            child = _passthrough(_class_name(node))() if not node.items else \
                _scope_module(node, flow)
            module.add_module(node.name, child)
    return module


class Passthrough(nn.Module):
    """An empty scope inside a network (an empty loop body, `relu * 0`): returns its input.
    Generating code costs a millisecond a module; 10^5 empty iterations would take minutes."""

    def forward(self, x: Tensor) -> Tensor:
        return x


@lru_cache(maxsize=64)
def _passthrough(name: str) -> type[Passthrough]:
    return type(name, (Passthrough,), {})


def _emit_scope(scope: Scope, x: fx.Node, graph: fx.Graph, root: nn.Module, values: _Values,
                inplace: bool = False) -> fx.Node:
    module = _passthrough(_class_name(scope))() if not scope.items else \
        _scope_module(scope, values.flow)
    root.add_module(scope.name, module)
    imports, exports = values.flow.get(id(scope), ((), ()))
    result = graph.call_module(scope.name, (x, *(values.env[k] for k in imports)))
    if not exports:
        return result
    for i, k in enumerate(exports, 1):
        values.env[k] = graph.call_function(operator.getitem, (result, i))
    return graph.call_function(operator.getitem, (result, 0))


def _emit_join(join: Join, x: fx.Node, graph: fx.Graph, root: nn.Module, values: _Values,
               inplace: bool = False) -> fx.Node:
    record = joins.lookup(join.op)
    ins = record.inputs.torch(graph, x, len(join.branches))
    outs = [_emit_seq(branch, i, graph, root, values)
            for branch, i in zip(join.branches, ins, strict=True)]
    return record.torch(graph, outs)


def _emit_wire(wire: Wire, x: fx.Node, graph: fx.Graph, root: nn.Module, values: _Values,
               inplace: bool = False) -> fx.Node:
    """`tap` and `output` keep the current value under their name; `from` returns one."""
    if wire.op == "from":
        return values.env[f"tap:{wire.key}"]
    values.env[f"{wire.op}:{wire.key}"] = x
    return x


_EMIT: dict[type, Callable[..., fx.Node]] = {
    Layer: _emit_layer, Scope: _emit_scope, Join: _emit_join, Wire: _emit_wire}
