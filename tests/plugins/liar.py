"""A plugin whose ops claim what their modules do not do: `archc plugin check` refuses each,
showing the mismatch (tests/test_plugins.py)."""

from __future__ import annotations

from archc.plugins import NoArgs, Plugin, Source, same_shape

plugin = Plugin("archc-liar")


def _nn():
    import torch.nn as nn

    return nn


# declares its input's shape, but its module halves the height and width
plugin.op("liar_shape", NoArgs, shape=same_shape, torch=lambda a, i, o: _nn().MaxPool2d(2),
          doc="claims to keep the shape; halves it", example="liar_shape", family="pooling")
# declares the weight of a 1x1 conv without its bias
plugin.op("liar_params", NoArgs, shape=same_shape,
          torch=lambda a, i, o: _nn().Conv2d(i[0], i[0], 1),
          params=lambda a, i, o: i[0] * i[0], macs=lambda a, i, o: i[0] * i[0] * i[1] * i[2],
          doc="counts a 1x1 conv's weight, not its bias", example="liar_params", family="conv")
# declares no MACs for a linear map
plugin.op("liar_macs", NoArgs, shape=same_shape,
          torch=lambda a, i, o: _nn().Linear(i[0], i[0], bias=False),
          params=lambda a, i, o: i[0] * i[0],
          doc="a linear map that claims no MACs", example="liar_macs", example_input="6",
          family="linear")
# exported as a 3x3 conv, built as a 1x1
plugin.op("liar_source", NoArgs, shape=same_shape,
          torch=lambda a, i, o: _nn().Conv2d(i[0], i[0], 1),
          source=lambda a, i, o: Source("nn.Conv2d", (i[0], i[0], 3)),
          params=lambda a, i, o: i[0] * i[0] + i[0],
          macs=lambda a, i, o: i[0] * i[0] * i[1] * i[2],
          doc="writes another conv than it builds", example="liar_source", family="conv")
