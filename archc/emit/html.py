"""Stage 3, resolved graph -> one self-contained HTML page to explore it (`archc graph -o
net.html`): the data of archc/emit/explore.py and the page's script and style (archc/emit/page/,
written for archc: a layered layout of the module tree, no library, nothing fetched) inlined in
one file that opens offline."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from archc.core.errors import ArchcError
from archc.core.graph import Network
from archc.emit.explore import page_data

PAGE = Path(__file__).with_name("page")
_MARKER = re.compile(r"/\*\{\{(\w+)\}\}\*/")


@lru_cache(maxsize=1)
def _assets() -> tuple[str, str, str]:
    return tuple(  # type: ignore[return-value]
        (PAGE / name).read_text(encoding="utf-8") for name in ("page.html", "page.css", "page.js"))


def _script_safe(text: str) -> str:
    """JSON inside <script>: no `</` that could close it, no `<!--`."""
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def page(net: Network | None, errors: list[ArchcError] | None = None,
         sources: Mapping[str, str] | None = None, name: str = "",
         depth: int | None = None) -> bytes:
    """The page of a network (None if it could not be expanded at all) and the diagnostics of
    its spec (none for a spec that checks), opening `depth` levels of blocks deep (None: the
    deepest that fits the window; 0: every level)."""
    errors = errors or []
    texts = sources if sources is not None else (net.sources if net is not None else {})
    data = page_data(net, errors, texts, name)
    data["depth"] = depth
    html, css, js = _assets()
    title = data["name"] or "archc"
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    parts = {"title": _escape(title), "css": css, "data": _script_safe(body), "js": js}
    # one pass, so a marker inside the spec's own text (in the data) is left alone
    return _MARKER.sub(lambda m: parts[m[1]], html).encode("utf-8")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def emit_html(net: Network, depth: int | None = None, rankdir: str = "TB") -> bytes:
    """The page of a checked network (it lays itself out top to bottom: no `rankdir`)."""
    return page(net, depth=depth)
