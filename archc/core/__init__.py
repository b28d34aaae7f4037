"""The vocabulary every stage shares: errors and their codes, limits, the resolved graph's node
types, caches, sources and the small leaf modules."""
