"""`archc fmt`: one layout for specs, keeping every comment. Prints the AST (archc/fmt/printer.py
for statements, exprs.py for expressions) and takes what the AST does not hold (where the
author broke lines, blank lines, braces, bars, comments) from the trivia the same parse
collects (archc/front/trivia.py); lines.py places comments. The style:

- 2-space indent; one statement per line, except runs of layers: calls (labelled or not,
  `x * n` included), `input` and `expect` written on one line stay on one line while it
  fits in 100 columns, and wrap greedily when it does not.
- A definition, group, `if`/`else` or `for` body, or `train { }`, stays on one line when
  written on one line, fits and holds no comment; otherwise its statements go one level in,
  one per line (runs aside), `}` on its own line. A definition header too long for a line,
  or with comments among its parameters, puts one parameter per line.
- `add {` / `concat {` always span lines: the first branch indented, each further branch
  starting at the keyword's column with `| `, then `}`.
- At the top level, a blank line after each definition that spans lines and after a run of
  `use` lines. Elsewhere blank lines are kept, at most one, never right after `{` or before `}`.
- Spacing: `a + b`, `f(x, k=3)`, `x * 2`, `name = value`, `label: x`; parentheses only where
  precedence needs them; no empty `()`, no trailing commas; integers without leading zeros;
  all-literal shapes as `3x32x32`.
- A comment on a line of its own stays before what followed it, at its indentation; one
  after code stays at the end of the line that prints that code (two spaces, then `#`). One
  between a `}` and the `else` after it goes at the end of the body above; a second comment
  for a line that has one goes on a line of its own below it. Comments keep their order.

tests/test_fmt.py checks that formatting is idempotent, keeps the AST and keeps every comment
in order, on the bundled specs, on generated specs laid out at random and on odd whitespace.
"""

from __future__ import annotations

from archc.fmt.lines import INDENT, WIDTH
from archc.fmt.printer import Printer
from archc.front.trivia import parse_with_trivia

__all__ = ["INDENT", "WIDTH", "format_text"]


def format_text(text: str, path: str = "<string>") -> str:
    """The canonical layout of a spec; raises the same located errors as parsing."""
    module, trivia = parse_with_trivia(text, path)
    return Printer(trivia).file(module)
