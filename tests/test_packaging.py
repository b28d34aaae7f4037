"""The grammar, prelude and bundled specs ship inside the wheel, and work from it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_grammar_prelude_and_specs(tmp_path: Path) -> None:
    import hatchling  # noqa: F401 - a dev dependency (pyproject's [dev]): fail, never skip
    subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d",
                    str(tmp_path)], cwd=ROOT, check=True, capture_output=True)
    wheel = next(tmp_path.glob("archc-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"archc/_data/grammar/archc.lark", "archc/prelude.arch", "archc/py.typed"} <= names
    # the `archc graph -o net.html` page's template, script and style
    assert {f"archc/emit/page/page.{x}" for x in ("html", "css", "js")} <= names
    specs = {p.name for p in (ROOT / "specs").glob("*.arch")}
    assert specs and {f"archc/_data/specs/{s}" for s in specs} <= names
    # Installed elsewhere (no source checkout beside it), it still finds everything.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = "import archc; print(archc.__file__); print(archc.load('resnet18').output_shape)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [str(site / "archc" / "__init__.py"), "(10,)"]


def test_atomic_write_replaces_and_keeps_normal_permissions(tmp_path: Path) -> None:
    import os

    from archc.core.atomic import atomic_write_bytes

    target = tmp_path / "w.bin"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["w.bin"]  # no temporary left behind
