"""Language server, parsing an edit: the statements of one definition an edit touched are
parsed again, the rest of the file's AST is kept (the same objects, so the driver's Memo
reuses every network and check they reach).

An edit that keeps the number of lines and falls inside a definition's body, between two
statements that it leaves alone (or after the first one, up to the end of the definition),
is parsed as the lines from the unchanged statement before it to the unchanged one after it
(or to the end of the definition's piece), placed in a `block` of their own at the same lines
and columns, so their spans are the file's. The grammar's body is the same sequence of
statements in a block and a network, and the text before the window is unchanged, so the
parser meets the window in the state it meets it in the whole file; that the statements on
either edge come out equal to the old ones shows the window's edges are statement boundaries
in the new text too. An edit that adds or removes lines within one definition's piece (or
above the first item) parses that piece again and moves the items after it (reparse_moving,
archc/lsp/shift.py); where the piece parses as the old definition moved (blank lines or
comments added or removed inside it), the definition is moved too, so nothing is expanded
again. Anything else (a header, an edit across pieces, a window or piece that
does not parse) is parsed by `parse_by_definition`, which is exactly the compiler's parse, so
its errors are the compiler's. tests/test_lsp_reparse.py
compares the result with the compiler's parse after random edits of every bundled spec."""

from __future__ import annotations

import bisect
import re
from dataclasses import replace
from typing import Any

from archc.core.errors import ArchcError
from archc.front import tree
from archc.lsp.analysis import _TOP_LEVEL, Kept, parse_by_definition, parse_cached
from archc.lsp.shift import Shift, hand_on
from archc.pipeline.driver import Memo

_ITEM = re.compile(r"(?:network|block|use|requires)\b")  # what starts a line that starts an item
_WRAP = "block w {"  # what the window is parsed inside: line 1, before the window's lines


class Reparser:
    """`parse_file(text, path)` for one document's analyses (the server keeps one per
    document): each file's last text and AST are the base the next edit is parsed against.
    `windows` counts the edits parsed as a window, `moves` those that moved the items after
    them (tests, the benchmark). `memo`, `kept`: what the document's analyses keep, handed on
    to the moved items (archc/lsp/shift.py)."""

    def __init__(self, memo: Memo | None = None, kept: Kept | None = None) -> None:
        self.last: dict[str, tuple[str, tree.Module]] = {}
        self.windows = self.moves = 0
        self.memo, self.kept = memo, kept

    def __call__(self, text: str, path: str) -> tree.Module:
        old = self.last.get(path)
        module = None
        if old is not None and old[0] == text:
            module = old[1]
        elif old is not None:
            module = reparse(old[0], old[1], text, path)
            self.windows += module is not None
            if module is None:
                moved = reparse_moving(old[0], old[1], text, path)
                if moved is not None:
                    module, shift = moved
                    self.moves += 1
                    hand_on(shift, self.memo, self.kept)
        if module is None:
            module = parse_by_definition(text, path)  # raises at a syntax error: kept the last
        self.last[path] = (text, module)
        return module


def changed_lines(old: str, new: str) -> tuple[int, int, int] | None:
    """The 1-based lines (first, last) of the old text an edit replaced, and how many lines it
    added (negative: removed); None if the texts are equal."""
    region = _region(old, new)
    if region is None:
        return None
    head, old_end, new_end = region
    first = old.count("\n", 0, head) + 1
    last = first + old.count("\n", head, old_end)
    return first, last, new.count("\n", head, new_end) - old.count("\n", head, old_end)


def _region(old: str, new: str) -> tuple[int, int, int] | None:
    """Where two texts differ: the common head's length and where the old and the new text's
    common tail starts. Found by halving, comparing slices (C's memcmp), not character by
    character in Python."""
    if old == new:
        return None
    n = min(len(old), len(new))
    lo, hi = 0, n  # the common head is lo characters long
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old[:mid] == new[:mid]:
            lo = mid
        else:
            hi = mid - 1
    head = lo
    lo, hi = 0, n - head  # the common tail, not overlapping the head
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old[len(old) - mid:] == new[len(new) - mid:]:
            lo = mid
        else:
            hi = mid - 1
    return head, len(old) - lo, len(new) - lo


def moved_lines(old: str, new: str) -> tuple[int, int, int] | None:
    """As changed_lines, but an edit that ends at the start of a line in both texts (a line
    inserted or deleted whole) leaves that line alone: (3, 2, 1) is a line inserted before
    line 3, touching none; (3, 3, -1) is line 3 deleted."""
    region = _region(old, new)
    if region is None:
        return None
    head, old_end, new_end = _to_line_start(old, new, *region)
    first = old.count("\n", 0, head) + 1
    touched = old.count("\n", head, old_end)
    whole = (old_end == 0 or old[old_end - 1] == "\n") and \
        (new_end == 0 or new[new_end - 1] == "\n")
    return first, first + touched - bool(whole), new.count("\n", head, new_end) - touched


def _to_line_start(old: str, new: str, head: int, old_end: int, new_end: int
                   ) -> tuple[int, int, int]:
    """A text inserted or deleted whole is found after the longest common head, which may
    end inside a line (`  # note\\n` typed at the start of `  relu`: the common head is the
    indentation); the same edit, slid left to the line's start where the text allows, inserts
    or deletes whole lines, touching none (the lines after it are then moved, not parsed)."""
    if (old_end == head) == (new_end == head):
        return head, old_end, new_end  # a replacement (or nothing): where it is
    text, end = (new, new_end) if old_end == head else (old, old_end)
    at = head
    while at > 0 and old[at - 1] != "\n" and old[at - 1] == text[end - 1 - (head - at)]:
        at -= 1
    if at and old[at - 1] != "\n":
        return head, old_end, new_end  # no line start within reach
    return at, old_end - (head - at), new_end - (head - at)


def reparse(old_text: str, old: tree.Module, text: str, path: str) -> tree.Module | None:
    """`old` (the AST of `old_text`) with the statements an edit touched parsed again from
    `text`; None where the edit is not one this can parse on its own (see the module's doc)."""
    change = changed_lines(old_text, text)
    if change is None or change[2] != 0 or old.broken:
        return None
    first, last, _ = change
    items: list[tree.Use | tree.Requires | tree.Definition] = sorted(
        [*old.uses, *old.requires, *old.definitions], key=lambda i: i.span.line)
    lines = [i.span.line for i in items]
    k = bisect.bisect_right(lines, first) - 1  # the item whose piece holds the change
    defn = items[k] if k >= 0 else None
    if not isinstance(defn, tree.Definition) or lines.count(lines[k]) > 1:
        return None
    end = lines[k + 1] if k + 1 < len(items) else text.count("\n") + 2  # the next item's line
    if last >= end:
        return None
    body = _window(defn, text, first, last, end)
    if body is None:
        return None
    if body == defn.body:  # a comment, blanks: the same AST, the very same objects
        return old
    definitions = tuple(replace(defn, body=body) if d is defn else d for d in old.definitions)
    return replace(old, definitions=definitions)


def reparse_moving(old_text: str, old: tree.Module, text: str, path: str
                   ) -> tuple[tree.Module, Shift] | None:
    """`old` with the one definition an edit that adds or removes lines is in (or the lines
    above the first item) parsed again from `text`, and every item after it moved
    (archc/lsp/shift.py); None where the edit reaches past that definition's piece (see
    parse_by_definition) or the piece does not parse (then the whole file is parsed, for the
    compiler's errors)."""
    change = moved_lines(old_text, text)
    if change is None or change[2] == 0 or old.broken:
        return None
    first, last, delta = change
    items: list[tree.Use | tree.Requires | tree.Definition] = sorted(
        [*old.uses, *old.requires, *old.definitions], key=lambda i: i.span.line)
    lines = [i.span.line for i in items]
    # the item whose piece holds the change (-1: the lines above the first item); lines
    # inserted before an item's line belong to the piece before it
    k = bisect.bisect_right(lines, first if last >= first else first - 1) - 1
    if k >= 0 and (not isinstance(items[k], tree.Definition) or lines.count(lines[k]) > 1):
        return None
    start = lines[k] if k >= 0 else 1
    stop = lines[k + 1] + delta - 1 if k + 1 < len(items) else text.count("\n") + 1
    if k + 1 < len(items) and (last >= lines[k + 1] or not _ITEM.match(
            _lines(text, stop + 1, stop + 1))):
        return None  # the edit reaches the next item, or that item no longer starts its line
    got = _piece(text, start, stop, path, k >= 0)
    if got is None:
        return None
    same = k < 0 or got[0] == items[k]  # a blank or a comment after it: the same objects
    shift = Shift(path, last, delta)
    try:
        now: dict[int, Any] = {id(i): shift.tree(i) for i in items[k + 1:]}
        if not same:
            now[id(items[k])] = _moved_within(shift, items[k], got[0])
    except TypeError:
        return None  # (an AST field of a kind the shift does not know: parse it all)
    return replace(old, uses=tuple(now.get(id(u), u) for u in old.uses),
                   requires=tuple(now.get(id(r), r) for r in old.requires),
                   definitions=tuple(now.get(id(d), d) for d in old.definitions)), shift


def _moved_within(shift: Shift, old: tree.Use | tree.Requires | tree.Definition,
                  got: tree.Definition) -> tree.Definition:
    """What the edited definition is now: `old` moved (a blank line or a comment added or
    removed inside it: its statements below the edit moved, nothing else changed, so all
    that was computed from it is handed on too), or else `got`, parsed again (`old` gone)."""
    mark = len(shift.moved)
    moved = shift.tree(old)
    if moved == got:
        return moved
    for key in list(shift.moved)[mark:]:  # not a move after all: forget what it made
        del shift.moved[key]
    shift.gone.add(id(old))
    return got


def _piece(text: str, start: int, stop: int, path: str, header: bool
           ) -> tuple[tree.Definition, ...] | None:
    """The definition on lines start..stop of `text` (none if not `header`: the lines above
    the first item), parsed; None if they hold anything else or do not parse."""
    piece = _lines(text, start, stop) if stop >= start else ""
    if header != bool(_TOP_LEVEL.match(piece)) or _TOP_LEVEL.search(piece, int(header)):
        return None  # the header is gone, or a new item starts inside: pieces change
    try:
        got = parse_cached("\n" * (start - 1) + piece, path)
    except ArchcError:
        return None
    if got.uses or got.requires or got.broken or len(got.definitions) != int(header):
        return None
    return got.definitions


def _window(defn: tree.Definition, text: str, first: int, last: int, end: int
            ) -> tuple[tree.Stmt, ...] | None:
    """The definition's body with the statements on lines first..last parsed again from
    `text` (None if they cannot be on their own). `end`: the line of the next item."""
    body = defn.body
    if not all(st.span.end_line for st in body):
        return None  # (every statement's span has its end; should one not, parse it all)
    i = next((n for n, st in enumerate(body) if st.span.end_line >= first), len(body))
    j = next((n for n in range(len(body) - 1, -1, -1) if body[n].span.line <= last), -1)
    if i == 0:
        return None  # the change may reach the header: no unchanged statement before it
    a = i - 1  # the window starts with whole lines of unchanged statements: body[a:i]
    while a > 0 and body[a - 1].span.end_line >= body[a].span.line:
        a -= 1
    b = j + 1  # and ends with body[j + 1:b + 1] (none: the window runs to the next item)
    while b + 1 < len(body) and body[b + 1].span.line <= body[b].span.end_line:
        b += 1
    if body[a].span.line <= defn.span.line:
        return None  # the window would start on the header's line
    start = body[a].span.line
    stop = body[b].span.end_line if b < len(body) else end - 1  # the window's last line
    wrapped = _WRAP + "\n" * (start - 1) + _lines(text, start, stop) + (
        "\n}" if b < len(body) else "")
    try:
        parsed = parse_cached(wrapped, defn.span.path)
    except ArchcError:
        return None
    if parsed.uses or parsed.requires or len(parsed.definitions) != 1:
        return None
    got = parsed.definitions[0].body
    before, after = body[a:i], body[j + 1:b + 1]
    if len(got) < len(before) + len(after) or got[:len(before)] != before or \
            (after and got[len(got) - len(after):] != after):
        return None
    olds = body[a:b + 1]
    if len(got) == len(olds):  # a statement parsed as before stays the same object
        got = tuple(o if o == g else g for o, g in zip(olds, got, strict=True))
    return (*body[:a], *got, *body[b + 1:])


def _lines(text: str, first: int, last: int) -> str:
    """Lines first..last (1-based, inclusive) of `text`, without the last line's newline."""
    start = 0
    for _ in range(first - 1):
        start = text.index("\n", start) + 1
    stop = start
    for _ in range(last - first + 1):
        nl = text.find("\n", stop)
        if nl < 0:
            return text[start:]
        stop = nl + 1
    return text[start:stop - 1]
