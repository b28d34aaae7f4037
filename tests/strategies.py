"""Hypothesis generators of archc specs.

`valid_specs()` draws specs that must pass `archc check`: random mixes of every op, prelude
blocks, user blocks with parameters and defaults, repetition, `for` loops, `if`/`else`,
`add`/`concat` branches, labels, `expect`, `train`, comments and random layout, on small inputs;
also what expands to nothing (empty repetition, loops and groups, fan-outs of blocks around
`identity`) and integer literals with leading zeros up to the digit limit.
Validity comes from a small shape model kept here, written from PyTorch's formulas rather than
from archc's, so a spec archc rejects is a finding too. The model is a pure function of the
input shape for every generated unit, which is what makes repetition safe to generate.

`invalid_specs()` draws mutations of valid specs (deleted, duplicated or swapped tokens, wrong
numbers and names, random bytes, deep nesting, huge numbers, non-UTF-8, empty files) and work
bombs (tests/bombs.py: nested empty repetition, fan-outs of blocks, wide expressions, many
networks, literals past 4,300 digits or the float range); some stay valid, so the tests treat
both outcomes.
"""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import Phase
from hypothesis import strategies as st

try:
    from tests.bombs import gen_bomb
except ImportError:  # tests/ itself on sys.path
    from bombs import gen_bomb

Shape = tuple[int, ...]
Apply = Callable[[Shape], Shape]


class Invalid(Exception):
    """The shape model rejects a unit for an input shape."""


@dataclass
class Unit:
    """One generated statement: its text and its shape function."""

    text: str
    apply: Apply


def _identity(s: Shape) -> Shape:
    return s


def _chain(units: list[Unit]) -> Apply:
    def run(s: Shape) -> Shape:
        for u in units:
            s = u.apply(s)
        return s
    return run


# ----------------------------------------------------------------------------- shape model
# PyTorch's output size: floor((n + 2p - d(k-1) - 1) / s) + 1, ceil for ceil_mode pooling,
# where a last window starting in the right padding is dropped (ATen pooling_output_shape).


def window(n: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    num = n + 2 * p - d * (k - 1) - 1
    if num < 0:
        raise Invalid
    out = (num + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    if out < 1:
        raise Invalid
    return out


def image(s: Shape) -> tuple[int, int, int]:
    if len(s) != 3:
        raise Invalid
    return s  # type: ignore[return-value]


def flat(s: Shape) -> int:
    if len(s) != 1:
        raise Invalid
    return s[0]


def conv_shape(s, out, k, stride=1, pad=0, dil=1, groups=1) -> Shape:
    c, h, w = image(s)
    if c % groups or out % groups:
        raise Invalid
    return (out, window(h, k, stride, pad, dil), window(w, k, stride, pad, dil))


def pool_shape(s, k, stride=None, pad=0, ceil=False) -> Shape:
    c, h, w = image(s)
    if pad > k // 2:
        raise Invalid
    stride = stride or k
    return (c, window(h, k, stride, pad, 1, ceil), window(w, k, stride, pad, 1, ceil))


# ----------------------------------------------------------------------------- rendering

QUOTED = ["block", "block1-0", "3x3", "stage-2", "network"]  # labels written only in quotes
LABELS = ["a", "b", "stem", "head", "features", "layer1", "layer2", "conv", "relu", "conv1",
          "x", "block_2", "c0", "_p", "0", "1", "12", "down", "shortcut", *QUOTED]
PARAMS = ["c", "k", "n", "width", "mid", "p", "flag", "deep", "g"]
COMMENTS = ["", " a comment", "# double", " stride 2 here: 16 -> 8", " TODO", " {not code}",
            " ünïcode ✓", "  x * 2 | y"]


def g_shuffled(g: _Gen, items: list) -> list:
    return g.sample(items, len(items))


def _lit(v: int) -> str:
    return str(v) if v >= 0 else f"-{-v}"


class _Gen:
    """One spec being drawn: blocks defined so far and the source of choices."""

    def __init__(self, rng: random.Random, comments: bool, max_depth: int):
        self.rng = rng
        self.comments = comments
        self.max_depth = max_depth
        self.blocks: list[str] = []
        self.reusable: list[tuple[str, dict, Apply]] = []  # (block name, param values, apply)
        self.n_blocks = 0
        self.layers = 0
        self.shadowed: list[str] = []

    # -- small draws
    def pick(self, options):
        return self.rng.choice(options)

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def flip(self, p_true: float = 0.5) -> bool:
        return self.rng.random() < p_true

    def sample(self, options, n: int) -> list:
        return self.rng.sample(options, n)

    # -- expressions (every rendered sub-expression is parenthesised when compound)
    def ival(self, v: int, env: dict, depth: int = 2) -> str:
        ints = [n for n, x in env.items() if type(x) is int]
        choice = self.int(0, 9) if depth > 0 else 0
        if choice <= 3:
            same = [n for n in ints if env[n] == v] + modern.in_names(env, v)
            if same and choice <= 1:
                return self.pick(same)
            if v >= 0 and self.flip(0.02):  # leading zeros: up to MAX_DIGITS (100) digits
                return str(v).zfill(self.pick([20, 100]))
            return _lit(v)
        if choice == 4 and ints:
            n = self.pick(ints)
            return f"{n} + ({self.ival(v - env[n], env, depth - 1)})"
        if choice == 5:
            m = self.int(1, 4)
            return f"({self.ival(v * m + self.int(0, m - 1), env, depth - 1)}) // {m}"
        if choice == 6:
            other = v - self.int(0, 3)
            fn = "max" if self.flip() else "min"
            other = other if fn == "max" else 2 * v - other
            return f"{fn}({self.ival(v, env, depth - 1)}, {_lit(other)})"
        if choice == 7 and v > 1 and v % 2 == 0:
            return f"2 * ({self.ival(v // 2, env, depth - 1)})"
        if choice == 8 and v >= 0:
            m = v + self.int(1, 3)
            return f"({self.ival(v + m * self.int(0, 2), env, depth - 1)}) % {m}"
        if choice == 9 and self.flip(0.3):  # ceil, floor, round, int of floats
            fn, x = self.pick([("ceil", f"({self.ival(v, env, depth - 1)}) - 0.5"),
                               ("floor", f"({self.ival(v, env, depth - 1)}) + 0.5"),
                               ("round", f"({self.ival(2 * v, env, depth - 1)}) / 2"),
                               ("int", f"({self.ival(v, env, depth - 1)}) * 1.0")])
            return f"{fn}({x})"
        if choice == 9 and self.flip():  # a conditional expression
            other = self.ival(v + self.int(-2, 2), env, depth - 1)
            test, mine = self.flip(), self.ival(v, env, depth - 1)
            a, b = (mine, other) if test else (other, mine)
            return f"({a} if {self.bval(test, env, depth - 1)} else {b})"
        d = self.int(1, 3)
        return f"({self.ival(v + d, env, depth - 1)}) - {d}"

    def bval(self, b: bool, env: dict, depth: int = 2) -> str:
        choice = self.int(0, 6) if depth > 0 else 0
        bools = [n for n, x in env.items() if type(x) is bool and x == b]
        if choice == 0:
            return "true" if b else "false"
        if choice == 1 and bools:
            return self.pick(bools)
        if choice == 2:
            return f"not ({self.bval(not b, env, depth - 1)})"
        if choice == 3:
            x = self.int(0, 9)
            y = x + self.int(1, 3)
            op = self.pick(["<", "<=", "!="] if b else [">", ">=", "=="])
            return f"{self.ival(x, env, depth - 1)} {op} {self.ival(y, env, depth - 1)}"
        if choice == 4:
            x = self.int(0, 9)
            return f"{self.ival(x, env, depth - 1)} {'==' if b else '!='} {x}"
        left, right = (b, self.flip()) if self.flip() else (self.flip(), b)
        if b:
            left, right = (True, right) if self.flip() else (left, True)
            word = self.pick(["or"]) if not (left and right) else self.pick(["and", "or"])
        else:
            left, right = (False, right) if self.flip() else (left, False)
            word = self.pick(["and"]) if left or right else self.pick(["and", "or"])
        return f"({self.bval(left, env, depth - 1)}) {word} ({self.bval(right, env, depth - 1)})"

    def value(self, v, env: dict) -> str:
        if type(v) is bool:
            return self.bval(v, env)
        if type(v) is int:
            return self.ival(v, env)
        if isinstance(v, float):
            return self.pick(_FLOAT_TEXT.get(v, [repr(v)]))
        return f'"{v}"'

    def call(self, name: str, order: list[str], values: dict, defaults: dict, env: dict) -> str:
        """`name(...)`: a random split of positional and keyword arguments; defaults may be
        left out or written out."""
        given = [n for n in order if n in values and (n not in defaults or self.flip(0.6)
                                                        or values[n] != defaults[n])]
        n_pos = 0
        while n_pos < len(given) and given[n_pos] == order[n_pos] and self.flip(0.6):
            n_pos += 1
        pos = [self.value(values[n], env) for n in given[:n_pos]]
        kws = given[n_pos:]
        kws = g_shuffled(self, kws)
        args = pos + [f"{n}={self.value(values[n], env)}" for n in kws]
        if not args:
            return name if self.flip(0.8) else f"{name}()"
        return f"{name}({', '.join(args)}{',' if self.flip(0.1) else ''})"

    def sep(self) -> str:
        return self.pick([" ", "\n", "\n", "\n\n", "  "])

    def comment(self) -> str | None:
        if self.comments and self.flip(0.15):
            return "#" + self.pick(COMMENTS) + "\n"
        return None


_FLOAT_TEXT = {1e-5: ["1e-5", "0.00001", "1e-05"], 1e-3: ["0.001", "1e-3"], 0.1: ["0.1"],
               0.5: ["0.5"], 0.0: ["0.0"], 0.25: ["0.25"], 0.2: ["0.2", "2e-1"],
               0.75: ["0.75"], 1.0: ["1.0"], 2.0: ["2.0"], 1e-4: ["1e-4", "0.0001"]}


# ----------------------------------------------------------------------------- layers


def _draw_conv(g: _Gen, s: Shape, env: dict) -> Unit:
    c, h, w = s
    groups = g.pick([1, 1, 1] + [d for d in (2, 3, 4) if c % d == 0])
    out = g.int(1, max(1, 8 // groups)) * groups
    k, stride, pad, dil = g.int(1, 5), g.pick([1, 1, 2, 3]), g.int(0, 2), g.pick([1, 1, 1, 2])
    try:
        conv_shape(s, out, k, stride, pad, dil, groups)
    except Invalid:
        k, dil = 1, 1
    bias = g.flip(0.7)
    values = dict(out=out, k=k, stride=stride, pad=pad, dilation=dil, groups=groups, bias=bias)
    defaults = dict(stride=1, pad=0, dilation=1, groups=1, bias=True)
    text = g.call("conv", list(values), values, defaults, env)
    return Unit(text, lambda x: conv_shape(x, out, k, stride, pad, dil, groups))


def _draw_pool(g: _Gen, s: Shape, env: dict) -> Unit:
    _, h, w = s
    name = g.pick(["maxpool", "avgpool"])
    k = g.int(1, min(4, max(h, w) + 1))
    stride = g.pick([None, None, 1, 2, 3])
    pad = g.int(0, k // 2)
    ceil = g.flip(0.3)
    try:
        pool_shape(s, k, stride, pad, ceil)
    except Invalid:
        k, stride, pad = 1, None, 0
    values = {"k": k, "pad": pad, "ceil": ceil}
    if stride is not None:
        values["stride"] = stride
    text = g.call(name, ["k", "stride", "pad", "ceil"], values, dict(pad=0, ceil=False), env)
    return Unit(text, lambda x: pool_shape(x, k, stride, pad, ceil))


def _draw_adaptive(g: _Gen, s: Shape, env: dict) -> Unit:
    name = g.pick(["adaptive_avgpool", "adaptive_maxpool"])
    oh = g.int(1, 4)
    ow = g.pick([None, g.int(1, 5)])
    values = {"h": oh} if ow is None else {"h": oh, "w": ow}
    text = g.call(name, ["h", "w"], values, {}, env)

    def rule(x):
        c, _, _ = image(x)
        return (c, oh, ow or oh)
    return Unit(text, rule)


def _any_rank(g: _Gen, s: Shape, env: dict) -> Unit:
    """Ops that take a flat or an image input and keep the shape."""
    kind = g.pick(["bn", "relu", "sigmoid", "tanh", "gelu", "silu", "leaky_relu", "softmax",
                   "dropout", "identity", "bn", "relu"])
    if kind == "bn":
        values = {}
        if g.flip(0.3):
            values["eps"] = g.pick([1e-5, 1e-3])
        if g.flip(0.2):
            values["momentum"] = g.pick([0.1, 0.5, 0.0])
        if g.flip(0.2):
            values["affine"] = g.flip()
        text = g.call("bn", ["eps", "momentum", "affine"], values, {}, env)
    elif kind == "leaky_relu":
        values = {"slope": g.pick([0.01, 0.2, 0.0])} if g.flip() else {}
        text = g.call("leaky_relu", ["slope"], values, {}, env)
    elif kind == "dropout":
        values = {"p": g.pick([0.5, 0.1, 0.0, 0.25])} if g.flip() else {}
        text = g.call("dropout", ["p"], values, {}, env)
    else:
        text = kind if g.flip(0.9) else f"{kind}()"
    return Unit(text, lambda x: _rank(x))


def _rank(s: Shape) -> Shape:
    if len(s) not in (1, 3):
        raise Invalid
    return s


def _draw_lrn(g: _Gen, s: Shape, env: dict) -> Unit:
    values = {"size": g.int(1, 5)}
    if g.flip(0.3):
        values["alpha"] = 1e-4
    if g.flip(0.3):
        values["beta"] = 0.75
    if g.flip(0.2):
        values["k"] = g.pick([1.0, 2.0])
    return Unit(g.call("lrn", ["size", "alpha", "beta", "k"], values, {}, env), image)


def _draw_flatten(g: _Gen, s: Shape, env: dict) -> Unit:
    def rule(x):
        n = 1
        for d in x:
            n *= d
        return (n,)
    return Unit("flatten", rule)


def _draw_gap(g: _Gen, s: Shape, env: dict) -> Unit:
    return Unit("gap", lambda x: (image(x)[0], 1, 1))


def _draw_linear(g: _Gen, s: Shape, env: dict) -> Unit:
    out, bias = g.int(1, 12), g.flip(0.8)
    values = {"out": out, "bias": bias}
    text = g.call("linear", ["out", "bias"], values, {"bias": True}, env)

    def rule(x):
        flat(x)
        return (out,)
    return Unit(text, rule)


IMAGE_LAYERS = [_draw_conv, _draw_conv, _draw_conv, _draw_pool, _draw_adaptive, _any_rank,
                _any_rank, _any_rank, _draw_lrn, _draw_gap, _draw_flatten]
FLAT_LAYERS = [_draw_linear, _draw_linear, _any_rank, _any_rank, _draw_flatten]


def _layer(g: _Gen, s: Shape, env: dict) -> Unit:
    options = {3: IMAGE_LAYERS + modern.IMAGE_LAYERS, 2: modern.TOKEN_LAYERS,
               1: FLAT_LAYERS + modern.FLAT_LAYERS}[len(s)]
    if len(s) == 3 and s[0] * s[1] * s[2] > 2000:
        options = [o for o in options if o is not _draw_flatten]  # keep linears small
    g.layers += 1
    return g.pick(options)(g, s, env)


# ----------------------------------------------------------------------------- prelude blocks


def _draw_prelude(g: _Gen, s: Shape, env: dict) -> Unit | None:
    if len(s) != 3:
        return None
    c, h, w = s
    options = [n for n in ("residual", "inception", "dense_layer", "dense", "transition", "nin",
                           "vgg_block") if n not in g.shadowed]
    if h < 2 or w < 2:
        options = [n for n in options if n not in ("transition", "vgg_block")]
    if not options:
        return None
    name = g.pick(options)
    g.layers += 4
    if name == "residual":
        use_1x1 = g.flip()
        stride = g.pick([1, 1, 2])
        cc = g.int(1, 8) if use_1x1 else c
        if not use_1x1 and (h > 1 or w > 1):
            stride = 1
        values = dict(c=cc, use_1x1=use_1x1, stride=stride)
        text = g.call(name, ["c", "use_1x1", "stride"], values, dict(use_1x1=False, stride=1), env)

        def residual(x):
            main = conv_shape(x, cc, 3, stride, 1)
            short = conv_shape(x, cc, 1, stride) if use_1x1 else image(x)
            if main != short:
                raise Invalid
            return main
        return Unit(text, residual)
    if name == "inception":
        values = {k: g.int(1, 4) for k in ("c1", "c2a", "c2b", "c3a", "c3b", "c4")}
        total = values["c1"] + values["c2b"] + values["c3b"] + values["c4"]
        text = g.call(name, list(values), values, {}, env)
        return Unit(text, lambda x: (total, *image(x)[1:]))
    if name in ("dense_layer", "dense"):
        growth = g.int(1, 4)
        convs = 1 if name == "dense_layer" else g.int(0, 3)
        values = {"growth": growth} if name == "dense_layer" else dict(growth=growth, convs=convs)
        text = g.call(name, list(values), values, {"convs": 4}, env)
        return Unit(text, lambda x: (image(x)[0] + convs * growth, *x[1:]))
    if name == "transition":
        cc = g.int(1, 8)
        text = g.call(name, ["c"], {"c": cc}, {}, env)
        return Unit(text, lambda x: pool_shape(conv_shape(x, cc, 1), 2, 2))
    if name == "nin":
        k, stride, pad = g.int(1, 3), g.pick([1, 1, 2]), g.int(0, 1)
        cc = g.int(1, 8)
        try:
            conv_shape(s, cc, k, stride, pad)
        except Invalid:
            k = 1
        values = dict(c=cc, k=k, stride=stride, pad=pad)
        text = g.call(name, list(values), values, dict(stride=1, pad=0), env)
        return Unit(text, lambda x: conv_shape(x, cc, k, stride, pad))
    convs, cc = g.int(0, 2), g.int(1, 8)
    text = g.call("vgg_block", ["convs", "c"], dict(convs=convs, c=cc), {}, env)

    def vgg(x):
        for _ in range(convs):
            x = conv_shape(x, cc, 3, 1, 1)
        return pool_shape(x, 2, 2)
    return Unit(text, vgg)


# ----------------------------------------------------------------------------- structure


def _body(g: _Gen, units: list[Unit], indent: str) -> str:
    """`{ ... }` around units, on one line or one unit per line."""
    if not units:
        return "{ }" if g.flip() else "{}"
    inner = indent + "  "
    if g.flip(0.4) and all("\n" not in u.text and "#" not in u.text for u in units):
        return "{ " + " ".join(u.text for u in units) + " }"
    return "{\n" + "".join(inner + u.text.replace("\n", "\n" + inner) + "\n"
                           for u in units).replace(inner + "\n", "\n") + indent + "}"


def _seq(g: _Gen, s: Shape, env: dict, depth: int, labels: set, lo: int = 1, hi: int = 4
         ) -> tuple[list[Unit], Shape]:
    units: list[Unit] = []
    for _ in range(g.int(lo, hi)):
        if g.layers > 40:
            break
        note = g.comment()
        if note:
            units.append(Unit(note.rstrip("\n"), _identity))
        unit = _item(g, s, env, depth, labels)
        try:
            s = unit.apply(s)
        except Invalid:  # a rule that rejects the shape it is given after all (an upsample
            continue  # repeated past its bound): leave the unit out; its blocks stay valid
        units.append(unit)
    return units, s


def _seq_text(g: _Gen, units: list[Unit]) -> str:
    out = ""
    for i, u in enumerate(units):
        out += u.text
        if i + 1 < len(units):
            out += "\n" if "#" in u.text else g.sep()
    return out


def _item(g: _Gen, s: Shape, env: dict, depth: int, labels: set) -> Unit:
    """A statement, maybe labelled: `label: unit`."""
    label = None
    if g.flip(0.2):
        free = [n for n in LABELS if n not in labels]
        if free:
            label = g.pick(free)
            labels.add(label)
    unit = _unit(g, s, env, depth, labels if label is None else set())
    if label is not None and unit.text.startswith(("expect", "assert")):
        labels.discard(label)
    elif label is not None:
        quoted = label in QUOTED or g.flip(0.2)
        return Unit(f'"{label}": {unit.text}' if quoted else f"{label}: {unit.text}", unit.apply)
    return unit


def _unit(g: _Gen, s: Shape, env: dict, depth: int, labels: set) -> Unit:
    kinds = ["layer"] * 6
    if depth > 0:
        kinds += ["repeat", "repeat", "group", "join", "join", "cond", "loop", "prelude",
                  "block", "block", "expect", "assert", "empty"]
    if g.reusable:
        kinds += ["reuse"]
    kind = g.pick(kinds)
    unit = None
    if kind == "repeat":
        unit = _repeat(g, s, env, depth, labels)
    elif kind == "group":
        inner, _ = _seq(g, s, env, depth - 1, labels, 1, 3)
        unit = Unit(_body(g, inner, ""), _chain(inner))
    elif kind == "join":
        unit = _join(g, s, env, depth, labels)
    elif kind == "cond":
        unit = _cond(g, s, env, depth, labels)
    elif kind == "loop":
        unit = _loop(g, s, env, depth)
    elif kind == "prelude":
        unit = _draw_prelude(g, s, env)
    elif kind == "block":
        unit = _block(g, s, env, depth)
    elif kind == "reuse":
        unit = _reuse(g, s, env)
    elif kind == "empty":
        unit = _empty(g, s)
    elif kind == "expect":
        unit = _expect(g, s, env)
    elif kind == "assert":
        # always with a message: `assert c` then an `if` statement parses as `c if ...`
        message = g.pick([', "a message"', ', "c must be positive"'])
        unit = Unit(f"assert {g.bval(True, env)}{message}", _identity)
    return unit or _layer(g, s, env)


EMPTIES = ["{ }", "{ } * 3", "relu * 0", "{ { } * 2 } * 3", "for i in 0..4 { }",
           "for i in 2..2 { conv(1, k=1) }", "{ relu * 0 } * 2", "add { | }",
           "for i in 0..3 { if i == 1 { identity } }", "{ add { | } } * 2"]


def _empty(g: _Gen, s: Shape) -> Unit:
    """What expands to little or nothing: empty repetition and groups (built as pass-through
    modules), or a fan-out of blocks around `identity` (2^k expansions, kept small)."""
    if g.flip(0.7):
        return Unit(g.pick(EMPTIES), _identity)
    first, k = g.n_blocks, g.int(1, 4)
    g.n_blocks += k + 1
    for i in range(k):
        g.blocks.append(f"block fan{first + i} {{ fan{first + i + 1} fan{first + i + 1} }}")
    g.blocks.append(f"block fan{first + k} {{ {g.pick(['identity', '', 'relu * 0'])} }}")
    return Unit(f"fan{first}", _identity)


def _expect(g: _Gen, s: Shape, env: dict) -> Unit:
    def rule(x):
        if x != s:
            raise Invalid
        return x
    return Unit(f"expect {_shape_text(g, s, env)}", rule)


def _shape_text(g: _Gen, s: Shape, env: dict) -> str:
    if g.flip(0.6):
        return "x".join(map(str, s))
    return "(" + ", ".join(g.ival(d, env, 1) for d in s) + ")"


def _primary(g: _Gen, s: Shape, env: dict, depth: int) -> Unit:
    """A unit that can be repeated with `* n` (no label, no expect)."""
    kind = g.pick(["layer", "layer", "group", "prelude", "block", "join"])
    if kind == "group" and depth > 0:
        inner, _ = _seq(g, s, env, depth - 1, set(), 1, 3)
        return Unit(_body(g, inner, ""), _chain(inner))
    if kind == "prelude":
        unit = _draw_prelude(g, s, env)
        if unit:
            return unit
    if kind == "block" and depth > 0:
        return _block(g, s, env, depth)
    if kind == "join" and depth > 0:
        return _join(g, s, env, depth, set()) or _layer(g, s, env)
    return _layer(g, s, env)


def _times(apply: Apply, s: Shape, n: int) -> Shape:
    for _ in range(n):
        s = apply(s)
    return s


def _repeat(g: _Gen, s: Shape, env: dict, depth: int, labels: set) -> Unit:
    unit = _primary(g, s, env, depth - 1)
    n = g.int(0, 3)
    try:
        _times(unit.apply, s, n)
    except Invalid:
        n = 1
    ints = [v for v, x in env.items() if type(x) is int and x == n]
    count = g.pick([str(n), str(n), f"({g.ival(n, env)})"] + ints)
    return Unit(f"{unit.text} * {count}", lambda x: _times(unit.apply, x, n))


def _fix(g: _Gen, s: Shape, target: Shape, env: dict, concat: bool) -> list[Unit] | None:
    """Layers taking `s` to `target` (for concat: to target's spatial size only)."""
    if len(target) == 2 or len(s) == 2:  # tokens: only what already fits
        fits = len(s) == len(target) and (s[1:] == target[1:] if concat else s == target)
        return [] if fits else None
    if len(target) == 3:
        if len(s) != 3:
            return None
        units = []
        if s[1:] != target[1:]:
            name = g.pick(["adaptive_avgpool", "adaptive_maxpool"])
            oh, ow = target[1:]
            units.append(Unit(f"{name}({oh}, {ow})" if oh != ow or g.flip() else f"{name}({oh})",
                              lambda x, oh=oh, ow=ow: (image(x)[0], oh, ow)))
        if not concat and s[0] != target[0]:
            tc = target[0]
            units.append(Unit(g.call("conv", ["out", "k"], {"out": tc, "k": 1}, {}, env),
                              lambda x, tc=tc: conv_shape(x, tc, 1)))
        return units
    units = []
    if len(s) == 3:
        units.append(_draw_flatten(g, s, env))
    if not concat and (len(s) == 3 or s[0] != target[0]):
        units.append(_draw_linear_to(target[0]))
    return units


def _draw_linear_to(out: int) -> Unit:
    def rule(x):
        flat(x)
        return (out,)
    return Unit(f"linear({out})", rule)


def _join(g: _Gen, s: Shape, env: dict, depth: int, labels: set) -> Unit | None:
    kind = g.pick(["add", "concat", "add", "concat", "mul", "split"])
    if kind == "mul":
        return modern.draw_mul(g, s, env, depth, labels)
    if kind == "split":
        return modern.draw_split(g, s, env, depth, labels)
    branches: list[list[Unit]] = []
    first, target = _seq(g, s, env, depth - 1, labels, 0, 3)
    branches.append(first)
    for _ in range(g.int(1, 2)):
        units, out = _seq(g, s, env, depth - 1, labels, 0, 2)
        fix = _fix(g, out, target, env, kind == "concat")
        if fix is None:
            units, fix = [], _fix(g, s, target, env, kind == "concat")
            if fix is None:
                return None
        branches.append(units + fix)
    applies = [_chain(b) for b in branches]

    def rule(x):
        outs = [a(x) for a in applies]
        if kind == "add":
            if any(o != outs[0] for o in outs):
                raise Invalid
            return outs[0]
        if any(len(o) != len(outs[0]) or o[1:] != outs[0][1:] for o in outs):
            raise Invalid
        return (sum(o[0] for o in outs), *outs[0][1:])
    texts = [_seq_text(g, b) for b in branches]
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if kind == "add" and 1 < len(empty) < len(texts):  # `add { f || }` is error A0506: the
        for i in empty[1:]:                             # extra identities said explicitly
            texts[i] = "identity"
    if any("\n" in t or "#" in t for t in texts) or g.flip(0.5):
        ind = "    "
        body = "\n  | ".join(t.replace("\n", "\n" + ind) for t in texts)
        text = f"{kind} {{\n    {body}\n}}"
    else:
        text = f"{kind} {{ " + " | ".join(texts) + " }"
    return Unit(text, rule)


def _cond(g: _Gen, s: Shape, env: dict, depth: int, labels: set) -> Unit:
    taken = g.flip()
    units, _ = _seq(g, s, env, depth - 1, labels, 0, 3)
    other, _ = _seq(g, s, env, depth - 1, set(), 0, 2)  # never expanded: any valid text
    then, orelse = (units, other) if taken else (other, units)
    test = g.bval(taken, env)
    text = f"if {test} {_body(g, then, '')}"
    if orelse or g.flip(0.3) or not taken:
        if not taken and not orelse and g.flip():
            return Unit(text, _identity)
        if g.flip(0.2):
            text += f" else if {g.bval(False, env)} {_body(g, [], '')} else {_body(g, orelse, '')}"
        else:
            text += f" else {_body(g, orelse, '')}"
    return Unit(text, _chain(units))


def _loop(g: _Gen, s: Shape, env: dict, depth: int) -> Unit:
    var = g.pick(["i", "j", "step", "c"])
    start = g.int(-1, 2)
    n = g.int(0, 3)
    span = f"{g.ival(start, env, 1)}..{g.ival(start + n, env, 1)}"
    template = g.pick(["grow", "plain", "first", "named"] if len(s) == 3 else ["plain", "named"])
    inner_env = {name: v for name, v in env.items() if name != var}  # the loop var shadows
    if template == "named":  # a computed label names each instance: "layer_{i}"
        unit = _layer(g, s, inner_env)
        try:
            _times(unit.apply, s, n)
        except Invalid:
            n = 1
            span = f"{_lit(start)}..{_lit(start + 1)}"
        label = g.pick(["layer_{%s}", "encoder_layer_{%s}", "b{%s}-0", "{%s + 1}"]) % var
        return Unit(f'for {var} in {span} {{ "{label}": {unit.text} }}',
                    lambda x: _times(unit.apply, x, n))
    if template == "grow":
        base, k = g.int(2 - start if start < 1 else 1, 6), g.pick([1, 3])
        pad = k // 2
        text = (f"for {var} in {span} {{ conv({g.ival(base, inner_env, 1)} + {var}, k={k}, "
                f"pad={pad}) {g.pick(['relu', 'bn', 'identity'])} }}")

        def grow(x):
            for i in range(start, start + n):
                x = conv_shape(x, base + i, k, 1, pad)
            return x
        return Unit(text, grow)
    if template == "first" and n > 0:
        first, s1 = _seq(g, s, inner_env, depth - 1, set(), 1, 2)
        rest, _ = _seq(g, s1, inner_env, depth - 1, set(), 0, 2)
        a, b = _chain(first), _chain(rest)

        def first_rule(x):
            for i in range(n):
                x = a(x) if i == 0 else b(x)
            return x
        try:
            first_rule(s)
        except Invalid:
            return _layer(g, s, env)
        test = f"{var} == {_lit(start)}" if g.flip() else f"{var} <= {_lit(start)}"
        text = f"for {var} in {span} {{\n  if {test} {_body(g, first, '  ')} " \
               f"else {_body(g, rest, '  ')}\n}}"
        return Unit(text, first_rule)
    body, _ = _seq(g, s, inner_env, depth - 1, set(), 1, 2)
    a = _chain(body)
    try:
        _times(a, s, n)
    except Invalid:
        n = 1
        span = f"{_lit(start)}..{_lit(start + 1)}"
    return Unit(f"for {var} in {span} {_body(g, body, '')}", lambda x: _times(a, x, n))


def _block(g: _Gen, s: Shape, env: dict, depth: int) -> Unit:
    """Define a new block (parameters, defaults that use earlier ones) and call it."""
    if g.shadowed and g.n_blocks < len(g.shadowed):
        name = g.shadowed[g.n_blocks]
    else:
        name = f"{g.pick(['blk', 'unit', 'stage', 'b'])}{g.n_blocks}"
    g.n_blocks += 1
    names = g.sample(PARAMS, g.int(0, 3))
    values: dict = {}
    params: list[str] = []
    defaults: dict = {}
    for i, p in enumerate(names):
        v = g.flip(0.2) if p in ("flag", "deep") else g.int(1, 8)
        values[p] = v
        if defaults or (i == len(names) - 1 and g.flip(0.5)):
            earlier = {q: values[q] for q in names[:i]}
            defaults[p] = g.value(v, earlier) if type(v) is not bool else g.bval(v, earlier)
            params.append(f"{p}={defaults[p]}")
        else:
            params.append(p)
    body, _ = _seq(g, s, {**values, modern.IN: s}, depth - 1, set(), 1, 4)
    head = f"block {name}({', '.join(params)})" if params or g.flip() else f"block {name}"
    note = "# a user block\n" if g.comments and g.flip(0.3) else ""
    g.blocks.append(f"{note}{head} {_body(g, body, '')}")
    apply = _chain(body)
    if "in." in g.blocks[-1]:  # `in.c` is the value at this input: call it on this one only
        apply = _only_at(s, apply)
    g.reusable.append((name, values, apply))
    call_values = {p: v for p, v in values.items() if p not in defaults or g.flip()}
    text = g.call(name, names, call_values, {}, env)
    return Unit(text, apply)


def _only_at(shape: Shape, apply: Apply) -> Apply:
    def rule(x: Shape) -> Shape:
        if x != shape:
            raise Invalid
        return apply(x)
    return rule


def _reuse(g: _Gen, s: Shape, env: dict) -> Unit | None:
    name, values, apply = g.pick(g.reusable)
    try:
        apply(s)
    except Invalid:
        return None
    return Unit(g.call(name, list(values), values, {}, env), apply)


# ----------------------------------------------------------------------------- files


@dataclass
class Spec:
    text: str
    input_shape: Shape
    output_shape: Shape
    network: str
    extra: dict = field(default_factory=dict)


def gen_valid(rng: random.Random, comments: bool = True, max_depth: int = 3) -> Spec:
    """A random valid spec; every choice comes from `rng`."""
    g = _Gen(rng, comments, max_depth)
    if g.flip(0.1):
        g.shadowed = [g.pick(["residual", "nin", "dense", "transition"])]
    env: dict = {}
    params = []
    for p in g.sample(PARAMS, g.int(0, 3)):
        v = g.flip() if p in ("flag", "deep") else g.int(1, 6)
        params.append(f"{p}={g.value(v, env)}")
        env[p] = v
    if g.flip(0.15):
        s: Shape = (g.int(1, 24),)
    elif g.flip(0.1):
        s = (g.int(1, 12), g.pick([2, 4, 6, 8]))  # tokens
    else:
        s = (g.int(1, 3), g.int(1, 24), g.int(1, 24))
        if g.flip(0.6):
            s = (s[0], s[1], s[1])
    name = g.pick(["net", "tiny", "model", "resnet_ish", "n0"])
    head = f"network {name}({', '.join(params)})" if params or g.flip(0.2) else f"network {name}"
    units, out = _seq(g, s, {**env, modern.IN: s}, max_depth, set(), 1, 6)
    if g.flip(0.3):
        units.append(_expect(g, out, env))
    inp = f"input {_shape_text(g, s, env)}"
    lines = [inp] + [_seq_text(g, units)]
    if g.flip(0.15):
        lines.append("train { epochs = 2 lr = 0.1 batch_size = 4 * 8 }")
    body = "\n".join(lines).replace("\n", "\n  ")
    net = f"{head} {{\n  {body}\n}}"
    top = g.blocks + [net]
    top = g_shuffled(g, top)
    header = "# generated spec\n\n" if comments and g.flip(0.3) else ""
    text = header + "\n\n".join(top) + ("\n" if g.flip(0.9) else "")
    return Spec(text, s, out, name)


# ----------------------------------------------------------------------------- mutations

TOKEN = re.compile(r'\s+|#[^\n]*|\d+(?:x\d+)+|\d+\.\d+(?:[eE][-+]?\d+)?|\d+|\w+|\.\.|//|==|!=|'
                   r'<=|>=|"[^"\n]*"|.', re.S)
NUMBERS = ["0", "-1", "1", "2", "1025", "4096", "99999999999999999999999999", "1e400", "0.5",
           "1048577", "65536", "3x", "1x0x0", "0x1", "1x1x1x1", "1x2", "9" * 101, "9" * 4301,
           "1e309", "0" * 99 + "1", "1x" + "7" * 4301, "9" * 400 + ".0"]
NAMES = ["conv", "convv", "relu", "bn", "forward", "training", "class", "residual", "inception",
         "x", "c", "undefined", "max", "min", "linear", "network", "block", "if", "else", "for",
         "in", "add", "concat", "use", "input", "expect", "train", "true", "false", "not",
         "and", "or", "__init__", "_modules", "__class__", "graph", "code", "cuda", "to", "eval",
         "type", "half", "parameters", "state_dict", "apply", "mul", "split", "in", "in.c",
         "in.h", "in.d", "in.q", "ceil", "round", "int", "layernorm", "attention", "tokens",
         "class_token", "token", "layer_scale", "upsample", "conv_transpose", "activation"]
JUNK = ["{", "}", "(", ")", "|", ",", ":", "*", "=", "..", "#", '"', "x", "-", "//", "\x00",
        "\t", "\r", "\u00a0", "é", "\ufeff", "%", "$", "\\", "'", "@", "\u2028"]


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def _mutate_tokens(rng: random.Random, toks: list[str]) -> list[str]:
    if not toks:
        return toks
    idx = rng.randrange(len(toks))
    op = rng.choice(["delete", "dup", "swap", "number", "name", "junk", "nest", "repeat",
                     "truncate", "insert_layer", "move"])
    tok = toks[idx]
    if op == "delete":
        return toks[:idx] + toks[idx + 1:]
    if op == "dup":
        return toks[:idx + 1] + [tok] + toks[idx + 1:]
    if op == "swap":
        j = rng.randrange(len(toks))
        toks = list(toks)
        toks[idx], toks[j] = toks[j], toks[idx]
        return toks
    if op == "number":
        nums = [i for i, t in enumerate(toks) if t[:1].isdigit()]
        idx = rng.choice(nums) if nums else idx
        new = rng.choice(NUMBERS) if rng.random() < 0.5 else str(rng.randint(0, 40))
        return toks[:idx] + [new] + toks[idx + 1:]
    if op == "name":
        names = [i for i, t in enumerate(toks) if t[:1].isalpha() or t[:1] == "_"]
        idx = rng.choice(names) if names else idx
        return toks[:idx] + [rng.choice(NAMES)] + toks[idx + 1:]
    if op == "junk":
        junk = rng.choice(JUNK) if rng.random() < 0.7 else "".join(
            chr(rng.randint(0, 0x2FF)) for _ in range(rng.randint(1, 3)))
        return toks[:idx] + [junk] + toks[idx:]
    if op == "nest":
        n = rng.choice([10, 60, 101, 1000, 5000])
        kind = rng.choice(["{", "(", "- ", "not ", "1 + ", "add { ", "a: ", "{ relu ", "x * ",
                           "concat { identity | "])
        close = {"{": "}", "(": ")", "{ relu ": "}"}.get(kind, "}" if "{" in kind else "")
        inner = " relu " if "{" in kind or kind in ("a: ", "x * ") else "1"
        return toks[:idx] + [kind * n, inner, close * n] + toks[idx:]
    if op == "repeat":
        return toks[:idx] + [f" * {rng.choice(['1024', '1025', '100', '0', '(2*512)'])} "] \
            + toks[idx:]
    if op == "truncate":
        return toks[:idx]
    if op == "move":
        rest = toks[:idx] + toks[idx + 1:]
        j = rng.randint(0, len(rest))
        return rest[:j] + [tok] + rest[j:]
    layer = rng.choice(INSERTS)
    return toks[:idx] + [f" {layer} "] + toks[idx:]


INSERTS = ["conv(3, k=1)", "linear(4)", "flatten", "gap", "maxpool(2)", "bn", "conv(7, k=40)",
           "conv(5, k=1, groups=2)", "lrn(2)", "residual(3)", "dense(2)", "expect 1x1x1",
           "input 1x8x8", "train { lr = 1 }", "x: relu", "x: relu x: relu", "forward: relu",
           "training: relu", "class: relu", "0: relu", "relu * 1024", "{ relu * 1024 } * 1024",
           "for i in 0..1025 { relu }", "{ { } * 1024 } * 1024", "relu * 0", "add { | } * 1024",
           "for i in 0..1024 { for j in 0..1024 { } }", "{ add { | } * 1024 } * 1024",
           'use "../x.arch"', 'use "/etc/passwd"',
           "block b { b }", "conv(1048576, k=1)", "adaptive_avgpool(1048576)",
           "linear(1048576)", "max()", "conv(1/0)", "conv(2 * 99999999999 * 99999999999)",
           'use "a\0b.arch"', 'use "' + "x" * 300 + '.arch"', 'use "' + "d/" * 2100 + 'x.arch"',
           'use "mutant.arch"', 'use "fuzz.arch"', 'use "./.arch"', 'use "../../../../.arch"',
           'use "/dev/zero.arch"', 'use "~root/x.arch"', 'use "C:\\x.arch"',
           "conv(3, k=(1, 2, 3))", "conv(3, k=(0, 1))", "maxpool((2, 99))", "tokens",
           "attention(3)", "token(99)", "class_token", "pos_embedding", "layernorm",
           "groupnorm(7)", "layer_scale", "upsample(1048576)", "upsample(2, mode=\"cubic\")",
           "conv_transpose(3, k=1024, stride=1024)", "channel_shuffle(5)", "split { | }",
           "mul { gap | }", 'x{i}: relu', '"a.b": relu', '"{in.c}": relu', '"{c}{c}": relu',
           "conv(in.c, k=1, groups=in.c)", "linear(in.f)", "linear(ceil(1e300))",
           'activation("nope")', "stochastic_depth(1.5)", 'for i in 0..3 { "x": relu }']
EMPTY = [b"", b"\n", b"   ", b"# only a comment\n", b"\xef\xbb\xbf", b"network", b"network n",
         b"network n {", b"}", b"block b { relu }", b'use "x.arch"', b"\x00", b"\r\n\r\n"]


def gen_invalid(rng: random.Random) -> bytes:
    """Bytes of a mutated spec (usually invalid, sometimes still valid)."""
    kind = rng.randint(0, 20)
    if kind == 20:  # a work bomb or a huge literal (tests/bombs.py)
        return gen_bomb(rng)
    if kind == 0:
        return rng.randbytes(rng.randint(0, 200))
    if kind == 1:
        return rng.choice(EMPTY)
    spec = gen_valid(rng, comments=rng.random() < 0.5, max_depth=2)
    if kind == 2:
        data = spec.text.encode()
        i = rng.randint(0, len(data))
        bad = rng.choice([b"\xff", b"\xc3", b"\x80\x80", b"\xed\xa0\x80", b"\x00"])
        return data[:i] + bad + data[i:]
    if kind == 3:
        alphabet = "{}()|:,*= x0123456789abcnv#\n.-"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120))).encode()
    toks = tokens(spec.text)
    for _ in range(rng.randint(1, 3)):
        toks = _mutate_tokens(rng, toks)
    return "".join(toks).encode("utf-8", "surrogatepass")


# ----------------------------------------------------------------------------- strategies

_RNG = st.randoms(use_true_random=False)

# Every choice comes from one Random, so shrinking crawls (minutes) and helps little; a failing
# example prints in full anyway.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


def valid_specs(comments: bool = True, max_depth: int = 3) -> st.SearchStrategy[Spec]:
    return st.builds(gen_valid, _RNG, st.just(comments), st.just(max_depth))


def invalid_specs() -> st.SearchStrategy[bytes]:
    return st.builds(gen_invalid, _RNG)


# ----------------------------------------------------------------------------- layouts


def relayout(rng: random.Random, text: str) -> str:
    """The same spec with random whitespace between tokens (a comment keeps its newline)."""
    out = []
    toks = tokens(text)
    for i, tok in enumerate(toks):
        if tok.isspace():
            after_comment = i > 0 and toks[i - 1].startswith("#")
            choice = rng.choice([" ", "  ", "\n", "\n\n", "\t", " \n   ", "\n\n\n  "])
            out.append(choice if "\n" in choice or not after_comment else "\n")
        else:
            out.append(tok)
            nxt = toks[i + 1] if i + 1 < len(toks) else ""
            if tok.startswith("#") and not nxt.isspace():
                out.append("\n")
    return "".join(out)


def messy_specs() -> st.SearchStrategy[str]:
    """Valid specs, with comments, laid out at random."""
    return st.builds(lambda rng: relayout(rng, gen_valid(rng, comments=True).text), _RNG)


# Blanks the lexer skips between tokens, CR and FF among them; and comment texts holding the
# characters str.splitlines takes for line breaks (VT, FF, CR, FS, NEL, LS, PS), which the
# lexer does not (issue 16: they shifted fmt's and the diagnostics' line numbers).
BLANKS = [" ", "  ", "\n", "\n\n", "\t", "\r", "\r\n", " \f ", "\f\n", "\n\n\n  ", " \r "]
ODD_COMMENTS = ["# a", "# b", "#", "# page\fbreak", "# v\vt", "# nel\x85x", "# ls\u2028y",
                "# ps\u2029z", "# cr\rx", "# fs\x1cx", "# | bar", "# { brace }", "# else",
                "#\u2028", "#\x85"]


def wild_layout(rng: random.Random, text: str, comments: float = 0.15) -> str:
    """The same spec with random blanks, and often a comment, between every two tokens (not
    only where the spec had blanks): inside parameter and argument lists, between `else` and
    `{`, after a bar, before `else`... Tokens come from archc's own lexer."""
    from archc.front.parse import parser

    out: list[str] = []
    after_comment = False
    for tok in parser().lex(text, dont_ignore=True):
        if tok.type == "WS":
            continue
        if out:
            gap = rng.choice(BLANKS)
            if rng.random() < comments:
                gap += rng.choice(ODD_COMMENTS) + "\n" + rng.choice(["", "  ", "\n"])
            out.append(gap if "\n" in gap or not after_comment else gap + "\n")
        out.append(str(tok))
        after_comment = tok.type == "COMMENT"
    return "".join(out) + ("\n" if after_comment else "")


def wild_specs() -> st.SearchStrategy[str]:
    """Valid specs with comments anywhere and odd blanks."""
    return st.builds(lambda rng: wild_layout(rng, gen_valid(rng, comments=True).text), _RNG)


# The constructs of networks since 2016 (tests/strategies_modern.py), bound to this module.
if __package__:
    from . import strategies_modern as modern
else:  # tests/ itself on sys.path
    import strategies_modern as modern  # type: ignore[no-redef]
modern.bind(sys.modules[__name__])
