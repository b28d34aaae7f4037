"""Stage 1's parse tables as data: what archc/front/lexer.py needs to lex and parse a spec
without importing Lark (about 70 ms of a cold `archc check`: Lark's import and the load of its
cached parser).

`build` reads them out of a Lark LALR parser of the grammar: the lexer's terminals (their one
compiled alternation, as Lark's scanner orders them), the keyword rule (a NAME that spells a
keyword is that keyword), which terminals are ignored or may hold a newline, which no rule
keeps, the LALR states (`{symbol: action}`, an action being a state to shift or go to, >= 0, or
`-1 - rule` to reduce), and for each rule what Lark's tree builder does with its children
(lark/parse_tree_builder.py: the children kept, the `_rule`s spliced in, the `None`s of `[x]`
put in, a `?rule`'s one child passed up). `python -m archc.front.tables` writes them to
`lalr.json` beside this module, for the grammar file as it is; `load` reads that file, or, where
the grammar was edited since (its hash differs), builds them from Lark again: a stale file
costs time, never a wrong parse. tests/test_lexer.py checks the file is current.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from archc.core.records import record
from archc.core.resources import grammar_text

TABLE_FILE = Path(__file__).with_name("lalr.json")
STARTS = ("start", "expr")  # a whole file; one expression (a computed label's `{...}`)
# The basic lexer matches a whole name before deciding it is a keyword; the contextual lexer
# would read `blockb` as `block b`, trying only the terminals the parser expects there.
LARK_OPTIONS = {"parser": "lalr", "lexer": "basic"}


@record
class Rule:
    """One grammar rule as the tree builder treats it: `size` symbols reduced; the rule's
    `origin` and `name` (its alias, or the origin: the transformer method called); `include`:
    (index, spliced, Nones put before it) for each child kept; `nones`: Nones appended;
    `expand1`: a `?rule`, whose value is its child when exactly one is kept."""

    size: int
    origin: str
    name: str
    include: tuple[tuple[int, bool, int], ...]
    nones: int
    expand1: bool


@record
class Tables:
    """The lexer's and the LALR parser's data (see the module's docstring)."""

    patterns: tuple[tuple[str, int], ...]
    keywords: dict[str, dict[str, str]]
    ignore: frozenset[str]
    newline: frozenset[str]
    dropped: frozenset[str]
    states: tuple[dict[str, int], ...]
    starts: dict[str, tuple[int, int]]  # start symbol -> (start state, end state)
    rules: tuple[Rule, ...]


def grammar_hash() -> str:
    return hashlib.sha256(grammar_text().encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def load() -> Tables:
    """The tables for the grammar as it is now (the file, or Lark's parser where stale)."""
    data = _read()
    if data is None or data.get("grammar") != grammar_hash():
        data = build()
    return _tables(data)


def _read() -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(TABLE_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def _tables(data: dict[str, Any]) -> Tables:
    return Tables(
        patterns=tuple((p, f) for p, f in data["patterns"]),
        keywords=data["keywords"], ignore=frozenset(data["ignore"]),
        newline=frozenset(data["newline"]), dropped=frozenset(data["dropped"]),
        states=tuple(data["states"]),
        starts={k: (v[0], v[1]) for k, v in data["starts"].items()},
        rules=tuple(Rule(r[0], r[1], r[2], tuple((i, bool(s), n) for i, s, n in r[3]),
                         r[4], bool(r[5])) for r in data["rules"]))


def build() -> dict[str, Any]:
    """The tables, read out of Lark's LALR parser of the grammar (imports Lark)."""
    from lark import Lark

    lark = Lark(grammar_text(), **LARK_OPTIONS, start=list(STARTS), maybe_placeholders=True)
    lexer = lark.parser.lexer
    scanner = lexer.scanner  # (building it makes the keyword callbacks: lexer.callback)
    table = lark.parser.parser.parser.parse_table
    # Lark numbers states and rules in an order that varies between runs: numbered here in
    # one order (rules by their text; states as met from the start states, symbols sorted),
    # the same grammar gives the same file
    rules: list[Any] = sorted(lark.rules, key=lambda r: (str(r), str(r.alias)))
    number = {rule: i for i, rule in enumerate(rules)}
    order = _state_order(table, [table.start_states[s] for s in STARTS])
    state = {old: new for new, old in enumerate(order)}
    kept = {sym.name for rule in rules for sym in rule.expansion
            if sym.is_term and (rule.options.keep_all_tokens or not sym.filter_out)}
    return {
        "grammar": grammar_hash(),
        "patterns": [(m.pattern, m.flags) for m in scanner._mres],
        "keywords": {kind: _keywords(callback) for kind, callback in lexer.callback.items()},
        "ignore": sorted(lexer.ignore_types), "newline": sorted(lexer.newline_types),
        "dropped": sorted(t.name for t in lark.terminals if t.name not in kept),
        "states": [{sym: (state[arg] if action.name == "Shift" else -1 - number[arg])
                    for sym, (action, arg) in sorted(table.states[s].items())} for s in order],
        "starts": {s: (state[table.start_states[s]], state[table.end_states[s]])
                   for s in STARTS},
        "rules": [_rule(rule) for rule in rules],
    }


def _state_order(table: Any, starts: list[int]) -> list[int]:
    """Every state, breadth first from `starts` along shifts and gotos in symbol order."""
    order, seen = list(starts), set(starts)
    for s in order:  # (grows as it goes)
        for _, (action, arg) in sorted(table.states[s].items()):
            if action.name == "Shift" and arg not in seen:
                seen.add(arg)
                order.append(arg)
    if len(order) != len(table.states):
        raise ValueError("a state no start reaches")
    return order


def _keywords(callback: Any) -> dict[str, str]:
    """Lark's keyword rule for one terminal (an `UnlessCallback`): exact text -> type."""
    out = {}
    for term in callback.scanner.terminals:
        if term.pattern.type != "str" or term.pattern.flags:
            raise ValueError(f"keyword {term.name}: only plain strings are supported")
        out[term.pattern.value] = term.name
    return out


def _rule(rule: Any) -> tuple[Any, ...]:
    """A rule as `Rule`'s fields, as lark/parse_tree_builder.py's ChildFilter would treat
    its children (with placeholders for `[x]`: maybe_placeholders=True)."""
    options, expansion = rule.options, rule.expansion
    if options.template_source:
        raise ValueError(f"rule {rule.origin.name}: templates are not supported")
    empty = options.empty_indices or [False] * len(expansion)
    runs = [len(ones) for ones in "".join(str(int(b)) for b in empty).split("0")]
    include, nones = [], 0
    for i, sym in enumerate(expansion):
        nones += runs[i]
        if options.keep_all_tokens or not (sym.is_term and sym.filter_out):
            include.append((i, not sym.is_term and sym.name.startswith("_"), nones))
            nones = 0
    return (len(expansion), str(rule.origin.name), str(rule.alias or rule.origin.name), include,
            nones + runs[len(expansion)], bool(options.expand1 and not rule.alias))


def main(argv: list[str] | None = None) -> None:
    """`python -m archc.front.tables [-o FILE]`: write the tables of the grammar as it is
    (to lalr.json beside this module unless told otherwise)."""
    import argparse

    cli = argparse.ArgumentParser(prog="python -m archc.front.tables", description=main.__doc__)
    cli.add_argument("-o", "--output", type=Path, default=TABLE_FILE)
    out: Path = cli.parse_args(argv).output
    text = json.dumps(build(), separators=(",", ":"), sort_keys=True)
    out.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(text):,} bytes)")


if __name__ == "__main__":
    main()
