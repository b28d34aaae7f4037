"""archc/core/graph.py's node helpers against their plain definitions, on networks with blocks,
joins, repetitions and taps: `walk` (a stack of iterators) yields what the recursive walk
yields, in the same order, `nodes` its nodes without names, `tied` the layers that tie a
weight, and `changed` (a copy of a node's attributes) makes the node
`dataclasses.replace` makes, and refuses a field the node lacks as it does."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from archc.core import graph
from archc.pipeline.driver import compile_spec

SPECS = ["resnet18", "inception_mnist", "tv_lraspp", "gpt2"]


def recursive_walk(items: tuple[graph.Node, ...], prefix: str = ""
                   ) -> Iterator[tuple[str, graph.Node]]:
    for node in items:
        qual = f"{prefix}{node.op}:{node.key}" if isinstance(node, graph.Wire) else \
            f"{prefix}{node.name}"
        yield qual, node
        if isinstance(node, graph.Scope):
            yield from recursive_walk(node.items, qual + ".")
        elif isinstance(node, graph.Join):
            for branch in node.branches:
                yield from recursive_walk(branch, prefix)


@pytest.fixture(scope="module", params=SPECS)
def network(request: pytest.FixtureRequest) -> graph.Network:
    return compile_spec(request.param).network()


def test_walk_is_the_recursive_walk(network: graph.Network) -> None:
    got = [(q, id(n)) for q, n in graph.walk(network.root.items)]
    assert got == [(q, id(n)) for q, n in recursive_walk(network.root.items)]


def test_nodes_are_the_walks_nodes(network: graph.Network) -> None:
    """`nodes`: walk's nodes, in walk's order, without their names."""
    assert [id(n) for n in graph.nodes(network.root.items)] == \
        [id(n) for _, n in recursive_walk(network.root.items)]


def test_ties_are_found_where_a_network_has_them(network: graph.Network) -> None:
    """`tied` looks for names only in a network that ties a weight (gpt2's head ties the
    token embedding); in the others it finds none without them."""
    from archc.expansion.ids import tied

    found = [(name, id(layer), target) for name, layer, target in tied(network.root)]
    want = [(q, id(n), n.args.tie) for q, n in recursive_walk(network.root.items)
            if isinstance(n, graph.Layer) and getattr(n.args, "tie", None)]
    assert found == want and bool(want) == (network.name == "gpt2")


def test_the_specs_hold_every_kind_of_node() -> None:
    kinds = {type(n) for spec in SPECS
             for _, n in graph.walk(compile_spec(spec).network().root.items)}
    assert kinds == {graph.Layer, graph.Join, graph.Scope, graph.Wire}


def test_changed_is_replace(network: graph.Network) -> None:
    for _, node in graph.walk(network.root.items):
        for change in ({"name": "renamed"}, {"span": network.root.span, "name": ""}):
            new = graph.changed(node, **change)
            assert new == dataclasses.replace(node, **change)
            assert type(new) is type(node) and new is not node
            assert vars(new) == vars(dataclasses.replace(node, **change))
        with pytest.raises(TypeError, match="no field"):
            graph.changed(node, nonesuch=1)
