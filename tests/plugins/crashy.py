"""A plugin whose shape rule raises on a flat input and returns no shape for tokens: each is
an error located at the user's call, with code A0411, never a traceback (tests/test_plugins.py,
archc/explain/A0411.md)."""

from __future__ import annotations

from archc.plugins import NoArgs, Plugin

plugin = Plugin("archc-crashy")


def crashy_shape(a: NoArgs, s: tuple[int, ...]) -> tuple[int, ...]:
    if len(s) == 1:
        return s[0] // 0  # type: ignore[return-value]
    if len(s) == 2:
        return "a shape"  # type: ignore[return-value]
    return s


def _identity(a: NoArgs, i: tuple[int, ...], o: tuple[int, ...]):
    import torch.nn as nn

    return nn.Identity()


plugin.op("crashy", NoArgs, shape=crashy_shape, torch=_identity,
          doc="the identity on images; a buggy shape rule on anything else", example="crashy")


def _bad_count(a: NoArgs, i: tuple[int, ...], o: tuple[int, ...]) -> int:
    return -1


# a parameter count that is not a count: `summary` reports it at the call (A0411)
plugin.op("bad_count", NoArgs, shape=lambda a, s: s, torch=_identity, params=_bad_count,
          doc="the identity, with a parameter count of -1", example="bad_count")
