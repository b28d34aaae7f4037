"""Names in the module tree: how the members of a scope are named (ScopeNamer), and the names
a layer, group or block cannot take, because the torch module built from a spec would break:
Python keywords, and attributes of torch.nn.Module, nn.Sequential and torch.fx.GraphModule
(what every generated scope is). Those are listed here, not read from torch, so checking stays
torch-free; tests/test_invalid.py compares the list with the installed torch."""

from __future__ import annotations

import keyword
from collections import Counter

from archc.core import codes, graph
from archc.core.errors import ArchcError, NameError_, Span

MODULE_ATTRIBUTES = frozenset("""
    T_destination add_module add_submodule apply bfloat16 buffers call_super_init children code
    compile cpu cuda delete_all_unused_submodules delete_submodule double dump_patches eval
    extra_repr float forward get_buffer get_extra_state get_parameter get_submodule graph half
    ipu load_state_dict meta modules mtia named_buffers named_children named_modules
    named_parameters parameters print_readable recompile register_backward_hook register_buffer
    register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter
    register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state
    set_submodule shape_env share_memory state_dict to to_empty to_folder train training type
    xpu zero_grad
""".split()) | frozenset("""
    append extend insert pop
""".split()) | frozenset("""
    _apply _backward_hooks _backward_pre_hooks _boxed_call _buffers _call_impl _code
    _compiled_call_impl _create_node_hooks _deepcopy_hooks _deepcopy_init _erase_node_hooks
    _forward_hooks _forward_hooks_always_called _forward_hooks_with_kwargs _forward_pre_hooks
    _forward_pre_hooks_with_kwargs _get_backward_hooks _get_backward_pre_hooks _get_name _graph
    _is_full_backward_hook _lineno_map _load_from_state_dict _load_state_dict_post_hooks
    _load_state_dict_pre_hooks _maybe_warn_non_full_backward_hook _modules _named_members
    _non_persistent_buffers_set _parameters _prologue_start _recompile_submodules
    _register_create_node_hook _register_deepcopy_hook _register_erase_node_hook
    _register_load_state_dict_pre_hook _register_replace_node_hook _register_state_dict_hook
    _replace_hooks _replicate_for_data_parallel _save_to_state_dict _set_replace_hook
    _slow_forward _state_dict_hooks _state_dict_pre_hooks _tracer_cls _tracer_extras
    _unregister_create_node_hook _unregister_deepcopy_hook _unregister_erase_node_hook
    _unregister_replace_node_hook _version _wrapped_call _wrapped_call_impl _get_item_by_idx
""".split())


SEQUENTIAL = frozenset({"append", "extend", "insert", "pop", "_get_item_by_idx"})


def reserved_reason(name: str) -> str | None:
    """Why `name` cannot name a module, or None if it can."""
    if keyword.iskeyword(name):
        return "a Python keyword"
    if name == "self":
        return "the generated forward's first argument"
    if name in SEQUENTIAL:
        return "an attribute of torch.nn.Sequential (what a scope of layers in a row is)"
    if name in MODULE_ATTRIBUTES or name.startswith("__"):  # dunders, and what torch patches in
        return "an attribute of torch.nn.Module"
    return None


class ScopeNamer:
    """Names the nodes of one scope: labels as written; unlabelled nodes after their op or
    block, numbered (`conv1`, `conv2`) only when a scope has several of the same kind."""

    def __init__(self) -> None:
        self.entries: list[tuple[graph.Node, str | None, str]] = []
        self.label_spans: dict[int, Span] = {}

    def add(self, node: graph.Node, label: str | None, base: str, span: Span | None = None) -> None:
        self.entries.append((node, label, base))
        if span is not None:
            self.label_spans[id(node)] = span

    def names(self, errors: list[ArchcError]) -> dict[int, str]:
        taken: set[str] = set()
        for node, label, _ in self.entries:
            if label is not None:
                span = self.label_spans.get(id(node), node.span)
                if label in taken:
                    errors.append(NameError_(f"duplicate name '{label}' in this scope", span,
                                             "labels must be unique within a block",
                                             code=codes.DUPLICATE_NAME))
                elif reserved_reason(label):
                    errors.append(NameError_(
                        f"'{label}' cannot name a layer: it is {reserved_reason(label)}", span,
                        f"rename it, e.g. '{label}_'", code=codes.RESERVED_NAME))
                taken.add(label)
        taken.update(base for _, label, base in self.entries  # never auto-name `forward`
                     if label is None and reserved_reason(base))
        counts = Counter(base for _, label, base in self.entries if label is None)
        seen: Counter[str] = Counter()
        result = {}
        for node, label, base in self.entries:
            name = label
            if name is None:
                name = base
                if counts[base] > 1 or name in taken:
                    seen[base] += 1
                    name = f"{base}{seen[base]}"
                    while name in taken:
                        seen[base] += 1
                        name = f"{base}{seen[base]}"
                taken.add(name)
            result[id(node)] = name
        return result


def renamed(items: list[graph.Node] | tuple[graph.Node, ...], names: dict[int, str]
            ) -> tuple[graph.Node, ...]:
    """`items` with the nodes `names` renames (by id) renamed, joins' branches included."""
    out = []
    for node in items:
        name = names.get(id(node), node.name)
        if isinstance(node, graph.Join):
            node = graph.changed(node, branches=tuple(renamed(b, names) for b in node.branches))
        out.append(node if name == node.name else graph.changed(node, name=name))
    return tuple(out)
