"""Tables the commands print (`build`'s shapes, `summary`'s rows): rich's look for small ones; for
long ones the same box drawn directly, since rich takes about a millisecond a row and a spec
can expand to 10^5 rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.text import Text

RICH_ROWS = 1_000  # up to this many rows, rich draws the table (wraps to the terminal)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]],
          right: Sequence[str] = (), title_left: bool = False,
          dim: Sequence[bool] = (), no_wrap: Sequence[str] = ()) -> Any:
    """Something `rich.Console.print` prints: a rich Table, or the text of a long one."""
    if len(rows) > RICH_ROWS:
        return _drawn(title, columns, rows, right, title_left)
    from rich.table import Table

    t = Table(title=title, title_justify="left" if title_left else "center")
    for col in columns:
        t.add_column(col, justify="right" if col in right else "left",
                     no_wrap=col in no_wrap)
    for i, row in enumerate(rows):
        t.add_row(*row, style="dim" if i < len(dim) and dim[i] else None)
    return t


def _drawn(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]],
           right: Sequence[str], title_left: bool) -> Text:
    from rich.text import Text

    widths = [max(len(col), *(len(r[i]) for r in rows)) for i, col in enumerate(columns)]

    def line(cells: Sequence[str], edge: str, sep: str) -> str:
        out = [c.rjust(w) if col in right else c.ljust(w)
               for c, w, col in zip(cells, widths, columns, strict=True)]
        return f"{edge} " + f" {sep} ".join(out) + f" {edge}"

    def rule(left: str, fill: str, mid: str, end: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + end

    total = sum(widths) + 3 * len(widths) + 1
    lines = [title.ljust(total) if title_left else title.center(total),
             rule("┏", "━", "┳", "┓"), line(columns, "┃", "┃"), rule("┡", "━", "╇", "┩"),
             *(line(r, "│", "│") for r in rows), rule("└", "─", "┴", "┘")]
    return Text("\n".join(lines), no_wrap=True, overflow="ignore")
