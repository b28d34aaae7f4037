"""Diagnostic codes: one stable code per kind of error (`error[A0201]`), grouped by hundreds.

A code never changes meaning and is never reused; `archc explain A0201` prints its page
(archc/explain/A0201.md: what it means, why, a wrong and a right example, both tested by
tests/test_explain.py). Used by every stage that reports errors; imports only the record
decorator (archc/core/records.py).
"""

from __future__ import annotations

from archc.core.records import record


@record
class Code:
    """A diagnostic code, its name and its page's title."""

    code: str  # "A0201"
    name: str  # "unknown-layer", for people who remember words better than numbers
    title: str  # one line, the page's heading


CODES: dict[str, Code] = {}


def _code(code: str, name: str, title: str) -> str:
    assert code not in CODES and name not in {c.name for c in CODES.values()}, code
    CODES[code] = Code(code, name, title)
    return code


# -- A01: syntax
SYNTAX = _code("A0101", "unexpected-token", "a word or symbol where the grammar allows none")
BAD_CHARACTER = _code("A0102", "unexpected-character", "a character that is not in the language")
UNEXPECTED_EOF = _code("A0103", "unexpected-end", "the file ends in the middle of a definition")
UNCLOSED = _code("A0104", "unclosed-bracket", "a '{' or '(' that is never closed")

# -- A02: names
UNKNOWN_LAYER = _code("A0201", "unknown-layer", "unknown layer or block")
UNKNOWN_ARGUMENT = _code("A0202", "unknown-argument", "unknown keyword argument")
UNKNOWN_PARAMETER = _code("A0203", "unknown-parameter", "unknown parameter in an expression")
UNKNOWN_FUNCTION = _code("A0204", "unknown-function", "unknown function in an expression")
DEFINED_TWICE = _code("A0205", "defined-twice", "a block or network defined twice")
DUPLICATE_NAME = _code("A0206", "duplicate-name", "two members of one scope with the same name")
RESERVED_NAME = _code("A0207", "reserved-name", "a label that cannot name a torch module")
RECURSIVE_BLOCK = _code("A0208", "recursive-block", "a block that calls itself")
NO_INPUT_HERE = _code("A0209", "in-outside", "`in.c` where there is no input shape")
BAD_LABEL = _code("A0210", "bad-label", "a label that cannot name a module")
PLUGIN_NOT_LOADED = _code("A0211", "plugin-not-loaded", "an unknown layer in a spec that "
                          "requires a plugin that is not loaded")
UNKNOWN_TAP = _code("A0212", "unknown-tap", "`from NAME` where no `tap NAME` comes before it")
TAP_TWICE = _code("A0213", "tap-twice", "a tap, input or output name given twice in one network")
TAP_IN_REPEAT = _code("A0214", "tap-in-repeat", "a `tap` or `output` inside a repetition")
UNUSED_TAP = _code("A0215", "unused-tap", "a tap no `from` reads (a warning)")
OUTPUT_NAME = _code("A0219", "output-name", "an output key that is not letters, digits and "
                   "underscores")
UNUSED_INPUT = _code("A0216", "unused-input", "a second (third, ...) input no `from` reads")
OUTPUT_SHAPE = _code("A0217", "output-shape", "`output NAME SHAPE` where the value has another "
                     "shape")
TRAINING_NOT_OUTPUT = _code("A0231", "training-not-output", "`training` after a `tap` or "
                            "`from`: only an output can be training-only")
TRAINING_HEAD = _code("A0232", "training-head", "a training-only output whose head does not "
                      "start at a `tap` or `from` of the network's own sequence")
TRAINING_VALUE_USED = _code("A0233", "training-value-used", "a statement that goes on from a "
                            "training-only output's value")
NO_EVAL_OUTPUT = _code("A0234", "no-eval-output", "every output training-only: eval mode would "
                       "return nothing")

# -- A03: arguments and values
TOO_MANY_ARGUMENTS = _code("A0301", "too-many-arguments", "more positional arguments than "
                           "the layer or block takes")
MISSING_ARGUMENT = _code("A0302", "missing-argument", "a required argument not given")
ARGUMENT_TWICE = _code("A0303", "argument-twice", "an argument given twice")
ARGUMENT_TYPE = _code("A0304", "argument-type", "an argument of the wrong type")
ARGUMENT_RANGE = _code("A0305", "argument-range", "an argument out of its range")
VALUE_TYPE = _code("A0306", "value-type", "an expression or condition of the wrong type")
DIVISION_BY_ZERO = _code("A0307", "division-by-zero", "division by zero in an expression")
NEEDS_DEFAULT = _code("A0308", "network-parameter-default", "a network parameter without a "
                      "default")
ARGUMENT_CONFLICT = _code("A0309", "argument-conflict", "arguments that do not go together")
NOT_FINITE = _code("A0310", "not-finite", "a NaN or infinite number where a finite one is "
                   "needed")

# -- A04: shapes
RANK = _code("A0401", "rank-mismatch", "a layer that needs an image gets a vector, or the "
             "reverse")
SIZE_BELOW_ONE = _code("A0402", "size-below-one", "a window larger than the map it slides on")
WINDOW_PAD = _code("A0403", "pad-too-large", "pooling padding more than half the kernel")
GROUPS = _code("A0404", "groups-divisibility", "channels or features that do not divide into "
               "groups or heads")
ADD_SHAPES = _code("A0405", "add-shapes", "the branches of an add or mul end in shapes that "
                   "do not match")
CONCAT_SIZES = _code("A0406", "concat-sizes", "the branches of a concat end in different "
                     "spatial sizes")
EXPECT_FAILED = _code("A0407", "expect-failed", "an `expect` shape that does not hold")
NO_INPUT = _code("A0408", "no-input", "a network without an input shape")
BAD_SHAPE = _code("A0409", "bad-shape", "a shape that is neither F, NxD, CxL, CxHxW nor "
                  "CxTxHxW")
INPUT_AXIS = _code("A0410", "input-axis", "`in.h` on an input that has no such axis")
PLUGIN_RULE = _code("A0411", "plugin-rule", "a plugin op's shape rule or count that fails or "
                    "returns no shape")
WINDOWS = _code("A0420", "window-divisibility", "a map that does not divide into the "
                "windows or grids of a windowed attention")
TOKEN_IDS = _code("A0421", "token-ids", "token ids fed to a layer that takes features, or "
                  "features fed to an embedding")
POSITIONS = _code("A0422", "positions", "more tokens than an embedding table has rows")
TIE = _code("A0423", "tie", "a tied weight whose layer is missing or of another shape")

# -- A05: structure
ASSERTION = _code("A0501", "assertion-failed", "an `assert` in the spec does not hold")
INPUT_PLACEMENT = _code("A0502", "input-placement", "`input` given twice or not first")
TOP_LEVEL_ONLY = _code("A0503", "top-level-only", "`input` or `train` inside a block or group")
EMPTY_SPEC = _code("A0504", "empty-spec", "a file that defines nothing")
NO_NETWORK = _code("A0505", "no-network", "building a file that defines no network")
IDENTITY_TWICE = _code("A0506", "identity-twice", "an add or mul with more than one identity "
                       "branch (`||`)")

# -- A06: files
USE_PATH = _code("A0601", "use-path", "a `use` path that is not allowed")
CANNOT_READ = _code("A0602", "cannot-read", "a spec file that cannot be read as UTF-8 text")

# -- A07: limits (bounds on the work a spec can ask for; archc/core/limits.py)
OUT_OF_BOUNDS = _code("A0701", "out-of-bounds", "a repetition count or size outside its "
                      "bounds")
TOO_DEEP = _code("A0702", "too-deep", "nesting deeper than archc allows")
TOO_BIG = _code("A0703", "too-big", "a network or value larger than archc allows")
TOO_MANY_ERRORS = _code("A0704", "too-many-errors", "more errors than archc reports per file")
TOO_MUCH_WORK = _code("A0705", "too-much-work", "a spec that expands to more nodes than archc "
                      "allows")

# -- A08: the train { } recipe
RECIPE_TWICE = _code("A0801", "recipe-set-twice", "a `train { }` setting given twice")
UNKNOWN_RECIPE_KEY = _code("A0802", "unknown-recipe-key", "a `train { }` key archc does not know")
RECIPE_VALUE = _code("A0803", "recipe-value", "a `train { }` value of the wrong type or range")
RECIPE_RULE = _code("A0804", "recipe-rule", "`train { }` settings that do not go together")

# -- A09: `archc import` (a torch module read back as a spec; archc/importer/torch_import.py)
TORCH_UNSUPPORTED = _code("A0901", "torch-unsupported", "a torch module or call that no archc op "
                          "or join expresses")


def page(code: str) -> str:
    """The `archc explain` page of a code (KeyError if there is none)."""
    from pathlib import Path

    if code not in CODES:
        raise KeyError(code)
    return (Path(__file__).parent.parent / "explain" / f"{code}.md").read_text(encoding="utf-8")
