"""`archc import`: the named values of a read module, `tap`, `from` and a labelled join. The
reader puts a `tap` after every value a later read may need; here the ones some `from` (or
`resize(like=)`) reads are kept and named, the others dropped. Imports no torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archc.importer.torch_calls import Expr
from archc.importer.torch_spec import Group, Instance, JoinStmt, Loop, Op, Stmt, Wire


def labelled_join(join: JoinStmt) -> JoinStmt:
    """A join whose branches are the modules of one ModuleList (ASPP's `convs.0` ..
    `convs.4`) is labelled by the list (`convs: concat { 0: ... | 1: ... }`)."""
    firsts = [b[0] if b else None for b in join.branches]
    labels: list[str] = [getattr(f, "label", None) or "" for f in firsts]
    heads = {lab.rpartition(".")[0] for lab in labels if lab}
    if len(heads) == 1 and "" not in heads and all(labels) and \
            [lab.rpartition(".")[2] for lab in labels] == [str(i) for i in range(len(labels))]:
        for f in firsts:
            f.label = f.label.rpartition(".")[2]  # type: ignore[union-attr]
        join.label = heads.pop()
    return join


def wire_taps(stmts: list[Stmt], taps: dict[Any, Wire],
              refuse: Callable[[Any, str], Exception]) -> None:
    """Keep the `tap` of each value read again (named after its maker; its `from`s and
    `resize(like=)`s get that name), drop the others; refuse a value read again that has no
    place for a tap (inside a join)."""
    placed: dict[Any, str] = {}
    _place(stmts, taps, placed)
    missing = [v for v in taps if v not in placed]
    if missing:
        raise refuse(missing[0], f"'{missing[0].name}' is read again where archc cannot "
                         "tap it (a tap stands between statements, not inside a join)")
    _name(stmts, placed)


def _children(s: Stmt) -> list[list[Stmt]]:
    if isinstance(s, JoinStmt):
        return s.branches
    return [s.body] if isinstance(s, (Group, Instance, Loop)) else []


def _place(stmts: list[Stmt], taps: dict[Any, Wire], placed: dict[Any, str]) -> None:
    keep = [s for s in stmts if not (isinstance(s, Wire) and s.kind == "tap" and
                                     s.node not in taps)]
    stmts[:] = keep
    for s in stmts:
        if isinstance(s, Wire) and s.kind == "tap":
            # one name per value: a stateless module called twice (`relu`, `relu@1`) makes two
            base, n = s.name, 2
            while s.name in placed.values():
                s.name, n = f"{base}_{n}", n + 1
            placed[s.node] = s.name
        for body in _children(s):
            _place(body, taps, placed)


def _name(stmts: list[Stmt], placed: dict[Any, str]) -> None:
    for s in stmts:
        if isinstance(s, Wire) and s.kind == "from":
            s.name = placed[s.node]
        if isinstance(s, Op) and isinstance(s.call.args.get("like"), Wire):
            s.call.args["like"] = Expr(placed[s.call.args["like"].node])
        for body in _children(s):
            _name(body, placed)
