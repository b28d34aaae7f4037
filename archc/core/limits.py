"""Every bound archc puts on the work a spec can ask for, in one place, each with one meaning.
The safety tests (tests/test_safety.py) and the fuzzers hold the checker to them."""

from __future__ import annotations

# -- reading
MAX_FILE_BYTES = 1 << 20  # bytes of one spec file
MAX_USE_DEPTH = 32  # `use` chains: a file using a file using ...
MAX_BRACKETS = 100  # `{` and `(` open at once in the text (bounds the parser's recursion)
MAX_TREE_DEPTH = 2 * MAX_BRACKETS  # depth of the parse tree: a normal spec's is ~15
MAX_DIGITS = 100  # digits of one integer literal (Python converts at most 4,300)

# -- expansion
MAX_REPEAT = 1024  # instances of one `* n` or `for` (and the range of a loop's bounds)
MAX_WORK = 100_000  # steps of expanding one spec, all its networks together (archc/front/work.py):
#   every statement, loop iteration, join branch and expression term, so also layers and modules
MAX_BLOCK_DEPTH = 64  # blocks called inside blocks
MAX_SEQ_NESTING = 100  # sequences inside sequences, counted across block calls
MAX_DIM = 1 << 20  # channels, features and spatial sizes
MAX_INT = 1 << 62  # magnitude of any integer an expression computes
MAX_LABEL = 100  # characters of one label, after `{name}` interpolation

# -- outputs
MAX_MEMORY = 16 * 10**9  # bytes of float32 parameters, and of one sample's activations, that
#   `build` (and everything that builds: train, eval, import-weights) accepts; --max-memory
MAX_DRAWN = 2_000  # nodes of a diagram laid out by Graphviz (`archc graph -o x.svg`)

# -- diagnostics
MAX_ERRORS = 100  # errors reported per file, like a C compiler's error limit
MAX_SHOWN = 100  # characters of a long source line shown under a diagnostic
