"""Stage 3: emitters, one per output format, each dispatching through the op registry."""
