"""Part of expansion: the work budget. Every step expansion takes (a statement, a loop iteration,
a join branch, a block expansion, a term of an expression it evaluates) is counted, empty ones
included, against MAX_WORK for the whole spec, so repetitions and blocks that multiply cannot
make any command hang or run out of memory, whether or not they make layers."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from archc.core import codes
from archc.core.errors import LimitError, Span
from archc.core.limits import MAX_WORK
from archc.front import tree


@contextmanager
def paused_gc() -> Iterator[None]:
    """Python's cycle collector paused while a spec is expanded or built: both allocate tens of
    thousands of objects that form no cycles, and the collector, run every few hundred
    allocations, scanned the growing heap again and again (a 97,000-node spec: build 9.6 s ->
    2.5 s, expansion 4.7 s -> 3.3 s of CPU). Reference counting still frees what is dropped."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class OutOfWork(Exception):
    """Expansion used up its budget; `error` is the located diagnostic. Not an ArchcError, so
    no statement-level handler swallows it: it ends the expansion."""

    def __init__(self, error: LimitError):
        super().__init__(error.message)
        self.error = error


class Work:
    """The steps left to expand one spec (all its networks share them)."""

    def __init__(self, limit: int = MAX_WORK):
        self.limit = limit
        self.done = 0
        self.open: list[tuple[str, Span]] = []  # repetitions and block calls being expanded
        self._sizes: dict[int, tuple[object, int]] = {}

    def another(self) -> Work:
        """A budget of its own for another pass over the same spec (the same expressions, so
        it shares what their sizes are)."""
        fresh = Work(self.limit)
        fresh._sizes = self._sizes
        return fresh

    @property
    def exhausted(self) -> bool:
        return self.done > self.limit

    def step(self, span: Span, n: int = 1) -> None:
        self.done += n
        if self.done > self.limit:
            raise OutOfWork(self._error(span))

    def expression(self, expr: tree.Node, span: Span) -> None:
        """Charge one evaluation of `expr`: one step per term (`max(1, 1, ...)` can be wide)."""
        sized = self._sizes.get(id(expr))
        if sized is None:  # (expr kept alive with its size, so its id is not reused)
            sized = self._sizes[id(expr)] = (expr, terms(expr))
        self.done += sized[1]
        if self.done > self.limit:
            raise OutOfWork(self._error(span))

    def inside(self, what: str, span: Span) -> _Inside:
        """While expanding a repetition or a block call (named in the error's hint)."""
        return _Inside(self.open, (what, span))

    def _error(self, span: Span) -> LimitError:
        where = self.open[0][1] if self.open else span  # the outermost multiplier: fix it there
        chain = [f"{what} ({s.line}:{s.col})" for what, s in self.open]
        if len(chain) > 6:
            chain = chain[:3] + ["..."] + chain[-2:]
        inside = f"it was expanding {' > '.join(chain)}; " if chain else ""
        return LimitError(
            f"this spec expands to more than {self.limit:,} nodes, archc's limit (every layer, "
            "block call, group, loop iteration, join branch and expression term counts, empty "
            "ones included)", where,
            f"{inside}repeat fewer times, or nest fewer repetitions and block calls",
            code=codes.TOO_MUCH_WORK)


class _Inside:
    """`with work.inside(...)`: a class, not a generator (entered at every block call and
    loop iteration, where @contextmanager's generator cost a few percent of a check)."""

    __slots__ = ("open", "entry")

    def __init__(self, open_: list[tuple[str, Span]], entry: tuple[str, Span]) -> None:
        self.open, self.entry = open_, entry

    def __enter__(self) -> None:
        self.open.append(self.entry)

    def __exit__(self, *exc: object) -> None:
        self.open.pop()


def terms(expr: tree.Node) -> int:
    """The number of AST nodes in an expression (the one walker, archc/front/tree.py: no
    recursion)."""
    return sum(1 for _ in tree.walk(expr))
