"""The zoo (archc/pipeline/zoo.py) against torchvision itself, one parametrised test per claim, over
every member of the table. Statically, for every member: the weight enum and its checkpoint file
names are the table's; the parameter count equals torchvision's published `num_params` and its
model's; torchvision's state_dict maps onto the archc module by name (meta device: no memory, no
init);
`archc summary` MACs equal the GFLOPS of every weight enum's `_ops` metadata at that enum's crop
size. Numerically (float32 bit for bit, or float64 to 1e-9 for the families listed in ROUNDED;
small input), for the members in NUMERIC: outputs equal in eval and train mode after importing
torchvision's random-initialised weights, and one SGD step (in eval mode: see the test) gives
every parameter a gradient that is not zero and moves each by SGD's own rule. ARCHC_ZOO_ALL=1
runs every member numerically."""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision.models as tvm  # a dev dependency: CI installs it, so nothing here skips

import archc
from archc.cli import main
from archc.emit.weights import (
    KEY_MAPS,
    expected_shapes,
    import_state_dict,
    map_state_dict,
)
from archc.expansion.stats import summarize
from archc.pipeline import zoo
from tests.cheap_init import cheap_init, no_init
from tests.oracles import perturb
from tests.util import cpu_seed

SPECS = Path(__file__).resolve().parent.parent / "specs"
NAMES = [m.name for m in zoo.MEMBERS if m.task in ("classification", "video")]  # (the
# others: tests/test_segmentation.py, tests/test_detection_backbone.py)
IMAGE = [m.name for m in zoo.MEMBERS if m.task == "classification"]
VIDEO = [m.name for m in zoo.MEMBERS if m.task == "video"]

# torchvision video builders no spec covers yet (issue 24: the windowed-attention design)
VIDEO_NOT_YET = {
    "mvit_v1_b": "multiscale pooling attention", "mvit_v2_s": "multiscale pooling attention",
    **dict.fromkeys(["swin3d_t", "swin3d_s", "swin3d_b"], "3-D shifted windows"),
}
# a video member's clip: 16 frames (torchvision's clip_len, at which its `_ops` are counted)
FRAMES = 16

# Numerically: every member up to this many parameters, and the smallest of each family (the
# cost is the parameters: torchvision's init, the copy, fp64; a VGG's 100M-weight classifier
# alone costs ~15 s). The rest are proven statically in a normal run.
NUMERIC_MAX_PARAMS = 100_000_000
# ... except these, whose blocks the family's smallest member runs already (the same ops,
# deeper and wider): Swin's S and B, v1 and v2 (~65 s together on 2 busy cores)
STATIC_ONLY = frozenset({"swin_s", "swin_b", "swin_v2_s", "swin_v2_b"})


def load(m: zoo.Member, size: int | tuple[int, ...] | None = None) -> archc.Network:
    """The member at its default input, or at a side (an image), or a whole shape."""
    return _load(m.name, size)


@functools.cache  # the member at its default input: asked at collection and by the tests
def _load(name: str, size: int | tuple[int, ...] | None) -> archc.Network:
    m = zoo.member(name)
    return archc.load(SPECS / f"{m.spec}.arch", m.set,
                      (3, size, size) if isinstance(size, int) else size)


def crop(m: zoo.Member, weights) -> tuple[int, ...]:
    """(height, width) of a weight enum's input: an image enum gives one side, a video
    enum's (h, w)."""
    side = weights_size(weights, m.task == "video")
    return tuple(side) if m.task == "video" else (side, side)


def input_of(m: zoo.Member, weights) -> tuple[int, ...]:
    """The input a weight enum's metadata counts: 3xHxW, or a 3x16xHxW clip."""
    return (3, *((FRAMES,) if m.task == "video" else ()), *crop(m, weights))


def weight_enum(m: zoo.Member):
    return tvm.get_model_weights(m.name)


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    saved = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


def skeleton(m: zoo.Member, **kwargs) -> torch.nn.Module:
    """torchvision's model for its names and shapes only: on the meta device (no memory, no
    init) where the builder allows; RegNet computes its widths with tensors, so on the CPU
    without init. `kwargs` override the member's builder arguments."""
    kwargs = {**m.torchvision_kwargs, **kwargs}
    try:
        with torch.device("meta"), no_init():  # init on meta tensors: Python refs, no values
            return tvm.get_model(m.name, weights=None, **kwargs)
    except NotImplementedError:
        with no_init():
            return tvm.get_model(m.name, weights=None, **kwargs)


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def weights_size(weights, clip: bool = False) -> Any:
    """The input side a weight enum entry is for: its crop (classification), or the size its
    segmentation transform resizes to (520: torchvision's segmentation weights); a video
    enum's (h, w) where `clip`."""
    transform = weights.transforms()
    size = getattr(transform, "crop_size", None) or transform.resize_size
    if clip:
        return tuple(size)
    (side,) = set(size)
    return side


def published_params(m: zoo.Member) -> int:
    return _published_params(m.name)


@functools.cache  # asked for every member by test_numeric_selection and three tests
def _published_params(name: str) -> int:
    """num_params of the member's weights at its default input size (ViT's SWAG end-to-end
    weights are for a larger input, with a longer position embedding), less what the spec
    leaves out of the model they count (Member.published_kwargs: Inception-v3's AuxLogits), as
    torchvision's two models count it."""
    m = zoo.member(name)
    size = load(m).input_shape[-2:]
    (count,) = {w.meta["num_params"] for w in weight_enum(m) if crop(m, w) == size}
    if m.published_kwargs:
        count -= _params(skeleton(m, **m.published_kwargs)) - _params(skeleton(m))
    return count


# torchvision's ViT checks its input size; its builder takes the small one as image_size
SMALL_KWARGS = {"tv_vit": lambda size: {"image_size": size}}


def _numeric(params) -> list[str]:
    """Every classifier up to NUMERIC_MAX_PARAMS (less STATIC_ONLY), and each family's
    smallest, by `params(member)`."""
    if os.environ.get("ARCHC_ZOO_ALL"):
        return NAMES
    smallest = {spec: min(ms, key=params).name for spec, ms in zoo.families()
                if ms[0].task == "classification"}
    return [m.name for m in zoo.MEMBERS if m.task == "classification" and (
            (params(m) <= NUMERIC_MAX_PARAMS and m.name not in STATIC_ONLY)
            or m.name in smallest.values())]


def _enum_params(m: zoo.Member) -> int:
    """The smallest num_params of the member's weight enum: metadata only, so that collection
    (on every pytest-xdist worker) loads no network; test_numeric_selection proves it picks
    what the published counts pick."""
    return min(w.meta["num_params"] for w in weight_enum(m))


NUMERIC = _numeric(_enum_params)


# ----------------------------------------------------------------------------- the table


def test_table_covers_torchvision():
    builders = set(tvm.list_models(module=tvm))
    assert set(IMAGE) == builders  # all 80 classifiers
    assert len(builders) == 80
    assert len(NAMES) == len(set(NAMES))
    videos = set(tvm.list_models(module=tvm.video))
    assert not set(VIDEO) & set(VIDEO_NOT_YET)
    assert set(VIDEO) | set(VIDEO_NOT_YET) == videos


def test_list_json_has_every_classifier(capsys):
    """`archc list --json`: one entry per torchvision classification builder (80), each
    with the parameter count that the published one is checked against below."""
    assert main(["list", "--json"]) == 0
    entries = [e for e in json.loads(capsys.readouterr().out)
               if e["torchvision"] and e["task"] == "classification"]
    assert sorted(e["torchvision"] for e in entries) == sorted(tvm.list_models(module=tvm))
    assert len(entries) == 80
    for e in entries:
        m = zoo.member(e["torchvision"])
        assert e["params"] == published_params(m), m.name


@pytest.mark.parametrize("argv,params,macs", [
    (["swin_v2_t"], "28,351,570", "5,939,690,496"),
    (["tv_swin", "--set", "variant=b"], "87,768,224", "15,430,946,816"),
    (["maxvit_t"], "30,919,624", "5,558,046,720"),
])
def test_summary_of_windowed_members(capsys, argv, params, macs):
    """The README's zoo rows for Swin and MaxViT, as a user asks for them."""
    assert main(["summary", *argv]) == 0
    out = capsys.readouterr().out
    assert f"parameters:  {params} total" in out and f"({macs})" in out


@pytest.mark.parametrize("name", NAMES)
def test_weight_enum_and_files(name):
    m = zoo.member(name)
    enum = weight_enum(m)
    assert enum.__name__ == m.weights
    assert m.files == tuple(w.url.rsplit("/", 1)[1] for w in enum)
    assert all(zoo.by_file(f) is m for f in m.files)
    assert zoo.by_file(f"/somewhere/{m.name}.pth") is m


# ----------------------------------------------------------------------------- statically


@pytest.mark.parametrize("name", NAMES)
def test_params_and_state_dict_names(name):
    m = zoo.member(name)
    net = load(m)
    theirs = skeleton(m)
    params = summarize(net).total.params
    assert params == published_params(m)
    assert params == _params(theirs)
    with no_init():  # a build on the meta device: names and shapes, no values to draw
        target = expected_shapes(net)
    mapped, report = map_state_dict(net, target, theirs.state_dict())
    assert {k: tuple(v.shape) for k, v in mapped.items()} == target  # every key, every shape
    family = KEY_MAPS.get(net.name)
    assert not report.renamed or (family and family.renames)  # only the table a spec states
    assert not report.filled


def test_numeric_selection():
    """The members proven numerically are those the published counts (proven equal to the
    specs' in test_params_and_state_dict_names) select: up to 100M, and each family's
    smallest."""
    assert NUMERIC == _numeric(published_params)


def test_pretrained_inception_v3_aux_head_is_skipped():
    # the pretrained checkpoint is for torchvision's model with its AuxLogits head
    m = zoo.member("inception_v3")
    net, theirs = load(m), skeleton(m, **m.published_kwargs)
    mapped, report = map_state_dict(net, expected_shapes(net), theirs.state_dict())
    assert len(mapped) == len(expected_shapes(net))
    assert report.ignored and report.ignored == [k for k in theirs.state_dict()
                                                 if k.startswith("AuxLogits.")]


@pytest.mark.parametrize("name", NAMES)
def test_macs_equal_published_gflops(name):
    m = zoo.member(name)
    default = load(m)
    for weights in weight_enum(m):
        shape = input_of(m, weights)  # the default network where that is its input
        net = default if default.input_shape == shape else load(m, shape)
        macs = summarize(net).total.macs
        assert round(macs / 1e9, 3) == weights.meta["_ops"], weights


# ----------------------------------------------------------------------------- numerically


def _small(m: zoo.Member) -> tuple[archc.Network, int]:
    """The member at the smallest input its architecture takes of 32, 64, 75 and 224 (every
    family pools adaptively; AlexNet's strided 11x11 conv and three pools need more than 32,
    Inception-v3's unpadded stem and grid reductions more than 64: torchvision's min_size;
    MaxViT's maps must divide into 7x7 windows down to the last stage's 7x7: 224)."""
    for size in (32, 64, 75):
        try:
            return load(m, size), size
        except archc.ArchcErrors:
            pass
    return load(m, 224), 224



# The families whose archc modules compute in another order than torchvision's, so that float32
# rounds the two apart (1e-7 of their outputs: ConvNeXt's, Swin's and MaxViT's and ViT's
# attention and layer norms): compared in float64 to 1e-9. Every other member runs the very
# same kernels in the same order as torchvision's model and is compared in float32 bit for bit
# (measured over every member of NUMERIC and VIDEO: BENCHMARKS.md, "The test suite", stop 37),
# a stronger proof at about half the cost (float64 convolutions take PyTorch's slow path).
ROUNDED = frozenset({"tv_convnext", "tv_maxvit", "tv_swin", "tv_vit"})


def _dtype(m: zoo.Member) -> tuple[torch.dtype, float]:
    """The dtype a member is compared in, and the tolerance (0: bit for bit)."""
    return (torch.float64, 1e-9) if m.spec in ROUNDED else (torch.float32, 0.0)


def _imported(m: zoo.Member, net: archc.Network, dtype: torch.dtype, **small: Any
              ) -> tuple[torch.nn.Module, torch.nn.Module]:
    """torchvision's model in `dtype` with its random fills cheap (tests/cheap_init.py: they
    are imported into ours, any values do) and perturbed, and archc's with its weights."""
    with cheap_init(), _default_dtype(dtype):
        theirs = tvm.get_model(m.name, weights=None, **m.torchvision_kwargs, **small).to(dtype)
    perturb(theirs)
    # every tensor of ours is imported (asserted below): no fills at all, in `dtype` at once
    # (half the time of a build on the meta device, whose every torch call goes through its
    # TorchFunctionMode, then to_empty)
    with no_init(), _default_dtype(dtype):
        ours = archc.build(net)
    assert import_state_dict(net, ours, theirs.state_dict()).mapped == \
        len(theirs.state_dict())
    return theirs, ours


def _nonzero(t: torch.Tensor) -> bool:
    """Some value of `t` is not 0: aminmax's one pass (a third of `Tensor.any`'s time on a
    float tensor, which it casts to bool first)."""
    low, high = torch.aminmax(t)
    return bool(low != 0 or high != 0)


@pytest.mark.parametrize("name", NUMERIC)
def test_outputs_equal_and_one_sgd_step_trains(name, one_torch_thread):
    m = zoo.member(name)
    cpu_seed(0)
    net, size = _small(m)
    dtype, tol = _dtype(m)
    theirs, ours = _imported(m, net, dtype, **SMALL_KWARGS.get(m.spec, lambda size: {})(size))
    # train mode first, at two samples: its batch statistics need more than one value per
    # channel (a 1x1 map before the head); the same dropout masks: the same draws in order
    x = torch.rand(2, 3, size, size, dtype=dtype)
    theirs.train(), ours.train()
    with torch.no_grad():
        cpu_seed(1)
        want = theirs(x)
        cpu_seed(1)
        torch.testing.assert_close(ours(x), want, rtol=tol, atol=tol)
    # then eval mode, on the BN statistics that pass moved (not the perturbed ones: both
    # models' own), one sample: in eval mode no sample couples another. Its forward pass is
    # the SGD step's too. The step in eval mode: in train mode a batch-statistics BN cancels
    # any per-channel shift before it, so e.g. MobileNetV3's projection BN biases (feeding a
    # 1x1 conv and BN with no shortcut) get an exactly zero gradient, in torchvision's model
    # as well.
    theirs.eval(), ours.eval()
    with torch.no_grad():
        want = theirs(x[:1])
    opt = torch.optim.SGD(ours.parameters(), lr=0.1)
    out = ours(x[:1])
    torch.testing.assert_close(out.detach(), want, rtol=tol, atol=tol)
    torch.nn.functional.cross_entropy(out, torch.tensor([3])).backward()
    # every parameter gets a gradient that is not zero, and the step moves it by -0.1 of it
    # (in float32 a step below the weight's rounding leaves the weight as it was: a deep
    # member's first layers; float64 showed every weight moved)
    dead = [k for k, p in ours.named_parameters() if p.grad is None or not _nonzero(p.grad)]
    assert not dead
    # what each parameter must become, then the step (no copy of every weight first)
    stepped = {k: torch.add(p.detach(), p.grad, alpha=-0.1) for k, p in ours.named_parameters()}
    opt.step()
    for k, p in ours.named_parameters():
        assert torch.equal(p, stepped[k]), k


# Video members at a small clip: the ResNets pool adaptively (4 frames of 32x32), S3D's
# 2x7x7 average pool needs 13 frames of 209x209 (tv_s3d.arch).
VIDEO_CLIPS = {"r3d_18": (3, 4, 32, 32), "mc3_18": (3, 4, 32, 32),
               "r2plus1d_18": (3, 4, 32, 32), "s3d": (3, 13, 209, 209)}


@pytest.mark.parametrize("name", VIDEO)
def test_video_outputs_equal(name):
    """Outputs equal torchvision's (float32, bit for bit: `_dtype`) in eval and train mode
    after importing its weights (random, perturbed): in train mode on a batch of two clips
    (one for S3D, the costly one), in eval mode on one (no sample couples another)."""
    m = zoo.member(name)
    cpu_seed(0)
    net = load(m, VIDEO_CLIPS[name])
    dtype, tol = _dtype(m)
    theirs, ours = _imported(m, net, dtype)
    x = torch.rand(1 if name == "s3d" else 2, *VIDEO_CLIPS[name], dtype=dtype)
    for train in (False, True):
        theirs.train(train), ours.train(train)
        clips = x if train else x[:1]
        with torch.no_grad():
            cpu_seed(1)
            want = theirs(clips)
            cpu_seed(1)
            torch.testing.assert_close(ours(clips), want, rtol=tol, atol=tol)
