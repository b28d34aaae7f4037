"""Language server, completion and signature help, from the text as it is now (lexed, not
parsed: the line being typed rarely parses): inside a call's parentheses, the callee's
keyword arguments not yet given and the parameters in scope; elsewhere in a body, the ops,
the blocks this file can call (prelude, its own, `use`d) and the keywords; at the top level,
`network`, `block` and `use`."""

from __future__ import annotations

from lsprotocol import types

from archc.front import tree
from archc.front.evaluate import FUNCTIONS
from archc.lsp import syntax
from archc.lsp.convert import Locator
from archc.lsp.describe import Callee, callee, op_callee
from archc.registry.joins import JOINS
from archc.registry.ops import REGISTRY

_STATEMENT_WORDS = ("input", "expect", "assert", *JOINS, "if", "else", "for", "in", "train",
                    "tap", "from", "output", "training")
_TOP_WORDS = ("network", "block", "use", "requires")


def _blocks(known: dict[str, tree.Definition], toks_outline: list[syntax.Outline]
            ) -> dict[str, tree.Definition | None]:
    """Blocks this file can call: those the last analysis knew, plus any typed since."""
    out: dict[str, tree.Definition | None] = dict(known)
    for o in toks_outline:
        if o.kind == "block":
            out.setdefault(o.name, None)
    return out


def completion(text: str, line: int, col: int, blocks: dict[str, tree.Definition],
               loc: Locator) -> list[types.CompletionItem]:
    toks = syntax.tokens(text)
    defs = syntax.outline(toks)
    inside = next((d for d in defs if d.contains(line, col)), None)
    if inside is None:
        return [_word(w) for w in _TOP_WORDS]
    in_scope = [*inside.params, *inside.loop_vars]
    ctx = syntax.call_at(toks, line, col)
    if ctx is not None:
        items = [_variable(v) for v in dict.fromkeys(in_scope)]
        items += [_word(w) for w in ("true", "false", "none")] + [_function(f) for f in FUNCTIONS]
        what = callee(ctx.callee, blocks, loc)
        if ctx.keyword is None and what is not None:
            items = [_keyword_arg(n, what) for n in what.names if n not in ctx.given] + items
        return items
    items = [_op(name) for name in REGISTRY]
    for name, defn in _blocks(blocks, defs).items():
        if name not in REGISTRY:
            items.append(_block(callee(name, blocks, loc) if defn else None, name))
    items += [_word(w) for w in _STATEMENT_WORDS]
    items += [_variable(v) for v in dict.fromkeys(in_scope)]
    return items


def _op(name: str) -> types.CompletionItem:
    what = op_callee(name)
    return types.CompletionItem(name, kind=types.CompletionItemKind.Function,
                                detail=what.signature, documentation=what.doc, sort_text="1" + name)


def _block(what: Callee | None, name: str) -> types.CompletionItem:
    detail = what.signature if what else name
    doc = f"{what.doc}\n\n(block from {what.where})" if what and what.doc else \
        f"(block from {what.where})" if what else "(block)"
    return types.CompletionItem(name, kind=types.CompletionItemKind.Class, detail=detail,
                                documentation=doc, sort_text="0" + name)


def _keyword_arg(name: str, what: Callee) -> types.CompletionItem:
    return types.CompletionItem(f"{name}=", kind=types.CompletionItemKind.Field,
                                detail=what.signature, insert_text=f"{name}=",
                                filter_text=name, sort_text="0" + name)


def _variable(name: str) -> types.CompletionItem:
    return types.CompletionItem(name, kind=types.CompletionItemKind.Variable,
                                detail="parameter", sort_text="2" + name)


def _function(name: str) -> types.CompletionItem:
    return types.CompletionItem(name, kind=types.CompletionItemKind.Function,
                                detail=f"{name}(...)", documentation=FUNCTIONS[name].doc,
                                sort_text="3" + name)


def _word(name: str) -> types.CompletionItem:
    return types.CompletionItem(name, kind=types.CompletionItemKind.Keyword, sort_text="4" + name)


# ----------------------------------------------------------------------------- signature help


def signature_help(text: str, line: int, col: int, blocks: dict[str, tree.Definition],
                   loc: Locator) -> types.SignatureHelp | None:
    toks = syntax.tokens(text)
    ctx = syntax.call_at(toks, line, col)
    what = callee(ctx.callee, blocks, loc) if ctx else None
    if ctx is None or what is None:
        return None
    label = what.signature
    params, at = [], len(what.name) + 1
    for p in what.params:
        params.append(types.ParameterInformation(label=(at, at + len(p))))
        at += len(p) + 2
    active = _active(what.names, ctx)
    sig = types.SignatureInformation(label, documentation=what.doc or None, parameters=params,
                                     active_parameter=active)
    return types.SignatureHelp([sig], active_signature=0, active_parameter=active)


def _active(names: tuple[str, ...], ctx: syntax.CallContext) -> int | None:
    """The parameter being typed: the keyword's, else the first one after the positional
    arguments that no keyword has taken."""
    if ctx.keyword is not None:
        return names.index(ctx.keyword) if ctx.keyword in names else None
    positional = ctx.index - len(ctx.given)
    return next((i for i, n in enumerate(names) if i >= positional and n not in ctx.given),
                None)
