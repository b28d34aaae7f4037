"""Stage 3, resolved graph -> standalone PyTorch source (`archc export SPEC -o model.py`).

The file imports only torch (and OrderedDict): one class per block definition, its constructor
taking what varies between the block's instances (archc/export/classes.py), the network as a
class taking the spec's parameters, submodules named exactly as archc.build names them (so one
state_dict loads into either), and forwards written straight-line with the static shape after
each statement, like torchvision's resnet.py. Ops and joins are written by their registry
records (`Op.source`, `JoinOp.source`). The text is laid out as `ruff format` would.
(Over 400 lines: the writers of the file's three parts, the network's class, the block
classes' constructors with their cases and loops, and the forwards, share one layout and one
naming of submodules; apart, each would re-derive them.)"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from archc.core.graph import InputShape, Network, Scope
from archc.expansion.expand import expand_network
from archc.expansion.ids import tied
from archc.expansion.stats import count
from archc.export.classes import NETWORK, Classes, ExportError, Mismatch
from archc.export.explain import Case, ClassDef, Param, py_name, type_text
from archc.export.heads import OUTPUTS, forward_heads
from archc.export.layout import Bracket, Expr, Kw, call, lines, literal
from archc.export.loopcases import Branch, case_children
from archc.export.params import deciding_params, perturbations, probes
from archc.export.support import NEEDS, SUPPORT
from archc.export.unify import (
    Slot,
    SlotTree,
    SubCall,
    TCall,
    TJoin,
    TLayer,
    TLoop,
    TNode,
    TSeq,
    TWire,
    optional_children,
)
from archc.front import tree
from archc.pipeline.driver import load_network
from archc.pipeline.program import Program
from archc.registry import joins
from archc.registry.ops import fmt_shape, same_value

__all__ = ["ExportError", "export_python", "python_source"]


def export_python(source: str | Path, overrides: Mapping[str, Any] | None = None,
                  input_shape: InputShape | None = None, network: str | None = None,
                  command: str = "") -> str:
    """The standalone PyTorch source of a spec's network (a zoo member's name: its family spec
    with its --set values, which the probes below must see too)."""
    from archc.pipeline.zoo import as_spec

    source, overrides, network = as_spec(source, overrides, network)
    net, prog = load_network(source, overrides, input_shape, network)
    return python_source(net, prog, dict(overrides or {}), input_shape, command)


def python_source(net: Network, prog: Program, overrides: dict[str, Any],
                  input_shape: InputShape | None, command: str = "") -> str:
    defn = prog.networks[net.name]
    # the network at other input channels too, so that its class takes `in_channels` only
    # where that is shown at more than the spec's (a kernel of 3 on 3 channels is no width);
    # where it is not shown, the class is built for the spec's input channels alone
    wider = _other_inputs(prog, defn, net, overrides)
    classes, fixed = _classes(prog, net, []), True
    if wider:
        try:
            trial = _classes(prog, net, wider)
            if _shapes(trial) == _shapes(classes):
                classes, fixed = trial, False
        except Mismatch:
            pass
    if fixed:
        wider, classes = [], _classes(prog, net, [], fixed=True)
    counts = _shapes(classes)
    kept: list[Scope] = []
    groups = list(probes(prog, net))
    try:  # every block seen at more points at once; else each block's probes, if they fit
        trial = _classes(prog, net, wider, [s for g in groups for s in g], fixed)
        if _fits(trial, counts):
            classes, kept, groups = trial, [s for g in groups for s in g], []
    except Mismatch:
        pass
    for group in groups:
        try:
            trial = _classes(prog, net, wider, kept + group, fixed)
        except Mismatch:
            continue
        if _fits(trial, counts):
            classes, kept = trial, kept + group
    counts = _shapes(classes)  # (a class the probes made one of cases stays so)
    deciding = deciding_params(defn, prog.blocks)
    movable = [p.name for p in defn.params
               if p.name not in deciding and perturbations(net.params[p.name])]
    # every value parameter moved at once first (three expansions, two for one parameter; not
    # two per parameter: ConvNeXt with `gelu * 1024` in its block exported in 6 s, 5 of them
    # re-expanding it), each by steps of its own so no two parameters stay in one ratio or one
    # affine relation; one by one only if some parameter breaks the network or a class when
    # moved
    joint = _moved(prog, defn, net, overrides, input_shape, movable)
    if joint is not None:
        try:
            trial = _classes(prog, net, wider + joint, kept, fixed)
            if _shapes(trial) == counts:
                return _render(net, trial, movable, command)
        except Mismatch:
            pass
    extra: list[Network] = list(wider)
    free: list[str] = []
    for name in movable:
        # a width moved by one may break a divisibility (ViT's d by its heads): then doubled
        # and tripled, which keep it
        others = _moved(prog, defn, net, overrides, input_shape, [name]) or \
            _moved(prog, defn, net, overrides, input_shape, [name], scaled=True)
        if others is None:
            continue
        try:
            trial = _classes(prog, net, extra + others, kept, fixed)
        except Mismatch:
            continue
        if _shapes(trial) == counts:
            extra += others
            classes, free = trial, free + [name]
    return _render(net, classes, free, command)


def _fits(trial: Classes, counts: dict[tuple[str, ...], tuple[str, ...]]) -> bool:
    """Probes keep each definition's classes, except that a class may become one of cases:
    a probe that flips a flag into a case no exported instance takes (Swin's `v2`) makes the
    class the spec's `if` chain, true for either value, not a class of the case seen; and a
    part only a probe has may bring a class of its own (RegNet's squeeze-excitation)."""
    shapes = _shapes(trial)
    return shapes.keys() >= counts.keys() and all(
        len(shapes[k]) == len(v) and
        all(a == b or a == "cases" for a, b in zip(shapes[k], v, strict=True))
        for k, v in counts.items())


def _shapes(classes: Classes) -> dict[tuple[str, ...], tuple[str, ...]]:
    """What more points must not change: each definition's classes and their kinds (a class
    that would become one given its layers by the caller keeps the points it had)."""
    return {k: tuple(c.kind for c in v) for k, v in classes.done.items()}


def _moved(prog: Program, defn: Any, net: Network, overrides: dict[str, Any],
           input_shape: InputShape | None, names: list[str],
           scaled: bool = False) -> list[Network] | None:
    """The network expanded with the parameters `names` moved (archc/export/params.py
    `perturbations`, the j-th by steps of its own; `scaled`: an integer doubled and tripled),
    twice; None if either does not expand cleanly. Several moved at once are seen at a third
    step too, where it expands cleanly: at two, two parameters may still move in one affine
    relation (`k + 1` fitted a stride of `p // 2`)."""
    if not names:
        return None
    value = net.params[names[0]]
    if scaled and type(value) is not int:
        return None
    moved = [[2 * value, 3 * value]] if scaled else \
        [perturbations(net.params[n], j) for j, n in enumerate(names)]
    out: list[Network] = []
    for i in range(3 if len(names) > 1 else 2):
        made, errors = expand_network(defn, prog.blocks, prog.cyclic,
                                      {**overrides, **{n: m[i] for n, m in zip(names, moved,
                                                                               strict=True)}},
                                      input_shape, prog.path)
        if made is None or errors:
            return out if i == 2 else None
        out.append(made)
    return out


def _other_inputs(prog: Program, defn: Any, net: Network, overrides: dict[str, Any]
                  ) -> list[Network]:
    """The network expanded at two other input channel counts (images and clips: C+2, 2C+3),
    the rest of its input as the spec's; [] where it has no such input or either fails."""
    shape = net.root.in_shape
    if net.inputs or len(shape) not in (3, 4) or type(shape[0]) is not int:
        return []
    out = []
    for c in (shape[0] + 2, 2 * shape[0] + 3):
        made, errors = expand_network(defn, prog.blocks, prog.cyclic, overrides,
                                      (c, *shape[1:]), prog.path)
        if made is None or errors:
            return []
        out.append(made)
    return out


def _classes(prog: Program, net: Network, extra: list[Network],
             probed: list[Scope] | None = None, fixed: bool = False) -> Classes:
    classes = Classes(prog.blocks, prog.networks[net.name], taken=set(SUPPORT),
                      outputs=tuple(net.outputs), inputs=tuple(net.inputs),
                      training=net.training_outputs, fixed_input=fixed)
    classes.add_network(net.root, base=True)
    for other in extra:
        classes.add_network(other.root, base=False)
    for scope in probed or []:
        classes.add_probe(scope)
    classes.resolve(NETWORK)
    return classes


# ----------------------------------------------------------------------------- the file


def _render(net: Network, classes: Classes, free: list[str], command: str) -> str:
    root = classes.done[NETWORK][0]
    spec = {py_name(n) for n in net.params}
    # the input channels, where a layer takes them (archc/export/explain.py `start`): the
    # spec's input by default, any other count builds what archc.build of that input does
    inputs = [replace(p, default=literal(net.root.in_shape[0]), keyword=True)
              for p in root.params if p.name.startswith("in_channels") and p.name not in spec]
    root.params = [*inputs, *(Param(py_name(n), type_text([v]), literal(v), keyword=True)
                              for n, v in net.params.items())]
    guards = [(py_name(n), v) for n, v in net.params.items() if n not in free]
    # a parameter the spec reads, moved without changing anything the class writes over it,
    # is built in too: its moves showed nothing (a kernel of `(width + 11) // 4` is 3 at
    # width 1, 2 and 3); one the spec never reads is free: any value builds the same
    read = {e.name for e in tree.expressions(classes.network) if isinstance(e, tree.Var)}
    body = "\n".join(_class(root, guards)[1:]).split(") -> None:", 1)[-1]
    guards += [(py_name(n), v) for n, v in net.params.items() if n in free and n in read and
               not re.search(rf"\b{re.escape(py_name(n))}\b(?!:)", body)]
    out: list[str] = []
    for cls in classes.order:
        written = _class(cls, guards if cls is root else [])
        out += ["", "", *(_tie_weights(written, net) if cls is root else written)]
    names = list(dict.fromkeys(_supports(classes)))
    # a plugin op's support is the import of its class (archc/plugins.py PyClass), written
    # after torch's, as a third-party import
    plugin_imports = sorted(n for n in names if n.startswith("from "))
    names = [n for n in names if not n.startswith("from ")]
    support = []
    for name in names:
        support += ["", "", *SUPPORT[name].strip("\n").splitlines()]
    text = "\n".join(support + out)
    imports = []
    if "OrderedDict(" in text:
        imports += ["from collections import OrderedDict", ""]
    if "torch." in text:
        imports.append("import torch")
    imports += sorted({NEEDS[n] for n in names if n in NEEDS})
    imports += sorted(["from torch import Tensor, nn", *plugin_imports])
    needs = [line.split()[1] for line in plugin_imports]
    return "\n".join([*_header(net, command, needs), "", *imports, *support, *out]) + "\n"


def _tie_weights(written: list[str], net: Network) -> list[str]:
    """The network class with its tied weights shared at the end of `__init__` (one
    Parameter under both names, as archc.build makes it)."""
    ties = []
    for name, _, target in tied(net.root):
        ties += lines("self.get_submodule(" + literal(name) + ").weight = ",
                      call("self.get_submodule", literal(target)), ".weight", 2)
    if not ties:
        return written
    end = next((i for i, line in enumerate(written) if line.startswith("    def forward")),
               len(written))
    while end and not written[end - 1].strip():
        end -= 1
    method = ["", "    def tie_weights(self) -> None:",
              '        """One Parameter under each tied name (counted once); call again '
              'after', '        `to_empty`, which unties them."""', *ties]
    return [*written[:end], "        self.tie_weights()", *method, *written[end:]]


def _header(net: Network, command: str, needs: list[str] | None = None) -> list[str]:
    spec = Path(net.path).name if net.path else "<string>"
    sets = ", ".join(f"{k}={literal(v)}" for k, v in net.params.items())
    doc = _wrap(f'"""Network `{net.name}` of {spec}, written out as PyTorch source by archc.')
    if command:
        doc += ["", *_command_lines(command)]
    takes = ", ".join(f"{k} N x {fmt_shape(v)}" for k, v in net.inputs.items()) or \
        f"N x {fmt_shape(net.input_shape)}"
    returns = f"output: N x {fmt_shape(net.output_shape)}" if not net.outputs else \
        "outputs (a dict): " + ", ".join(f"{k} N x {fmt_shape(v)}" for k, v in net.outputs.items())
    doc += ["", *_wrap(f"Parameters: {sets or 'none'}. Input: {takes};"
                       f" {returns}; "
                       f"{count(net.root).params:,} parameters."),
            *_wrap(("Needs only torch. " if not needs else
                    f"Needs torch and the plugin module{'s' * (len(needs) > 1)} "
                    f"{', '.join(needs)} (importable: installed, or on PYTHONPATH). ") +
                   "Submodules are named as archc.build names them, so a "
                   "state_dict saved from archc loads into this model with strict=True."),
            '"""']
    return doc


def _command_lines(command: str) -> list[str]:
    """The command that made the file, indented; a long one continued with backslashes."""
    lines = _wrap(command, "    ")
    if len(lines) == 1:
        return lines
    lines = _wrap(command, "    ", width=86)
    return [line + " \\" for line in lines[:-1]] + [lines[-1]]


def _wrap(text: str, pad: str = "", width: int = 88) -> list[str]:
    """Words filled into lines of at most 88 columns (a longer word stands alone)."""
    rows: list[str] = []
    row = ""
    for word in text.split(" "):
        if row and len(pad) + len(row) + 1 + len(word) > width:
            rows.append(pad + row)
            row = word
        else:
            row = f"{row} {word}" if row else word
    return [*rows, pad + row]


def _supports(classes: Classes) -> list[str]:
    found: list[str] = []

    def visit(nodes: list[TNode]) -> None:
        for n in nodes:
            visit(n.orelse)
            if isinstance(n, TLayer):
                found.extend(n.support)
            elif isinstance(n, TSeq):
                visit(n.children)
            elif isinstance(n, TLoop) and n.child is not None:
                visit([n.child])
            elif isinstance(n, TLoop):
                visit(case_children(n.cases))
            elif isinstance(n, TJoin):
                for b in n.branches:
                    visit(b)
    for cls in classes.order:
        visit(cls.body)
    return found


# ----------------------------------------------------------------------------- classes


def _class(cls: ClassDef, guards: list[tuple[str, Any]]) -> list[str]:
    sequential = cls.kind in ("sequential", "children", "loop") or (
        cls.kind == "cases" and all(c.kind == "sequential" for c in cls.cases if c.body))
    base = "nn.Sequential" if sequential else "nn.Module"
    out = [f"class {cls.name}({base}):", *_docstring(cls.doc, 1)]
    if cls.kind == "children":
        return out
    params = ["self", *(f"{p.name}: {p.type}" + (f" = {p.default}" if p.default else "")
                        for p in cls.params)]
    out += ["", *lines("def ", call("__init__", *params), " -> None:", 1)]
    for name, value in guards:
        test = (f"not {name}" if value else name) if isinstance(value, bool) \
            else f"{name} != {literal(value)}"
        message = f"{name}={literal(value)} is built into this file; export again to change it"
        if len(message) > 88 - 18:
            message = f"{name} is fixed at {literal(value)}"
        out += [f"        if {test}:", *lines("raise ", call("ValueError", literal(message)),
                                             "", 3)]
    for name, text in cls.computed:  # the spec's default expressions, in its order
        out += [f"        if {name} is None:", *lines(f"{name} = ", text, "", 3)]
    if cls.kind == "cases":
        return out + _cases(cls, sequential)
    if cls.kind == "loop":
        [node] = cls.body
        assert isinstance(node, TLoop)
        return [*out, "        super().__init__()", *_loop(node, "self", 2, cls.name)]
    if cls.kind == "sequential":
        return out + _sequential(cls.body, 2)
    out.append("        super().__init__()")
    for node in _modules(cls.body):
        out += _assign(node)
    out += ["", *_signature(cls)]
    body = forward_heads(cls, cls.body, _forward, _Vars()) if cls.training else \
        _forward(cls, cls.body, "x", "x", _Vars())
    text = "\n".join([*body, *_return(cls)])
    # an input's tap variable only where a `from` reads it (the first input is `x` too)
    out = [line for line in out if not any(
        line == f"        {_var('tap:' + k)} = {k}" and _var("tap:" + k) not in text
        for k in cls.inputs)]
    return [*out, *body, *_return(cls)]


def _sequential(body: list[TNode], depth: int) -> list[str]:
    """An nn.Sequential subclass's constructor: its children, and after them those only some
    instances have, each appended under its test (video_conv's `if act: self.append(...)`;
    archc/export/classes.py lets only a numbered sequence's last items be optional)."""
    given = [n for n in body if not n.cond]
    out = lines("", Bracket("super().__init__", tuple(map(_module, given))), "", depth)
    pad = "    " * depth
    for node in body[len(given):]:
        out += [f"{pad}if {node.cond}:", *lines("", call("self.append", _module(node)), "",
                                                 depth + 1)]
    return out


def _var(key: str) -> str:
    """The forward's variable holding a tap or an output (`tap:low` -> `tap_low`)."""
    return key.replace(":", "_")


def _signature(cls: ClassDef) -> list[str]:
    """`def forward(self, x: Tensor) -> Tensor:`; a class a tap crosses takes the taps it
    reads after `x` and returns a tuple, `x` first; the network with outputs a dict."""
    ret = "dict[str, Tensor]" if cls.outputs else \
        f"tuple[{', '.join(['Tensor'] * (1 + len(cls.exports)))}]" if cls.exports else "Tensor"
    args = ["self", *(f"{k}: Tensor" for k in cls.inputs or ["x"]),
            *(f"{_var(k)}: Tensor" for k in cls.imports)]
    taps = [f"        {_var('tap:' + k)} = {k}" for k in cls.inputs]  # `from mask` reads it
    first = [f"        x = {cls.inputs[0]}"] if cls.inputs else []
    return [*lines("def ", call("forward", *args), f" -> {ret}:", 1), *taps, *first]


def _return(cls: ClassDef) -> list[str]:
    if cls.training:  # filled as the forward goes (archc/export/heads.py)
        return [f"        return {OUTPUTS}"]
    if cls.outputs:  # as torchvision's segmentation models: a dict keyed by output name
        items = [f"{literal(n)}: {_var('output:' + n)}" for n in cls.outputs]
        one = f"        return {{{', '.join(items)}}}"
        # too long, ruff format puts a dict display's items one a line (a call's args it
        # would keep on one line: layout.lines)
        return [one] if len(one) <= 88 else \
            ["        return {", *(f"            {item}," for item in items), "        }"]
    return [f"        return {', '.join(['x', *map(_var, cls.exports)])}"]


def _cases(cls: ClassDef, sequential: bool) -> list[str]:
    """The constructor and forward of a block of cases: the spec's `if` chain picks what the
    constructor builds (and, for a module, what the forward runs)."""
    run = [(i, c) for i, c in enumerate(cls.cases) if c.body is not None]
    order = [] if sequential else _dispatch(run)
    by_case = any(mark is None for _, mark in order[:-1])
    out = [] if sequential else ["        super().__init__()"]
    for i, case in enumerate(cls.cases):
        keyword = "else" if case.test is None else "if" if i == 0 else "elif"
        out.append(f"        {keyword}{'' if case.test is None else ' ' + case.test}:")
        if case.body is None:
            message = f"{cls.name}: no exported instance takes this branch; export again"
            out += lines("raise ", call("ValueError", literal(message)), "", 3)
        elif sequential:
            out += _sequential(case.body, 3)
        else:
            out += [f"            self.case = {i}"] if by_case else []
            for node in _modules(case.body):
                out += _assign(node, 3)
            if not case.body:
                out.append("            pass")
    if sequential:
        return out
    out += ["", "    def forward(self, x: Tensor) -> Tensor:"]
    for n, (i, mark) in enumerate(order):
        body = cls.cases[i].body or []
        last = n == len(order) - 1
        steps = _forward(cls, body, "x", "x", _Vars(), 2 if last else 3)
        if last:
            out += [*steps, "        return x"]
        else:
            test = f"self.case == {i}" if by_case else f"hasattr(self, {literal(mark)})"
            out += [f"        if {test}:", *steps, "            return x"]
    return out


def _dispatch(run: list[tuple[int, Case]]) -> list[tuple[int, str | None]]:
    """The order the forward tests the cases in, each with a submodule it has and no case
    tested after it has: the forward tests `hasattr(self, name)`, which TorchScript decides
    while compiling, so a branch naming submodules this instance lacks is never compiled.
    A mark None (no such order) makes the forward test `self.case`, set by the constructor."""
    names = {i: [n.name for n in _modules(c.body or [])] for i, c in run}
    left = [i for i, _ in run]
    order: list[tuple[int, str | None]] = []
    while len(left) > 1:
        found = next(((i, n) for i in left for n in names[i]
                      if all(n not in names[j] for j in left if j != i)), None)
        if found is None:
            return [(i, None) for i, _ in run]
        order.append(found)
        left.remove(found[0])
    return [*order, (left[0], None)]


def _docstring(text: str, depth: int) -> list[str]:
    pad = "    " * depth
    one = f'{pad}"""{text}"""'
    if len(one) <= 88:
        return [one]
    rows = _wrap(f'"""{text}', pad)
    if len(rows) == 1 and " " in text:  # fits only without its closing quotes: two lines
        head, _, last = rows[0].rpartition(" ")
        rows = [head, pad + last]
    return [*rows, f'{pad}"""']


def _modules(nodes: list[TNode]) -> list[TNode]:
    """The submodules of a class body, in the order archc.build registers them."""
    out: list[TNode] = []
    for n in nodes:
        if isinstance(n, TJoin):
            for b in n.branches:
                out += _modules(b)
        elif not isinstance(n, TWire):  # (a variable of the forward)
            out.append(n)
    return out


def _assign(node: TNode, depth: int = 2) -> list[str]:
    pad = "    " * depth
    if node.before:
        return [f"{pad}{node.before}", *_assign(replace(node, before=""), depth)]
    if isinstance(node, TLoop):
        loop = _loop(node, _get(node.name), depth)
        made = f"{pad}self.{node.name} = nn.Sequential()" if node.name.isidentifier() else \
            f"{pad}self.add_module({literal(node.name)}, nn.Sequential())"  # (`12: {...}`)
        if node.cases and not node.index and node.start != node.running:
            # (the running width first: `c = in_channels`)
            return [loop[0], made, *loop[1:]]
        return [made, *loop]
    if node.name.isidentifier() and optional_children(node):
        return _optional_children(node, depth)
    if node.name.isidentifier():
        target = f"self.{node.name} = "
        if not node.cond:
            return lines(target, _module(node), "", depth)
        return [f"{pad}{target}None", f"{pad}if {node.cond}:",
                *lines(target, _module(node), "", depth + 1),
                *(line for alt in node.orelse for line in  # the spec's `else if`s
                  [f"{pad}elif {alt.cond}:" if alt.cond else f"{pad}else:",
                   *lines(target, _module(alt), "", depth + 1)])]
    method = "self.register_parameter" if isinstance(node, TLayer) and node.apply \
        else "self.add_module"
    add = call(method, literal(node.name), _module(node))
    if not node.cond:
        return lines("", add, "", depth)
    return [f"{pad}{method}({literal(node.name)}, None)", f"{pad}if {node.cond}:",
            *lines("", add, "", depth + 1)]


def _optional_children(node: TNode, depth: int) -> list[str]:
    """A named nn.Sequential some of whose children only some instances have, built child by
    child as torchvision's RegNet builds its `f` (`if se: layers["se"] = ...`)."""
    assert isinstance(node, TSeq)
    pad = "    " * depth
    if node.cond:
        return [f"{pad}self.{node.name} = None", f"{pad}if {node.cond}:",
                *_optional_children(replace(node, cond=""), depth + 1)]
    out = [f"{pad}self.{node.name} = nn.Sequential()"]
    for child in node.children:
        add = call(f"self.{node.name}.add_module", literal(child.name), _module(child))
        if child.cond:
            out += [f"{pad}if {child.cond}:", *lines("", add, "", depth + 1)]
        else:
            out += lines("", add, "", depth)
    return out


def _loop(node: TLoop, target: str, depth: int, name: str = "") -> list[str]:
    """`for i in range(count):` adding each child to `target` (an nn.Sequential); a child
    that is an `if` chain over the index, with the width running through it."""
    pad = "    " * depth
    if node.cases and not node.index:  # a sequence of the spec's statements, some under tests
        first = [] if node.start == node.running else [f"{pad}{node.running} = {node.start}"]
        return [*first, *_steps(node.cases, target, node.running, depth, name, node.keep)]
    if node.cases:
        return [f"{pad}{node.running} = {node.start}",
                f"{pad}for {node.index} in range({node.count.expr}):",
                *_chain(node.cases, target, node.running, depth + 1, name)]
    assert node.child is not None
    add = call(f"{target}.add_module", node.label, _module(node.child)) if node.label \
        else call(f"{target}.append", _module(node.child))
    return [f"{pad}for {node.index} in range({node.count.expr}):", *lines("", add, "", depth + 1)]


def _chain(branches: list[Branch], target: str, running: str, depth: int,
           name: str) -> list[str]:
    """A loop child's `if` chain (archc/export/loopcases.py): each case appends its child and
    sets the running width where it changes it; a case no instance takes refuses."""
    pad, out = "    " * depth, []
    for i, branch in enumerate(branches):
        keyword = "else" if branch.test is None else "if" if i == 0 else "elif"
        out.append(f"{pad}{keyword}{'' if branch.test is None else ' ' + branch.test}:")
        if branch.sub is not None:
            out += _chain(branch.sub, target, running, depth + 1, name)
        elif branch.child is None:
            message = f"{name}: no exported instance takes this branch; export again"
            out += lines("raise ", call("ValueError", literal(message)), "", depth + 1)
        else:
            out += lines("", call(f"{target}.append", _module(branch.child)), "", depth + 1)
            if branch.update:
                out.append(f"{pad}    {running} = {branch.update}")
    return out


def _steps(branches: list[Branch], target: str, running: str, depth: int,
           name: str, keep: bool = False) -> list[str]:
    """Each statement appended, under its `if` where the spec has one (no `else`); the last
    update of the running width only where it is read after (`keep`)."""
    out = []
    for branch in branches:
        inner = depth + (branch.test is not None)
        if branch.test is not None:
            out.append(f"{'    ' * depth}if {branch.test}:")
        if branch.child is None:
            message = f"{name}: no exported instance takes this branch; export again"
            out += lines("raise ", call("ValueError", literal(message)), "", inner)
            continue
        add = call(f"{target}.add_module", literal(branch.label), _module(branch.child)) \
            if branch.label else call(f"{target}.append", _module(branch.child))
        out += lines("", add, "", inner)
        if branch.update and (keep or branch is not branches[-1]):
            out.append(f"{'    ' * inner}{running} = {branch.update}")
    return out


def _constant(tree: SlotTree) -> tuple[bool, Any]:
    if isinstance(tree, Slot):
        values = list(tree.values.values())
        return all(same_value(v, values[0]) for v in values), values[0]
    if isinstance(tree, SubCall):
        return False, None
    parts = [_constant(t) for t in tree]
    return all(ok for ok, _ in parts), tuple(v for _, v in parts)


def _text(tree: SlotTree) -> Expr:
    if isinstance(tree, Slot):
        return tree.expr
    if isinstance(tree, SubCall):
        return _call(tree.call, tree.args, tree.kwargs, tree.defaults)
    inner = [str(_text(t)) if isinstance(_text(t), str) else _flat(_text(t)) for t in tree]
    return f"({', '.join(inner)},)" if len(inner) == 1 else f"({', '.join(inner)})"


def _flat(e: Expr) -> str:
    from archc.export.layout import flat

    return flat(e)


def _call(head: str, args: list[SlotTree], kwargs: dict[str, SlotTree],
          defaults: dict[str, Any]) -> Bracket:
    """A source call; a keyword equal to its default in every instance is left out."""
    kws = [Kw(k, _text(t)) for k, t in kwargs.items()
           if not (k in defaults and _constant(t)[0]
                   and same_value(_constant(t)[1], defaults[k]))]
    return Bracket(head, (*map(_text, args), *kws))


def _module(node: TNode) -> Expr:
    """The constructor call of one submodule (or of an inline op's parameter)."""
    if isinstance(node, TLayer):
        return _call(node.call, node.args, node.kwargs, node.defaults)
    if isinstance(node, TCall):
        items: list[Expr] = []
        for p in node.cls.params:
            ok, value = _constant(node.args[p.name])
            if not p.keyword:
                items.append(node.args[p.name].expr)
            elif not (p.default is not None and ok and literal(value) == p.default):
                items.append(Kw(p.name, node.args[p.name].expr))
        return Bracket(node.cls.name, tuple(items))
    if isinstance(node, TSeq):
        head = node.cls.name if node.cls is not None else "nn.Sequential"
        return Bracket(head, _children(node.children))
    raise ExportError(f"'{node.name}' is not a module")


def _children(children: list[TNode]) -> tuple[Expr, ...]:
    names = [c.name for c in children]
    mods = [_module(c) for c in children]
    if names == [str(i) for i in range(len(names))]:
        return tuple(mods)
    if all(n.isidentifier() for n in names):
        return (Bracket("OrderedDict", tuple(Kw(n, m) for n, m in zip(names, mods,
                                                                         strict=True))),)
    pairs = tuple(Bracket("", (literal(n), m)) for n, m in zip(names, mods, strict=True))
    return (call("OrderedDict", Bracket("", pairs, "[", "]")),)


# ----------------------------------------------------------------------------- forward


class _Vars:
    def __init__(self) -> None:
        self.n = 0

    def fresh(self) -> str:
        self.n += 1
        return f"b{self.n}"


def _comment(cls: ClassDef, node: TNode) -> str:
    shapes = {node.present[k] for k in cls.base if k in node.present}
    return f"  # {fmt_shape(shapes.pop())}" if len(shapes) == 1 else ""


def _apply(node: TNode, x: str) -> str:
    """The expression applying one submodule (or an inline op) to `x`."""
    if isinstance(node, TLayer) and node.apply:
        return node.apply.format(x=x, p=_get(node.name))
    return f"{_get(node.name)}({x})"


def _commented(statement: str, comment: str) -> list[str]:
    """A statement with its shape comment after it, or on the line before where the two do not
    fit one line (ruff format would split the statement to keep the comment beside it)."""
    if not comment or len(statement) + len(comment) <= 88:
        return [statement + comment]
    pad = statement[:len(statement) - len(statement.lstrip())]
    return [pad + comment.strip(), statement]


def _ports(node: TNode) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The taps a submodule's forward takes after `x`, and what it returns after `x`."""
    cls = getattr(node, "cls", None)
    return (cls.imports, cls.exports) if cls is not None else ((), ())


def _get(name: str) -> str:
    return f"self.{name}" if name.isidentifier() else f"getattr(self, {literal(name)})"


def _forward(cls: ClassDef, nodes: list[TNode], src: str, dst: str, v: _Vars,
             depth: int = 2) -> list[str]:
    """Statements computing `dst` from `src` through `nodes` (dst may equal src)."""
    pad = "    " * depth
    out: list[str] = []
    cur = src
    for node in nodes:
        if isinstance(node, TJoin):
            record = joins.lookup(node.op)
            if record.source is None or record.inputs.source is None:
                raise ExportError(f"join '{node.op}' has no source form (JoinOp.source, "
                                  "Inputs.source)")
            before = v.n
            ins = [v.fresh() for _ in node.branches]
            feed = record.inputs.source(cur, ins)
            if feed is None:  # every branch reads the join's input
                v.n, ins = before, [cur] * len(node.branches)
            else:
                out.append(f"{pad}{feed}")
            outs = []
            for branch, start in zip(node.branches, ins, strict=True):
                var = v.fresh() if branch else start
                out += _forward(cls, branch, start, var, v, depth) if branch else []
                outs.append(var)
            out += _commented(f"{pad}{dst} = {record.source(outs)}", _comment(cls, node))
        elif isinstance(node, TWire):
            if node.op == "from":  # the next statement reads the tap
                cur = _var(f"tap:{node.key}")
                continue
            out.append(f"{pad}{OUTPUTS}[{literal(node.key)}] = {cur}" if cls.training and
                       node.op == "output" else f"{pad}{_var(f'{node.op}:{node.key}')} = {cur}")
            continue
        elif _ports(node) != ((), ()):
            imports, exports = _ports(node)
            target = ", ".join([dst, *map(_var, exports)])
            statement = lines(f"{target} = ", call(_get(node.name), cur, *map(_var, imports)),
                              "", depth)
            out += _commented(statement[0], _comment(cls, node)) if len(statement) == 1 else \
                [pad + _comment(cls, node).strip(), *statement]
            out += [f"{pad}{OUTPUTS}[{literal(k[7:])}] = {_var(k)}" for k in exports
                    if cls.training and k.startswith("output:")]
        elif node.cond:
            if cur != dst:
                out.append(f"{pad}{dst} = {cur}")
            out += [f"{pad}if {_get(node.name)} is not None:",
                    *_commented(f"{pad}    {dst} = {_apply(node, dst)}", _comment(cls, node))]
        else:
            out += _commented(f"{pad}{dst} = {_apply(node, cur)}", _comment(cls, node))
        cur = dst
    if cur != dst:
        out.append(f"{pad}{dst} = {cur}")
    return out
