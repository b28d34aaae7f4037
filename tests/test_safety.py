"""A spec cannot run code or read any file except the specs it `use`s: relative paths inside
the top spec's folder tree (and the prelude). `..` escapes, absolute paths, `~`, symlinks out,
non-.arch files, devices and FIFOs are located errors at the `use`, never a read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import archc
from archc.core.limits import MAX_FILE_BYTES

try:
    from tests.oracles import check_input
except ImportError:  # tests/ itself on sys.path
    from oracles import check_input

NET = "network n {{ input 1x8x8 {body} }}\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/project/{main.arch, blocks.arch, sub/inner.arch, sub/deeper/leaf.arch} and
    tmp/outside/{evil.arch, secret.txt}; returns tmp/project."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    (project / "sub" / "deeper").mkdir(parents=True)
    outside.mkdir()
    (project / "blocks.arch").write_text("block stem(c) { conv(c, k=3, pad=1) relu }\n")
    (project / "sub" / "inner.arch").write_text(
        'use "../blocks.arch"\nuse "deeper/leaf.arch"\nblock inner { stem(4) leaf }\n')
    (project / "sub" / "deeper" / "leaf.arch").write_text("block leaf { bn }\n")
    (outside / "evil.arch").write_text("block evil { relu }\n")
    (outside / "secret.txt").write_text("network secret { input 1x8x8 relu }\n")
    return project


def check(project: Path, uses: str, body: str = "relu", name: str = "main.arch"):
    spec = project / name
    result = check_input((uses + NET.format(body=body)).encode(), spec)
    return result


def expect_error(result, line: int, col: int, message: str) -> None:
    """An error at main.arch:line:col whose message contains `message`."""
    assert result.rc == 1, result.err
    assert any(f"main.arch:{line}:{col}: error[A" in ln and message in ln
               for ln in result.err.splitlines()), result.err


def test_relative_uses_inside_the_tree(tree):
    result = check(tree, 'use "blocks.arch"\nuse "sub/inner.arch"\n', "stem(2) inner")
    assert result.rc == 0 and result.verified, result.err


def test_used_files_may_climb_back_to_the_top_folder(tree):
    # sub/inner.arch uses "../blocks.arch": outside sub/, inside the top spec's folder
    assert check(tree, 'use "sub/inner.arch"\n', "inner").rc == 0


@pytest.mark.parametrize("path, message", [
    ("../outside/evil.arch", "use: '../outside/evil.arch' is outside the spec's folder"),
    ("sub/../../outside/evil.arch", "is outside the spec's folder"),
    ("/etc/passwd.arch", "use: '/etc/passwd.arch' must be a relative path"),
    ("~/evil.arch", "must be a relative path"),
    ("", "must be a relative path"),
    ("../outside/secret.txt", "is not a .arch file"),
    ("blocks.arch.txt", "is not a .arch file"),
    ("nothere.arch", "use: no such file 'nothere.arch'"),
    ("sub", "is not a .arch file"),
    ("a\0b.arch", "use: the path contains a NUL character"),
    ("x" * 5000 + ".arch", "cannot read"),
], ids=lambda v: v[:40])
def test_escapes_are_located_errors(tree, path, message):
    expect_error(check(tree, f'use "{path}"\n', "relu"), 1, 5, message)


def test_absolute_path_to_an_existing_spec(tree):
    evil = tree.parent / "outside" / "evil.arch"
    expect_error(check(tree, f'use "{evil}"\n', "evil"), 1, 5, "must be a relative path")


def test_used_file_cannot_escape_either(tree):
    (tree / "sub" / "sneaky.arch").write_text('use "../../outside/evil.arch"\nblock s { }\n')
    result = check(tree, 'use "sub/sneaky.arch"\n', "s")
    assert result.rc == 1
    assert "sneaky.arch:1:5: error[A0601]: use: '../../outside/evil.arch' is outside" in result.err


def test_symlinks_out_are_rejected(tree):
    outside = tree.parent / "outside"
    (tree / "link.arch").symlink_to(outside / "evil.arch")
    (tree / "linkdir").symlink_to(outside, target_is_directory=True)
    expect_error(check(tree, 'use "link.arch"\n', "evil"), 1, 5,
                 "use: 'link.arch' is outside the spec's folder")
    expect_error(check(tree, 'use "linkdir/evil.arch"\n', "evil"), 1, 5, "is outside")
    (tree / "etc.arch").symlink_to("/etc/passwd")
    expect_error(check(tree, 'use "etc.arch"\n'), 1, 5, "is outside")


def test_symlinks_inside_are_followed(tree):
    (tree / "alias.arch").symlink_to(tree / "sub" / "deeper" / "leaf.arch")
    assert check(tree, 'use "alias.arch"\n', "leaf").rc == 0


def test_symlink_loops_devices_and_fifos(tree):
    (tree / "loop.arch").symlink_to(tree / "loop.arch")
    expect_error(check(tree, 'use "loop.arch"\n'), 1, 5, "use: cannot read 'loop.arch'")
    (tree / "zero.arch").symlink_to("/dev/zero")
    expect_error(check(tree, 'use "zero.arch"\n'), 1, 5, "is outside")
    os.mkfifo(tree / "pipe.arch")
    expect_error(check(tree, 'use "pipe.arch"\n'), 1, 5, "no such file")


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_top_level_file_that_never_ends(tree, target, capsys):
    """`archc check /dev/zero` or a FIFO: an error, not a read that never returns."""
    from archc.cli import main

    path = target
    if target == "fifo":
        path = str(tree / "fifo.arch")
        os.mkfifo(path)
    assert main(["check", path]) == 1
    assert f"{path}:1:1: error[A0602]: '{path}' is not a regular file" in capsys.readouterr().err


def test_use_cycles_and_self_use_terminate(tree):
    (tree / "a.arch").write_text('use "b.arch"\nblock a { relu }\n')
    (tree / "b.arch").write_text('use "a.arch"\nuse "b.arch"\nblock b { bn }\n')
    assert check(tree, 'use "a.arch"\nuse "main.arch"\n', "a b").rc == 0


def test_size_and_encoding_of_used_files(tree):
    (tree / "big.arch").write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    expect_error(check(tree, 'use "big.arch"\n'), 1, 5, "big.arch' is more than")
    (tree / "latin1.arch").write_bytes(b"block x { relu }\n# caf\xe9\n")
    result = check(tree, 'use "latin1.arch"\n')
    assert result.rc == 1
    assert "latin1.arch:2:6: error[A0602]: not UTF-8 text: byte 0xe9" in result.err


def test_strings_are_data_not_code(tree, monkeypatch):
    """Nothing in a spec is evaluated as Python or as a shell command."""
    monkeypatch.chdir(tree)
    payloads = ["$(touch pwned_shell)", "`touch pwned_tick`",
                "__import__('os').system('touch pwned_py')"]
    for p in payloads:
        result = check(tree, f'use "{p}.arch"\n', 'relu train {{ x = "{p}" }}'.replace(
            "{{", "{").replace("}}", "}"))
        assert result.rc == 1 and "use: no such file" in result.err
        text = NET.format(body=f'relu train {{ dataset = "{p}" }}')  # a string, checked
        with pytest.raises(archc.ArchcErrors, match="train: dataset must be one of"):
            archc.loads(text, path=str(tree / "s.arch"))
    assert not list(tree.glob("pwned*")) and not list(Path.cwd().glob("pwned*"))


def test_generated_code_names_are_identifiers(tree):
    """Module names in the generated forward come from labels, which are identifiers or
    integers and never dunders or keywords (those are check errors)."""
    text = NET.format(body="l0: conv(2, k=1) 7: relu x_1: { a: relu } concat { relu | bn }")
    model = archc.build(archc.loads(text))
    assert [n for n, _ in model.named_children()] == ["l0", "7", "x_1", "relu", "bn"]
    for bad in ("__class__", "__import__", "eval", "lambda"):
        result = check(tree, "", f"{bad}: relu")
        if bad == "eval":  # an nn.Module method
            assert result.rc == 1 and "cannot name a layer" in result.err
        else:
            assert result.rc == 1 and "cannot name a layer" in result.err, result.err
