"""`archc fmt`, output lines: each knows which source lines it prints, so that a comment after
code lands at the end of the line printing that code (or, when that line holds a comment
already, on a line of its own just below: two comments on one line would merge into one)."""

from __future__ import annotations

from dataclasses import dataclass, field

from archc.front.trivia import Comment

WIDTH = 100
INDENT = "  "


@dataclass
class Line:
    depth: int
    text: str
    tags: set[int] = field(default_factory=set)  # source lines whose code this line prints
    run: bool = False  # a run of layer calls: the next call on the same source line may join
    inner: int = -1  # the depth of what follows inside it (an opener, a branch), else depth
    comment: bool = False  # the line is one comment (or `| ` and one comment)
    trailing: bool = False  # a comment was put at its end
    gap_after: bool = False  # a comment on a line of its own after it follows a blank line

    def __post_init__(self) -> None:
        if self.inner < 0:
            self.inner = self.depth

    def width(self) -> int:
        return len(INDENT) * self.depth + len(self.text)


def source_lines(first: int, last: int) -> set[int]:
    return set(range(first, last + 1))


def comment_line(depth: int, c: Comment) -> Line:
    return Line(depth, c.text, {c.line}, comment=True)


def place_trailing(lines: list[Line], comments: list[Comment]) -> list[Line]:
    """Put each comment (in source order) at the end of the last line printing code from its
    source line. When that line has one already, the comment goes on a line of its own below
    it, after the comment lines that came before it in the source; a comment whose source line
    prints nowhere goes on a line of its own before the first line printing a later one."""
    home_of = {tag: i for i, ln in enumerate(lines) for tag in ln.tags}  # the last line
    extra: dict[int, list[Line]] = {}  # new lines to print before lines[i]
    for c in comments:
        i = home_of.get(c.line)
        if i is None:
            at = next((k for k, ln in enumerate(lines) if ln.tags and min(ln.tags) > c.line),
                      len(lines))
            depth = lines[at].depth if at < len(lines) else 0
            extra.setdefault(at, []).append(comment_line(depth, c))
        elif lines[i].trailing:
            at = i + 1
            while at < len(lines) and lines[at].comment and max(lines[at].tags) < c.line:
                at += 1
            if lines[i].gap_after and at not in extra:  # as if printed among statements
                extra[at] = [Line(0, "")]
            extra.setdefault(at, []).append(comment_line(lines[i].inner, c))
        else:
            home = lines[i]
            home.text += (" " if home.text == "|" else "  ") + c.text
            home.trailing = True
    out: list[Line] = []
    for k in range(len(lines) + 1):
        out.extend(extra.get(k, ()))
        if k < len(lines):
            out.append(lines[k])
    return out


def render(lines: list[Line]) -> str:
    out = "\n".join((INDENT * ln.depth + ln.text).rstrip() for ln in lines)
    return out + "\n" if out else ""
