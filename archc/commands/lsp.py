"""`archc lsp`: run the language server (archc/lsp/) on stdin/stdout, as editors start it."""

from __future__ import annotations

import argparse

from archc.core.errors import UsageError
from archc.core.plugin_config import add_plugin_option

DESCRIPTION = ("Run the archc language server on stdin/stdout: live shapes as inlay hints, "
               "diagnostics, hover, completion, go to definition, references, rename, "
               "formatting. Editors start it; see the README for VS Code, Neovim, Helix and "
               "Emacs.")
MISSING = ("archc lsp needs the language server extra (pygls, lsprotocol): "
           "pip install 'archc[lsp]'")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stdio", action="store_true",
                   help="use stdin/stdout (the default and only transport; accepted because "
                   "editor clients pass it)")
    # the plugins the compiler loads: installed ones, the nearest pyproject.toml's
    # [tool.archc] plugins (from the folder the editor starts the server in), and these
    add_plugin_option(p)


def run(args: argparse.Namespace) -> int:
    try:
        from archc.lsp.handlers import make_server
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in ("pygls", "lsprotocol"):
            raise UsageError(MISSING) from None
        raise
    make_server().start_io()
    return 0
