"""Which plugins the user asked for (`--plugin`, `[tool.archc] plugins`, installed entry points
of the group `archc.registry.ops`), found without importing the compiler: a command whose user loads
no plugin never imports archc/plugins.py (the op registry, pydantic), so a cached `archc check`
stays light. Loading them is archc/plugins.py's."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from archc.core.errors import UsageError

ENTRY_POINTS = "archc.registry.ops"  # the entry point group of installed plugins
# Where a pyproject.toml may say something of archc: a `[tool]` or `[tool.archc...]` table, or
# a top-level `tool = ...` / `tool.archc...` key. A file with none of them is not parsed (its
# TOML parser's import and patterns are most of a cached check's reading of it).
_MAY_CONFIGURE = re.compile(r'^[ \t]*(\[[ \t]*["\']?tool["\']?[ \t]*(\]|\.[ \t]*["\']?archc\b)'
                            r'|["\']?tool["\']?[ \t]*(=|\.[ \t]*["\']?archc\b))', re.MULTILINE)


def configured(start: Path) -> tuple[Path | None, list[str]]:
    """The `plugins` of `[tool.archc]` in the nearest pyproject.toml at or above `start` (the
    nearest one counts, as for ruff, whether or not it has the table)."""
    for folder in (start, *start.parents):
        file = folder / "pyproject.toml"
        if not file.is_file():
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{file}: cannot read it: {exc}") from None
        data = _toml(file, text) if _MAY_CONFIGURE.search(text) else {}
        table = data.get("tool", {}).get("archc", {})
        plugins = table.get("plugins", []) if isinstance(table, dict) else []
        if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
            raise UsageError(f"{file}: [tool.archc] plugins must be a list of strings "
                             "(modules or .py files)")
        return file, plugins
    return None, []


def _toml(file: Path, text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{file}: cannot read it: {exc}") from None


def spec_folders(specs: Iterable[str | Path]) -> list[Path]:
    return sorted({Path(s).resolve().parent for s in specs if Path(s).exists()} or {Path.cwd()})


def installed_names() -> list[str]:
    """The entry points of the group `archc.registry.ops` (`name=value`). Scanning every installed
    distribution's metadata takes tens of milliseconds, so the answer is remembered per state
    of sys.path (a folder's mtime changes when a package is installed or removed there): in
    the process (a language server, the Python API, the tests: an in-process `archc check` of
    a bundled spec without the disk cache took 26.8 -> 15.4 ms) and in the cache folder."""
    from archc.core import cache

    state = json.dumps([(p, _mtime(p)) for p in sys.path])
    key = hashlib.sha256(state.encode()).hexdigest()
    if key in _INSTALLED:
        return list(_INSTALLED[key])
    file = cache.folder() / "entry-points" / f"{key}.json"
    names: list[str] | None = None
    if cache.enabled():
        try:
            names = [str(n) for n in json.loads(file.read_text(encoding="utf-8"))]
        except (OSError, ValueError, TypeError):
            pass
    if names is None:
        from importlib.metadata import entry_points

        names = sorted(f"{ep.name}={ep.value}" for ep in entry_points(group=ENTRY_POINTS))
        if cache.enabled():
            cache.write(file, names)
    _INSTALLED.clear()  # one state of sys.path at a time
    _INSTALLED[key] = names
    return list(names)


_INSTALLED: dict[str, list[str]] = {}


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return None


def wanted(args: Any) -> bool:
    """Whether a command's user asked for any plugin (its arguments have --plugin if it reads
    specs): then archc/plugins.py loads them, before any spec is read."""
    if not hasattr(args, "plugin"):
        return False
    if args.plugin or installed_names():
        return True
    specs = getattr(args, "files", None) or [getattr(args, "spec", None) or ""]
    return any(configured(folder)[1] for folder in
               spec_folders([s for s in specs if isinstance(s, str) and s]))


def add_plugin_option(p: Any) -> None:
    """`--plugin FILE_OR_MODULE`, repeatable: on every command that reads a spec."""
    p.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                   help="load the ops of a plugin (a .py file or a module); repeatable")
