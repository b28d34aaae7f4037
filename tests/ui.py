"""UI tests as data (rustc's `//~ ERROR`): a spec under tests/errors states each diagnostic it
must produce in a comment next to the line it concerns, and its full rendered output is kept
beside it as a snapshot (`NAME.stderr`).

    conv(6, k=5) rellu   #~ 16: error[A0201]: unknown layer or block 'rellu'
    conv(6, kernel=3)
    #~^ 11: error[A0202]: conv: unknown argument 'kernel'
    #~| 3: error[A0201]: ...

`#~` is about its own line, `#~^` the line above (`#~^^` two above, ...), `#~|` the line of
the annotation before it. The number is the column; the rest is what `archc check` prints
after `path:line:col: `. Errors that `archc check` shows in another file the test reads are
annotated in that file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ANNOTATION = re.compile(r"#~(?P<where>\^*|\|)\s+(?P<col>\d+): (?P<text>.*?)\s*$")


@dataclass(frozen=True, order=True)
class Expected:
    path: str
    line: int
    col: int
    text: str  # `error[A0201]: message`

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.text}"


def annotations(path: str, text: str) -> list[Expected]:
    """The expectations written in one file."""
    out: list[Expected] = []
    previous = None
    for number, line in enumerate(text.split("\n"), start=1):
        m = ANNOTATION.search(line)
        if m is None:
            continue
        where = m["where"]
        if where == "|":
            assert previous is not None, f"{path}:{number}: '#~|' with no annotation before it"
            target = previous
        else:
            target = number - len(where)
        previous = target
        out.append(Expected(path, target, int(m["col"]), m["text"]))
    return out


def annotation_for(line: int, col: int, text: str, target: int) -> str:
    """The comment that states `text` at `line:col`, written on line `target` (below it)."""
    return f"#~{'^' * (target - line)} {col}: {text}"
