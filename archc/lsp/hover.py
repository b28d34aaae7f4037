"""Language server, hover: over a call, the op's or block's signature and doc, then each
module it made with its input and output shapes, parameters, MACs and what training keeps of
it for backward (bytes per sample and share of its network's, archc/expansion/memory_train.py); over
a block's name where it is defined, the same for every call of it."""

from __future__ import annotations

from archc.core import graph
from archc.core.errors import ArchcError, Span
from archc.expansion.memory import fmt_bytes
from archc.expansion.memory_train import Saved, saved_bytes
from archc.front import tree
from archc.lsp.analysis import Analysis, calls, contains
from archc.lsp.convert import Locator
from archc.lsp.describe import Callee, callee
from archc.registry.joins import JOINS
from archc.registry.ops import fmt_shape

MAX_ROWS = 12
MAX_SAVED_NODES = 20_000  # larger networks show no saved column: the hover stays instant


def hover(a: Analysis, line: int, col: int, loc: Locator) -> tuple[str, Span] | None:
    """Markdown for the name at (line, col) of the analysed text, and the name's span."""
    if a.module is None:
        return None
    for _, call in calls(a.module):
        if contains(tree.name_span(call), line, col):
            what = callee(call.name, a.program.blocks, loc)
            return (_markdown(what, a.nodes(call.span), a), tree.name_span(call)) if what else None
    for d in a.module.definitions:
        for st in tree.statements(d.body):
            if isinstance(st, tree.Branches) and contains(_keyword(st), line, col):
                return _join_markdown(st, a), _keyword(st)
    for d in a.module.definitions:
        if d.kind == "block" and contains(d.span, line, col):
            what = callee(d.name, a.program.blocks, loc)
            made = [qn for module in a.modules() for _, c in calls(module) if c.name == d.name
                    for qn in a.nodes(c.span)]
            return (_markdown(what, made, a), d.span) if what else None
    return None


def _markdown(what: Callee, made: list[tuple[str, graph.Node]], a: Analysis) -> str:
    head = f"```archc\n{what.signature}\n```\n\n*{what.kind}*"
    if what.where not in ("built-in",):
        head += f" from {what.where}"
    if what.doc:
        head += f" — {what.doc}"
    if not made:
        return head + "\n\nnot reached by any network of this file"
    rows = ["| module | in | out | params | MACs | saved/sample |", "|---|---|---|---|---|---|"]
    saved = _saved(a)
    for qual, node in made[:MAX_ROWS]:
        c = a.counts(node)
        rows.append(f"| `{qual}` | {fmt_shape(node.in_shape)} | {fmt_shape(node.out_shape)} | "
                    f"{f'{c.params:,}' if c else '?'} | {f'{c.macs:,}' if c else '?'} | "
                    f"{_share(saved, node)} |")
    if len(made) > MAX_ROWS:
        rows.append(f"| … {len(made) - MAX_ROWS} more | | | | | |")
    return head + "\n\n" + "\n".join(rows)


def _saved(a: Analysis) -> list[Saved]:
    """What training keeps for backward in each network of the document (float32)."""
    out = []
    for net in a.networks.values():
        if sum(1 for _ in graph.walk(net.root.items)) > MAX_SAVED_NODES:
            continue
        try:
            out.append(saved_bytes(net))
        except (TypeError, ValueError):  # a shape is None after a layer that failed
            continue
        except ArchcError:  # a plugin's op without a saved rule: no share to show
            continue
    return out


def _share(saved: list[Saved], node: graph.Node) -> str:
    """`3.2 MB (12.5%)`: a node's saved bytes per sample and its share of its network's
    (node identities are per network: it has bytes in one at most)."""
    for s in saved:
        mine = s.of(node).per_sample
        if mine:
            return f"{fmt_bytes(mine)} ({100 * mine / max(s.total.per_sample, 1):.1f}%)"
    return "0 B" if saved else "?"


def _keyword(st: tree.Branches) -> Span:
    s = st.span
    return Span(s.path, s.line, s.col, s.line, s.col + len(st.op))


def _join_markdown(st: tree.Branches, a: Analysis) -> str:
    """A join: its doc, then each instance's branch shapes and output."""
    join = JOINS[st.op]
    head = f"```archc\n{st.op} {{ a | b | ... }}\n```\n\n*join* — {join.doc}"
    made = [(q, n) for q, n in a.nodes(st.span) if isinstance(n, graph.Join)]
    if not made:
        return head + "\n\nnot reached by any network of this file"
    rows = ["| in | branches | out |", "|---|---|---|"]
    for _, node in made[:MAX_ROWS]:
        ends = [fmt_shape(b[-1].out_shape) if b else fmt_shape(node.in_shape)
                for b in node.branches]
        rows.append(f"| {fmt_shape(node.in_shape)} | {' , '.join(ends)} | "
                    f"{fmt_shape(node.out_shape)} |")
    if len(made) > MAX_ROWS:
        rows.append(f"| … {len(made) - MAX_ROWS} more | | |")
    return head + "\n\n" + "\n".join(rows)
