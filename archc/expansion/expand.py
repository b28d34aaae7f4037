"""Stage 2, AST -> resolved graph: blocks, parameters, repetition and conditionals resolved,
static shapes inferred after every layer, names assigned. Errors are collected, not raised,
so `archc check` can report all of them; a layer whose input shape is unknown (because an
earlier layer failed) is still argument-checked but not shape-checked, to avoid cascades.
(Over 400 lines: the Expander is one walk whose statement kinds, calls, loops, joins, wires
and conditions, share its state: the environment, the namer, the errors, the work budget,
the call chain; the network's entry, its inputs, overrides and recipe, follows it.)"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import replace
from typing import Any, cast

from archc.core import codes, graph
from archc.core.errors import (
    ArchcError,
    ArchcWarning,
    ArgumentError,
    LimitError,
    NameError_,
    ShapeError,
    Span,
    UsageError,
    call_note,
    did_you_mean,
    too_many_errors,
)
from archc.core.limits import (
    MAX_BLOCK_DEPTH,
    MAX_DIM,
    MAX_ERRORS,
    MAX_LABEL,
    MAX_REPEAT,
    MAX_SEQ_NESTING,
)
from archc.expansion.arguments import validate
from archc.expansion.calls import Calls, call_key
from archc.expansion.ids import check_ties, ids_shape, joined_ids, token_ids
from archc.expansion.join_errors import explain_join, identity_twice
from archc.expansion.messages import (
    call_text,
    default_text,
    op_signature,
    show,
    signature,
    slash_hint,
)
from archc.expansion.names import ScopeNamer, renamed
from archc.expansion.training_only import check_training
from archc.front import tree
from archc.front.evaluate import (
    IN,
    UNKNOWN_SHAPE,
    ShapeUnknown,
    Unknown,
    evaluate,
    kind,
    type_name,
)
from archc.front.parse import parse_expr
from archc.front.work import OutOfWork, Work, paused_gc
from archc.registry import joins
from archc.registry.ops import REGISTRY, Op, OpLimitError, OpShapeError, fmt_shape
from archc.registry.pytorch_names import argument_hint, layer_hint


class _Abort(Exception):
    """Stops an expansion that hit a hard limit (already reported)."""


Env = Mapping[str, Any]  # a scope's values: parameters, loop variables, `in`
MaybeShape = graph.Shape | None  # None: not known (after an error, or in a block alone)


# ----------------------------------------------------------------------------- expansion


class Expander:
    """Expands one network definition against a table of blocks. `abstract`: values may be
    Unknown and input shapes are (archc/expansion/definitions.py): a conditional on an Unknown
    checks both branches, a repetition of Unknown count its body once, and a block called on an
    unknown shape sees an unknown `in`."""

    def __init__(self, blocks: Mapping[str, tree.Definition],
                 cyclic: Set[str] = frozenset(), work: Work | None = None,
                 abstract: bool = False, calls: Calls | None = None):
        self.blocks = blocks
        # the block calls of the network's last expansion (archc/expansion/calls.py)
        self.calls = calls
        self.abstract = abstract
        self.guarded = 0  # > 0 inside a branch or loop body that may not run (abstract)
        self.work = work if work is not None else Work()
        self.cyclic = cyclic
        self.errors: list[ArchcError] = []
        self.stack: list[str] = []
        self.nesting = 0
        # the network's named values (archc/core/graph.py Wire): tap name -> its shape and where
        # it is made; the taps read; outputs in order; repetitions entered (a tap in one
        # would be made once per instance)
        self.taps: dict[str, tuple[graph.Shape | None, Span]] = {}
        self.read: set[str] = set()
        self.outputs: dict[str, tuple[graph.Shape | None, Span]] = {}
        self.inputs: dict[str, graph.Shape] = {}  # named inputs, in order: each is a tap too
        self.repeating = 0
        self._stmt: dict[type, Callable[..., graph.Shape | None]] = {
                      tree.Call: self._call_stmt, tree.Labelled: self._labelled,
                      tree.Group: self._group, tree.Cond: self._cond,
                      tree.Branches: self._join, tree.Repeat: self._repeat_stmt,
                      tree.Loop: self._repeat_stmt, tree.Expect: self._expect,
                      tree.Assert: self._assert, tree.Input: self._misplaced,
                      tree.Recipe: self._misplaced, tree.Wire: self._wire}

    # -- sequences
    def seq(self, stmts: Sequence[tree.Stmt], env: Env, shape: MaybeShape, namer: ScopeNamer,
            items: list[graph.Node]) -> MaybeShape:
        if self.nesting >= MAX_SEQ_NESTING and stmts:
            self.errors.append(LimitError(
                f"nested more than {MAX_SEQ_NESTING} levels deep, counting blocks inside blocks",
                stmts[0].span, "flatten the structure: fewer groups inside nested blocks",
                code=codes.TOO_DEEP))
            raise _Abort
        self.nesting += 1
        try:
            for st in stmts:
                self.work.step(st.span)
                try:
                    shape = self._stmt[type(st)](st, env, shape, namer, items)
                except _Abort:
                    raise
                except ShapeUnknown:  # `in.c` after an earlier error: already reported
                    shape = None
                except ArchcError as exc:
                    self.errors.append(exc)
                    shape = None
                if len(self.errors) >= MAX_ERRORS:
                    self.errors.append(too_many_errors(st.span))
                    raise _Abort
        finally:
            self.nesting -= 1
        return shape

    def scope(self, kind: str, title: str, stmts: Sequence[tree.Stmt], env: Env,
              shape: MaybeShape, span: Span) -> graph.Scope:
        namer, items = ScopeNamer(), list[graph.Node]()
        out = self.seq(stmts, env, shape, namer, items)
        return self._finish(kind, title, namer, items, shape, out, span)

    def _finish(self, kind: str, title: str, namer: ScopeNamer, items: list[graph.Node],
                shape: MaybeShape, out: MaybeShape, span: Span) -> graph.Scope:
        names = namer.names(self.errors)  # (an abstract expansion only checks the labels)
        kept = tuple(items) if self.abstract else renamed(items, names)
        # A scope holding nothing but one unlabelled repetition takes its children directly,
        # so `layer1: { residual(64) * 2 }` names them layer1.0, layer1.1 (torchvision style).
        if len(kept) == 1 and isinstance(kept[0], graph.Scope) and kept[0].kind == "repeat" \
                and namer.entries[0][1] is None:
            kept = kept[0].items
        return graph.Scope("", kind, title, kept, _unknown_ok(shape), _unknown_ok(out), span)

    # -- statements
    def _call_stmt(self, st: tree.Call, env: Env, shape: MaybeShape, namer: ScopeNamer,
                   items: list[graph.Node], label: str | None = None,
                   label_span: Span | None = None) -> MaybeShape:
        node = self.call(st, env, shape)
        if node is None:
            return None
        items.append(node)
        namer.add(node, label, st.name, label_span)
        return node.out_shape

    def _labelled(self, st: tree.Labelled, env: Env, shape: MaybeShape, namer: ScopeNamer,
                  items: list[graph.Node]) -> MaybeShape:
        unit = st.unit
        label_span = tree.label_span(st)
        label = label_text(st.label, env, label_span)
        if isinstance(unit, tree.Call):
            return self._call_stmt(unit, env, shape, namer, items, label, label_span)
        if isinstance(unit, (tree.Repeat, tree.Loop)):
            node = self.repeat(unit, env, shape)
        else:
            sub, sub_items = ScopeNamer(), list[graph.Node]()
            out = self._stmt[type(unit)](unit, env, shape, sub, sub_items)
            node = self._finish("group", "group", sub, sub_items, shape, out, st.span)
        items.append(node)
        namer.add(node, label, node.kind, label_span)
        return node.out_shape

    def _group(self, st: tree.Group, env: Env, shape: MaybeShape, namer: ScopeNamer,
               items: list[graph.Node]) -> MaybeShape:
        return self.seq(st.body, env, shape, namer, items)

    def _cond(self, st: tree.Cond, env: Env, shape: MaybeShape, namer: ScopeNamer,
              items: list[graph.Node]) -> MaybeShape:
        test = self.condition("if", st.test, env)
        if isinstance(test, Unknown):  # either may run: each checked, in a scope of its own
            self.guarded += 1
            try:
                for branch in (st.then, st.orelse):
                    self.scope("group", "group", branch, env, shape, st.span)
            finally:
                self.guarded -= 1
            return None
        return self.seq(st.then if test else st.orelse, env, shape, namer, items)

    def condition(self, statement: str, expr: tree.Expr, env: Env) -> Any:
        """The value of an `if`'s or `assert`'s test: a boolean, or Unknown in a block checked
        on its own."""
        test = self.value(expr, env)
        if kind(test) not in (bool, None):
            raise ArgumentError(f"{statement}: condition must be a boolean, got "
                                f"{type_name(test)} {show(test)}", expr.span,
                                code=codes.VALUE_TYPE)
        return test

    def _expect(self, st: tree.Expect, env: Env, shape: MaybeShape, namer: ScopeNamer,
                items: list[graph.Node]) -> MaybeShape:
        want = self.shape_value(st.shape, env, "expect")
        if shape is not None and tuple(shape) != want:
            raise ShapeError(f"expect: shape is {fmt_shape(shape)}, expected {fmt_shape(want)}",
                             st.span, code=codes.EXPECT_FAILED)
        return shape

    def _assert(self, st: tree.Assert, env: Env, shape: MaybeShape, namer: ScopeNamer,
                items: list[graph.Node]) -> MaybeShape:
        test = self.condition("assert", st.test, env)
        if test is False and not self.guarded:  # `assert false` in a branch may never run
            raise ArchcError(st.message or "assertion failed", st.span, code=codes.ASSERTION)
        return shape

    def _wire(self, st: tree.Wire, env: Env, shape: MaybeShape, namer: ScopeNamer,
              items: list[graph.Node]) -> MaybeShape:
        """`tap NAME`, `from NAME`, `output NAME` (archc/core/graph.py Wire). A block is checked on
        its own (abstract) without the network's taps: only a network's expansion checks
        names."""
        out = shape
        if st.training and st.kind != "output":
            raise ArchcError(f"{st.kind} {st.name} training: only an output can be "
                             "training-only", st.span,
                             f"remove `training`, or write `output {st.name} training`",
                             code=codes.TRAINING_NOT_OUTPUT)
        if st.kind == "from":
            made = self.taps.get(st.name)
            self.read.add(st.name)
            if made is None and not self.abstract:
                known = [*self.taps]
                raise NameError_(f"from: no tap named '{st.name}' before this line", st.span,
                                 did_you_mean(st.name, known) or
                                 f"write `tap {st.name}` where the value is made"
                                 + (f" (taps so far: {', '.join(known)})" if known else ""),
                                 code=codes.UNKNOWN_TAP)
            out = made[0] if made is not None else None
        elif not self.abstract:
            _check_output_key(st)
            self._declared(st, env, shape)
            table = self.taps if st.kind == "tap" else self.outputs
            if self.repeating:
                raise ArchcError(f"{st.kind} {st.name}: inside a repetition, which would make it "
                                 "once per instance", st.span,
                                 "move it after the repetition, or write the instance you want "
                                 "out of the loop", code=codes.TAP_IN_REPEAT)
            if st.name in table:
                first = table[st.name][1]
                raise NameError_(f"{st.kind} '{st.name}' given twice (first on line "
                                 f"{first.line})", st.span, "give each a name of its own",
                                 code=codes.TAP_TWICE)
            table[st.name] = (shape, st.span)
        items.append(graph.Wire(st.kind, st.name, _unknown_ok(shape), _unknown_ok(out),
                                st.span, training=st.training))
        return out

    def _declared(self, st: tree.Wire, env: Env, shape: MaybeShape) -> None:
        """`output out 21x520x520`: the shape the value must have; a tap may not take an
        input's name (an input is a tap)."""
        if st.kind == "tap" and st.name in self.inputs:
            raise NameError_(f"tap '{st.name}': an input has this name (line "
                             f"{self.taps[st.name][1].line})", st.span,
                             "give the tap another name; read the input with `from "
                             f"{st.name}`", code=codes.TAP_TWICE)
        if st.shape is None:
            return
        want = self.shape_value(st.shape, env, "output")
        if shape is not None and tuple(shape) != tuple(want):
            raise ShapeError(f"output {st.name}: shape is {fmt_shape(shape)}, declared "
                             f"{fmt_shape(want)}", st.span,
                             f"declare `output {st.name} {fmt_shape(shape)}`, or change the "
                             "layers before it", code=codes.OUTPUT_SHAPE)

    def _misplaced(self, st: tree.Input | tree.Recipe, env: Env, shape: MaybeShape,
                   namer: ScopeNamer, items: list[graph.Node]) -> MaybeShape:
        what = "input" if isinstance(st, tree.Input) else "train"
        raise ArchcError(f"'{what}' is only allowed at the top level of a network", st.span,
                         code=codes.TOP_LEVEL_ONLY)

    def _repeat_stmt(self, st: tree.Repeat | tree.Loop, env: Env, shape: MaybeShape,
                     namer: ScopeNamer, items: list[graph.Node]) -> MaybeShape:
        node = self.repeat(st, env, shape)
        items.append(node)
        namer.add(node, None, "repeat")
        return node.out_shape

    # -- joins
    def _join(self, st: tree.Branches, env: Env, shape: MaybeShape, namer: ScopeNamer,
              items: list[graph.Node]) -> MaybeShape:
        error = identity_twice(st.op, [not b for b in st.branches], st.span)
        if error is not None:
            self.errors.append(error)
        ins = self._branch_inputs(st, shape)
        outs: list[graph.Shape | None] = []
        branches = []
        for stmts, branch_in in zip(st.branches, ins, strict=True):
            self.work.step(st.span)
            branch: list[graph.Node] = []
            outs.append(self.seq(stmts, env, branch_in, namer, branch))
            branches.append(tuple(branch))
        known = [o for o in outs if o is not None]
        unknown = None in ins or len(known) < len(outs)
        try:
            out = None if unknown else _join_shape(st, known)
        except ShapeError as exc:
            block = self.stack[-1] if self.stack else None
            raise explain_join(exc, st.op, st.span, block, branches,
                               cast(list[graph.Shape], ins), known) from None
        node = graph.Join("", st.op, tuple(branches), _unknown_ok(shape), _unknown_ok(out),
                          st.span, () if None in ins else tuple(cast(list[graph.Shape], ins)))
        items.append(node)
        namer.add(node, None, st.op)
        return out

    def _branch_inputs(self, st: tree.Branches, shape: MaybeShape) -> Sequence[MaybeShape]:
        """What each branch is fed (the join record's `inputs`); None where unknown."""
        if shape is None:
            return [None] * len(st.branches)
        try:
            return joins.lookup(st.op).inputs.shapes(shape, len(st.branches))
        except OpShapeError as exc:
            self.errors.append(ShapeError(exc.message, st.span, exc.hint, code=exc.code))
            return [None] * len(st.branches)

    # -- repetition
    def repeat(self, st: tree.Repeat | tree.Loop, env: Env, shape: MaybeShape) -> graph.Scope:
        indices: range | list[Unknown]
        if isinstance(st, tree.Repeat):
            count = self.int_value(st.count, env, "repeat count", 0, MAX_REPEAT)
            # An unknown count: the body checked once (its instances are all alike).
            indices = [Unknown(int)] if isinstance(count, Unknown) else range(count)
            var, multiplier = None, st.count.span
            body: tuple[tree.Stmt, ...] = (st.unit,)  # where to fix a big one
        else:
            start = self.int_value(st.start, env, "for: start", -MAX_REPEAT, MAX_REPEAT)
            stop = self.int_value(st.stop, env, "for: stop", -MAX_REPEAT, MAX_REPEAT)
            if isinstance(start, Unknown) or isinstance(stop, Unknown):
                indices = [Unknown(int, st.var)]
            elif stop - start > MAX_REPEAT:
                raise LimitError(f"for: {stop - start} iterations, at most {MAX_REPEAT}", st.span,
                                 code=codes.OUT_OF_BOUNDS)
            else:
                indices = range(start, stop)
            body, var, multiplier = st.body, st.var, st.span
        what = f"`* {len(indices)}`" if var is None else f"`for {var}` x{len(indices)}"
        guard = self.abstract and not (isinstance(indices, range) and len(indices) > 0)
        if self.abstract:  # the body once, whatever the count: its instances differ by values
            indices = [Unknown(int, var)]
        self.guarded += guard  # a count that may be 0: the body may never run
        self.repeating += 1
        try:
            with self.work.inside(what, multiplier):
                return self._iterate(st, indices, body, var, env, shape)
        finally:
            self.guarded -= guard
            self.repeating -= 1

    def _iterate(self, st: tree.Repeat | tree.Loop, indices: range | list[Unknown],
                 body: tuple[tree.Stmt, ...], var: str | None, env: Env,
                 shape: MaybeShape) -> graph.Scope:
        in_shape = shape
        children: list[graph.Node] = []
        # A body that is one unit with a computed label (`"layer_{i}": ...`) names each
        # instance by it; any other body's instances are named 0, 1, ...
        labelled = body[0] if len(body) == 1 and isinstance(body[0], tree.Labelled) else None
        computed = labelled is not None and "{" in labelled.label
        for n, i in enumerate(indices):
            self.work.step(st.span)
            it_env = {**env, var: i} if var else env
            namer, items, it_in = ScopeNamer(), list[graph.Node](), shape
            shape = self.seq(body, it_env, shape, namer, items)
            if not items:  # nothing to name (the cheap path of an empty body)
                children.append(graph.Scope(str(n), "group", "group", (), _unknown_ok(it_in),
                                            _unknown_ok(shape), st.span))
                continue
            names = namer.names(self.errors)
            if len(items) == 1 and computed:
                children.append(graph.changed(items[0], name=names[id(items[0])]))
            elif len(items) == 1 and not isinstance(items[0], graph.Join):
                children.append(graph.changed(items[0], name=str(n)))
            else:
                children.append(graph.Scope(str(n), "group", "group", renamed(items, names),
                                            _unknown_ok(it_in), _unknown_ok(shape), st.span))
        if computed and labelled is not None:
            _unique_names(children, tree.label_span(labelled))
        return graph.Scope("", "repeat", "repeat", tuple(children), _unknown_ok(in_shape),
                           _unknown_ok(shape), st.span)

    # -- calls
    def call(self, st: tree.Call, env: Env, shape: MaybeShape) -> graph.Node | None:
        if st.name in REGISTRY:
            return self.layer(REGISTRY[st.name], st, env, shape)
        if st.name in self.cyclic:
            return None  # recursive, or did not parse: reported once, not at every call
        block = self.blocks.get(st.name)
        if block is None:
            raise NameError_(f"unknown layer or block '{st.name}'", tree.name_span(st),
                             layer_hint(st.name, set(REGISTRY) | set(self.blocks)),
                             code=codes.UNKNOWN_LAYER)
        if st.name in self.stack:
            return None  # reported once by resolve.check_names
        if len(self.stack) >= MAX_BLOCK_DEPTH:
            raise LimitError(f"blocks nested more than {MAX_BLOCK_DEPTH} deep", st.span,
                             code=codes.TOO_DEEP)
        block_env = self.bind_block(block, st, env, shape)
        if self.abstract:  # the block's body is checked as its own definition
            return graph.Scope("", "block", st.name, (), _unknown_ok(None), _unknown_ok(None),
                               st.span)
        known = call_key(block, block_env, len(self.stack), self.nesting) \
            if self.calls is not None and shape is not None else None
        hit = self.calls.get(known, self.blocks, self.work) if self.calls is not None else None
        if hit is not None:  # this call, expanded the same way last time: its scope again
            return graph.changed(hit, span=st.span, args=block_env)
        self.stack.append(st.name)
        first_error, steps, kept = len(self.errors), self.work.done, False
        try:
            with self.work.inside(f"block {st.name}", st.span):
                node = self.scope("block", st.name, block.body, block_env, shape, st.span)
            if self.calls is not None and len(self.errors) == first_error:
                self.calls.put(known, block, self.blocks, node, self.work.done - steps)
                kept = True
        finally:
            if self.calls is not None and not kept:
                self.calls.abandon(known)
            self.stack.pop()
            # Every error found inside this call learns the call (innermost first): the chain
            # of notes that leads from the block's line back to the user's.
            if len(self.errors) > first_error:
                note = call_note(st.span, call_text(st, block_env))
                for err in self.errors[first_error:]:
                    err.notes = (*err.notes, note)
        return graph.changed(node, args=block_env)

    def layer(self, op: Op, st: tree.Call, env: Env, shape: MaybeShape) -> graph.Layer | None:
        if op.tap_args:
            env = self._tap_values(op, st, env)
        bound = self.bind(op.name, op.arg_names, st, env,
                          lambda: op_signature(op))
        args, errors = validate(op, bound, st)
        self.errors.extend(errors)
        if args is None:  # unknown values (abstract): a node still, so its label is checked
            return graph.Layer("", op.name, cast(Any, None), _unknown_ok(None),
                               _unknown_ok(None), st.span) if self.abstract and not errors else None
        out = None
        if shape is not None:
            try:
                out = op.shape(args, token_ids(op, shape))
            except OpShapeError as exc:
                raise ShapeError(exc.message, st.span, exc.hint, code=exc.code) from None
            if any(d > MAX_DIM for d in out):
                raise LimitError(f"{op.name}: output {fmt_shape(out)} exceeds {MAX_DIM} per axis",
                                 st.span, code=codes.TOO_BIG)
        return graph.Layer("", op.name, args, _unknown_ok(shape), _unknown_ok(out), st.span)

    def _tap_values(self, op: Op, st: tree.Call, env: Env) -> dict[str, Any]:
        """An argument that names a tap (`resize(like=low)`): the tap's shape, as a value of
        that name seen only by this call."""
        env = dict(env)
        for kw in st.kwargs:
            if kw.name in op.tap_args and isinstance(kw.value, tree.Var) \
                    and kw.value.name not in env:
                made = self.taps.get(kw.value.name)
                self.read.add(kw.value.name)
                if made is None and not self.abstract:
                    raise NameError_(f"{op.name}: no tap named '{kw.value.name}' before this "
                                     "line", kw.value.span,
                                     did_you_mean(kw.value.name, list(self.taps)) or
                                     f"write `tap {kw.value.name}` where the value is made",
                                     code=codes.UNKNOWN_TAP)
                shape = made[0] if made is not None else None
                env[kw.value.name] = Unknown(tuple, kw.value.name) if shape is None \
                    else tuple(shape)
        return env

    def bind(self, callee: str, names: Sequence[str], st: tree.Call, env: Env,
             sig: Callable[[], str]) -> dict[str, tuple[Any, Span]]:
        """Positional and keyword arguments -> {name: (value, span)}; `sig` makes the callee's
        signature for a message (only when there is one: it costs more than binding)."""
        if len(st.args) > len(names):
            raise ArgumentError(f"{callee}: takes at most {len(names)} positional arguments, "
                                f"got {len(st.args)}", st.args[len(names)].span, sig(),
                                code=codes.TOO_MANY_ARGUMENTS)
        unknown = [ArgumentError(f"{callee}: unknown argument '{kw.name}'", kw.span,
                                 argument_hint(kw.name, callee, names, callee in REGISTRY)
                                 or sig(), code=codes.UNKNOWN_ARGUMENT)
                   for kw in st.kwargs if kw.name not in names]
        if unknown:  # every one of the call (`padding=1, kernel_size=3`), not just the first
            self.errors.extend(unknown[:-1])
            raise unknown[-1]
        bound = {n: (self.value(e, env), e.span) for n, e in zip(names, st.args, strict=False)}
        for kw in st.kwargs:
            if kw.name in bound:
                raise ArgumentError(f"{callee}: argument '{kw.name}' given twice", kw.span, sig(),
                                    code=codes.ARGUMENT_TWICE)
            bound[kw.name] = (self.value(kw.value, env), kw.span)
        return bound

    def bind_block(self, block: tree.Definition, st: tree.Call, env: Env,
                   shape: MaybeShape) -> dict[str, Any]:
        names = [p.name for p in block.params]
        def sig() -> str:
            return signature(block.name, [(p.name, default_text(p.default), p.default is None)
                                          for p in block.params])
        bound = self.bind(block.name, names, st, env, sig)
        # `in.c` in the body and in defaults
        values: dict[str, Any] = {IN: UNKNOWN_SHAPE if shape is None and self.abstract else shape}
        for p in block.params:  # defaults may use earlier parameters: block b(c, mid=c//4)
            if p.name in bound:
                values[p.name] = bound[p.name][0]
            elif p.default is not None:  # (checked with the block, in an abstract expansion)
                values[p.name] = Unknown(None, p.name) if self.abstract else \
                    self.value(p.default, values)
            else:
                raise ArgumentError(f"{block.name}: missing argument '{p.name}'", st.span, sig(),
                                    code=codes.MISSING_ARGUMENT)
        return values

    # -- values
    def value(self, expr: tree.Expr, env: Env) -> Any:
        """evaluate(), its terms counted as work."""
        self.work.expression(expr, expr.span)
        return evaluate(expr, env)

    def int_value(self, expr: tree.Expr, env: Env, what: str, lo: int, hi: int) -> int:
        value = self.value(expr, env)
        if kind(value) not in (int, None):
            raise ArgumentError(f"{what} must be an integer, got {type_name(value)} "
                                f"{show(value)}", expr.span,
                                slash_hint(expr) if kind(value) is float else None,
                                code=codes.ARGUMENT_TYPE)
        if isinstance(value, Unknown):
            return value  # type: ignore[return-value]  # (only in an abstract expansion)
        if not lo <= value <= hi:
            raise LimitError(f"{what} must be between {lo} and {hi}, got {value}", expr.span,
                             code=codes.OUT_OF_BOUNDS)
        return value

    def shape_value(self, spec: tree.ShapeSpec, env: Env, what: str) -> graph.Shape:
        dims = tuple(self.int_value(d, env, f"{what}: size", 1, MAX_DIM) for d in spec.dims)
        if spec.vocab is not None:  # `input tokens(N, V)`
            return ids_shape(spec, dims, self.int_value(spec.vocab, env, f"{what}: vocabulary",
                                                        1, MAX_DIM))
        if len(dims) not in (1, 2, 3, 4):
            raise ShapeError(f"{what}: a shape is F, NxD (tokens) or CxL, CxHxW or CxTxHxW, got "
                             f"{fmt_shape(dims)}", spec.span, code=codes.BAD_SHAPE)
        return dims


def _unique_names(children: list[graph.Node], span: Span) -> None:
    seen: set[str] = set()
    for child in children:
        if child.name in seen:
            raise NameError_(f"duplicate name '{child.name}': this label names every "
                             "instance of the loop the same", span,
                             "put the loop variable in it, e.g. \"layer_{i}\"",
                             code=codes.DUPLICATE_NAME)
        seen.add(child.name)


def label_text(label: str, env: Mapping[str, Any], span: Span) -> str:
    """A label with every `{expr}` replaced by its value (an integer or a string): `{i}`,
    `{stage}-{i + 1}`; it must remain a valid module name (no '.', not empty). A label with no
    `{` is checked once per process (the same text is as good at every call)."""
    if "{" not in label:
        if label not in _PLAIN_LABELS:
            _check_label(label, label, span)
            if len(_PLAIN_LABELS) < 1 << 16:
                _PLAIN_LABELS.add(label)
        return label

    def value(m: re.Match) -> str:
        try:
            v = evaluate(parse_expr(m[1]), env)
        except ArchcError as exc:  # located at the label: the text inside has no place
            raise type(exc)(f"label \"{label}\": {exc.message}", span, exc.hint,
                            code=exc.code) from None
        if isinstance(v, Unknown) and kind(v) in (int, str, None):
            return f"\u27e8{m[1]}\u27e9"  # an unknown value: the label stays distinct by its text
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            raise ArgumentError(f"label \"{label}\": {{{m[1]}}} is {type_name(v)} {show(v)}; "
                                "a label can hold integers and strings", span,
                                code=codes.VALUE_TYPE)
        return str(v)

    values = [(m, value(m)) for m in tree.PLACEHOLDER.finditer(label)]
    size = len(label) + sum(len(v) - len(m[0]) for m, v in values)
    if size > MAX_LABEL:  # measured before it is built: "{s}{s}..." could make gigabytes
        raise LimitError(f"label '{label[:40]}...' becomes {size:,} characters long; at "
                         f"most {MAX_LABEL}", span, code=codes.TOO_BIG)
    parts, last = [], 0
    for m, v in values:
        parts += [label[last:m.start()], v]
        last = m.end()
    text = "".join([*parts, label[last:]])
    _check_label(label, text, span)
    return text


_PLAIN_LABELS: set[str] = set()  # labels without `{` found good (bounded: 65,536)


def _check_label(label: str, text: str, span: Span) -> None:
    """`text`, the label `label` gives, can name a module."""
    if len(text) > MAX_LABEL:
        raise LimitError(f"label of {len(text):,} characters; at most {MAX_LABEL}", span,
                         code=codes.TOO_BIG)
    if "{" in text or "}" in text:
        raise NameError_(f"label \"{label}\": unmatched brace", span,
                         "write {i} to insert the value of a parameter or loop variable",
                         code=codes.BAD_LABEL)
    if not text:
        raise NameError_("a label cannot be empty", span, code=codes.BAD_LABEL)
    if "." in text:
        raise NameError_(f"label '{text}' cannot name a module: it contains '.'", span,
                         "'.' separates the levels of a module's name (layer1.0.conv1)",
                         code=codes.BAD_LABEL)
    if not text.isprintable():  # a NUL made torch.fx's generated forward fail to compile
        odd = next(ch for ch in text if not ch.isprintable())  # (bench/fuzz.py)
        raise NameError_(f"label {text!r} cannot name a module: it contains the control "
                         f"character U+{ord(odd):04X}", span,
                         "a label is printable text: letters, digits, '_', '-', spaces",
                         code=codes.BAD_LABEL)


def _check_output_key(st: tree.Wire) -> None:
    """An output's key (`output out`, `output "0"`) is letters, digits and underscores: the key
    of the returned dict, an ONNX output's name and the exported forward's `output_KEY`."""
    if st.kind == "output" and not re.fullmatch(r"[A-Za-z0-9_]+", st.name):
        raise NameError_(f"output \"{st.name}\": an output key is letters, digits and "
                         "underscores", st.span, "e.g. output \"0\", output out_1",
                         code=codes.OUTPUT_NAME)


def _unknown_ok(shape: graph.Shape | None) -> graph.Shape:
    """A shape left unknown by an earlier error. Only a failed expansion holds such nodes, and
    a failed expansion returns errors, never its graph: every returned node's shapes are known."""
    return cast(graph.Shape, shape)


def _join_shape(st: tree.Branches, outs: list[graph.Shape]) -> graph.Shape:
    try:
        joined_ids(st.op, outs)
        return joins.lookup(st.op).shape(outs)
    except OpLimitError as exc:
        raise LimitError(exc.message, st.span, exc.hint, code=exc.code) from None
    except OpShapeError as exc:
        raise ShapeError(exc.message, st.span, exc.hint, code=exc.code) from None


# ----------------------------------------------------------------------------- networks


def expand_network(defn: tree.Definition, blocks: Mapping[str, tree.Definition], cyclic: set[str],
                   overrides: Mapping[str, Any] | None = None,
                   input_shape: graph.InputShape | None = None, path: str = "",
                   work: Work | None = None, calls: Calls | None = None
                   ) -> tuple[graph.Network | None, list[ArchcError]]:
    """Expand and shape-check one network; returns it (None if unusable) and its errors.
    Networks of one spec should share one `work` budget (a fresh one if None). `calls`: the
    block calls of this network's last expansion, reused where unchanged
    (archc/expansion/calls.py)."""
    if calls is not None:
        calls.begin(cyclic)
    with paused_gc():
        return _expand_network(defn, blocks, cyclic, overrides, input_shape, path, work, calls)


def _expand_network(defn: tree.Definition, blocks: Mapping[str, tree.Definition],
                    cyclic: set[str], overrides: Mapping[str, Any] | None,
                    input_shape: graph.InputShape | None, path: str, work: Work | None,
                    calls: Calls | None) -> tuple[graph.Network | None, list[ArchcError]]:
    ex = Expander(blocks, cyclic, work, calls=calls)
    inputs = [s for s in defn.body if isinstance(s, tree.Input)]
    recipes = [s for s in defn.body if isinstance(s, tree.Recipe)]
    body = tuple(s for s in defn.body if not isinstance(s, (tree.Input, tree.Recipe)))
    try:
        ex.work.step(defn.span)
        env = _network_env(defn, overrides or {}, ex)
        shape = _input_shape(defn, inputs, input_shape, env, ex)
        recipe = _recipe(recipes, env, ex)
        root = ex.scope("network", "network", body, {**env, IN: shape}, shape, defn.span)
    except _Abort:
        return None, ex.errors
    except OutOfWork as exc:
        return None, [*ex.errors, exc.error]
    root = replace(root, name=defn.name, args=env)
    if shape is None:
        return None, ex.errors
    ex.errors.extend(check_ties(root))  # names across the network: once it is whole
    ex.errors.extend(ArchcWarning(f"tap '{name}' is never read", span,
                                  f"read it with `from {name}`, or remove it",
                                  code=codes.UNUSED_TAP)
                     for name, (_, span) in ex.taps.items()
                     if name not in ex.read and name not in ex.inputs)
    ex.errors.extend(ArchcError(f"input '{name}' is never used", ex.taps[name][1],
                                f"read it with `from {name}` where the network uses it, or "
                                "remove it", code=codes.UNUSED_INPUT)
                     for name in [*ex.inputs][1:] if name not in ex.read)
    ex.errors.extend(check_training(root))
    outputs = {name: cast(graph.Shape, s) for name, (s, _) in ex.outputs.items()}
    return graph.Network(defn.name, root, env, recipe, path, outputs, inputs=dict(ex.inputs)), \
        ex.errors


def _network_env(defn: tree.Definition, overrides: Mapping[str, Any],
                 ex: Expander) -> dict[str, Any]:
    names = [p.name for p in defn.params]
    for key in overrides:
        if key not in names:
            raise UsageError(f"--set {key}: network '{defn.name}' has no parameter '{key}'",
                             hint=did_you_mean(key, names) or
                             f"parameters: {', '.join(names) or 'none'}")
    env: dict[str, Any] = {}
    for p in defn.params:
        try:
            if p.name in overrides:
                env[p.name] = overrides[p.name]
            elif p.default is None:
                raise ArgumentError(f"network parameter '{p.name}' needs a default", p.span,
                                    f"write {p.name}=<value>, or pass --set {p.name}=...",
                                    code=codes.NEEDS_DEFAULT)
            else:
                env[p.name] = ex.value(p.default, env)
        except ArchcError as exc:
            ex.errors.append(exc)
    return env


def _input_shape(defn: tree.Definition, inputs: list[tree.Input],
                 override: graph.InputShape | None, env: Env, ex: Expander
                 ) -> graph.Shape | None:
    """The first input's shape (the body starts from it); every named input is also stored
    in `ex.inputs` and `ex.taps` (`from mask` reads it)."""
    _input_places(defn, inputs, ex)
    if not inputs and override is not None and not isinstance(override, Mapping):
        return tuple(override)
    if not inputs:
        ex.errors.append(ShapeError(f"network '{defn.name}' has no input shape", defn.span,
                                    "add a line like `input 1x28x28`, or pass --input",
                                    code=codes.NO_INPUT))
        return None
    given = _input_overrides(defn, inputs, override)
    first: graph.Shape | None = None
    for i, st in enumerate(inputs):
        try:
            shape = _one_input(st, given.get(st.name), env, ex)
        except ArchcError as exc:
            ex.errors.append(exc)
            continue
        if i == 0:
            first = shape
        if st.name and st.name not in ex.inputs:
            ex.inputs[st.name] = shape
            ex.taps[st.name] = (shape, st.span)
    return first


def _input_places(defn: tree.Definition, inputs: list[tree.Input], ex: Expander) -> None:
    """Inputs come first; several are each named, each name once."""
    seen: dict[str, tree.Input] = {}
    for i, st in enumerate(inputs):
        if i and not (st.name and inputs[0].name):
            ex.errors.append(ArchcError("input: given twice" if not st.name else
                                        "input: a network with several inputs names each",
                                        st.span, "write `input image 3x224x224`, "
                                        "`input mask 1x224x224`", code=codes.INPUT_PLACEMENT))
        elif st.name in seen:
            ex.errors.append(NameError_(f"input '{st.name}' given twice (first on line "
                                        f"{seen[st.name].span.line})", st.span,
                                        "give each input a name of its own",
                                        code=codes.TAP_TWICE))
        seen.setdefault(st.name, st)
        if defn.body[i] is not st:
            ex.errors.append(ArchcError(
                "input: must be the first statement of a network" if i == 0 else
                "input: the inputs must come first, before any other statement", st.span,
                code=codes.INPUT_PLACEMENT))
            return


def _input_overrides(defn: tree.Definition, inputs: list[tree.Input],
                     override: graph.InputShape | None) -> dict[str, graph.Shape]:
    """--input: one shape for a one-input network, NAME=SHAPE for named inputs (a usage
    error, exit 2, when they do not fit the network's inputs)."""
    names = [st.name for st in inputs if st.name]
    if override is None:
        return {}
    if not isinstance(override, Mapping):
        if len(inputs) > 1:
            raise UsageError(f"--input: network '{defn.name}' has {len(inputs)} inputs "
                             f"({', '.join(names)}); give each as NAME=SHAPE",
                             hint=f"--input {names[0]}=...")
        return {inputs[0].name: tuple(override)}
    for key in override:
        if key not in names:
            raise UsageError(f"--input {key}=...: network '{defn.name}' has no input '{key}'",
                             hint=did_you_mean(key, names) or
                             (f"its inputs: {', '.join(names)}" if names else
                              "its input is unnamed: give --input SHAPE"))
    return {k: tuple(v) for k, v in override.items()}


def _one_input(st: tree.Input, override: graph.Shape | None, env: Env,
               ex: Expander) -> graph.Shape:
    if override is None:
        return ex.shape_value(st.shape, env, "input")
    if st.shape.vocab is not None and len(override) == 1:
        # --input N of a token network: N ids of the spec's vocabulary
        declared = ex.shape_value(st.shape, env, "input")
        return graph.Ids(tuple(override), cast(graph.Ids, declared).vocab)
    return tuple(override)


def _recipe(recipes: list[tree.Recipe], env: Env, ex: Expander) -> dict[str, Any]:
    """The `train { }` values, validated against the recipe schema (archc/core/recipe.py)."""
    recipe: dict[str, Any] = {}
    settings = []
    for r in recipes:
        for s in r.settings:
            try:
                if s.name in recipe:
                    raise ArchcError(f"train: '{s.name}' set twice", s.span,
                                     code=codes.RECIPE_TWICE)
                value = ex.value(s.value, env)
                if isinstance(value, float) and not math.isfinite(value):
                    raise ArgumentError(f"train: '{s.name}' must be a finite number, got "
                                        f"{value}", s.value.span, code=codes.NOT_FINITE)
                recipe[s.name] = value
                key_span = Span(s.span.path, s.span.line, s.span.col, s.span.line,
                                s.span.col + len(s.name))
                settings.append((s.name, recipe[s.name], key_span, s.value.span))
            except ArchcError as exc:
                ex.errors.append(exc)
    if recipes:
        from archc.core.recipe import check_section  # (its pydantic schema: only for a `train { }`)

        ex.errors.extend(check_section(settings, recipes[0].span))
    return recipe
