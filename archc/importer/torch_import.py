"""`archc import`: a torch module, traced with torch.fx (else torch.export, torch_export.py),
written back as a spec. The module tree (the nodes' nn_module_stack) gives the scopes; inside
each scope the dataflow is read as a chain of ops and add/concat/mul joins; every Python class
of module becomes one `block` whose parameters are the numbers that differ between its
instances. (Over 400 lines: the scope reader and the importer are one walk over the same
scopes; what a walk leaves, the naming of taps, is torch_wires.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch.fx
from torch import nn

from archc.importer.torch_calls import Expr
from archc.importer.torch_export import tokens, trace
from archc.importer.torch_graph import ImportRefused as ImportRefused
from archc.importer.torch_graph import channels, method, refused, tied_weights
from archc.importer.torch_ops import (
    FUNCTIONS,
    JOINS,
    NotExpressible,
    Rounding,
    module_op,
    resize_like,
    rounding,
)
from archc.importer.torch_spec import (
    Blocks,
    Group,
    Instance,
    JoinStmt,
    Loop,
    Op,
    OpCall,
    Stmt,
    Wire,
    numbered,
    render,
)
from archc.importer.torch_tokens import PARAMETERS
from archc.importer.torch_wires import labelled_join, wire_taps

CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


# ----------------------------------------------------------------------------- scopes


@dataclass
class _Scope:
    key: str  # nn_module_stack's key (`layer1.0.relu@1` for a second call)
    path: str
    module: nn.Module
    items: list[Any] = field(default_factory=list)  # fx nodes and _Scopes, in order

    def nodes(self) -> Iterator[Any]:
        for item in self.items:
            if isinstance(item, _Scope):
                yield from item.nodes()
            else:
                yield item


def _chain(node: Any) -> list[tuple[str, str]]:
    """The (key, path) of every module a node runs inside, outermost first, not its own."""
    stack = [(key, value[0]) for key, value in node.meta.get("nn_module_stack", {}).items()]
    if node.op == "call_module":
        stack = [s for s in stack if s[1] != node.target]
    return [s for s in stack if s[1]]


def _tree(model: nn.Module, nodes: list[Any]) -> _Scope:
    root = _Scope("", "", model)
    open_ = [root]
    for node in nodes:
        chain = _chain(node)
        depth = 0
        while depth < len(chain) and depth + 1 < len(open_) and \
                open_[depth + 1].key == chain[depth][0]:
            depth += 1
        del open_[depth + 1:]
        for key, path in chain[depth:]:
            scope = _Scope(key, path, model.get_submodule(path))
            open_[-1].items.append(scope)
            open_.append(scope)
        open_[-1].items.append(node)
    return root


def _inputs(node: Any) -> list[Any]:
    """The fx nodes a node reads, in argument order: tensors computed, not the module's own
    parameters (get_attr nodes: a layer scale's gamma)."""
    out: list[Any] = []
    if node.target is resize_like:  # its size is read as `in` or a tap (Importer.resize)
        return [node.args[0]]
    torch.fx.node.map_arg((node.args, node.kwargs),
                          lambda n: None if n.op == "get_attr" else out.append(n))
    return out


# ----------------------------------------------------------------------------- dataflow


class _Reader:
    """Reads one scope's dataflow, from its input to its output, as a chain of items and
    joins; any other shape of dataflow (two inputs, a value used twice outside a join) is
    refused."""

    def __init__(self, importer: Importer, scope: _Scope, entry: Any):
        self.imp, self.scope, self.entry = importer, scope, entry
        self.item_of: dict[Any, Any] = {}
        for item in scope.items:
            for n in (item.nodes() if isinstance(item, _Scope) else [item]):
                self.item_of[n] = item
        self.order = {n: i for i, n in enumerate(importer.gm.graph.nodes)}
        self.used: list[Any] = []

    def item_inputs(self, item: Any) -> list[Any]:
        inside = set(item.nodes()) if isinstance(item, _Scope) else {item}
        seen: list[Any] = []
        for n in (item.nodes() if isinstance(item, _Scope) else [item]):
            for i in _inputs(n):
                if i not in inside and i not in seen:
                    seen.append(i)
        return seen

    def producer(self, value: Any) -> Any:
        if value not in self.item_of:
            raise self.imp.refuse(value, f"{self._where()} reads '{value.name}', which is "
                                  "neither its input nor made inside it")
        return self.item_of[value]

    def output_of(self, item: Any) -> Any:
        return list(item.nodes())[-1] if isinstance(item, _Scope) else item

    def ancestors(self, value: Any, stop: Any) -> set[Any]:
        seen, todo = set(), [value]
        while todo:
            v = todo.pop()
            if v in seen:
                continue
            seen.add(v)
            if v is not stop and v in self.item_of:
                todo += self.item_inputs(self.item_of[v])
        return seen

    def wired(self, value: Any) -> bool:
        """A value read again (a tap's): made outside this scope, inside an item whose output
        it is not, or by an item already read (FCN's aux head reads the backbone's layer3)."""
        item = self.item_of.get(value)
        return item is None or any(u is item for u in self.used) or \
            self.output_of(item) is not value

    def read(self, value: Any, stop: Any) -> list[Stmt]:
        if value is stop:
            return []
        if self.wired(value):
            return [self.imp.tap(value)]
        item = self.producer(value)
        ins = self.item_inputs(item)
        join = self.imp.join_of(item)
        if join:
            common = set.intersection(*(self.ancestors(i, stop) for i in ins)) or {stop}
            fork = max(common, key=lambda v: self.order[v])
            self.used.append(item)
            parts = self.chunks(fork, len(ins)) if join == "concat" else None
            if parts is not None:  # torch.chunk(x, n, 1) -> n branches -> torch.cat: split
                self.used += [self.producer(fork)] + [self.producer(p) for p in parts]
                return self.read(fork.args[0], stop) + [JoinStmt(
                    "split", [self.read(i, p) for i, p in zip(ins, parts, strict=True)])]
            return self.read(fork, stop) + [labelled_join(JoinStmt(
                join, [self.read(i, fork) for i in ins]))] + self.tap_slot(item)
        if len(ins) > 1 and isinstance(item, _Scope):
            # a module reading several values (LR-ASPP's head reads `low` and `high`): the
            # latest is its input, the others taps (its reader sees them as made outside it)
            ins = [max(ins, key=lambda v: self.order[v])]
        if len(ins) != 1:
            node = self.output_of(item)
            what = f"module '{item.path}'" if isinstance(item, _Scope) else _call_name(node)
            raise self.imp.refuse(node, f"{self._where()}: {what} reads {len(ins)} values "
                                  f"({', '.join(i.name for i in ins)}); an archc op reads one "
                                  "tensor, and only add, concat and mul join branches")
        self.used.append(item)
        before = self.read(ins[0], stop)
        if not isinstance(item, _Scope) and item.target is resize_like:
            stmts: list[Stmt] = [Op(None, self.imp.resize(item, self.entry))]
        else:
            stmts = self.imp.stmt(item, self.scope, ins[0])
        return before + stmts + self.tap_slot(item)

    def tap_slot(self, item: Any) -> list[Stmt]:
        """A `tap` of the item's value where a later read may need it (wire_taps drops the
        ones none does); none for the scope's own output (its caller taps that)."""
        out = self.output_of(item)
        if out is self.output_of(self.scope.items[-1]):
            return []
        return [Wire("tap", _tap_name(item), out)]

    def chunks(self, fork: Any, n: int) -> list[Any] | None:
        """The n parts of `x.chunk(n, dim=1)` if `fork` is that call and each part is read
        once (ShuffleNetV2's split), else None."""
        if not method(fork, "chunk") or fork not in self.item_of:
            return None
        count = fork.args[1] if len(fork.args) > 1 else fork.kwargs.get("chunks")
        dim = fork.args[2] if len(fork.args) > 2 else fork.kwargs.get("dim", 0)
        parts = sorted(fork.users, key=lambda u: u.args[1] if len(u.args) > 1 else -1)
        if count != n or dim not in (1, -3) or len(parts) != n or \
                [getattr(u.target, "__name__", "") for u in parts] != ["getitem"] * n or \
                [u.args[1] for u in parts] != list(range(n)) or \
                any(len(u.users) != 1 for u in parts):
            return None
        return parts

    def _where(self) -> str:
        return _module_text(self.scope) if self.scope.path else "the model's forward"

    def body(self, outputs: list[tuple[str, Any]] | None = None) -> list[Stmt]:
        """The scope's statements, from its input to its output (or to each of `outputs`,
        each then an `output` statement)."""
        out = self.output_of(self.scope.items[-1])
        if outputs is None:
            stmts = self.read(out, self.entry)
        else:
            # an output after the first starts from a tap, the network's input's if need be
            stmts = [Wire("tap", "network_input", self.entry)]
            for i, (key, node) in enumerate(outputs):
                part = self.read(node, self.entry)
                if i and not (part and isinstance(part[0], Wire) and part[0].kind == "from"):
                    part.insert(0, self.imp.tap(self.entry))
                stmts += part + [Wire("output", key)]
        if len(self.used) != len(self.scope.items) or len(set(map(id, self.used))) != \
                len(self.used):
            raise self.imp.refuse(out, f"{self._where()}: its dataflow is not a chain of ops "
                                  "and add/concat/mul joins (a value is used more than once "
                                  "or not at all)")
        return stmts


# ----------------------------------------------------------------------------- the importer


class Importer:
    def __init__(self, model: nn.Module, target: str, gm: torch.fx.GraphModule):
        self.model, self.target, self.gm = model, target, gm
        self.instances: dict[str, list[Instance]] = {}
        self.seen_modules: set[int] = set()
        self.ties = tied_weights(model)
        self.rounding: list[Rounding] = []  # why a mapped module rounds otherwise than its op
        self.taps: dict[Any, Wire] = {}  # value -> its `from`, for each value read again

    def tap(self, value: Any) -> Wire:
        """`from NAME` of a value read again (named when its `tap` is placed: wire_taps)."""
        self.taps.setdefault(value, Wire("from", "", value))
        return Wire("from", "", value)

    def resize(self, node: Any, entry: Any) -> OpCall:
        """resize_like(x, ref, mode, align_corners): `resize(in.h, in.w)` where `ref` is the
        scope's input, else `resize(like=TAP)`."""
        _, ref, mode, corners = node.args
        size = {"h": Expr("in.h"), "w": Expr("in.w")} if ref is entry else \
            {"h": None, "w": None, "like": self.tap(ref)}
        if mode == "bilinear" and corners is False:  # archc's default, written as specs do
            corners = None
        return OpCall("resize", {**size, "mode": mode, "align_corners": corners})

    def refuse(self, node: Any, message: str) -> ImportRefused:
        return refused(message, node)

    def join_of(self, item: Any) -> str | None:
        if isinstance(item, _Scope) or item.op not in ("call_function", "call_method"):
            return None
        name = JOINS.get(item.target)
        if name is None or len(_inputs(item)) < 2:
            return None
        if name == "concat":
            dim = item.args[1] if len(item.args) > 1 else item.kwargs.get("dim", 0)
            if dim not in (1, -3):
                raise self.refuse(item, f"'{item.name}': torch.cat on dim {dim}; archc's "
                                  "concat joins channels (dim 1)")
        return name

    def body(self, scope: _Scope, entry: Any) -> list[Stmt]:
        return _Reader(self, scope, entry).body()

    def stmt(self, item: Any, parent: _Scope, entry: Any) -> list[Stmt]:
        if isinstance(item, _Scope):
            # relative to its parent: `convs.0` for a ModuleList's module (_labelled_join)
            name = item.path[len(parent.path) + 1:] if parent.path else item.path
            body = self.body(item, entry)
            if type(item.module) in CONTAINERS:
                called = [b for b in body if not isinstance(b, Wire)]  # tap slots aside
                if len(called) < 2 or not all(isinstance(b, Instance) for b in called):
                    return [Group(name, body)]
                # a stage (ResNet's layer1..4): one block for every stage of that structure
                stem = re.sub(r"[\d_]+$", "", name) or "stage"
                inst = Instance(name, f"nn.{type(item.module).__name__} {stem}", [Loop(body)],
                                name=stem)
            elif isinstance(item.module, CONTAINERS) and numbered(
                    [b for b in body if not isinstance(b, Wire)]):  # _DenseBlock
                inst = Instance(name, type(item.module).__name__, [Loop(body)])
            else:
                inst = Instance(name, type(item.module).__name__, body)
            inst.in_c = channels(entry)
            self.instances.setdefault(inst.cls, []).append(inst)
            return [inst]
        if item.op == "call_module":
            return self.module_stmt(item, parent)
        if item.op in ("call_function", "call_method"):
            if JOINS.get(item.target) == "mul" and any(
                    isinstance(a, torch.fx.Node) and a.op == "get_attr" for a in item.args):
                return [self.layer_scale(item, parent)]
            if item.target in PARAMETERS:
                return [self.parameter_op(item, parent)]
            reverse = FUNCTIONS.get(item.target)
            where = f"in {_module_text(parent)}: " if parent.path else ""
            if reverse is None and item.target is torch.cat:
                raise self.refuse(item, f"{where}torch.cat of {len(_inputs(item))} tensor(s) "
                                  "that are neither branches of one input nor a list grown "
                                  "by one output at a time (DenseNet's); archc's concat joins "
                                  "the branches of one input")
            if reverse is None:
                raise self.refuse(item, f"{where}no archc op for {_call_name(item)}")
            try:
                calls = reverse(tuple(item.args[1:]), dict(item.kwargs))
            except NotExpressible as exc:
                raise self.refuse(item, f"{where}{_call_name(item)}: {exc}") from None
            return [Op(None, c) for c in (calls if isinstance(calls, tuple) else (calls,))]
        raise self.refuse(item, f"'{item.name}': archc cannot express a {item.op} node "
                          f"({item.target})")

    def layer_scale(self, node: Any, parent: _Scope) -> Stmt:
        """`self.gamma * x` with gamma a Cx1x1 parameter of the module (ConvNeXt's CNBlock): a
        `layer_scale` labelled with the parameter's name, as archc names its parameter."""
        (attr,) = [a for a in node.args if isinstance(a, torch.fx.Node) and a.op == "get_attr"]
        target = str(attr.target)
        path, _, name = target.rpartition(".")
        gamma = self.gm.get_parameter(target).detach() if path == parent.path else None
        shape = attr.meta.get("archc_shape") or (tuple(gamma.shape) if gamma is not None else ())
        if gamma is None or len(shape) != 3 or shape[1:] != (1, 1):
            raise self.refuse(node, f"'{attr.target}' times a tensor: archc scales by a "
                              "parameter of the module itself, of shape Cx1x1 (layer_scale)")
        # its value as the float32 it is (1e-06, not 9.999999974752427e-07)
        init = 1e-6 if gamma.is_meta else float(f"{gamma.flatten()[0].item():.7g}")
        return Op(name, OpCall("layer_scale", {"init": init}))

    def parameter_op(self, node: Any, parent: _Scope) -> Stmt:
        """A ViT's class token or position embedding (torch_tokens), labelled with its name."""
        op, (path, _, name) = PARAMETERS[node.target], str(node.args[1].target).rpartition(".")
        if path != parent.path:
            raise self.refuse(node, f"'{path}.{name}' is used in '{parent.path or 'the root'}':"
                              f" archc's {op} is a parameter of the module using it")
        return Op(name, OpCall(op, {}))

    def module_stmt(self, node: Any, parent: _Scope) -> list[Stmt]:
        module = self.gm.get_submodule(node.target)
        name = node.target.rsplit(".", 1)[-1]
        if node.target != (f"{parent.path}.{name}" if parent.path else name):
            raise self.refuse(node, f"module '{node.target}' is called from "
                              f"'{parent.path or 'the root'}', not from its parent")
        if len(node.args) != 1 or node.kwargs:
            raise self.refuse(node, f"module '{node.target}' is called with "
                              f"{len(node.args) + len(node.kwargs)} arguments")
        try:
            calls = self.module_calls(module, node)
        except NotExpressible as exc:
            raise self.refuse(node, f"module '{node.target}' ({type(module).__name__}): "
                              f"{exc}") from None
        why = rounding(module)
        if why is not None and why not in self.rounding:
            self.rounding.append(why)
        if id(module) in self.seen_modules:
            if any(True for _ in module.parameters()) or any(True for _ in module.buffers()):
                raise self.refuse(node, f"module '{node.target}' is called twice with its "
                                  "weights: archc has no shared weights")
            return [Op(None, c) for c in calls]  # a stateless module used again: a fresh one
        self.seen_modules.add(id(module))
        # the first op has the module's name: its weights' (no module maps to two weighted ops)
        return [Op(name if i == 0 else None, c) for i, c in enumerate(calls)]

    def module_calls(self, module: nn.Module, node: Any) -> tuple[OpCall, ...]:
        call = module_op(module)
        calls = call if isinstance(call, tuple) else (call,)
        shape = node.args[0].meta.get("archc_shape") if node.args else None
        if isinstance(call, OpCall) and call.op == "linear" and shape and len(shape) == 4:
            # nn.Linear on a channels-last tensor (between ConvNeXt's Permutes)
            calls = (OpCall("channel_linear", {"out": call.args["out"],
                                               "bias": call.args["bias"]}),)
        if node.meta.get("archc_positions"):  # wpe(arange(n)) (torch_export)
            calls = (OpCall("position_embedding", {"positions": calls[0].args["vocab"],
                                                   "dim": calls[0].args["dim"]}),)
        tie = self.ties.get(node.target)
        if tie is not None:  # its weight is another module's storage (GPT-2's lm_head)
            if not (isinstance(call, OpCall) and call.op == "linear" and
                    not call.args.get("transposed")):
                raise NotExpressible(f"its weight is '{tie}.weight' (the same storage); archc "
                                     "shares only a linear's weight, stored out x in (tie=)")
            calls = (OpCall("linear", {**calls[0].args, "tie": tie}),)
        return calls


def _outputs(imp: Importer, out: Any) -> list[tuple[str, Any]] | None:
    """The (key, value) of each output of a forward that returns a dict of tensors
    (torchvision's segmentation models: `{"out": ..., "aux": ...}`); None for one tensor."""
    value = out.args[0]
    if isinstance(value, torch.fx.Node):
        return None
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.fx.Node) for k, v in value.items()):
        raise imp.refuse(out, "forward returns more than one tensor, not as a dict of them; "
                         "archc networks return one tensor or a dict (`output NAME`)")
    return list(value.items())


def _tap_name(item: Any) -> str:
    """A tap's name: the path of the module (or call) that makes the value."""
    path = item.path if isinstance(item, _Scope) else \
        item.target if item.op == "call_module" else item.name
    return re.sub(r"\W", "_", str(path))


def _module_text(scope: _Scope) -> str:
    return f"module '{scope.path}' ({type(scope.module).__name__})"


def _call_name(node: Any) -> str:
    t = node.target
    return f".{t}()" if isinstance(t, str) else f"{getattr(t, '__module__', '') or ''}." \
        f"{getattr(t, '__name__', t)}()".lstrip(".")


# ----------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Imported:
    """The spec of a module, the tracer that read it (and why fx did not), and why a mapped
    module rounds otherwise than its op (the proof then allows that rounding, and says so)."""

    text: str
    tracer: str  # 'torch.fx' | 'torch.export'
    why: str  # why torch.fx could not trace it ('' when it did)
    rounding: tuple[Rounding, ...]


def import_spec(model: nn.Module, target: str, name: str, input_shape: tuple[int, ...]) -> str:
    """The spec text of `model`, in archc's canonical layout."""
    return import_model(model, target, name, input_shape).text


def import_model(model: nn.Module, target: str, name: str,
                 input_shape: tuple[int, ...]) -> Imported:
    """`model` traced (torch.fx, else torch.export) and read as a spec. The trace records no
    Python lines (a third to a half of the time); a refusal of a call traced without its line
    (`unlined`) is made again from a trace that records them, to say the line that made the
    refused call (tracing is in eval mode and without gradients: the model is as it was). Other
    refusals (a model neither tracer takes, torch.export's graph, which has its lines) are not
    traced twice."""
    try:
        return _import_model(model, target, name, input_shape, lines=False)
    except ImportRefused as exc:
        if not exc.unlined:
            raise
        try:
            _import_model(model, target, name, input_shape, lines=True)
        except ImportRefused as placed:
            raise placed from None
        raise exc from None


def _import_model(model: nn.Module, target: str, name: str, input_shape: tuple[int, ...],
                  lines: bool) -> Imported:
    from archc.fmt import format_text

    gm, tracer, why = trace(model, input_shape, lines)
    imp = Importer(model, target, gm)
    nodes = list(imp.gm.graph.nodes)
    inputs = [n for n in nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise ImportRefused(f"{type(model).__name__}.forward takes {len(inputs)} inputs; "
                            "archc networks take one")
    (out,) = [n for n in nodes if n.op == "output"]
    outputs = _outputs(imp, out)
    body = [n for n in nodes if n.op not in ("placeholder", "output", "get_attr")]
    if not body or (outputs is None and body[-1] is not out.args[0]):
        raise imp.refuse(out, "forward does not return its last computed value")
    root = _tree(model, body)
    stmts = _Reader(imp, root, inputs[0]).body(outputs)
    wire_taps(stmts, imp.taps, imp.refuse)
    blocks = Blocks(imp.instances)
    main = render(stmts, blocks)
    text = (f"# Imported by `archc import {target}`: {tracer}'s trace of "
            f"{type(model).__name__}, one block per torch class.\n\n"
            + "\n".join(blocks.defs)
            + f"\nnetwork {name} {{\n  input {_input(imp, inputs[0], input_shape)}\n{main}\n}}\n")
    return Imported(format_text(text), tracer, why, tuple(imp.rounding))


def _input(imp: Importer, x: Any, shape: tuple[int, ...]) -> str:
    """`input 3x224x224`, or `input tokens(N, vocab)` where nn.Embeddings read the input (the
    vocabulary is theirs, a position embedding's table aside)."""
    if not tokens(imp.model, shape):
        return "x".join(map(str, shape))
    tables = [imp.gm.get_submodule(u.target) for u in x.users if u.op == "call_module" and
              not u.meta.get("archc_positions")]
    vocab = [m.num_embeddings for m in tables if isinstance(m, nn.Embedding)]
    if not vocab:
        raise ImportRefused(f"--input {shape[0]}: {shape[0]} token ids, but no nn.Embedding "
                            "reads the input")
    return f"tokens({shape[0]}, {max(vocab)})"
