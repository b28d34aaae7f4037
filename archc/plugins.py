"""Plugins: the user's own ops, declared with the op registry's own record (archc/registry/ops.py
`Op`) in a Python module that the user, never the spec, chooses to load: `--plugin FILE_OR_MODULE`,
`plugins = [...]` under `[tool.archc]` in the nearest pyproject.toml, or an installed package's
entry point in the group `archc.registry.ops`. A spec may say what it needs (`requires
"archc-grn"`); that loads nothing, it only names the plugin in the error when an op is missing.

    plugin = Plugin("archc-grn", doc="ConvNeXt V2's global response normalisation")

    class GRNArgs(Args):
        eps: float = Field(1e-6, gt=0, lt=1)

    plugin.op("grn", GRNArgs, shape=lambda a, s: s, module=PyClass("grn_torch:GRN", ...), ...)

Loading a module registers its ops in `archc.registry.ops.REGISTRY`, so every stage (check, summary,
graph, build, export, the language server) sees them as it sees archc's own. Each rule of a
plugin's op is guarded (archc/registry/plugin_guards.py): one that raises or returns no shape
becomes an error located at the user's call (A0411), never a traceback. Nothing here imports torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import keyword
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from archc.core import codes
from archc.core.errors import ArchcError, UsageError
from archc.core.graph import Shape
from archc.core.plugin_config import ENTRY_POINTS, configured, spec_folders
from archc.core.records import record
from archc.core.schema import Field
from archc.front import tree
from archc.front.parse import parse
from archc.registry.ops import (
    FAMILIES,
    REGISTRY,
    Args,
    NoArgs,
    Op,
    OpShapeError,
    Source,
    _no_count,
    register,
)
from archc.registry.plugin_guards import (
    PluginError,
    guard,
    guard_caption,
    guard_count,
    guard_shape,
)

__all__ = ["ENTRY_POINTS", "Args", "Field", "NoArgs", "OpShapeError", "Plugin", "PluginError",
           "PyClass", "Source", "load", "loaded", "setup", "same_shape"]

_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")
# words of the grammar (grammar/archc.lark) that a call cannot be named
_RESERVED = {"network", "block", "use", "requires", "input", "expect", "train", "assert", "if",
             "else", "for", "in", "not", "and", "or", "true", "false", "add", "concat", "mul",
             "split", "tap", "from", "output"}


def same_shape(a: Any, s: Shape) -> Shape:
    """The shape rule of an op whose output has its input's shape (an activation, a norm)."""
    return s


@record
class PyClass:
    """A torch module class named by its import path, `module:Class`, and how an op instance's
    arguments and shapes become its constructor's: `arguments(args, in_shape, out_shape) ->
    (positional, keywords)`. `archc build` imports the module then (so the plugin module itself
    need not import torch), and `archc export` writes `from module import Class` and the call."""

    path: str
    arguments: Callable[[Any, Shape, Shape], tuple[tuple[Any, ...], dict[str, Any]]]

    def split(self) -> tuple[str, str]:
        module, sep, name = self.path.partition(":")
        if not sep or not module or not name.isidentifier():
            raise PluginError(f"PyClass('{self.path}'): expected 'module:Class'")
        return module, name

    def torch(self, a: Any, i: Shape, o: Shape) -> Any:
        module, name = self.split()
        args, kwargs = self.arguments(a, i, o)
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    def source(self, a: Any, i: Shape, o: Shape) -> Source:
        module, name = self.split()
        args, kwargs = self.arguments(a, i, o)
        return Source(name, tuple(args), dict(kwargs), support=(f"from {module} import {name}",))


class Plugin:
    """A named set of ops, declared by a module at import. `op` takes the fields of the
    registry's `Op` record, so any of archc's own ops could be declared with it."""

    def __init__(self, name: str, doc: str = "", blocks: str | Path | None = None) -> None:
        """`blocks`: a .arch file of blocks the plugin ships (prelude-style: every spec sees
        them while the plugin is loaded; a spec's own block of the same name wins), e.g.
        `Path(__file__).with_name("blocks.arch")`."""
        self.name, self.doc = name, doc
        self.ops: dict[str, Op] = {}
        self.origin = ""  # what it was loaded from: a file, a module, an entry point
        self.blocks_file = None if blocks is None else Path(blocks)
        self.blocks: dict[str, tree.Definition] = {}  # parsed when loaded
        self.blocks_text = ""

    def __repr__(self) -> str:
        return f"Plugin({self.name!r}, ops={sorted(self.ops)})"

    def op(self, name: str, args: type[Args] = NoArgs, *, shape: Callable[[Any, Shape], Shape],
           doc: str, example: str, example_input: str = "3x9x9",
           module: PyClass | None = None, torch: Callable[[Any, Shape, Shape], Any] | None = None,
           source: Callable[[Any, Shape, Shape], Source] | None = None,
           caption: Callable[[Any], str] | None = None,
           params: Callable[[Any, Shape, Shape], int] | None = None,
           macs: Callable[[Any, Shape, Shape], int] | None = None,
           family: str = "structure", init: Callable[[Any, str], None] | None = None,
           saved: Callable[[Any, Shape, Shape, Any], Any] | None = None,
           pytorch: Mapping[str, str] | None = None) -> Op:
        """Declare and register one op. `shape(args, in_shape) -> out_shape` must not import
        torch; raise `OpShapeError(message, hint)` for an input the op cannot take. `module`
        (a PyClass) gives both the torch factory and the exported source; else give `torch`
        (and `source`, or the op cannot be exported). `params`/`macs` count per sample, as
        FlopCounterMode counts a multiply-add once (MACs = FLOPs / 2). `example` is a call, run
        by `archc plugin check` on an input of `example_input`. `saved(args, in_shape,
        out_shape, context) -> archc.core.saving.Saves`: what autograd keeps for backward (without
        it, `archc summary --train` says it cannot count the op). `pytorch`: PyTorch's names
        for it (a class name -> a note), for `did you mean` when a spec writes one."""
        self._check_name(name, family)
        if not (isinstance(args, type) and issubclass(args, Args)):
            raise PluginError(f"plugin {self.name}: op '{name}': its schema must subclass "
                              "archc.plugins.Args (strict, immutable, finite numbers)")
        if not doc or not example:
            raise PluginError(f"plugin {self.name}: op '{name}' needs a doc and an example "
                              "(a call, which `archc plugin check` runs)")
        if module is not None:
            torch, source = torch or module.torch, source or module.source
        if torch is None:
            raise PluginError(f"plugin {self.name}: op '{name}' needs `module=PyClass(...)` or "
                              "`torch=` (its torch factory)")
        record = Op(name, args, guard_shape(self.name, name, shape),
                    torch=guard(self.name, name, "torch factory", torch),
                    caption=guard_caption(name, caption), family=family, init=init,
                    params=_no_count if params is None else
                    guard_count(self.name, name, "params", params),
                    macs=_no_count if macs is None else guard_count(self.name, name, "macs", macs),
                    source=None if source is None else
                    guard(self.name, name, "source", source),
                    doc=doc, example=example, example_input=example_input,
                    saved=None if saved is None else guard(self.name, name, "saved", saved),
                    pytorch=dict(pytorch or {}))
        self.ops[name] = register(record)
        OP_PLUGIN[name] = self.name
        return record

    def _check_name(self, name: str, family: str) -> None:
        if not _NAME.match(name) or name in _RESERVED or keyword.iskeyword(name):
            raise PluginError(f"plugin {self.name}: '{name}' cannot name an op (lower case "
                              "letters, digits and _, not a word of the language)")
        if name in REGISTRY:
            by = f"plugin {OP_PLUGIN[name]}" if name in OP_PLUGIN else "archc"
            raise PluginError(f"plugin {self.name}: op '{name}' is already defined by {by}",
                              hint="give the op another name")
        if family not in FAMILIES:
            raise PluginError(f"plugin {self.name}: op '{name}': unknown family '{family}'",
                              hint=f"one of {', '.join(FAMILIES)}")

    def unload(self) -> None:
        """Take its ops out of the registry (tests; a process normally keeps what it loaded)."""
        for name, op in self.ops.items():
            if REGISTRY.get(name) is op:
                del REGISTRY[name]
                OP_PLUGIN.pop(name, None)
        if LOADED.get(self.name) is self:
            del LOADED[self.name]


# ----------------------------------------------------------------------------- loading


LOADED: dict[str, Plugin] = {}  # by plugin name: what this process loaded
OP_PLUGIN: dict[str, str] = {}  # op name -> the name of the plugin that registered it


def loaded() -> dict[str, Plugin]:
    return dict(LOADED)


def provider(op: str) -> str | None:
    """`plugin archc-grn` for an op a loaded plugin defines; None for archc's own."""
    return f"plugin {OP_PLUGIN[op]}" if op in OP_PLUGIN else None


def load(target: str, base: Path | None = None) -> list[Plugin]:
    """Import a plugin module, a dotted name (`archc_grn`) or a `.py` file (relative to `base`,
    default the working folder; its folder is put on sys.path, so that its torch module
    imports), and return the plugins it declares. A failure is a UsageError (exit 2)."""
    before = set(REGISTRY)
    try:
        module = _import(target, base)
    except UsageError:
        raise
    except Exception as exc:  # the user's code, whatever it raises
        for name in set(REGISTRY) - before:  # what it registered before failing
            del REGISTRY[name]
            OP_PLUGIN.pop(name, None)
        message = exc.message if isinstance(exc, ArchcError) else f"{type(exc).__name__}: {exc}"
        raise UsageError(f"plugin {target}: cannot load it: {message}") from None
    found = [v for v in vars(module).values() if isinstance(v, Plugin)]
    if not found:
        raise UsageError(f"plugin {target}: defines no archc plugin",
                         hint="declare one: `plugin = archc.plugins.Plugin(\"name\")`, and its "
                         "ops with `plugin.op(...)`")
    for p in found:
        p.origin = p.origin or target
        _loaded(p)
    return found


def _loaded(p: Plugin) -> None:
    """Record a loaded plugin, its blocks parsed (a syntax error in them: a UsageError)."""
    if p.blocks_file is not None and not p.blocks:
        try:
            p.blocks_text = p.blocks_file.read_text(encoding="utf-8")
            module = parse(p.blocks_text, os.path.relpath(p.blocks_file))
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"plugin {p.name}: cannot read its blocks: {exc}") from None
        except ArchcError as exc:
            raise UsageError(f"plugin {p.name}: its blocks do not parse: {exc}") from None
        p.blocks = {d.name: d for d in module.definitions if d.kind == "block"}
    LOADED[p.name] = p


def plugin_blocks(sources: Any) -> dict[str, tree.Definition]:
    """The blocks of every loaded plugin, their texts added to `sources` (a SourceStore) so
    that an error inside one renders with its line."""
    found: dict[str, tree.Definition] = {}
    for p in LOADED.values():
        if p.blocks:
            sources.add(os.path.relpath(p.blocks_file or ""), p.blocks_text)
            found.update(p.blocks)
    return found


def _import(target: str, base: Path | None) -> ModuleType:
    if not (target.endswith(".py") or "/" in target or os.sep in target):
        if not all(part.isidentifier() for part in target.split(".")):
            raise UsageError(f"plugin {target}: neither a .py file nor a module name")
        try:
            return importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name != target.split(".")[0] and exc.name != target:
                raise
            raise UsageError(f"plugin {target}: no module named '{target}'",
                             hint="give a .py file, or install the plugin's package") from None
    path = (base or Path.cwd()) / target
    if not path.is_file():
        raise UsageError(f"plugin {target}: no such file")
    path = path.resolve()
    name = path.stem
    known = sys.modules.get(name)
    if known is not None:
        if getattr(known, "__file__", None) and Path(known.__file__ or "").resolve() == path:
            return known
        raise UsageError(f"plugin {target}: a module named '{name}' is imported already",
                         hint="rename the plugin's file")
    if not name.isidentifier():
        raise UsageError(f"plugin {target}: '{name}' is not a module name",
                         hint="name the file like a Python module (letters, digits, _)")
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def installed() -> list[Plugin]:
    """The plugins of installed packages: each entry point of the group `archc.registry.ops` names a
    module (`archc_grn`) or a Plugin in one (`archc_grn:plugin`)."""
    from importlib.metadata import entry_points  # (15 ms: not on the path of a check)

    found: list[Plugin] = []
    for ep in entry_points(group=ENTRY_POINTS):
        if ep.value.partition(":")[0] in sys.modules and any(
                p.origin == f"entry point {ep.name}" for p in LOADED.values()):
            continue
        try:
            obj = ep.load()
        except Exception as exc:
            raise UsageError(f"plugin {ep.name} (entry point {ep.value}): cannot load it: "
                             f"{type(exc).__name__}: {exc}") from None
        plugins = [obj] if isinstance(obj, Plugin) else \
            [v for v in vars(obj).values() if isinstance(v, Plugin)] \
            if isinstance(obj, ModuleType) else []
        for p in plugins:
            p.origin = p.origin or f"entry point {ep.name}"
            _loaded(p)
        found += plugins
    return found


def setup_from_args(args: Any) -> None:
    """`setup` for a command's arguments, if it reads specs (it has --plugin)."""
    if hasattr(args, "plugin"):
        specs = getattr(args, "files", None) or [getattr(args, "spec", None) or ""]
        setup(args.plugin, [s for s in specs if isinstance(s, str) and s])


def setup(requested: Sequence[str] | None = (), specs: Iterable[str | Path] = ()) -> None:
    """Load what the user chose, once per process: installed entry points, the plugins of the
    pyproject.toml nearest each spec's folder (or the working folder), then `requested`
    (`--plugin`, relative to the working folder)."""
    installed()
    for folder in spec_folders(specs):
        file, entries = configured(folder)
        for entry in entries:
            assert file is not None
            load(entry, file.parent)
    for entry in requested or ():
        load(entry)


# ----------------------------------------------------------------------------- requires


_UNKNOWN = re.compile(r"unknown layer or block '([^']*)'\Z")


def explain_missing(errors: list[ArchcError], required: Iterable[str]) -> list[ArchcError]:
    """Unknown layers in a spec that `requires` plugins not loaded: the error names them and
    says how to load one (A0211), instead of suggesting archc's own ops."""
    missing = [name for name in dict.fromkeys(required) if name not in LOADED]
    if not missing:
        return errors
    out = []
    for err in errors:
        m = _UNKNOWN.match(err.message) if err.code == codes.UNKNOWN_LAYER else None
        if m is None:
            out.append(err)
            continue
        named = ", ".join(f'"{n}"' for n in missing)
        new = err.__class__(
            f"unknown layer '{m[1]}': this spec requires plugin{'s' * (len(missing) > 1)} "
            f"{named}, which is not loaded", err.span,
            "load it: `--plugin FILE_OR_MODULE`, or `plugins = [...]` under [tool.archc] in "
            "pyproject.toml, or install its package",
            code=codes.PLUGIN_NOT_LOADED, labels=err.labels, notes=err.notes)
        new.sources = err.sources
        out.append(new)
    return out
