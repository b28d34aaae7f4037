"""Names and expansion: calls resolved, blocks and repetitions expanded into the graph, shapes
inferred, counts and memory estimated, every error collected."""
