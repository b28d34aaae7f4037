"""From a trained run to a model someone can use (issue 21): `--weights RUN` in every command,
`archc predict`, `archc export --weights` carrying the preprocessing, zoo members by name.
Each claim is measured against the real thing: predictions against training's own evaluation
pipeline, exported files against `predict`, zoo members against torchvision."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.models as tvm
from PIL import Image
from safetensors.torch import load_file, save_file

import archc
from archc.cli import main
from archc.pipeline import zoo
from tests.train_fixtures import write_folder

TINY_RGB = Path(__file__).parent / "train_specs" / "tiny_rgb.arch"


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-epoch run of tiny_rgb on a 2-class image folder, resized to 24 and normalised, so
    that predict and export have a resize and a mean/std to reproduce."""
    tmp = tmp_path_factory.mktemp("deploy")
    root = write_folder(tmp / "imgs", per_class=6, size=(30, 28))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(["train", str(TINY_RGB), "--data-dir", str(root), "--set", "classes=2",
                     "--epochs", "2", "--resize", "24", "--recipe", "normalize=true",
                     "--device", "cpu", "--no-progress", "--no-tensorboard",
                     "--out", str(tmp / "run"), "--cache-dir", str(tmp / "cache")])
    finally:
        torch.set_num_threads(before)
    assert code == 0
    return tmp, root, tmp / "run"


def _reference_probs(tmp: Path, root: Path, run: Path) -> tuple[list[str], torch.Tensor]:
    """Training's own evaluation of the val images: folder decode, to_device, batch."""
    from archc.train import checkpoint, folder
    from archc.train.batches import to_device
    from archc.train.data import Split

    index, tensors = checkpoint.load(run / "best.json")
    recipe = index["recipe"]
    net = archc.load(TINY_RGB, {"classes": 2}, tuple(index["input_shape"]))
    model = archc.build(net).eval()
    checkpoint.restore(model, None, index, tensors)
    data = folder.load(root, recipe["resize"], tmp / "cache", False, print)
    images, labels = data["test"]
    dd = to_device(Split(images, labels), tuple(index["input_shape"][1:]), "cpu",
                   recipe["mean"], recipe["std"])
    x, _ = dd.batch(torch.arange(len(labels)))
    _, _, val = folder.listing(root)
    with torch.no_grad():
        return [str(p) for p, _ in val], model(x).softmax(1)


def test_predict_reproduces_training_evaluation(trained, capsys):
    tmp, root, run = trained
    files, want = _reference_probs(tmp, root, run)
    code, out, err = cli(capsys, "predict", TINY_RGB, "--weights", run, root / "val",
                         "--format", "json", "--no-progress")
    assert code == 0, err
    assert "best: epoch" in err
    rows = json.loads(out)
    assert [r["file"] for r in rows] == files
    for row, p in zip(rows, want, strict=True):
        got = {t["index"]: t["probability"] for t in row["top"]}
        assert set(got) == {0, 1}  # --top 5 shows at most the 2 classes
        assert [t["class"] for t in row["top"]][0] == ["cat", "dog"][int(p.argmax())]
        np.testing.assert_allclose([got[0], got[1]], p.tolist(), rtol=0, atol=1e-6)
    right = sum(r["top"][0]["class"] == Path(r["file"]).parent.name for r in rows)
    assert right >= 0.75 * len(rows)  # the run learned the brightness bands (1.0 measured)
    code, out, _ = cli(capsys, "predict", TINY_RGB, "--weights", run, files[0], "--top", "1")
    assert code == 0 and out.count("\n") == 1 and out.startswith(f"{files[0]}: ")


def test_predict_reports_unreadable_files_and_goes_on(trained, capsys, tmp_path):
    _, root, run = trained
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    good = root / "val" / "dog" / "0.png"
    code, out, err = cli(capsys, "predict", TINY_RGB, "--weights", run, tmp_path, good)
    assert code == 1 and "Traceback" not in err
    assert out.startswith(f"{good}: ")
    for name, why in (("text.png", "not a readable image"), ("dangling.png", "dangling"),
                      ("loop.png", "not a readable image")):
        assert f"error: {tmp_path / name}: " in err and why in err, err


def test_weights_from_a_run_in_every_form(trained, capsys):
    _, _, run = trained
    best = json.loads((run / "best.json").read_text())
    last = json.loads((run / "checkpoint.json").read_text())
    cases = [((run,), best), ((run, "--checkpoint", "best"), best),
             ((run, "--checkpoint", "last"), last), ((run / "checkpoint.json",), last),
             ((run / "best.json",), best), ((run / last["tensors"],), last),
             ((run, "--checkpoint", str(last["epoch"])), last)]
    for args, index in cases:
        code, out, err = cli(capsys, "build", TINY_RGB, "--weights", *args)
        assert code == 0, err
        assert f"{index['tensors']} " in err and "4 tensors onto tiny_rgb" in err
        assert "parameters: 1,394" in out  # the run's --set classes=2 and input 3x24x24
    for command in ("summary", "graph"):
        code, _, err = cli(capsys, command, TINY_RGB, "--weights", run)
        assert code == 0, err
    model = archc.load_trained(run)  # the Python API: the run's spec, --set and input
    state = load_file(str(run / best["tensors"]))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state["model." + key])
    assert model.preprocessing.input_shape == (3, 24, 24)
    # an epoch as an int (it raised AttributeError: 'int' object has no attribute 'isdigit')
    by_epoch = archc.load_trained(run, checkpoint=last["epoch"])
    built = archc.build(archc.load(TINY_RGB, {"classes": 2}, (3, 24, 24)), weights=run,
                        checkpoint=last["epoch"])
    state = load_file(str(run / last["tensors"]))
    for key, value in by_epoch.state_dict().items():
        torch.testing.assert_close(value, state["model." + key])
        torch.testing.assert_close(built.state_dict()[key], value)


@pytest.mark.parametrize("make, message", [
    (lambda d: (d / "notes.txt").write_text("hello") and d / "notes.txt",
     "is not a weights file (neither a torch.save file nor safetensors)"),
    (lambda d: torch.save({"opt": torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))],
                                                  lr=0.1)}, d / "x.pth") or d / "x.pth",
     "holding Python objects besides tensors, which archc does not unpickle"),
    (lambda d: torch.save([torch.zeros(1)], d / "x.pt") or d / "x.pt", "holds no state_dict"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "holds no checkpoint"),
    (lambda d: (d / "x.json").write_text("{}") and d / "x.json", "not an archc checkpoint"),
])
def test_a_file_that_is_not_weights_is_a_clear_error(tmp_path, capsys, make, message):
    path = make(tmp_path)
    code, _, err = cli(capsys, "build", TINY_RGB, "--weights", path)
    assert code == 1 and message in err, err
    assert "Traceback" not in err and "weights_only" not in err


@pytest.mark.parametrize("command", [["build"], ["summary"], ["predict", "{img}"]])
def test_a_run_given_to_another_spec_names_the_network_it_trained(trained, capsys, tmp_path,
                                                                   command):
    """`predict lenet --weights RUN` of a tiny_rgb run failed at lenet's `expect` line (the
    run's input shape replaced lenet's); a copy of the run's spec elsewhere still loads it."""
    _, root, run = trained
    img = next(root.rglob("*.png"))
    argv = [a.format(img=img) for a in command]
    code, _, err = cli(capsys, argv[0], "lenet", "--weights", run, *argv[1:])
    assert code == 2 and "Traceback" not in err, err
    assert f"--weights {run}: trained network 'tiny_rgb', which lenet does not define" in err
    moved = tmp_path / "mine.arch"
    moved.write_text(Path(TINY_RGB).read_text())
    code, _, err = cli(capsys, argv[0], moved, "--weights", run, *argv[1:])
    assert code == 0, err
    if command == ["build"]:  # the Python API says the same
        with pytest.raises(archc.ArchcError, match="trained network 'tiny_rgb', which lenet"):
            archc.load_trained(run, spec="lenet")
        assert archc.load_trained(run, spec=moved).preprocessing.input_shape == (3, 24, 24)


def test_a_run_without_the_epoch_asked_for(trained, capsys):
    _, _, run = trained
    code, _, err = cli(capsys, "build", TINY_RGB, "--weights", run, "--checkpoint", "9")
    assert code == 1 and "keeps no checkpoint of epoch 9" in err
    code, _, err = cli(capsys, "build", TINY_RGB, "--weights", run, "--checkpoint", "first")
    assert code == 2 and "best, last or an epoch number" in err


def test_export_carries_the_preprocessing_and_reproduces_predict(trained, capsys, tmp_path):
    _, root, run = trained
    image = root / "val" / "cat" / "1.png"
    code, out, err = cli(capsys, "predict", TINY_RGB, "--weights", run, image, "--format",
                         "json")
    assert code == 0, err
    want = {t["index"]: t["probability"] for t in json.loads(out)[0]["top"]}
    code, _, err = cli(capsys, "export", TINY_RGB, "--weights", run, "-o", tmp_path / "m.py")
    assert code == 0, err
    spec = importlib.util.spec_from_file_location("exported_m", tmp_path / "m.py")
    assert spec is not None and spec.loader is not None
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    assert m.CLASS_NAMES == ["cat", "dog"] and m.RESIZE == 24 and len(m.MEAN) == 3
    model = m.TinyRgb().eval()
    model.load_state_dict(load_file(str(tmp_path / "m.safetensors")), strict=True)
    with Image.open(image) as img:
        x = m.preprocess(img)
    with torch.no_grad():
        got = model(x[None]).softmax(1)[0].tolist()
    np.testing.assert_allclose(got, [want[0], want[1]], rtol=0, atol=1e-6)
    as_tensor = torch.from_numpy(np.array(Image.open(image).convert("RGB"))).permute(2, 0, 1)
    assert m.preprocess(as_tensor).shape == (3, 24, 24)  # a tensor: resized to the input


def test_onnx_export_carries_the_preprocessing(trained, capsys, tmp_path):
    import onnx

    _, root, run = trained
    code, _, err = cli(capsys, "export", TINY_RGB, "--weights", run, "-o", tmp_path / "m.onnx")
    assert code == 0, err
    assert "] building tiny_rgb" in err and "exported by the torchscript exporter" in err
    props = {p.key: json.loads(p.value) for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props
             if p.key != "archc.preprocessing"}
    recipe = json.loads((run / "best.json").read_text())["recipe"]
    assert props["archc.class_names"] == ["cat", "dog"] and props["archc.resize"] == 24
    assert props["archc.mean"] == recipe["mean"] and props["archc.std"] == recipe["std"]
    assert props["archc.input_shape"] == [3, 24, 24]
    # the metadata is all a deployer needs: onnxruntime on the image so preprocessed
    import onnxruntime as ort

    from archc.emit.preprocess import Preprocessing

    image = root / "val" / "dog" / "2.png"
    code, out, err = cli(capsys, "predict", TINY_RGB, "--weights", run, image, "--format",
                         "json")
    assert code == 0, err
    want = {t["index"]: t["probability"] for t in json.loads(out)[0]["top"]}
    prep = Preprocessing(tuple(props["archc.input_shape"]), props["archc.resize"],
                         tuple(props["archc.mean"]), tuple(props["archc.std"]))
    with Image.open(image) as img:
        x = prep(img)[None].numpy()
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    probs = torch.from_numpy(session.run(None, {"input": x})[0]).softmax(1)[0].tolist()
    np.testing.assert_allclose(probs, [want[0], want[1]], rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------- the zoo by name


def test_zoo_members_by_name(capsys):
    code, out, _ = cli(capsys, "summary", "efficientnet_b0", "--json")
    assert code == 0
    assert json.loads(out)["params"] == 5_288_548 == \
        sum(p.numel() for p in tvm.efficientnet_b0().parameters())
    code, _, err = cli(capsys, "summary", "efficientnet_b9")
    assert code == 2
    assert "no such spec file or bundled spec: 'efficientnet_b9'" in err
    assert "did you mean 'efficientnet_b7' (tv_efficientnet --set variant=b7)?" in err
    code, _, err = cli(capsys, "check", "convnext_tiny")
    assert code == 0, err
    # a bundled spec's name wins; torchvision's member is tv_NAME
    assert archc.load("resnet18").input_shape == (1, 96, 96)
    assert archc.load("tv_resnet18").input_shape == (3, 224, 224)


def test_every_listed_name_is_unique_and_names_its_row():
    from archc.commands.list import catalogue

    entries = list(catalogue())
    names = [e.name for e in entries]
    assert len(names) == len(set(names))
    for e in entries:
        source, sets, network = zoo.as_spec(e.name, None)
        assert Path(source).stem == e.spec, e.name
        assert dict(sets or {}) == dict(e.set), e.name
        assert network in (None, e.network), e.name


def test_zoo_member_built_with_a_torchvision_state_dict(tmp_path, capsys):
    reference = tvm.mobilenet_v3_small().eval()
    path = tmp_path / "weights.pth"
    torch.save({f"module.{k}": v for k, v in reference.state_dict().items()}, path)  # DDP
    code, out, err = cli(capsys, "build", "mobilenet_v3_small", "--weights", path)
    assert code == 0, err
    assert f"parameters: {sum(p.numel() for p in reference.parameters()):,}" in out
    built = archc.build(archc.load("mobilenet_v3_small"), weights=path).eval()
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(built(x), reference(x))
    save_file(reference.state_dict(), str(tmp_path / "w.safetensors"))
    code, _, err = cli(capsys, "summary", "mobilenet_v3_small", "--weights",
                       tmp_path / "w.safetensors")
    assert code == 0, err


# ----------------------------------------------------------------------------- edges met on the way


def test_input_tokens_on_the_command_line(tmp_path, capsys):
    spec = tmp_path / "t.arch"
    spec.write_text("network t {\n  input 4x8\n  layernorm\n  linear(3)\n}\n")
    code, out, err = cli(capsys, "summary", spec, "--input", "5x8", "--json")
    assert code == 0, err
    assert json.loads(out)["input"] == [5, 8] and json.loads(out)["output"] == [5, 3]
    model = archc.build(archc.load(spec, input_shape=(5, 8)))
    assert tuple(model(torch.rand(2, 5, 8)).shape) == (2, 5, 3)


def test_repeat_count_in_c_without_parentheses(tmp_path, capsys):
    bare = "network n {\n  input 3x8x8\n  conv(4, k=1)\n  relu * in.c\n}\n"
    net = archc.loads(bare)
    assert [n for n, _, _ in archc.shapes(net)] == \
        [n for n, _, _ in archc.shapes(archc.loads(bare.replace("in.c", "(in.c)")))]
    assert len(archc.shapes(net)) == 1 + 1 + 3  # conv, the repeat, a relu per input channel
    spec = tmp_path / "n.arch"
    spec.write_text(bare)
    assert main(["fmt", "--check", str(spec)]) == 0  # and fmt keeps it bare


def test_train_skips_dangling_and_looping_links(tmp_path, capsys, one_torch_thread):
    root = write_folder(tmp_path / "imgs", per_class=4)
    (root / "train" / "cat" / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    (root / "train" / "dog" / "loop.png").symlink_to(root / "train" / "dog" / "loop.png")
    code = main(["train", str(TINY_RGB), "--data-dir", str(root), "--set", "classes=2",
                 "--epochs", "1", "--device", "cpu", "--no-progress", "--no-tensorboard",
                 "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache")])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err
    for name in ("cat/dangling.png", "dog/loop.png"):
        assert f"{root / 'train' / name}: skipped, not a readable image" in err, err
    # --no-progress: one line per epoch; 2 classes: no top-5 anywhere
    assert re.search(r"^epoch 1/1: loss \d\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}, "
                     r"[\d,]+ ex/s, \d+\.\d s$", out, re.M), out
    assert "top-5" not in out
    index = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    assert "test_top5" not in index["history"][0]
    code = main(["eval", str(TINY_RGB), "--weights", str(tmp_path / "run"), "--data-dir",
                 str(root), "--device", "cpu", "--cache-dir", str(tmp_path / "cache")])
    out, err = capsys.readouterr()
    assert code == 0 and "test acc" in out and "top-5" not in out and "best: epoch 1" in err
    # every mismatch of spec and data at once: channels and classes
    code = main(["train", str(TINY_RGB.with_name("tiny.arch")), "--data-dir", str(root),
                 "--epochs", "1", "--device", "cpu", "--no-progress", "--no-tensorboard",
                 "--out", str(tmp_path / "run2"), "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 1 and "the data's images have 3 channels" in err
    assert "the network's output is 10, the data has 2 classes" in err
    # ... before torch is imported (seconds on a loaded machine): in a fresh interpreter
    code = ("import sys; from archc.cli import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "train", str(TINY_RGB.with_name(
        "tiny.arch")), "--data-dir", str(root), "--device", "cpu", "--no-tensorboard", "--out",
        str(tmp_path / "run3"), "--cache-dir", str(tmp_path / "cache")], capture_output=True,
        text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert proc.returncode == 1 and "3 channels" in proc.stderr and "2 classes" in proc.stderr


def test_export_by_member_name_equals_the_spec_and_its_set(tmp_path, capsys):
    by_name, by_spec = tmp_path / "a.py", tmp_path / "b.py"
    assert main(["export", "squeezenet1_1", "-o", str(by_name)]) == 0
    assert main(["export", "tv_squeezenet", "--set", "version=1.1", "-o", str(by_spec)]) == 0
    body = [t.split('"""', 2)[2] for t in (by_name.read_text(), by_spec.read_text())]
    assert body[0] == body[1] and "version: float = 1.1" in body[0]
