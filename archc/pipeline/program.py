"""Files -> program: reads a spec and what it `use`s, adds the prelude, and builds the table of
blocks. A spec may read only the specs it uses, inside its own folder tree."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import field
from functools import lru_cache
from pathlib import Path

from archc.core import cache, codes
from archc.core.errors import (
    ArchcError,
    ImportError_,
    LimitError,
    NameError_,
    Note,
    Span,
    UsageError,
    did_you_mean,
)
from archc.core.limits import MAX_USE_DEPTH
from archc.core.records import mutable_record
from archc.core.resources import prelude_path, specs_dir
from archc.core.sources import SourceStore, read_source
from archc.expansion.definitions import check_definitions
from archc.expansion.resolve import check_names
from archc.front import tree
from archc.front.parse import parse, parse_recovering
from archc.front.work import Work
from archc.plugins import plugin_blocks


@mutable_record
class Program:
    """A spec file with everything it can see."""

    path: str
    networks: dict[str, tree.Definition] = field(default_factory=dict)
    blocks: dict[str, tree.Definition] = field(default_factory=dict)
    sources: SourceStore = field(default_factory=SourceStore)
    errors: list[ArchcError] = field(default_factory=list)
    # Blocks not to expand: on a cycle, or not parsed (each reported once, not at every call).
    cyclic: set[str] = field(default_factory=set)
    # The definitions of the spec and of the files it uses (not the prelude's), in order.
    definitions: list[tree.Definition] = field(default_factory=list)
    # The plugins it and the files it uses say they need (`requires`; archc/plugins.py).
    requires: list[str] = field(default_factory=list)


def resolve_spec(name: str) -> Path:
    """A path as given, or the name of a bundled spec (`resnet18`)."""
    path = Path(name)
    if path.exists() or path.suffix == ".arch" or os.sep in name:
        return path
    bundled = specs_dir() / f"{name}.arch"
    if bundled.exists():
        return bundled
    from archc.pipeline.zoo import (  # a zoo member (`efficientnet_b0`): its family's file
        lookup,
        member_hint,
    )

    found = lookup(name)
    if found is not None:
        return specs_dir() / f"{found.spec}.arch"
    known = [p.stem for p in specs_dir().glob("*.arch")]
    raise UsageError(f"no such spec file or bundled spec: '{name}'",
                     hint=member_hint(name) or f"bundled specs: {', '.join(sorted(known))} "
                     "(`archc list` shows the zoo)")


PRELUDE = "<prelude>"  # how the prelude's spans name it


@lru_cache(maxsize=1)
def prelude_text() -> str:
    return prelude_path().read_text(encoding="utf-8")


def _prelude() -> tree.Module:
    return _prelude_checked()[0]


def prelude_errors() -> tuple[ArchcError, ...]:
    """The prelude's blocks checked as every definition is (archc/expansion/definitions.py), against
    the prelude alone and a budget of their own."""
    return _prelude_checked()[1]


@lru_cache(maxsize=1)
def _prelude_checked() -> tuple[tree.Module, tuple[ArchcError, ...]]:
    """The prelude parsed and checked: once per process, as its text is fixed, and once per
    version of archc when it checks clean (kept in the cache folder, archc/core/cache.py)."""
    stored = cache.load_compiled("prelude")
    if isinstance(stored, tree.Module) and stored.path == PRELUDE:
        return stored, ()
    module = parse(prelude_text(), PRELUDE)
    blocks = {d.name: d for d in module.definitions if d.kind == "block"}
    errors = tuple(check_definitions(module.definitions, blocks, set(), Work()))
    if not errors:
        cache.store_compiled("prelude", module)
    return module, errors


ParseFile = Callable[[str, str], tree.Module]


def _parse_file(parse_file: ParseFile | None, text: str, path: str
                ) -> tuple[tree.Module, list[ArchcError]]:
    """A file's AST and its syntax errors: every one, resuming after each (parse_recovering).
    A caller's own `parse_file(text, path)` (which raises at the first error) parses a file
    without errors; one with errors is left to the recovering parser, so that every caller
    reports the same errors."""
    if parse_file is not None:
        try:
            return parse_file(text, path), []
        except ArchcError:
            pass
    module = _PARSED.pop((path, text), None)
    if module is None:
        module, errors = parse_recovering(text, path)
        if errors:  # (not kept: an error is an object its reports may change)
            return module, errors
    _PARSED[(path, text)] = module  # the newest last
    while len(_PARSED) > _PARSED_KEPT:
        del _PARSED[next(iter(_PARSED))]
    return module, []


# The last files that parsed clean, by (path, text): a process checking several specs that
# `use` one file parses it once (the ASTs are immutable, so one serves every program).
_PARSED: dict[tuple[str, str], tree.Module] = {}
_PARSED_KEPT = 16


def load_program(path: str | Path, text: str | None = None,
                 parse_file: ParseFile | None = None) -> Program:
    """Parse a spec and its `use`s; collect load-time errors (syntax, imports, names).
    `parse_file(text, path)` replaces the recovering parser when a caller reuses parsed files
    (the language server memoizes it, so an edit re-parses only the edited file)."""
    display = str(path)
    prog = Program(display)
    own_blocks: dict[str, tree.Definition] = {}
    used: dict[str, tree.Definition] = {}
    try:
        if text is None:
            text = read_source(Path(path), display)
    except ArchcError as exc:
        prog.errors.append(exc)
        return prog
    prog.sources.add(display, text)
    module, syntax_errors = _parse_file(parse_file, text, display)
    prog.errors += syntax_errors
    if not module.definitions and not module.uses and not syntax_errors:
        prog.errors.append(ArchcError("empty spec: no network or block defined",
                                      Span(display, 1, 1),
                                      "start with `network name { input 1x28x28 ... }`",
                                      code=codes.EMPTY_SPEC))
    _collect(module, own_blocks, prog.networks, prog.errors)
    prog.requires += [r.plugin for r in module.requires]
    used_defs: list[tree.Definition] = []
    root = Path(path).resolve().parent  # (after reading: a symlink loop is a read error)
    broken = set(module.broken)
    _load_uses(module, Path(path), root, prog, used, used_defs, {Path(path).resolve()},
               parse_file, broken)
    prelude = {d.name: d for d in _prelude().definitions if d.kind == "block"}
    prog.blocks = {**prelude, **plugin_blocks(prog.sources), **used, **own_blocks}
    prog.definitions = used_defs + list(module.definitions)
    errors, prog.cyclic = check_names(prog.definitions, prog.blocks, broken)
    prog.cyclic |= broken - prog.blocks.keys()
    prog.errors.extend(errors)
    return prog


def _collect(module: tree.Module, blocks: dict, networks: dict, errors: list) -> None:
    for d in module.definitions:
        table = blocks if d.kind == "block" else networks
        if d.name in table:  # the first definition stays, so its errors are still reported
            first = table[d.name].span
            errors.append(NameError_(f"{d.kind} '{d.name}' defined twice", d.span,
                                     "rename one of them", code=codes.DEFINED_TWICE,
                                     labels=[Note(first, "first defined here")]))
            continue
        table[d.name] = d


def _load_uses(module: tree.Module, path: Path, root: Path, prog: Program, blocks: dict,
               defs: list[tree.Definition], seen: set[Path], parse_file: ParseFile | None,
               broken: set[str], depth: int = 1) -> None:
    if module.uses and depth > MAX_USE_DEPTH:  # one recursion per level of `use`
        prog.errors.append(LimitError(f"use: files nested more than {MAX_USE_DEPTH} deep",
                                      module.uses[0].span, code=codes.TOO_DEEP))
        return
    for use in module.uses:
        try:
            target = _resolve_use(use, path, root)
        except ArchcError as exc:
            prog.errors.append(exc)
            continue
        if target in seen:
            continue
        seen.add(target)
        display = os.path.relpath(target)
        try:
            text = read_source(target, display, use.span)
        except ArchcError as exc:
            prog.errors.append(exc)
            continue
        prog.sources.add(display, text)
        sub, syntax_errors = _parse_file(parse_file, text, display)
        prog.errors += syntax_errors
        prog.requires += [r.plugin for r in sub.requires]
        broken.update(sub.broken)
        sub_blocks: dict[str, tree.Definition] = {}
        _collect(sub, sub_blocks, {}, prog.errors)
        _load_uses(sub, target, root, prog, blocks, defs, seen, parse_file, broken, depth + 1)
        blocks.update(sub_blocks)
        defs.extend(d for d in sub.definitions if d.kind == "block")


def _resolve_use(use: tree.Use, path: Path, root: Path) -> Path:
    """`use "x.arch"`: relative to the using spec, inside the top spec's folder tree."""
    rel = use.path
    if not rel or os.path.isabs(rel) or rel.startswith("~"):
        raise ImportError_(f"use: '{rel}' must be a relative path", use.span,
                           "write a path relative to this spec, like \"blocks.arch\"",
                           code=codes.USE_PATH)
    if not rel.endswith(".arch"):
        raise ImportError_(f"use: '{rel}' is not a .arch file", use.span, code=codes.USE_PATH)
    if "\0" in rel:
        raise ImportError_("use: the path contains a NUL character", use.span,
                           code=codes.USE_PATH)
    try:
        target = (path.resolve().parent / rel).resolve()  # follows symlinks: links out caught
        inside = target.is_relative_to(root)
        found = inside and target.is_file()
    except (OSError, RuntimeError) as exc:  # a name too long; RuntimeError: a link loop
        reason = getattr(exc, "strerror", None) or "symlink loop"
        raise ImportError_(f"use: cannot read '{rel}': {reason}", use.span,
                           code=codes.CANNOT_READ) from None
    if not inside:
        raise ImportError_(f"use: '{rel}' is outside the spec's folder", use.span,
                           "a spec may only use specs in its own folder or below",
                           code=codes.USE_PATH)
    if not found:
        near = [p.name for p in target.parent.glob("*.arch")] if target.parent.is_dir() else []
        raise ImportError_(f"use: no such file '{rel}'", use.span,
                           did_you_mean(Path(rel).name, near, cutoff=0.8),
                           code=codes.CANNOT_READ)
    return target


# ----------------------------------------------------------------------------- networks


def pick_network(prog: Program, name: str | None) -> tree.Definition:
    if name is not None:
        if name not in prog.networks:
            raise UsageError(f"{prog.path}: no network '{name}'",
                             hint=did_you_mean(name, prog.networks))
        return prog.networks[name]
    if not prog.networks:
        raise ArchcError(f"{prog.path}: no network defined", Span(prog.path, 1, 1),
                         "a spec needs a `network name { input ... }` to build",
                         code=codes.NO_NETWORK)
    return next(iter(prog.networks.values()))
