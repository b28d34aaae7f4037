"""The Python API holds its arguments to the command line's rules: `input_shape` as --input
(positive integer sizes, 1 to 4 axes, or the text `3x224x224`), `build` takes a loaded network."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import archc
from archc.core.errors import UsageError


@pytest.mark.parametrize("shape", [(0, 8, 8), (-1, 8, 8), (1, 0), (1.5, 8, 8), (True, 8, 8),
                                   (), 8, "0x8x8", (1, 2, 3, 4, 5), (1, 10**9, 2),
                                   {"x": (0, 8, 8)}])
def test_a_bad_input_shape_is_a_usage_error(shape: Any) -> None:
    """A zero or negative size used to load (resnet18 on a 0x2x2 input: output (10,)); an int
    raised TypeError; a float reached the conv's channel check."""
    with pytest.raises(UsageError, match="input"):
        archc.load("resnet18", input_shape=shape)


@pytest.mark.parametrize("shape", [(1, 64, 64), [1, 64, 64], "1x64x64",
                                   tuple(np.array([1, 64, 64]))])
def test_input_shape_as_tuple_list_or_text(shape: Any) -> None:
    net = archc.load("resnet18", input_shape=shape)
    assert net.input_shape == (1, 64, 64) and net.output_shape == (10,)
    assert archc.loads("network n { input 1x8x8 relu }", input_shape=shape).output_shape == \
        (1, 64, 64)


@pytest.mark.parametrize("arg", ["lenet", None, 3])
def test_build_and_shapes_take_a_loaded_network(arg: Any) -> None:
    """Both raised AttributeError ('str' object has no attribute 'root' / 'inputs')."""
    with pytest.raises(TypeError, match="archc.build takes a network from archc.load, got"):
        archc.build(arg)
    with pytest.raises(TypeError, match="archc.shapes takes a network from archc.load, got"):
        archc.shapes(arg)
