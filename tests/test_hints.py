"""Hints from the user's world (archc/registry/pytorch_names.py), tested from its tables: every
PyTorch spelling leads to an op or argument that exists, and `archc check` says so."""

from __future__ import annotations

import pytest

from archc.pipeline.driver import check
from archc.registry.ops import REGISTRY
from archc.registry.pytorch_names import ARGUMENTS, BLOCK_ALIASES, MISSING, _key, layers

from .util import static_layers

# every PyTorch name an op record holds (Op.pytorch), as PyTorch spells it
PYTORCH = sorted((name, op.name) for op in REGISTRY.values() for name in op.pytorch)
ALIASES = sorted((alias, op.name) for op in REGISTRY.values() for alias in op.aliases)


def errors_of(text: str) -> list:
    return check("t.arch", text)


@pytest.mark.parametrize("written, target", PYTORCH)
def test_layer_spelling(written: str, target: str) -> None:
    for spelled in (written, written.lower()):
        [err] = errors_of(f"network n {{\n  input 3x8x8\n  {spelled}\n}}\n")
        assert err.code == "A0201" and f"did you mean '{target}'?" in (err.hint or "")


def test_pytorch_names_are_one_ops_each() -> None:
    """No name is claimed twice: by two records' `pytorch`, or by one's `pytorch` and
    another's `aliases` (the alias would never be reached)."""
    keys = [_key(name) for name, _ in PYTORCH]
    assert len(keys) == len(set(keys)) == len(layers())
    aliases = {_key(alias): op for alias, op in ALIASES}
    assert [(n, t) for n, t in PYTORCH if aliases.get(_key(n), t) != t] == []


@pytest.mark.parametrize("name", sorted(n for n, op in REGISTRY.items()
                                        if op.source is not None and not op.inline))
def test_every_torch_class_an_op_writes_is_hinted(name: str) -> None:
    """The torch.nn class an op's `source` writes (on its example) is an op's name or one of
    the PyTorch names of some op record, so a user who types it gets `did you mean`."""
    import archc

    op = REGISTRY[name]
    assert op.source is not None
    net = archc.loads(f"network t {{ input {op.example_input} x: {op.example} }}")
    layer = static_layers(net)["x"]
    call = op.source(layer.args, layer.in_shape, layer.out_shape).call
    if not call.startswith("nn."):
        return  # (a class the exported file defines: named by archc, not by torch)
    key = _key(call.removeprefix("nn."))
    assert key in {_key(n) for n in REGISTRY} | set(layers()), \
        f"{name} writes {call}: add it to the op's `pytorch` names"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_capitalised_op(name: str) -> None:
    """ReLU, GELU, Flatten: archc's op in PyTorch's capitals."""
    written = name.upper() if len(name) <= 4 else name.capitalize()
    [err] = errors_of(f"network n {{\n  input 3x8x8\n  {written}\n}}\n")
    assert f"did you mean '{name}'?" in (err.hint or ""), err.hint


@pytest.mark.parametrize("name", sorted(ARGUMENTS))
def test_argument_spelling(name: str) -> None:
    target = ARGUMENTS[name][0]
    op = next((o for o in REGISTRY.values() if target in o.arg_names), REGISTRY["conv"])
    assert target is None or target in op.arg_names
    required = [n for n, f in op.args.model_fields.items() if f.is_required()]
    given = ", ".join([*(str(1) for _ in required if _ != target), f"{name}=1"])
    [err, *_] = errors_of(f"block b {{ {op.name}({given}) }}\n")
    assert err.code == "A0202", err
    want = f"did you mean '{target}'?" if target else f"leave out '{name}'"
    assert want in (err.hint or ""), err.hint


def test_slash_where_an_integer_is_needed() -> None:
    [err] = errors_of("network n(w=32) {\n  input 3x8x8\n  conv(w / 2, k=1)\n}\n")
    assert err.code == "A0304" and "use //" in (err.hint or "")


# ----------------------------------------------------------------------------- habits (issue 21)



def test_no_alias_is_an_op() -> None:
    """An alias naming a registered op would never be reached (position_embedding is the
    language models' op, no longer pos_embedding's alias)."""
    assert [alias for alias, _ in ALIASES if alias in REGISTRY] == []


@pytest.mark.parametrize("alias, target", ALIASES)
def test_an_op_alias_wins_over_edit_distance(alias: str, target: str) -> None:
    [err] = errors_of(f"network n {{\n  input 3x8x8\n  {alias}\n}}\n")
    assert err.code == "A0201" and f"did you mean '{target}'?" in (err.hint or ""), err.hint


@pytest.mark.parametrize("written, target", [
    ("ln", "layernorm"), ("LayerNorm", "layernorm"), ("drop_path", "stochastic_depth"),
    ("DropPath", "stochastic_depth"), ("upconv", "conv_transpose"), ("shuffle",
                                                                     "channel_shuffle"),
    ("se", "squeeze_excitation"), ("SqueezeExcitation", "squeeze_excitation"),
    ("SE", "squeeze_excitation"), ("InvertedResidual", "inverted_residual"),
    # 1-D and 3-D layers are the rank-generic ops (issue 24): the hint names them
    ("conv1d", "conv"), ("Conv1d", "conv"), ("Conv3d", "conv"), ("MaxPool1d", "maxpool"),
    ("BatchNorm3d", "bn"), ("ConvTranspose1d", "conv_transpose")])
def test_other_libraries_names(written: str, target: str) -> None:
    [err] = errors_of(f"network n {{\n  input 3x8x8\n  {written}\n}}\n")
    assert f"did you mean '{target}'?" in (err.hint or ""), err.hint


@pytest.mark.parametrize("name", sorted(BLOCK_ALIASES))
def test_block_aliases_name_prelude_blocks(name: str) -> None:
    from archc.pipeline.program import prelude_text

    assert f"block {BLOCK_ALIASES[name]}(" in prelude_text()
    [err] = errors_of(f"network n {{\n  input 3x8x8\n  {name}\n}}\n")
    assert f"did you mean '{BLOCK_ALIASES[name]}'?" in (err.hint or ""), err.hint


@pytest.mark.parametrize("written", ["pixel_shuffle", "PixelShuffle", "mish", "Mish",
                                     "Sequential", "LSTM"])
def test_what_archc_does_not_have_is_said(written: str) -> None:
    [err] = errors_of(f"network n {{\n  input 3x8x8\n  {written}\n}}\n")
    hint = err.hint or ""
    assert hint.startswith("archc has no") and "did you mean" not in hint, hint
    assert written.lower().replace("_", "") in MISSING
    assert written.lower() not in REGISTRY


def test_missing_names_are_not_ops_or_aliases() -> None:
    aliases = {a.replace("_", "") for _, a in [(t, a) for a, t in ALIASES]}
    assert not set(MISSING) & ({n.replace("_", "") for n in REGISTRY} | aliases)


@pytest.mark.parametrize("python, word", [("True", "true"), ("False", "false"),
                                          ("None", "none")])
def test_python_literals(python: str, word: str) -> None:
    [err] = errors_of(f"network n {{\n  input 3x8x8\n  conv(8, k=1, bias={python})\n}}\n")
    assert err.code == "A0203" and f"write '{word}'" in (err.hint or ""), err.hint


def test_every_unknown_keyword_of_a_call_is_reported() -> None:
    errs = errors_of("network n {\n  input 3x8x8\n  conv(16, k=3, padding=1, kernel_size=3, "
                     "bias=true, stride_=2)\n}\n")
    assert [(e.code, e.span.col) for e in errs] == [("A0202", 17), ("A0202", 28),
                                                    ("A0202", 54)]
    assert [e.hint.split("?")[0] for e in errs[:2]] == ["did you mean 'pad'", "did you mean 'k'"]


def test_none_is_a_literal() -> None:
    """The README's own signatures say `align_corners=none`, `stride=none`."""
    assert errors_of("network n {\n  input 3x8x8\n  upsample(2, mode=\"bilinear\", "
                     "align_corners=none)\n  maxpool(2, stride=none)\n}\n") == []
    [err] = errors_of("network n {\n  input 3x8x8\n  conv(none, k=1)\n}\n")
    assert err.code == "A0304" and "got the literal none" in err.message


@pytest.mark.parametrize("text, built", [("add { conv(8, k=1) || }", "f(x) + 2·x"),
                                         ("add { conv(8, k=1) | | | }", "f(x) + 3·x"),
                                         ("mul { gap conv(8, k=1) sigmoid || }", "f(x) · x^2")])
def test_two_identity_branches_are_an_error(text: str, built: str) -> None:
    [err] = errors_of(f"network n {{\n  input 8x8x8\n  {text}\n}}\n")
    assert err.code == "A0506" and built in err.message and (err.span.line, err.span.col) == (3, 3)


@pytest.mark.parametrize("text", ["add { conv(8, k=1) | }", "add { | }", "concat { | | }",
                                  "add { conv(8, k=1) | identity | identity }",
                                  "split { | }"])
def test_one_identity_branch_is_fine(text: str) -> None:
    assert errors_of(f"network n {{\n  input 8x8x8\n  {text}\n}}\n") == []
