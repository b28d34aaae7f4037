"""Bad input never crashes: any bytes given to `archc check` give exit 1 with a located
`path:line:col: error:` diagnostic, or exit 0 with claims that hold; never a traceback, never
a hang. Random mutations (hypothesis), targeted limits, crashes the fuzzer found, and a few
runs of the real executable."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

try:
    from tests.oracles import check_input
    from tests.strategies import NO_SHRINK, invalid_specs
except ImportError:  # tests/ itself on sys.path
    from oracles import check_input
    from strategies import NO_SHRINK, invalid_specs

REGRESSIONS = Path(__file__).with_name("fuzz_regressions")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          phases=NO_SHRINK,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=invalid_specs())
def test_bad_input_never_crashes(data: bytes, tmp_path: Path):
    check_input(data, tmp_path / "mutant.arch", seconds=20)


# ----------------------------------------------------------------------------- limits


def _chain(n: int, fmt: str, last: str) -> str:
    return "".join(fmt.format(i=i, j=i + 1) for i in range(n)) + last.format(n=n)


LIMITS = {
    # nesting without brackets reaches the recursive stages after parsing
    "operator chain": ("network n { input 1x8x8 conv(" + "1+" * 3000 + "1, k=1) }",
                       "nested more than 200 levels deep"),
    "unary chain": ("network n { input 1x8x8 conv(" + "- " * 3000 + "1, k=1) }",
                    "nested more than 200 levels deep"),
    # a definition after the first is parsed on its own, its tokens then moved into place
    # (archc/front/recover.py): that pass must not recurse either (bench/fuzz.py found it)
    "unary chain in a later definition": (
        "network a { input 1x8x8 relu }\nnetwork n { input 1x8x8 conv(" + "- " * 3000
        + "1, k=1) }", "nested more than 200 levels deep"),
    "not chain": ("network n { input 1x8x8 if " + "not " * 3000 + "true { relu } }",
                  "nested more than 200 levels deep"),
    "else-if chain": ("network n { input 1x8x8 " + "if false { relu } else " * 3000
                      + "{ relu } }", "nested more than 200 levels deep"),
    "brackets": ("network n { input 1x8x8 " + "{" * 5000 + "relu" + "}" * 5000 + " }",
                 "brackets nested more than 100 deep"),
    # each block is shallow, the blocks nest: counted across calls
    "groups inside nested blocks": (
        "network n { input 1x8x8 b0 }\n" + _chain(
            60, "block b{i} {{ a: {{ b: {{ c: {{ b{j} }} }} }} }}\n", "block b{n} {{ relu }}\n"),
        "nested more than 100 levels deep, counting blocks inside blocks"),
    "block chain": ("network n { input 1x8x8 b0 }\n" + _chain(
        5000, "block b{i} {{ b{j} }}\n", "block b{n} {{ relu }}\n"), "blocks nested more than"),
    "long recursive cycle": ("network n { input 1x8x8 relu }\n" + _chain(
        5000, "block b{i} {{ b{j} }}\n", "block b{n} {{ b0 }}\n"),
        "recursive block: b0 -> b1 -> b2"),
    "repetition": ("network n { input 1x8x8 relu * 1025 }", "between 0 and 1024"),
    "nested repetition": ("network n { input 1x8x8 " + "{ " * 4 + "relu" + " } * 1024" * 4
                          + " }", "this spec expands to more than 100,000 nodes"),
    "loop": ("network n { input 1x8x8 for i in 0..5000 { relu } }", "between -1024 and 1024"),
    "long loop": ("network n { input 1x8x8 for i in -1000..1000 { relu } }", "at most 1024"),
    "huge number": ("network n { input 1x8x8 conv(99999999999999999999999999, k=1) }",
                    "must be <="),
    "huge product": ("network n { input 1x8x8 conv(99999999999 * 99999999999 * 9999999, k=1) }",
                     "value too large"),
    "huge float": ("network n { input 1x8x8 dropout(1e400 - 1e400) }", "dropout"),
    "huge channels": ("network n { input 1x8x8 conv(1048576, k=1) conv(1048576, k=1) }", None),
    "huge input": ("network n { input 1048577x8x8 relu }", "between 1 and 1048576"),
    # thousands of errors: each rendered the whole (one-line, 800 KB) file, and each unknown
    # name ran difflib over thousands of blocks; now a compiler-style error limit
    "errors on one long line": ("network n { input 1x8x8 " + "conv(0) " * 5000 + "}",
                                "too many errors (more than 100)"),
    "unknown names": ("network n { input 1x8x8 relu }\n" + _chain(
        1000, "block b{i} {{ zz{i} }}\n", ""), "too many errors"),
    "erroneous networks": ("".join(f"network n{i} {{ input 1x8x8 conv(0) }}\n"
                                   for i in range(500)), "too many errors"),
}


@pytest.mark.parametrize("name", list(LIMITS))
def test_limits_give_located_errors(name, tmp_path):
    text, message = LIMITS[name]
    result = check_input(text.encode(), tmp_path / "limit.arch", seconds=30, verify=False)
    if message is not None:
        assert result.rc == 1
        assert message in result.err, result.err[:500]


def test_long_line_diagnostics_show_a_window(tmp_path):
    result = check_input(("network n { input 1x8x8 " + "relu " * 5000 + "conv(0) }").encode(),
                         tmp_path / "long.arch")
    assert result.rc == 1 and max(len(line) for line in result.err.splitlines()) < 300


def test_use_chain_is_bounded(tmp_path):
    """`use` recursed once per file: a chain of thousands of files was a RecursionError."""
    for i in range(200):
        (tmp_path / f"u{i}.arch").write_text(f'use "u{i + 1}.arch"\nblock b{i} {{ relu }}\n')
    (tmp_path / "u200.arch").write_text("block z { relu }\n")
    result = check_input(b'use "u0.arch"\nnetwork n { input 1x8x8 b0 b31 }\n',
                         tmp_path / "top.arch")
    assert result.rc == 1 and "use: files nested more than 32 deep" in result.err, result.err


# ----------------------------------------------------------------------------- regressions

REGRESSION_FILES = sorted(REGRESSIONS.glob("*.arch"))


@pytest.mark.parametrize("path", REGRESSION_FILES, ids=[p.name for p in REGRESSION_FILES])
def test_fuzz_regression(path, tmp_path):
    """Inputs that once crashed `archc check` or built a broken model (found by bench/fuzz.py)."""
    result = check_input(path.read_bytes(), tmp_path / path.name)
    expect = path.with_suffix(".expect")
    if expect.exists():  # the diagnostic we settled on, when it matters
        assert expect.read_text().strip() in result.err


# ----------------------------------------------------------------------------- executable


@pytest.mark.parametrize("data", [b"", b"\xff\xfe\x00bad", b"network n { input 1x8x8 conv(",
                                  b"network n { input 1x8x8 " + b"1+" * 5000 + b" }"],
                         ids=["empty", "not-utf8", "eof", "deep"])
def test_subprocess_exit_code(data, tmp_path):
    path = tmp_path / "bad.arch"
    path.write_bytes(data)
    run = subprocess.run([sys.executable, "-m", "archc", "check", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert f"{path}:" in run.stderr and ": error[A" in run.stderr


def test_subprocess_valid(tmp_path):
    path = tmp_path / "ok.arch"
    path.write_text("network n { input 1x8x8 conv(2, k=3) relu }\n")
    run = subprocess.run([sys.executable, "-m", "archc", "check", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


# ----------------------------------------------------------------------------- reserved names


def _module_attributes() -> set[str]:
    import archc

    model = archc.build(archc.loads("network n { input 1x4x4 g: { relu } }"))
    names = set(dir(model)) | set(vars(model)) | set(dir(model.g)) | set(vars(model.g))
    return {n for n in names if n.isidentifier() and n not in ("g", "relu")
            and not n.startswith("__")  # reserved by rule (torch._dynamo patches some in)
            and not _patched_in(type(model), n)}


def _patched_in(cls: type, name: str) -> bool:
    """A method another library added to torch's classes after import (transformers puts
    `smart_apply` on nn.Module when a test of this worker imported it): not torch's."""
    attr = inspect.getattr_static(cls, name, None)
    module = getattr(attr, "__module__", None)
    return isinstance(module, str) and not module.startswith(("torch", "archc"))


def test_reserved_names_cover_installed_torch():
    """archc/expansion/names.py lists torch's module attributes so checking stays torch-free; a
    torch upgrade that adds one fails here rather than in a user's `archc build`."""
    from archc.expansion.names import MODULE_ATTRIBUTES

    assert _module_attributes() - MODULE_ATTRIBUTES == set()


@pytest.mark.parametrize("name", ["forward", "training", "half", "apply", "graph", "code",
                                  "class", "None", "lambda", "self", "_modules", "__init__"])
@pytest.mark.parametrize("where", ["label", "nested label", "block"])
def test_reserved_names_are_located_errors(name, where, tmp_path):
    body = {"label": f"{name}: relu", "nested label": f"g: {{ {name}: relu relu }}",
            "block": name}[where]
    text = f"network n {{ input 1x4x4 {body} }}\nblock {name} {{ relu }}\n"
    result = check_input(text.encode(), tmp_path / "reserved.arch")
    if where == "block":  # an unlabelled call is named after its block, numbered: `forward1`
        assert result.rc == 0 and result.verified, result.err
    else:
        assert result.rc == 1 and f"'{name}' cannot name a layer" in result.err, result.err


def test_every_module_attribute_is_rejected_or_builds(tmp_path):
    """The contract, name by name: a label either fails `check` or builds a working module."""
    for name in sorted(_module_attributes()):
        text = f"network n {{ input 1x4x4 g: {{ {name}: relu relu }} }}\n"
        check_input(text.encode(), tmp_path / "attr.arch")


@pytest.mark.parametrize("label, message", [
    ('"a\x01b"', "contains the control character U+0001"),
    ('"a.b"', "cannot name a module: it contains '.'"),
    ('"a}b"', "unmatched brace"),
    ('"{long}{long}"', "becomes 120 characters long; at most 100"),
    ("ok", None), ('"x{1 + 1}-{short}"', None),
])
def test_a_label_is_checked_wherever_it_stands(label: str, message: str | None) -> None:
    """A label without `{` is checked once per process (archc/expansion/expand.py keeps the
    good ones): a bad one is an error at each place, in every file, a good one at none."""
    from archc.pipeline.driver import check

    text = (f'network n(long="{"x" * 60}", short="s") {{ input 1x4x4\n  {label}: relu\n'
            f"  g: {{ {label}: relu }} }}\n")
    for path in ("first.arch", "again.arch"):
        errors = check(path, text)
        if message is None:
            assert errors == [], errors
        else:
            assert [(e.span.path, e.span.line, message in e.message) for e in errors] == [
                (path, 2, True), (path, 3, True)], errors
