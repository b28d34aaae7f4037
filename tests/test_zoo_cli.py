"""The zoo from the command line: `archc list [--json]` enumerates every bundled network and
family member without importing torch; torchvision checkpoint files as users have them (the
weight enums' file names) load with `archc import-weights FILE` and `archc build SPEC --weights
FILE`, the member taken from the file name. The checkpoints are written here from random-init
torchvision models (tests never touch the network)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
import torchvision.models as tvm

import archc
import archc.expansion.stats
from archc.cli import main
from archc.core.resources import specs_dir
from archc.pipeline import zoo
from archc.pipeline.program import load_program
from tests.util import cpu_seed

try:
    from tests.test_zoo import input_of, load, published_params
except ImportError:  # tests/ itself on sys.path
    from test_zoo import input_of, load, published_params  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent


def _list_json(*args: str) -> list[dict]:
    """`archc list --json` in a fresh interpreter that must not import torch."""
    code = ("import sys, runpy; sys.argv = ['archc', 'list', '--json', *sys.argv[1:]]; "
            "from archc.cli import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True,
                         text=True, env=env).stdout
    return json.loads(out)


def test_list_json_enumerates_every_network_and_member_without_torch():
    rows = _list_json()
    assert all({"name", "spec", "set", "params", "macs", "torchvision"} <= set(r) for r in rows)
    members = {r["torchvision"]: r for r in rows if r["torchvision"]}
    builders = [m for m in zoo.MEMBERS if m.reference is None]  # (a backbone's: below)
    assert set(members) == {m.name for m in builders}
    for m in builders:  # against torchvision's metadata of the weights at the member's size
        row = members[m.name]
        assert (row["spec"], row["set"]) == (m.spec, dict(m.set))
        at_size = [w for w in tvm.get_model_weights(m.name)
                   if row["input"] == list(input_of(m, w))]
        assert at_size, m.name
        for weights in at_size:
            assert row["params"] == published_params(m)  # Inception-v3: less its aux head
            if m.task == "classification" or not m.published_kwargs:  # (a segmentation
                # member's weights count the aux head's MACs: tests/test_segmentation.py)
                assert round(row["macs"] / 1e9, 3) == weights.meta["_ops"]
    plain = {(r["spec"], r["network"]) for r in rows
             if not r["torchvision"] and not r["reference"]}
    lm_specs = {spec for spec, _, _ in zoo.LM_MEMBERS.values()}
    every = {(p.stem, n) for p in specs_dir().glob("*.arch")
             if not zoo.members_of(p.stem) and p.stem not in lm_specs
             for n in load_program(p).networks}
    assert plain == every
    assert len({(r["spec"], r["network"], json.dumps(r["set"])) for r in rows}) == len(rows)
    assert members["resnet50"] | {"input": None} == {
        "name": "resnet50", "spec": "tv_resnet", "network": "tv_resnet", "set": {"depth": 50},
        "params": 25_557_032, "macs": 4_089_184_256, "input": None, "torchvision": "resnet50",
        "reference": None, "task": "classification", "aux": False}
    assert {r["torchvision"] for r in rows if r["aux"]} == {  # --set aux=true: the aux heads
        m.name for m in zoo.MEMBERS if m.spec in ("tv_fcn", "tv_deeplabv3", "tv_googlenet",
                                                   "tv_inception_v3")}
    tasks = Counter(r["task"] for r in rows if r["torchvision"])
    assert tasks == {"classification": 80, "video": 4, "segmentation": 6}
    assert sum(tasks.values()) == len(members)
    # a backbone equals a torchvision call, not a builder of torchvision.models
    (fpn,) = [r for r in rows if r["task"] == "backbone"]
    assert fpn | {"reference": None} == {
        "name": "resnet50_fpn", "spec": "tv_resnet_fpn", "network": "tv_resnet_fpn",
        "set": {"depth": 50}, "params": 26_799_296, "macs": 88_381_440_000,
        "input": [3, 800, 800], "torchvision": None, "reference": None, "task": "backbone",
        "aux": False}
    assert "resnet_fpn_backbone(backbone_name='resnet50')" in fpn["reference"]


def test_readme_zoo_table_states_every_member():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("| family (spec) |")
    table = readme[start:readme.index("\n\n", start)]  # to the table's end
    for spec, members in zoo.families():
        row = next(line for line in table.splitlines() if line.startswith(f"| {spec} |"))
        for m in members:
            net = load(m)  # (each member's default network, loaded once per process)
            assert f"{archc.expansion.stats.count(net.root).params:,}" in row, m.name


def test_list_text_and_filter(capsys):
    assert main(["list", "squeezenet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["name", "build"]
    assert out[1].split() == ["squeezenet1_0", "tv_squeezenet", "--set", "version=1.0",
                              "3x224x224", "1,248,424", "0.819", "equal", "to", "squeezenet1_0"]
    assert out[-1].startswith("2 networks")
    assert main(["list", "resnet18"]) == 0
    assert "resnet18 --network resnet18_224" in capsys.readouterr().out


# ----------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("name", ["resnet50-11ad3fa6.pth", "mnasnet0.5_top1_67.823-3ffadce67e.pth",
                                  "regnet_x_400mf.pth", "/x/y/squeezenet1_1-b8a52dc0.pth"])
def test_checkpoint_file_names_name_their_member(name):
    want = {"resnet50-11ad3fa6.pth": "resnet50", "regnet_x_400mf.pth": "regnet_x_400mf",
            "mnasnet0.5_top1_67.823-3ffadce67e.pth": "mnasnet0_5",
            "/x/y/squeezenet1_1-b8a52dc0.pth": "squeezenet1_1"}[name]
    assert zoo.by_file(name) is zoo.member(want)
    spec, sets = zoo.spec_for_checkpoint(None, name, {})
    assert (spec, sets) == (zoo.member(want).spec, dict(zoo.member(want).set))


def test_spec_for_checkpoint_keeps_what_the_user_said():
    assert zoo.spec_for_checkpoint("tv_resnet", "resnet50-0676ba61.pth", {}) == \
        ("tv_resnet", {"depth": 50})
    assert zoo.spec_for_checkpoint("tv_resnet", "resnet50-0676ba61.pth", {"classes": 10}) == \
        ("tv_resnet", {"depth": 50, "classes": 10})
    assert zoo.spec_for_checkpoint("my.arch", "resnet50-0676ba61.pth", {}) == ("my.arch", {})
    with pytest.raises(archc.core.errors.UsageError, match="cannot tell which spec"):
        zoo.spec_for_checkpoint(None, "mine.pth", {})


def _checkpoint(tmp_path: Path, member: str, file: str) -> tuple[Path, torch.nn.Module]:
    """A torchvision checkpoint as torch.hub saves it: the random-init model's state_dict."""
    cpu_seed(0)
    model = tvm.get_model(member, weights=None).eval()
    path = tmp_path / file
    torch.save(model.state_dict(), path)
    return path, model


def test_import_weights_from_a_torchvision_file_alone(tmp_path, capsys, one_torch_thread):
    src, theirs = _checkpoint(tmp_path, "squeezenet1_1", "squeezenet1_1-b8a52dc0.pth")
    out = tmp_path / "sq.safetensors"
    assert main(["import-weights", str(src), "-o", str(out)]) == 0
    assert "onto tv_squeezenet" in capsys.readouterr().err
    from safetensors.torch import load_file

    ours = archc.build(archc.load("tv_squeezenet", {"version": 1.1})).eval()
    ours.load_state_dict(load_file(str(out)), strict=True)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_build_with_weights_in_one_step(tmp_path, capsys, one_torch_thread):
    # tv_squeezenet's default is version 1.0: the file name selects 1.1
    src, theirs = _checkpoint(tmp_path, "squeezenet1_1", "squeezenet1_1-b8a52dc0.pth")
    out = tmp_path / "built.safetensors"
    assert main(["build", "tv_squeezenet", "--weights", str(src), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "loaded" in err and "onto tv_squeezenet" in err
    from safetensors.torch import load_file

    assert {k: v.shape for k, v in load_file(str(out)).items()} == \
        {k: v.shape for k, v in theirs.state_dict().items()}
    assert all(torch.equal(load_file(str(out))[k], v) for k, v in theirs.state_dict().items())


def test_build_with_weights_that_do_not_fit(tmp_path, capsys, one_torch_thread):
    src, _ = _checkpoint(tmp_path, "squeezenet1_1", "squeezenet1_1-b8a52dc0.pth")
    assert main(["build", "tv_squeezenet", "--set", "version=1.0", "--weights", str(src)]) == 1
    err = capsys.readouterr().err
    assert "tv_squeezenet.arch:" in err and "error(s)" in err
    assert main(["import-weights", str(tmp_path / "mine.pth"), "-o", "x.safetensors"]) == 2
    assert "cannot tell which spec" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["summary", "efficientnet_b0", "--set", "variant=b7"],
                                  ["check", "resnet50", "--set", "depth=18"]])
def test_set_cannot_turn_a_member_into_another(capsys, argv):
    """`archc summary efficientnet_b0 --set variant=b7` printed EfficientNet-B7 (66 M
    parameters) under the name efficientnet_b0; --set adds to a member, it does not rename it."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    key, value = argv[-1].split("=")
    family = "tv_efficientnet" if "eff" in argv[1] else "tv_resnet"
    assert f"error: --set {argv[-1]}: '{argv[1]}' is {family} with {key}=" in err
    assert f"name the family: {family} --set {key}={value}" in err
    assert main(["summary", argv[1], "--set", "classes=10"]) == 0  # adding to it still works
    with pytest.raises(archc.core.errors.UsageError, match="'resnet50' is tv_resnet with depth="):
        zoo.spec_for_checkpoint("resnet50", "resnet50-0676ba61.pth", {"depth": 18})  # --weights
