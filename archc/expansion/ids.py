"""Stage 2, token ids: `input tokens(N, V)` makes a shape of N integer ids below V (graph.Ids),
and only an op taking ids (an embedding) may read one; every other op reads features."""

from __future__ import annotations

from archc.core import codes, graph
from archc.core.errors import ArchcError, ShapeError
from archc.front import tree
from archc.registry.ops import Op, OpShapeError

INPUT_KINDS = ("tokens",)  # `input NAME(...)`: the names an input statement takes


def ids_shape(spec: tree.ShapeSpec, dims: tuple[int, ...], vocab: int) -> graph.Ids:
    """The shape `input tokens(N, V)` declares; a located error for another name."""
    if spec.kind not in INPUT_KINDS:
        from archc.core.errors import did_you_mean

        raise ShapeError(f"input: unknown input kind '{spec.kind}'", spec.span,
                         did_you_mean(spec.kind, INPUT_KINDS) or
                         "write `input tokens(N, vocab)` for N token ids below vocab",
                         code=codes.BAD_SHAPE)
    return graph.Ids(dims, vocab)


def token_ids(op: Op, shape: graph.Shape) -> graph.Shape:
    """The shape `op` is given, once it is known that `op` takes what it is given: token ids
    feed only an op taking ids, and such an op takes nothing else."""
    if isinstance(shape, graph.Ids):
        if not op.takes_ids:
            raise OpShapeError(
                f"{op.name}: takes features, got {shape[0]} token ids (of {shape.vocab})",
                "token ids feed an embedding first: embedding(vocab, dim)", codes.TOKEN_IDS)
        return shape
    if op.takes_ids:
        from archc.registry.ops import fmt_shape, kind_of

        raise OpShapeError(f"{op.name}: takes token ids, got {fmt_shape(shape)} "
                           f"({kind_of(shape)})", "declare the input as "
                           "`input tokens(N, vocab)`, and embed it once", codes.TOKEN_IDS)
    return tuple(shape)


def joined_ids(join: str, outs: list[graph.Shape]) -> None:
    """Token ids are not features: no join adds, multiplies or stacks them (a branch left
    empty on ids passes them to the join)."""
    if any(isinstance(o, graph.Ids) for o in outs):
        raise OpShapeError(f"{join}: a branch ends in token ids, not features",
                           "embed the ids in every branch: embedding(vocab, dim)",
                           codes.TOKEN_IDS)


def tied(net_root: graph.Scope) -> list[tuple[str, graph.Layer, str]]:
    """(qualified name, layer, the name it shares a weight with) of every tied layer. (Names
    are made only for a network that ties a weight: most tie none.)"""
    if not any(isinstance(node, graph.Layer) and getattr(node.args, "tie", None)
               for node in graph.nodes(net_root.items)):
        return []
    return [(name, node, getattr(node.args, "tie", "")) for name, node in
            graph.walk(net_root.items)
            if isinstance(node, graph.Layer) and getattr(node.args, "tie", None)]


def _weight_shape(layer: graph.Layer) -> tuple[int, int] | None:
    """The (rows, columns) of a layer's weight as nn.Embedding and nn.Linear hold it."""
    a = layer.args
    if layer.op == "embedding":
        return (a.vocab, a.dim)  # type: ignore[attr-defined]
    if layer.in_shape is None or layer.out_shape is None:
        return None
    if layer.op == "linear" and not a.tie and not a.transposed:  # type: ignore[attr-defined]
        return (layer.out_shape[-1], layer.in_shape[-1])
    return None


def check_ties(root: graph.Scope) -> list[ArchcError]:
    """A located error for each `tie` naming no embedding or linear, or one whose weight has
    another shape than the tied layer's (out x in)."""
    ties = tied(root)
    if not ties:  # (the table of every layer's name is the cost: made only when needed)
        return []
    layers = {name: node for name, node in graph.walk(root.items)
              if isinstance(node, graph.Layer)}
    errors: list[ArchcError] = []
    for _, layer, target in ties:
        if layer.in_shape is None or layer.out_shape is None:
            continue  # after an error above it: reported there
        own = (layer.out_shape[-1], layer.in_shape[-1])
        other = layers.get(target)
        shape = None if other is None else _weight_shape(other)
        if other is None or shape is None:
            from archc.core.errors import did_you_mean

            hint = did_you_mean(target, [n for n, x in layers.items() if _weight_shape(x)])
            errors.append(ShapeError(
                f"{layer.op}: tie=\"{target}\": no embedding or untied linear of that name",
                layer.span, hint or "name a layer by its full path, like \"transformer.wte\"",
                code=codes.TIE))
        elif getattr(layer.args, "transposed", False):
            errors.append(ShapeError(
                f"{layer.op}: tie=\"{target}\" with transposed=true: a tied weight is stored "
                "out x in, as the embedding's", layer.span, "leave out transposed=true",
                code=codes.TIE))
        elif shape != own:
            errors.append(ShapeError(
                f"{layer.op}: tie=\"{target}\": its weight is {shape[0]}x{shape[1]}, this "
                f"layer's is {own[0]}x{own[1]} (out x in)", layer.span,
                "tie an output layer of `vocab` features to an embedding(vocab, dim)",
                code=codes.TIE))
    return errors
