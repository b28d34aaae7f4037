"""Guards around a plugin's rules (archc/plugins.py): the user's code may raise anything or
return anything; each failure becomes an archc error (A0411), located at the user's call when it
happens in a shape rule, never a traceback. Nothing here imports torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archc.core import codes
from archc.core.errors import ArchcError
from archc.core.graph import Shape
from archc.core.limits import MAX_DIM
from archc.registry.ops import OpShapeError, fmt_shape


class PluginError(ArchcError):
    """A plugin's rule failed (raised, or returned something that is not a shape or a count)."""

    default_code = codes.PLUGIN_RULE


def failure(plugin: str, op: str, what: str, exc: BaseException) -> str:
    return f"{op}: the {what} of plugin {plugin} failed: {type(exc).__name__}: {exc}"


def guard_shape(plugin: str, op: str, rule: Callable[[Any, Shape], Shape]
                ) -> Callable[[Any, Shape], Shape]:
    hint = f"a bug in plugin {plugin}: `archc plugin check` tests it; tell its author"

    def guarded(a: Any, s: Shape) -> Shape:
        try:
            out = rule(a, s)
        except OpShapeError:
            raise
        except Exception as exc:  # the user's code: any failure is a located error
            raise OpShapeError(failure(plugin, op, "shape rule", exc) +
                               f" (input {fmt_shape(s)})", hint, codes.PLUGIN_RULE) from None
        if not (isinstance(out, (tuple, list)) and 1 <= len(out) <= 3 and all(
                type(d) is int and 1 <= d <= MAX_DIM for d in out)):
            raise OpShapeError(f"{op}: the shape rule of plugin {plugin} returned {out!r:.80} "
                               f"for input {fmt_shape(s)}, not a shape (1 to 3 sizes, each "
                               f"an integer from 1 to {MAX_DIM})", hint, codes.PLUGIN_RULE)
        return tuple(out)
    return guarded


def guard_count(plugin: str, op: str, what: str, count: Callable[[Any, Shape, Shape], int]
                ) -> Callable[[Any, Shape, Shape], int]:
    def guarded(a: Any, i: Shape, o: Shape) -> int:
        try:
            n = count(a, i, o)
        except Exception as exc:
            raise PluginError(failure(plugin, op, what, exc)) from None
        if type(n) is not int or n < 0:
            raise PluginError(f"{op}: the {what} of plugin {plugin} returned {n!r:.80}, not a "
                              "count (an integer >= 0)")
        return n
    return guarded


def guard(plugin: str, op: str, what: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(*args: Any) -> Any:
        try:
            return fn(*args)
        except ArchcError:
            raise
        except Exception as exc:
            raise PluginError(failure(plugin, op, what, exc)) from None
    return guarded


def guard_caption(op: str, caption: Callable[[Any], str] | None) -> Callable[[Any], str]:
    def guarded(a: Any) -> str:
        try:
            text = caption(a) if caption is not None else op
        except Exception:
            return op
        return text if isinstance(text, str) and text else op
    return guarded
