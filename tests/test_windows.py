"""The windowed-attention modules (archc/emit/layers_windows.py) against torchvision's own, in
fp64, where the zoo's 32x32 inputs do not reach: maps that need padding, non-square maps,
shifted and unshifted windows, windows larger than the map, v1 and v2; MaxViT's block and grid
attention between torchvision's WindowPartition and WindowDepartition; Swin's patch gather."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import maxvit, swin_transformer

import archc
from archc.emit.layers_windows import PartitionAttention, PatchConcat, WindowAttention
from tests.util import cpu_seed


def _perturbed(module: torch.nn.Module) -> torch.nn.Module:
    """fp64, every parameter moved off its init (zero biases, a constant logit scale)."""
    cpu_seed(3)
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return module


@pytest.mark.parametrize("cosine", [False, True])
@pytest.mark.parametrize("shift", [0, 3])
@pytest.mark.parametrize("size", [(14, 14), (9, 11), (5, 5), (7, 7)])
def test_window_attention_is_torchvisions(cosine, shift, size, one_torch_thread):
    cls = (swin_transformer.ShiftedWindowAttentionV2 if cosine
           else swin_transformer.ShiftedWindowAttention)
    theirs = _perturbed(cls(24, [7, 7], [shift, shift], 3))
    ours = WindowAttention(24, 3, 7, shift, cosine).double()
    ours.load_state_dict(theirs.state_dict())  # strict: every name, buffers included
    x = torch.randn(2, 24, *size, dtype=torch.float64)
    want = theirs(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(ours(x), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("grid", [False, True])
@pytest.mark.parametrize("side", [7, 14])
def test_partition_attention_is_torchvisions(grid, side, one_torch_thread):
    layer = maxvit.PartitionAttentionLayer(64, 32, 7, "grid" if grid else "window",
                                           (side, side), 4, torch.nn.GELU, torch.nn.LayerNorm,
                                           0.0, 0.0, 0.0)
    attn = _perturbed(layer.attn_layer[1])
    ours = PartitionAttention(64, 2, 7, grid).double()
    ours.load_state_dict(attn.state_dict())
    x = torch.randn(2, 64, side, side, dtype=torch.float64)
    p = layer.p
    y = layer.partition_swap(layer.partition_op(x, p))
    want = layer.departition_op(layer.departition_swap(attn(y)), p, side // p, side // p)
    torch.testing.assert_close(ours(x), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("size", [(6, 8), (5, 7)])
def test_patch_concat_is_swins_gather(size):
    x = torch.randn(2, *size, 3, dtype=torch.float64)
    want = swin_transformer._patch_merging_pad(x)
    assert torch.equal(PatchConcat(2)(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1), want)


def test_shapes_pad_to_windows():
    net = archc.loads("network t { input 8x5x7 window_attention(2, window=4, shift=2) "
                      "patch_concat(2) }")
    assert net.output_shape == (32, 3, 4)
