"""Training data in every format, from small files written in the real formats (never the
network): CIFAR-10/100 binaries (files, folder, archive, download), image-folder trees (decode,
skip, cache, sizes), and the static fit of a spec to the data (located errors)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from archc.cli import main
from archc.train import cifar, data, folder
from tests.train_fixtures import write_cifar, write_folder

SPECS = Path(__file__).parent / "train_specs"
TINY, TINY_RGB = SPECS / "tiny.arch", SPECS / "tiny_rgb.arch"


def train_cli(*argv, tmp_path: Path) -> int:
    args = [str(a) for a in argv]
    return main(["train", *args, "--device", "cpu", "--no-progress", "--no-tensorboard",
                 "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache")])


# ----------------------------------------------------------------------------- CIFAR


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_cifar_binary_files_read_exactly(tmp_path, dataset):
    held = write_cifar(tmp_path / "d", dataset)
    got = data.load_data(None, tmp_path / "d", tmp_path / "cache")
    assert got.name == dataset and len(got.classes) == cifar.ARCHIVES[dataset].classes
    assert got.classes[:2] == ("class0", "class1")
    for split, part in (("train", got.train), ("test", got.test)):
        np.testing.assert_array_equal(part.images, held[split][0])  # R, G, B planes of 32x32
        np.testing.assert_array_equal(part.labels, held[split][1])  # CIFAR-100: the fine one
    assert got.image_shape == (3, 32, 32)
    assert len(got.train) == 8 * len(cifar.ARCHIVES[dataset].train)


def test_cifar_archive_in_data_dir_and_in_the_cache(tmp_path, monkeypatch):
    held = write_cifar(tmp_path / "d", as_archive=True)
    got = data.load_data(None, tmp_path / "d", tmp_path / "cache")  # detected by the archive
    np.testing.assert_array_equal(got.test.images, held["test"][0])
    assert sorted(p.name for p in (tmp_path / "cache" / "cifar10").iterdir()) == sorted(
        [*cifar.ARCHIVES["cifar10"].train, "test_batch.bin", "batches.meta.txt"])
    # Without --data-dir: downloaded into the cache, verified by MD5, then read from there.
    blob = (tmp_path / "d" / "cifar-10-binary.tar.gz").read_bytes()
    good = cifar.Archive(**{**cifar.ARCHIVES["cifar10"].__dict__,
                            "md5": hashlib.md5(blob).hexdigest()})
    monkeypatch.setitem(cifar.ARCHIVES, "cifar10", good)
    urls = []

    def fetch(url, dest):
        urls.append(url)
        dest.write_bytes(blob)
    got = data.load_data("cifar10", None, tmp_path / "c2", fetch=fetch)
    assert urls == [cifar.URL + "cifar-10-binary.tar.gz"] and len(got.train) == 40
    with pytest.raises(data.DataError, match="cifar-10-binary.tar.gz: file not found"):
        data.load_data("cifar10", None, tmp_path / "c3", allow_download=False)
    monkeypatch.setitem(cifar.ARCHIVES, "cifar10", cifar.ARCHIVES["cifar100"].__class__(
        **{**good.__dict__, "md5": "0" * 32}))
    with pytest.raises(data.DataError, match="checksum mismatch"):
        data.load_data("cifar10", None, tmp_path / "c4", fetch=fetch)


@pytest.mark.parametrize("damage, message", [
    ("truncate", "is not a whole number of 3073-byte CIFAR records"),
    ("empty", "is not a whole number"),
    ("label", "record 0 has label 200, out of range 0-9"),
])
def test_bad_cifar_files_are_named(tmp_path, damage, message):
    write_cifar(tmp_path)
    victim = tmp_path / "data_batch_3.bin"
    raw = bytearray(victim.read_bytes())
    if damage == "truncate":
        raw = raw[:-5]
    elif damage == "empty":
        raw = bytearray()
    else:
        raw[0] = 200
    victim.write_bytes(bytes(raw))
    with pytest.raises(data.DataError, match=message) as e:
        data.load_data(None, tmp_path, tmp_path / "cache")
    assert str(victim) in e.value.message


def test_trains_on_cifar_with_augmentation(tmp_path, capsys, one_torch_thread):
    write_cifar(tmp_path / "d", per_file=16)
    code = train_cli(TINY_RGB, "--data-dir", tmp_path / "d", "--crop-padding", "4", "--hflip",
                     "--normalize", "--label-smoothing", "0.1", "--clip-grad-norm", "1.0",
                     "--schedule", "cosine", "--warmup-epochs", "0.5", "--epochs", "2",
                     tmp_path=tmp_path)
    assert code == 0, capsys.readouterr().err
    index = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    assert index["dataset"] == "cifar10" and index["input_shape"] == [3, 32, 32]
    assert len(index["recipe"]["mean"]) == 3 and index["recipe"]["dataset"] == "cifar10"
    hist = index["history"]
    assert all(0 <= r["test_acc"] <= r["test_top5"] <= 1 for r in hist)
    assert hist[-1]["lr"] < hist[0]["lr"] <= 0.05  # cosine decays


# ----------------------------------------------------------------------------- image folders


def test_image_folder_decodes_skips_bad_files_and_caches(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "imgs")
    bad = root / "train" / "cat" / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    (root / "train" / "dog" / "notes.txt").write_text("not an image")
    (root / "train" / "dog" / ".DS_Store").write_bytes(b"\0")
    warnings = []
    out = folder.load(root, None, tmp_path / "cache", False, warnings.append)
    assert out["classes"] == ["cat", "dog"]
    assert out["train"][0].shape == (12, 3, 32, 32) and out["test"][0].shape == (6, 3, 32, 32)
    assert list(out["train"][1]) == [0] * 6 + [1] * 6
    assert len(warnings) == 2 and any(str(bad) in w for w in warnings)
    assert all("skipped, not a readable image" in w for w in warnings)
    # The class is the brightness band the fixture drew: decoding kept the pixels.
    assert out["train"][0][:6].mean() < 100 < out["train"][0][6:].mean()

    def no_decoding(*a, **k):
        raise AssertionError("decoded again")
    monkeypatch.setattr(folder, "decode", no_decoding)
    again = folder.load(root, None, tmp_path / "cache", False, warnings.append)
    np.testing.assert_array_equal(again["train"][0], out["train"][0])
    (root / "train" / "cat" / "0.png").touch()  # a changed file is decoded again
    monkeypatch.undo()
    folder.load(root, None, tmp_path / "cache", False, warnings.append)


def test_image_folder_sizes_channels_and_layout(tmp_path):
    root = write_folder(tmp_path / "a", size=(40, 30), fmt="JPEG")
    write_folder(tmp_path / "a", classes=("dog",), size=(32, 32), seed=1)
    with pytest.raises(data.DataError, match=r"images differ in size \(30x40 and 32x32") as e:
        folder.load(root, None, tmp_path / "c", False, print)
    assert "resize" in e.value.hint
    out = folder.load(root, 16, tmp_path / "c", False, print)  # resize: shorter side, centre
    assert out["train"][0].shape[1:] == (3, 16, 16)
    gray = write_folder(tmp_path / "g", mode="L", size=(20, 20))
    assert folder.load(gray, None, tmp_path / "c", False, print)["train"][0].shape[1:] == \
        (1, 20, 20)
    (tmp_path / "g" / "val" / "bird").mkdir()
    with pytest.raises(data.DataError, match="class 'bird' has no folder in"):
        folder.load(gray, None, tmp_path / "c", False, print)
    (tmp_path / "e" / "train" / "x").mkdir(parents=True)
    (tmp_path / "e" / "val" / "x").mkdir(parents=True)
    with pytest.raises(data.DataError, match="no image files"):
        folder.load(tmp_path / "e", None, tmp_path / "c", False, print)
    assert data.detect(root) == "folder" and data.detect(tmp_path) == "fashion-mnist"


def test_trains_on_an_image_folder_and_evaluates(tmp_path, capsys, one_torch_thread):
    root = write_folder(tmp_path / "imgs", per_class=8)
    code = train_cli(TINY_RGB, "--data-dir", root, "--set", "classes=2", "--epochs", "2",
                     "--random-resized-crop", "--resize", "24", tmp_path=tmp_path)
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["eval", str(TINY_RGB), "--checkpoint", str(tmp_path / "run" / "best.json"),
                 "--data-dir", str(root), "--device", "cpu",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "test acc" in capsys.readouterr().out


# ----------------------------------------------------------------------------- spec vs data


@pytest.mark.parametrize("spec, extra, where, message, hint", [
    (TINY, [], "4:9", "input 1x28x28: the data's images have 3 channels (3x32x32)",
     "write `input 3x28x28`"),
    (TINY_RGB, ["--dataset", "cifar100"], "4:39",
     "the network's output is 10, the data has 100 classes", "pass --set classes=100"),
    (TINY_RGB, ["--set", "classes=100", "--resize", "4"], "", "", ""),  # re-expanded: fails
])
def test_spec_that_does_not_fit_the_data_is_rejected_before_training(
        tmp_path, capsys, spec, extra, where, message, hint):
    write_cifar(tmp_path / "d", "cifar100")
    code = train_cli(spec, "--data-dir", tmp_path / "d", *extra, tmp_path=tmp_path)
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    if message:
        assert f"{spec}:{where}: error: {message}" in err, err
        assert f"hint: {hint}" in err
        assert not (tmp_path / "run" / "checkpoint.json").exists()
    else:  # at 4x4 a 5x5 conv does not fit: a located shape error
        assert f"{spec}:" in err and ": error[A0402]: " in err, err


def test_spatial_mismatch_without_resize_is_located(tmp_path, capsys):
    root = write_folder(tmp_path / "imgs", size=(20, 20))
    code = train_cli(TINY_RGB, "--data-dir", root, "--set", "classes=2", tmp_path=tmp_path)
    err = capsys.readouterr().err
    assert code == 1
    assert f"{TINY_RGB}:3:9: error: input 3x32x32: the data's images are 3x20x20" in err, err
    assert "or set resize = 32 in the train section" in err


def test_the_readme_cifar10_recipe_trains(tmp_path, capsys):
    """docs/cifar10_resnet18.arch (the README's CIFAR-10 recipe) fits CIFAR-10 and trains (a
    few steps on fixture records; its real-data result is in the README)."""
    spec = Path(__file__).resolve().parents[1] / "docs" / "cifar10_resnet18.arch"
    write_cifar(tmp_path / "d", per_file=8)
    code = train_cli(spec, "--data-dir", tmp_path / "d", "--epochs", "2", "--batch-size", "16",
                     "--limit-train", "32", "--limit-test", "16", tmp_path=tmp_path)
    assert code == 0, capsys.readouterr().err
    recipe = json.loads((tmp_path / "run" / "checkpoint.json").read_text())["recipe"]
    assert recipe["nesterov"] and recipe["schedule"] == "cosine" and len(recipe["mean"]) == 3
