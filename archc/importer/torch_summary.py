"""`archc summary --torch`: a traced torch module (archc/importer/torch_trace.py) as the rows and
totals of archc's summary (archc/expansion/stats.py), so an existing nn.Module gets the same table,
counts and
`--depth` collapse as a spec: one row per call, modules as nested blocks."""

from __future__ import annotations

from dataclasses import dataclass, field

from archc.core.errors import UsageError
from archc.expansion.stats import Counts, Row, Summary
from archc.importer.torch_trace import Call, Trace


@dataclass(frozen=True)
class TorchSummary(Summary):
    """A Summary of a traced module: its parameters may be frozen, and it says how it was
    traced."""

    trainable: int = 0
    method: str = ""
    why: str = ""

    @property
    def trainable_params(self) -> int:
        return self.trainable


@dataclass
class _Scope:
    name: str  # the last part of its module path
    path: str
    title: str  # the module's class name
    items: list[_Scope | Call] = field(default_factory=list)

    def counts(self) -> Counts:
        total = Counts()
        for item in self.items:
            total = total + (item.counts() if isinstance(item, _Scope) else _counts(item))
        return total

    def output(self) -> tuple[int, ...]:
        last = self.items[-1]
        return last.output() if isinstance(last, _Scope) else last.output

    def key(self) -> tuple:
        """Structure without names: equal keys, the same computation on the same shapes."""
        return (self.title, tuple(i.key() if isinstance(i, _Scope) else
                                  (i.op, i.output, i.params, i.macs) for i in self.items))


def _counts(c: Call) -> Counts:
    return Counts(c.params, c.macs, c.activations)


def _tree(calls: tuple[Call, ...]) -> _Scope:
    """Calls into nested scopes by the modules they ran inside; a module called twice in a row
    (a shared block) is two scopes."""
    root = _Scope("", "", "")
    open_: list[_Scope] = [root]
    for call in calls:
        scopes = call.scopes
        depth = 0
        while depth < len(scopes) and depth + 1 < len(open_) \
                and open_[depth + 1].path == scopes[depth][0]:
            depth += 1
        del open_[depth + 1:]
        for path, title in scopes[depth:]:
            scope = _Scope(path.rsplit(".", 1)[-1], path, title)
            open_[-1].items.append(scope)
            open_.append(scope)
        open_[-1].items.append(call)
    return root


def torch_summary(t: Trace, depth: int | None = None) -> TorchSummary:
    """Rows down to `depth` levels of modules (None: every call); modules at the cut collapse
    into one row with their totals, identical consecutive ones into one row `xN`."""
    if depth is not None and depth < 1:
        raise UsageError(f"--depth must be at least 1, got {depth}")
    root = _tree(t.calls)
    rows: list[Row] = []
    _rows(rows, root.items, 0, depth)
    total = root.counts()
    name = t.target.rpartition(":")[2] or t.model_class
    return TorchSummary(name, t.input, t.output, total, tuple(rows), depth,
                        trainable=t.trainable, method=t.method, why=t.why)


def _runs(items: list[_Scope | Call]) -> list[list[_Scope | Call]]:
    out: list[list[_Scope | Call]] = []
    for item in items:
        prev = out[-1][0] if out else None
        if isinstance(item, _Scope) and isinstance(prev, _Scope) and prev.key() == item.key():
            out[-1].append(item)
        else:
            out.append([item])
    return out


def _run_name(run: list[_Scope | Call]) -> str:
    first, last = run[0], run[-1]
    assert isinstance(first, _Scope) and isinstance(last, _Scope)
    if len(run) == 1:
        return first.path
    return f"{first.path}-{last.name}"


def _rows(out: list[Row], items: list[_Scope | Call], level: int, depth: int | None) -> None:
    for run in _runs(items):
        node = run[0]
        if isinstance(node, Call):
            caption = node.op if node.kind == "module" else f"{node.op}()"
            out.append(Row(node.name, "layer", node.op, caption, node.output, _counts(node),
                           level))
        elif depth is not None and level + 1 >= depth:
            out.append(Row(_run_name(run), "block", node.title, node.title, node.output(),
                           node.counts() * len(run), level, len(run)))
        else:
            for scope in run:
                assert isinstance(scope, _Scope)
                out.append(Row(scope.path, "block", scope.title, scope.title, scope.output(),
                               Counts(), level, header=True))
                _rows(out, scope.items, level + 1, depth)
