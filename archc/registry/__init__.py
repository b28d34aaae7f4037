"""The registries: one record per op (ops*.py), per join (joins.py), per output format (outputs.py),
and the plugin guards."""
