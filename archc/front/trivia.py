"""Stage 1, what the AST drops: comments, the position of every token, which `}` closes which
`{` and which `|` bars sit directly inside it. Collected by the same parse that builds the AST
(a lexer callback and a post-lexer on a second Lark parser of the grammar); the formatter
prints from the AST and takes layout from here. Lines are counted as the lexer counts them:
only "\\n" ends one."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from lark import Lark, Token

from archc.core.resources import grammar_text
from archc.front import tree
from archc.front.parse import parse_with
from archc.front.tables import LARK_OPTIONS

Pos = tuple[int, int]  # (line, column), 1-based, as in errors.Span


@dataclass(frozen=True)
class Comment:
    at: Pos
    text: str  # from `#` to the end of its line, trailing blanks removed
    own: bool  # the first thing on its line, or right after a branch bar: it starts a line

    @property
    def line(self) -> int:
        return self.at[0]


@dataclass(frozen=True)
class Trivia:
    starts: tuple[Pos, ...]  # every token but comments, in order
    ends: tuple[Pos, ...]  # where each ends (exclusive)
    kinds: tuple[str, ...]  # its terminal name (LBRACE, VBAR, NAME, ...)
    comments: tuple[Comment, ...]  # in order
    closer: dict[Pos, Pos]  # each `{` -> the `}` that closes it
    bars: dict[Pos, tuple[Pos, ...]]  # each `{` -> the `|` directly inside it
    lines: tuple[str, ...]  # the source, split where the lexer counts a new line

    def index(self, at: Pos) -> int:
        """The index of the first token starting at or after `at`."""
        return bisect.bisect_left(self.starts, at)

    def first_after(self, at: Pos, kind: str) -> Pos:
        """Where the first token of this kind starting at or after `at` starts."""
        i = self.index(at)
        while self.kinds[i] != kind:  # a parsed file holds the token being looked for
            i += 1
        return self.starts[i]

    def end_before(self, at: Pos) -> Pos:
        """Where the last token starting before `at` ends."""
        return self.ends[max(self.index(at) - 1, 0)]

    def blank(self, line: int) -> bool:
        """Nothing but blanks on this line (no token, no comment)."""
        return not self.lines[line - 1].strip(" \t\f\r")

    def text(self, start: Pos, end: Pos) -> str:
        """The source between two positions on one line, as written."""
        return self.lines[start[0] - 1][start[1] - 1:end[1] - 1]


def parse_with_trivia(text: str, path: str = "<string>") -> tuple[tree.Module, Trivia]:
    """Parse one spec into its AST and its trivia; raises what `parse` raises."""
    lark, sink = _parser()
    with _LOCK:  # one sink per parser: one parse at a time
        sink.clear()
        try:
            module = parse_with(lark, text, path)
            tokens = list(sink)
        finally:
            sink.clear()
    return module, _trivia(tokens, text)


_LOCK = threading.Lock()


class _Keep:
    """A Lark post-lexer that records every token it passes on (comments, which the grammar
    ignores, come through the lexer callback instead)."""

    always_accept = ()

    def __init__(self, sink: list[Token]):
        self.sink = sink

    def process(self, stream: Iterable[Token]) -> Iterator[Token]:
        for token in stream:
            self.sink.append(token)
            yield token


@lru_cache(maxsize=1)
def _parser() -> tuple[Lark, list[Token]]:
    sink: list[Token] = []
    lark = Lark(grammar_text(), **LARK_OPTIONS, maybe_placeholders=True, cache=True,
                postlex=_Keep(sink), lexer_callbacks={"COMMENT": sink.append})
    return lark, sink


def _record(t: Token) -> tuple[Pos, Pos, str, str]:
    """Where a token starts and ends, its terminal, its text (lexed tokens have positions)."""
    return (t.line or 0, t.column or 0), (t.end_line or 0, t.end_column or 0), t.type, str(t)


def _trivia(tokens: list[Token], text: str) -> Trivia:
    records = sorted(map(_record, tokens))
    code = [r for r in records if r[2] != "COMMENT"]
    starts = tuple(r[0] for r in code)
    ends = tuple(r[1] for r in code)
    kinds = tuple(r[2] for r in code)
    closer: dict[Pos, Pos] = {}
    bars: dict[Pos, list[Pos]] = {}
    stack: list[Pos] = []
    for at, kind in zip(starts, kinds, strict=True):
        if kind == "LBRACE":
            stack.append(at)
            bars[at] = []
        elif kind == "RBRACE":
            closer[stack.pop()] = at
        elif kind == "VBAR":
            bars[stack[-1]].append(at)
    comments = []
    for at, _, _, comment in (r for r in records if r[2] == "COMMENT"):
        i = bisect.bisect_left(starts, at) - 1  # the token before it
        own = i < 0 or ends[i][0] < at[0] or kinds[i] == "VBAR"
        comments.append(Comment(at, comment.rstrip(), own))
    return Trivia(starts, ends, kinds, tuple(comments), closer,
                  {k: tuple(v) for k, v in bars.items()}, tuple(text.split("\n")))
