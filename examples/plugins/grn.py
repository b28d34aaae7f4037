"""An archc plugin: ConvNeXt V2's global response normalisation as the op `grn`
(Woo et al. 2023, "ConvNeXt V2: Co-designing and Scaling ConvNets with Masked Autoencoders",
section 3.2, eqs. 1-3).

    archc check --plugin examples/plugins/grn.py examples/plugins/convnextv2_atto.arch
    archc plugin check examples/plugins/grn.py

This file is the op's record only and imports no torch, so `archc check` stays torch-free; the
torch module is `GRN` in grn_torch.py, next to it, imported when a network is built.
"""

from __future__ import annotations

from pathlib import Path

from archc.plugins import Args, Field, OpShapeError, Plugin, PyClass

# the op below, and a block using it: ConvNeXt V2's (grn_blocks.arch)
plugin = Plugin("archc-grn", doc="ConvNeXt V2's global response normalisation (GRN)",
                blocks=Path(__file__).with_name("grn_blocks.arch"))


class GRNArgs(Args):
    eps: float = Field(1e-6, gt=0, lt=1)


def grn_shape(a: GRNArgs, shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(shape) != 3:
        raise OpShapeError(f"grn: expects a CxHxW input, got {'x'.join(map(str, shape))}",
                           "grn normalises each channel's response over the image")
    return shape


plugin.op(
    "grn", GRNArgs, shape=grn_shape,
    module=PyClass("grn_torch:GRN", lambda a, i, o: ((i[0],), {"eps": a.eps})),
    params=lambda a, i, o: 2 * i[0],  # gamma and beta, one per channel
    # no MACs: its norms, means and products are elementwise work, which FlopCounterMode (the
    # convention of archc's counts) does not count, like a norm layer's
    caption=lambda a: "grn", family="norm",
    doc="global response normalisation (ConvNeXt V2) of CxHxW: each channel's L2 norm over "
        "the image, divided by the mean over channels, scales the input; a learnable gamma "
        "and beta per channel, both 0 at first (the identity): grn(eps=1e-6)",
    example="grn(eps=1e-6)",
)
