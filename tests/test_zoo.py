"""The zoo (archc/zoo.py) against torchvision itself, one parametrised test per claim, over every
member of the table. Statically, for every member: the weight enum and its checkpoint file names
are the table's; the parameter count equals torchvision's published `num_params` and its model's;
torchvision's state_dict maps onto the archc module by name (meta device: no memory, no init);
`archc summary` MACs equal the GFLOPS of every weight enum's `_ops` metadata at that enum's crop
size. Numerically (fp64, small input), for the members in NUMERIC: outputs equal in eval and
train mode after importing torchvision's random-initialised weights, and one SGD step (in eval
mode: see the test) changes every parameter. ARCHC_ZOO_ALL=1 runs every member numerically."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
import torch
import torchvision.models as tvm  # a dev dependency: CI installs it, so nothing here skips

import archc
from archc import zoo
from archc.stats import summarize
from archc.weights import FAMILIES, expected_shapes, import_state_dict, map_state_dict

SPECS = Path(__file__).resolve().parent.parent / "specs"
# the classifiers (the segmentation members: tests/test_segmentation.py)
NAMES = [m.name for m in zoo.MEMBERS if m.task == "classification"]

# torchvision classification builders no spec covers yet, each with what it waits for
NOT_YET = {
    "maxvit_t": "windowed attention with relative position bias",
    **dict.fromkeys(["swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b"],
                    "shifted windows, relative position bias"),
}

# Numerically: every member up to this many parameters, and the smallest of each family (the
# cost is the parameters: torchvision's init, the copy, fp64; a VGG's 100M-weight classifier
# alone costs ~15 s). The rest are proven statically in a normal run.
NUMERIC_MAX_PARAMS = 100_000_000


def load(m: zoo.Member, size: int | None = None) -> archc.Network:
    return archc.load(SPECS / f"{m.spec}.arch", m.set,
                      (3, size, size) if size else None)


def weight_enum(m: zoo.Member):
    return tvm.get_model_weights(m.name)


@contextlib.contextmanager
def _no_init():
    """torch.nn.init does nothing: a model's tensors stay as allocated (untouched pages)."""
    names = [n for n in dir(torch.nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(torch.nn.init, n) for n in names}
    for n in names:
        setattr(torch.nn.init, n, lambda tensor, *args, **kw: tensor)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)


def skeleton(m: zoo.Member, **kwargs) -> torch.nn.Module:
    """torchvision's model for its names and shapes only: on the meta device (no memory, no
    init) where the builder allows; RegNet computes its widths with tensors, so on the CPU
    without init. `kwargs` override the member's builder arguments."""
    kwargs = {**m.torchvision_kwargs, **kwargs}
    try:
        with torch.device("meta"):
            return tvm.get_model(m.name, weights=None, **kwargs)
    except NotImplementedError:
        with _no_init():
            return tvm.get_model(m.name, weights=None, **kwargs)


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def weights_size(weights) -> int:
    """The input side a weight enum entry is for: its crop (classification), or the size its
    segmentation transform resizes to (520: torchvision's segmentation weights)."""
    transform = weights.transforms()
    size = getattr(transform, "crop_size", None) or transform.resize_size
    (side,) = set(size)
    return side


def published_params(m: zoo.Member) -> int:
    """num_params of the member's weights at its default input size (ViT's SWAG end-to-end
    weights are for a larger input, with a longer position embedding), less what the spec
    leaves out of the model they count (Member.published_kwargs: Inception-v3's AuxLogits), as
    torchvision's two models count it."""
    size = load(m).input_shape[1:]
    (count,) = {w.meta["num_params"] for w in weight_enum(m)
                if (weights_size(w),) * 2 == size}
    if m.published_kwargs:
        count -= _params(skeleton(m, **m.published_kwargs)) - _params(skeleton(m))
    return count


# torchvision's ViT checks its input size; its builder takes the small one as image_size
SMALL_KWARGS = {"tv_vit": lambda size: {"image_size": size}}


def _numeric() -> list[str]:
    if os.environ.get("ARCHC_ZOO_ALL"):
        return NAMES
    smallest = {spec: min(ms, key=published_params).name for spec, ms in zoo.families()
                if ms[0].task == "classification"}
    return [m.name for m in zoo.MEMBERS if m.task == "classification" and (
        published_params(m) <= NUMERIC_MAX_PARAMS or m.name in smallest.values())]


NUMERIC = _numeric()


# ----------------------------------------------------------------------------- the table


def test_table_covers_torchvision():
    builders = set(tvm.list_models(module=tvm))
    assert not set(NAMES) & set(NOT_YET)
    assert set(NAMES) | set(NOT_YET) == builders
    assert len(NAMES) == len(set(NAMES))


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
    target = expected_shapes(net)
    mapped, report = map_state_dict(net, target, theirs.state_dict())
    assert {k: tuple(v.shape) for k, v in mapped.items()} == target  # every key, every shape
    family = FAMILIES.get(net.name)
    assert not report.renamed or (family and family.renames)  # only the table a spec states
    assert not report.filled


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
    for weights in weight_enum(m):
        (size,) = weights.transforms().crop_size
        macs = summarize(load(m, size)).total.macs
        assert round(macs / 1e9, 3) == weights.meta["_ops"], weights


# ----------------------------------------------------------------------------- numerically


def _small(m: zoo.Member) -> tuple[archc.Network, int]:
    """The member at the smallest input its architecture takes of 32, 64 and 75 (every family
    pools adaptively; AlexNet's strided 11x11 conv and three pools need more than 32,
    Inception-v3's unpadded stem and grid reductions more than 64: torchvision's min_size)."""
    for size in (32, 64):
        try:
            return load(m, size), size
        except archc.ArchcErrors:
            pass
    return load(m, 75), 75


def _perturb(model: torch.nn.Module) -> None:
    """No parameter stays constant (BN/LN affines, zero biases, class tokens, layer scales) and
    BN running statistics are not the identity, so a dropped bias or a missing norm shows."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in model.parameters():
            if p.numel() > 1 and bool(p.min() == p.max()):
                p.add_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))
        for mod in model.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                mod.running_mean.normal_(0, 0.2, generator=g)
                mod.running_var.uniform_(0.5, 1.5, generator=g)


@pytest.mark.parametrize("name", NUMERIC)
def test_outputs_equal_and_one_sgd_step_trains(name, one_torch_thread):
    m = zoo.member(name)
    torch.manual_seed(0)
    net, size = _small(m)
    small = SMALL_KWARGS.get(m.spec, lambda size: {})(size)
    theirs = tvm.get_model(name, weights=None, **m.torchvision_kwargs, **small).double()
    _perturb(theirs)
    with torch.device("meta"):  # no init: every tensor is imported
        ours = archc.build(net)
    ours = ours.to_empty(device="cpu").double()
    assert import_state_dict(net, ours, theirs.state_dict()).mapped == \
        len(theirs.state_dict())
    x = torch.rand(4, 3, size, size, dtype=torch.float64)
    for train in (False, True):
        theirs.train(train), ours.train(train)
        with torch.no_grad():
            torch.manual_seed(1)  # the same dropout masks: the same draws in the same order
            want = theirs(x)
            torch.manual_seed(1)
            torch.testing.assert_close(ours(x), want, rtol=1e-9, atol=1e-9)
    # The step in eval mode: in train mode a batch-statistics BN cancels any per-channel shift
    # before it, so e.g. MobileNetV3's projection BN biases (feeding a 1x1 conv and BN with no
    # shortcut) get an exactly zero gradient, in torchvision's model as well.
    ours.eval()
    before = {k: p.detach().clone() for k, p in ours.named_parameters()}
    opt = torch.optim.SGD(ours.parameters(), lr=0.1)
    torch.nn.functional.cross_entropy(ours(x), torch.tensor([3, 7, 1, 0])).backward()
    opt.step()
    unchanged = [k for k, p in ours.named_parameters() if torch.equal(p, before[k])]
    assert not unchanged
