"""Saved for backward (archc/expansion/memory_train.py, from the records' rules in
archc/core/saving.py) against what autograd saves: every tensor
`torch.autograd.graph.saved_tensors_hooks` sees in one forward pass of the built model, each storage
once, parameters excluded. Byte for byte, for every op and join example (input requiring grad or
not, float32 and bfloat16, train and eval), every network of every bundled spec (float32 and
bfloat16, train and eval, channels-last) and every zoo member
under 100M parameters (small inputs, batch 2)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch

import archc
from archc.core.errors import ArchcError, ArchcErrors
from archc.core.graph import Ids, Network
from archc.expansion.memory_train import estimate, saved_bytes
from archc.expansion.stats import count
from archc.pipeline import zoo
from archc.pipeline.program import load_program
from archc.registry.joins import JOINS
from archc.registry.ops import REGISTRY
from tests.cheap_init import zero_init
from tests.util import cpu_seed

SPECS = Path(__file__).resolve().parents[1] / "specs"
NETWORKS = [(path.stem, name) for path in sorted(SPECS.glob("*.arch"))
            for name in load_program(path).networks]
SMALL = (64, 96, 128, 160, 224, 299)  # input sides tried, smallest first
MEMBERS = [m.name for m in zoo.MEMBERS]
# the language models at the small sizes tests/test_lm.py builds (GPT-2 small is 124M
# parameters with 50257-wide logits over 1024 tokens); llama's default member is tiny
SMALL_SETS = {"gpt2": {"layers": 2, "d": 64, "heads": 4, "vocab": 100, "positions": 32,
                       "seq": 16},
              # MaxViT's 7x7 partitions need 224x224 (its zoo member runs there); 2x2: 64x64
              "tv_maxvit": {"partition": 2, "size": 64},
              # S3D's 2x7x7 average pool at 1x1x1: an 8x32x32 clip, not 13x209x209 (a 70th of
              # the values, 7.5 s of this file's CPU); the pool's own rule is its op example's
              "tv_s3d": {"pool_frames": 1, "pool_side": 1}}
# sets above that change a window's size, not the layers: the bundled spec's check stands for
# the default network's (test_zoo_member)
WINDOW_SETS = frozenset({"tv_s3d"})
# attention's gpt2 and llama layouts beyond the op's example: grouped and multi-query heads,
# rotary positions (full and partial), bias, dropout (the math path), tokens laid out DxN
ATTENTION = [
    "5x16 attention(4, layout=\"llama\")",
    "5x16 attention(4, causal=true, layout=\"gpt2\")",
    "5x16 attention(4, causal=true, kv_heads=2, layout=\"llama\")",
    "5x16 attention(4, causal=true, kv_heads=1, layout=\"gpt2\")",
    "5x16 attention(4, causal=true, kv_heads=2, rope=true, layout=\"gpt2\")",
    "5x16 attention(4, causal=true, rope=true, layout=\"gpt2\")",
    "5x16 attention(4, rope=true, rotary_dim=2, layout=\"gpt2\", bias=false)",
    "5x16 attention(4, rope=true, layout=\"llama\", bias=false)",
    "5x16 attention(4, causal=true, layout=\"gpt2\", dropout=0.1)",
    "5x16 attention(4, kv_heads=2, layout=\"gpt2\", dropout=0.2)",
    "5x16 attention(4, causal=true, kv_heads=2, rope=true, layout=\"llama\", dropout=0.1)",
    "2x4x4 tokens attention(2, causal=true, layout=\"gpt2\")",
    "2x4x4 tokens attention(2, causal=true, layout=\"llama\")",
    "8x4x4 tokens attention(2, causal=true, kv_heads=1, rope=true, layout=\"llama\")",
    "8x4x4 tokens attention(2, kv_heads=1, rope=true, layout=\"gpt2\", dropout=0.2)",
    "8x4x4 tokens attention(2, causal=true, kv_heads=1, layout=\"llama\", dropout=0.2)",
]

# the windowed attentions beyond their examples: v2's cosine attention and bias MLP, dropout,
# MaxViT's partitions as views of a channels-last input (one window, one token per grid
# cell) or copies, patch_concat with and without padding
WINDOWS = [
    "8x6x6 window_attention(2, window=4, shift=2, cosine=true)",
    "8x6x6 window_attention(2, window=3, attention_dropout=0.1, dropout=0.2)",
    "8x8x8 window_attention(2, window=4, shift=2, cosine=true, attention_dropout=0.1)",
    "8x6x6 layernorm window_attention(2, window=6)",
    "8x6x6 partition_attention(2, size=3)",
    "8x6x6 partition_attention(2, size=6)",
    "8x6x6 layernorm partition_attention(2, size=3)",
    "8x6x6 layernorm partition_attention(2, size=6)",
    "8x6x6 layernorm partition_attention(2, size=6, grid=true)",
    "8x6x6 layernorm partition_attention(2, size=2, grid=true)",
    "8x7x7 patch_concat(2) layernorm",
    "8x6x6 layernorm patch_concat(3)",
]


def autograd_saved(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes of every storage autograd keeps in one forward pass, parameters excluded."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen.setdefault(storage.data_ptr(), storage.nbytes())
        # the storage stays alive to the end of the pass (no two saved tensors share an
        # address), but not `t` itself: a node keeping its own output (relu's) would hold that
        # output's grad_fn, itself; a cycle through C++ that Python's gc cannot see, and every
        # test's activations and weights stayed in memory (11.7 GB over this file)
        return t.detach()

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(seen.values())


# check's last network and its module: the next check of the same network (another dtype,
# mode or layout) converts that module instead of building it again (building, and
# to_empty's per-tensor allocation from the meta device, cost more than the forward pass)
_LAST: list = []


def _module(net: Network, dtype: torch.dtype, training: bool,
            channels_last: bool) -> torch.nn.Module:
    if not _LAST or _LAST[0] is not net:
        _LAST.clear()  # the previous network's module goes first: one module held at a time
        # the values do not change what is kept, so zeros (tests/cheap_init.py): half the
        # time of a build on the meta device (each of its torch calls goes through the
        # device's TorchFunctionMode) then to_empty and a fill (to_empty's garbage holds
        # denormals, which x86 computes on many times slower)
        with zero_init():
            model = archc.build(net)
        _LAST.extend([net, model])
    layout = torch.channels_last if channels_last else torch.contiguous_format
    return _LAST[1].to(dtype).to(memory_format=layout).train(training)


def check(net: Network, batch: int = 2, input_grad: bool = False,
          dtype: torch.dtype = torch.float32, training: bool = True,
          channels_last: bool = False) -> None:
    cpu_seed(0)
    model = _module(net, dtype, training, channels_last)
    for module in model.modules():  # each check from the same statistics (the module is
        # reused across a network's checks, and a train pass moves them)
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
    if isinstance(net.input_shape, Ids):  # token ids: int64, never requiring grad
        x = torch.randint(net.input_shape.vocab, (batch, *net.input_shape))
    else:
        x = torch.randn(batch, *net.input_shape, dtype=dtype)
    if channels_last:  # as archc train lays out model and batches on a GPU
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_(input_grad and x.is_floating_point())
    try:
        got = autograd_saved(model, x)
    except NotImplementedError:  # a CPU kernel without bfloat16 (lrn's avg_pool3d)
        assert dtype != torch.float32
        return
    rule = saved_bytes(net, torch.finfo(dtype).bits // 8, training, input_grad=input_grad,
                       channels_last=channels_last)
    assert rule.total.at(batch) == got, (rule.total, got)
    assert sum((rule.by_node.values()), type(rule.total)()) == rule.total


def small(spec: str, sets: dict | None = None, network: str | None = None) -> Network:
    """The network at the smallest input side that it accepts (its own if that fails)."""
    net = archc.load(spec, sets, network=network)
    if len(net.input_shape) == 4:  # a clip: 4 frames of the smallest side, else 8 (S3D's
        # strides: 4 frames reach its last pool as one), else S3D's default pool's 13x209x209
        for frames, side in ((4, 32), (8, 32), (13, 209)):
            try:
                return archc.load(spec, sets, (net.input_shape[0], frames, side, side), network)
            except (ArchcError, ArchcErrors):
                continue
    if len(net.input_shape) != 3 or net.input_shape[1] <= SMALL[0]:
        return net
    for side in SMALL:
        try:
            return archc.load(spec, sets, (net.input_shape[0], side, side), network)
        except (ArchcError, ArchcErrors):
            continue
    return net


def test_every_op_has_a_rule() -> None:
    assert [name for name, op in REGISTRY.items() if op.saved is None] == []


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_op_example(name: str, one_torch_thread) -> None:
    op = REGISTRY[name]
    net = archc.loads(f"network t {{ input {op.example_input} x: {op.example} }}")
    for input_grad in (False, True):
        for dtype in (torch.float32, torch.bfloat16):
            for training in (True, False):
                check(net, 2, input_grad, dtype, training)
        if len(net.input_shape) == 3:
            check(net, 2, input_grad, channels_last=True)


def _every_layout(case: str, channels_last: bool) -> None:
    """`case` ("SHAPE layers"): float32 and bf16, train and eval, with and without the input's
    gradient (and channels-last where asked)."""
    shape, layers = case.split(" ", 1)
    net = archc.loads(f"network t {{ input {shape} {layers} }}")
    for input_grad in (False, True):
        for dtype in (torch.float32, torch.bfloat16):
            for training in (True, False):
                check(net, 2, input_grad, dtype, training)
        if channels_last:
            check(net, 2, input_grad, channels_last=True)


@pytest.mark.parametrize("case", ATTENTION)
def test_attention_layouts(case: str, one_torch_thread) -> None:
    _every_layout(case, channels_last=False)


@pytest.mark.parametrize("case", WINDOWS)
def test_windowed_attention(case: str, one_torch_thread) -> None:
    _every_layout(case, channels_last=True)


@pytest.mark.parametrize("name", sorted(JOINS))
def test_join_example(name: str, one_torch_thread) -> None:
    join = JOINS[name]
    for example in (join.example, join.example.replace("{", "{ relu", 1)):
        net = archc.loads(f"network t {{ input {join.example_input} {example} }}")
        for input_grad in (False, True):
            for training in (True, False):
                check(net, 2, input_grad, torch.float32, training)
            check(net, 2, input_grad, channels_last=True)


def test_products_of_three(one_torch_thread) -> None:
    """A product of more than two branches keeps its partial products."""
    net = archc.loads("network t { input 4x6x6 mul { conv(4, k=1) | relu | gap conv(4, k=1) "
                      "sigmoid | } }")
    check(net, 2, True)
    check(net, 2, False)


@pytest.mark.parametrize("spec,network", NETWORKS, ids=[f"{s}:{n}" for s, n in NETWORKS])
def test_bundled_spec(spec: str, network: str, one_torch_thread) -> None:
    net = small(str(SPECS / f"{spec}.arch"), SMALL_SETS.get(spec), network=network)
    check(net)
    check(net, dtype=torch.bfloat16)
    check(net, training=False)
    if len(net.input_shape) == 3:
        check(net, channels_last=True)


@functools.cache
def _default(spec: str) -> Network:
    """The spec's default network (loaded once per family, not once per member)."""
    return archc.load(spec)


@pytest.mark.parametrize("name", MEMBERS)
def test_zoo_member(name: str, one_torch_thread) -> None:
    member = zoo.member(name)
    net = archc.load(member.spec, dict(member.set))
    if count(net.root).params >= 100_000_000:
        return  # counted as the smaller members are; building it costs seconds
    if (member.spec not in SMALL_SETS or member.spec in WINDOW_SETS) and \
            net == _default(member.spec):
        # the spec's default network (resnet18, s3d, ...): test_bundled_spec checks this very
        # network at the same small input (this check is the first of its four)
        return
    check(small(member.spec, dict(member.set)))


def test_resnet50_as_measured() -> None:
    """torchvision's resnet50 at 224x224, batch 8, fp32 (issue 26): 687,488,512 bytes of
    activations and 212,480 of BatchNorm running statistics, measured with the hook above."""
    net = archc.load("tv_resnet", {"depth": 50})
    assert saved_bytes(net).total.at(8) == 687_488_512 + 212_480


@pytest.mark.parametrize("spec,sets", [("tv_resnet", {"depth": 18}),
                                       ("tv_mobilenet_v3", {"variant": "small"}),
                                       ("tv_densenet", {"depth": 121})])
def test_autocast_on_convolutional_networks(spec: str, sets: dict, one_torch_thread) -> None:
    """amp: 16-bit activations and the 16-bit weight copies of convs and linears, byte for
    byte under CPU autocast (as archc train steps: no cast cache)."""
    net = small(spec, sets)
    cpu_seed(0)
    model = archc.build(net).train()
    for batch in (2, 3):
        with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
            got = autograd_saved(model, torch.randn(batch, *net.input_shape))
        assert estimate(net, batch, precision="amp", device="cpu").saved.total.at(batch) == got
