"""Hypothesis generators of archc specs, continued: the constructs of networks since 2016.
Layers drawn here (pairs for kernels and strides, layer/group norm, layer scale, stochastic
depth, per-position linears, channel shuffle, transposed convs, upsampling, tokens and
attention) and the `mul` and `split` joins; tests/strategies.py mixes them into every
generated spec. Shape rules are written from PyTorch's documented formulas, not archc's."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (at run time these come from the bound core module)
    from tests.strategies import Shape, Unit, _Gen

from types import ModuleType

IN = "@in"  # the env key holding the enclosing block's input shape (what `in.c` reads)
AXES = {3: "chw", 2: "nd", 1: "f"}

_core: ModuleType | None = None


def bind(core: ModuleType) -> None:
    """tests/strategies.py hands itself over at its end (however it was imported: as
    tests.strategies or as strategies), so both share one Invalid, one Unit."""
    global _core
    _core = core


def _s() -> ModuleType:
    assert _core is not None, "import tests.strategies, which binds this module"
    return _core


def in_names(env: dict, v: int) -> list[str]:
    """`in.c`, `in.h`, ... whose value is v in the enclosing block's input shape."""
    shape = env.get(IN)
    if not shape:
        return []
    return [f"in.{a}" for a, d in zip(AXES[len(shape)], shape, strict=True) if d == v]


def _pair(g: _Gen, a: int, b: int, env: dict) -> str:
    """`a` when a == b (sometimes still as a pair), else `(a, b)`."""
    if a == b and g.flip(0.7):
        return g.ival(a, env, 1)
    return f"({g.ival(a, env, 1)}, {g.ival(b, env, 1)})"


def _window(n: int, k: int, s: int, p: int, d: int = 1) -> int:
    return _s().window(n, k, s, p, d)


# ----------------------------------------------------------------------------- image layers


def draw_conv_pair(g: _Gen, s: Shape, env: dict) -> Unit:
    """conv with a non-square kernel, stride, padding or dilation; groups maybe `in.c`."""
    st = _s()
    c, h, w = s
    k = (g.int(1, 3), g.int(1, 4))
    stride, pad, dil = (g.int(1, 2), g.int(1, 2)), (g.int(0, 1), g.int(0, 2)), (1, g.pick([1, 2]))
    try:
        _window(h, k[0], stride[0], pad[0], dil[0]), _window(w, k[1], stride[1], pad[1], dil[1])
    except st.Invalid:
        k, stride, pad, dil = (1, 1), (1, 1), (0, 0), (1, 1)
    depthwise = g.flip(0.3)
    out = c if depthwise else g.int(1, 8)
    groups_text = f", groups={g.pick(in_names(env, c) or [str(c)])}" if depthwise else ""
    text = (f"conv({g.ival(out, env, 1)}, k={_pair(g, *k, env)}, stride={_pair(g, *stride, env)}"
            f", pad={_pair(g, *pad, env)}, dilation={_pair(g, *dil, env)}{groups_text})")

    def rule(x: Shape) -> Shape:
        if depthwise and st.image(x)[0] != c:
            raise st.Invalid
        _, xh, xw = st.image(x)
        return (out, _window(xh, k[0], stride[0], pad[0], dil[0]),
                _window(xw, k[1], stride[1], pad[1], dil[1]))
    return st.Unit(text, rule)


def draw_pool_pair(g: _Gen, s: Shape, env: dict) -> Unit:
    st = _s()
    c, h, w = s
    name = g.pick(["maxpool", "avgpool"])
    k = (g.int(1, min(3, h)), g.int(1, min(3, w)))
    stride = (g.int(1, 2), g.int(1, 2))
    pad = (g.int(0, k[0] // 2), g.int(0, k[1] // 2))
    dil = (1, g.pick([1, 2])) if name == "maxpool" else (1, 1)
    try:
        _window(h, k[0], stride[0], pad[0], dil[0]), _window(w, k[1], stride[1], pad[1], dil[1])
    except st.Invalid:
        k, stride, pad, dil = (1, 1), (1, 1), (0, 0), (1, 1)
    extra = f", dilation={_pair(g, *dil, env)}" if dil != (1, 1) or g.flip(0.1) and \
        name == "maxpool" else ""
    text = (f"{name}({_pair(g, *k, env)}, stride={_pair(g, *stride, env)}, "
            f"pad={_pair(g, *pad, env)}{extra})")
    def rule(x: Shape) -> Shape:
        xc, xh, xw = st.image(x)
        return (xc, _window(xh, k[0], stride[0], pad[0], dil[0]),
                _window(xw, k[1], stride[1], pad[1], dil[1]))
    return st.Unit(text, rule)


def _bad():
    raise _s().Invalid


def draw_norm(g: _Gen, s: Shape, env: dict) -> Unit:
    """Shape-keeping ops of modern networks, on any rank they take."""
    st = _s()
    c = s[-1] if len(s) == 2 else s[0]
    options = ["layernorm", "layer_scale", "stochastic_depth", "relu6", "hardswish",
               "hardsigmoid", "activation"]
    if len(s) in (1, 3):
        options.append("groupnorm")
    if len(s) == 3:
        options.append("channel_shuffle")
    kind = g.pick(options)
    divisors = [d for d in (1, 2, 3, 4) if c % d == 0]
    text = {
        "layernorm": g.pick(["layernorm", "layernorm(eps=1e-6)", "layernorm(affine=false)"]),
        "layer_scale": g.pick(["layer_scale", "layer_scale(0.5)", "layer_scale(init=1e-6)"]),
        "stochastic_depth": f"stochastic_depth({g.pick(['0.0', '0.2', '0.5'])})",
        "groupnorm": f"groupnorm({g.pick(divisors)})",
        "channel_shuffle": f"channel_shuffle({g.pick(divisors)})",
        "activation": f'activation("{g.pick(["relu6", "gelu", "hardswish", "tanh"])}")',
    }.get(kind, kind)
    rank = len(s)

    def rule(x: Shape) -> Shape:
        if len(x) != rank or (kind in ("groupnorm", "channel_shuffle") and x[0] != s[0]):
            raise st.Invalid
        return x
    return st.Unit(text, rule)


def draw_channel_linear(g: _Gen, s: Shape, env: dict) -> Unit:
    st = _s()
    out = g.int(1, 8)
    bias = ", bias=false" if g.flip(0.2) else ""
    return st.Unit(f"channel_linear({g.ival(out, env, 1)}{bias})",
                   lambda x: (out, *st.image(x)[1:]))


def draw_conv_transpose(g: _Gen, s: Shape, env: dict) -> Unit:
    """ConvTranspose2d: (n - 1) * s - 2p + d (k - 1) + output_padding + 1."""
    st = _s()
    c, h, w = s
    k, stride = g.int(1, 3), g.pick([1, 2])
    pad = g.int(0, (k - 1) // 2)
    out_pad = g.int(0, stride - 1)
    if max(h, w) * stride > 24:
        stride, out_pad = 1, 0
    out = g.int(1, 6)
    extra = f", output_pad={out_pad}" if out_pad or g.flip(0.1) else ""
    text = f"conv_transpose({g.ival(out, env, 1)}, k={k}, stride={stride}, pad={pad}{extra})"

    def size(n: int) -> int:
        return (n - 1) * stride - 2 * pad + (k - 1) + out_pad + 1
    if size(h) < 1 or size(w) < 1:
        return st.Unit("identity", st._identity)

    def rule(x: Shape) -> Shape:
        _, xh, xw = st.image(x)
        if min(size(xh), size(xw)) < 1 or max(size(xh), size(xw)) > 64:
            raise st.Invalid
        return (out, size(xh), size(xw))
    return st.Unit(text, rule)


def draw_upsample(g: _Gen, s: Shape, env: dict) -> Unit:
    st = _s()
    _, h, w = s
    scale = (1, 1) if max(h, w) > 10 else (g.int(1, 2), g.int(1, 2))
    mode = g.pick(['', ', mode="nearest"', ', mode="bilinear"',
                   ', mode="bilinear", align_corners=true'])
    text = f"upsample({_pair(g, *scale, env)}{mode})"

    def rule(x: Shape) -> Shape:
        xc, xh, xw = st.image(x)
        if max(xh * scale[0], xw * scale[1]) > 64:
            raise st.Invalid
        return (xc, xh * scale[0], xw * scale[1])
    return st.Unit(text, rule)


def draw_tokens(g: _Gen, s: Shape, env: dict) -> Unit:
    """An image to tokens: (H*W)xC, maybe after a patch-embedding conv."""
    st = _s()
    c, h, w = s
    if h * w > 64:
        return st.Unit("gap", lambda x: (st.image(x)[0], 1, 1))
    def rule(x: Shape) -> Shape:
        xc, xh, xw = st.image(x)
        if xh * xw > 64:
            raise st.Invalid
        return (xh * xw, xc)
    return st.Unit("tokens", rule)


# ----------------------------------------------------------------------------- tokens


def draw_token_layer(g: _Gen, s: Shape, env: dict) -> Unit:
    st = _s()
    n, d = s
    kind = g.pick(["attention", "attention", "linear", "class_token", "pos_embedding", "token",
                   "norm", "norm", "gelu", "dropout", "flatten", "softmax"])
    if kind == "attention":
        heads = g.pick([h for h in (1, 2, 3, 4) if d % h == 0])
        drop = g.pick(["", ", dropout=0.1"])
        return st.Unit(f"attention({g.ival(heads, env, 1)}{drop})",
                       lambda x: x if len(x) == 2 and x[1] % heads == 0 else _bad())
    if kind == "linear":
        out = g.int(1, 12)
        return st.Unit(f"linear({g.ival(out, env, 1)})",
                       lambda x: (x[0], out) if len(x) == 2 else _bad())
    if kind == "class_token":
        return st.Unit("class_token", lambda x: (x[0] + 1, x[1]) if len(x) == 2 else _bad())
    if kind == "pos_embedding":
        return st.Unit("pos_embedding", lambda x: x if len(x) == 2 else _bad())
    if kind == "token":
        i = g.int(0, n - 1)
        return st.Unit(f"token({g.ival(i, env, 1)})",
                       lambda x: (x[1],) if len(x) == 2 and x[0] > i else _bad())
    if kind == "norm":
        return draw_norm(g, s, env)
    if kind == "flatten":
        return st._draw_flatten(g, s, env)
    return st.Unit(kind, lambda x: x if len(x) == 2 else _bad())


# ----------------------------------------------------------------------------- joins


def draw_mul(g: _Gen, s: Shape, env: dict, depth: int, labels: set) -> Unit | None:
    """`mul { gate | body }`: a Cx1x1 gate (squeeze-excitation) or equal shapes."""
    st = _s()
    body, out = st._seq(g, s, env, depth - 1, labels, 0, 2)
    fix = st._fix(g, out, s, env, False)
    if fix is None:
        body, fix = [], []
    branches = [body + fix]
    if len(s) == 3 and g.flip(0.7):
        c = s[0]
        gate = g.pick(["sigmoid", "hardsigmoid"])
        squeeze = g.int(1, 4)
        text = (f"gap conv({g.ival(squeeze, env, 1)}, k=1) relu "
                f"conv({g.pick(in_names(env, c) or [str(c)])}, k=1) {gate}")
        branches.insert(g.int(0, 1), [st.Unit(text, lambda x: (st.image(x)[0], 1, 1)
                                              if x[0] == c else _bad())])
    else:
        branches.append([])
    applies = [st._chain(b) for b in branches]

    def rule(x: Shape) -> Shape:
        outs = [a(x) for a in applies]
        full = max(outs, key=lambda o: (len(o), *o))
        for o in outs:
            if o != full and not (len(o) == 3 and o[0] == full[0] and o[1:] == (1, 1)):
                raise st.Invalid
        return full
    return st.Unit(_branches_text(g, "mul", branches), rule)


def draw_split(g: _Gen, s: Shape, env: dict, depth: int, labels: set) -> Unit | None:
    """`split { a | b }`: the channels chunked between the branches, outputs concatenated."""
    st = _s()
    parts = [n for n in (2, 3) if s[0] % n == 0 and len(s) in (1, 3)]
    if not parts:
        return None
    n = g.pick(parts)
    part = (s[0] // n, *s[1:])
    branches: list[list[Unit]] = []
    first, target = st._seq(g, part, env, depth - 1, labels, 0, 2)
    branches.append(first)
    for _ in range(n - 1):
        units, out = st._seq(g, part, env, depth - 1, labels, 0, 2)
        fix = st._fix(g, out, target, env, True)
        if fix is None:
            units, fix = [], st._fix(g, part, target, env, True)
            if fix is None:
                return None
        branches.append(units + fix)
    applies = [st._chain(b) for b in branches]

    def rule(x: Shape) -> Shape:
        if x[0] % n:
            raise st.Invalid
        outs = [a((x[0] // n, *x[1:])) for a in applies]
        if any(len(o) != len(outs[0]) or o[1:] != outs[0][1:] for o in outs):
            raise st.Invalid
        return (sum(o[0] for o in outs), *outs[0][1:])
    return st.Unit(_branches_text(g, "split", branches), rule)


def _branches_text(g: _Gen, kind: str, branches: list[list[Unit]]) -> str:
    st = _s()
    texts = [st._seq_text(g, b) for b in branches]
    if any("\n" in t or "#" in t for t in texts) or g.flip(0.5):
        body = "\n  | ".join(t.replace("\n", "\n    ") for t in texts)
        return f"{kind} {{\n    {body}\n}}"
    return f"{kind} {{ " + " | ".join(texts) + " }"


IMAGE_LAYERS = [draw_conv_pair, draw_pool_pair, draw_norm, draw_channel_linear,
                draw_conv_transpose, draw_upsample, draw_tokens]
FLAT_LAYERS = [draw_norm]
TOKEN_LAYERS = [draw_token_layer]
