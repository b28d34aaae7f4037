"""Recipes as trained: optimizers, schedules, label smoothing and clipping against a
hand-written loop; augmentation on the device; resume with all of them; best and last
checkpoints; TensorBoard events; --quiet."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

import archc
from archc.cli import main
from archc.emit.torch import init_weights
from archc.train import batches, checkpoint, data
from archc.train.config import make_recipe
from archc.train.loop import RunConfig, Trainer, epoch_seed
from tests.train_fixtures import write_idx_set
from tests.util import cpu_seed

TINY = Path(__file__).parent / "train_specs" / "tiny.arch"


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory) -> Path:
    return write_idx_set(tmp_path_factory.mktemp("idx"), n_train=200, n_test=40)


def tiny():
    return archc.build(archc.load(TINY))


RECIPES = [
    {"lr": 0.2, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3,
     "label_smoothing": 0.1, "clip_grad_norm": 0.5, "schedule": "cosine",
     "warmup_epochs": 0.5, "min_lr": 0.01},
    {"optimizer": "adamw", "lr": 3e-3, "beta1": 0.8, "weight_decay": 0.05, "schedule": "step",
     "step_size": 1, "gamma": 0.5},
]


@pytest.mark.parametrize("values", RECIPES, ids=["sgd-cosine", "adamw-step"])
def test_trainer_matches_a_hand_written_loop(values, idx_dir, tmp_path, one_torch_thread):
    train = data.load_data("mnist", idx_dir).train
    recipe = make_recipe({**values, "batch_size": 64, "epochs": 2})
    cfg = RunConfig(recipe=recipe, seed=3, device="cpu", progress=False, tensorboard=False)
    Trainer(tiny, train, train, tmp_path, cfg, out=lambda s: None).run()
    _, saved = checkpoint.load(tmp_path)

    cpu_seed(3)
    ref = tiny()
    init_weights(ref, "xavier")
    if recipe.optimizer == "sgd":
        opt = torch.optim.SGD(ref.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                              nesterov=True, weight_decay=recipe.weight_decay)
    else:
        opt = torch.optim.AdamW(ref.parameters(), lr=recipe.lr, betas=(0.8, 0.999),
                                weight_decay=recipe.weight_decay)
    images = torch.from_numpy(train.images).float() / 255
    labels = torch.from_numpy(train.labels)
    step = 0
    for epoch in (1, 2):
        perm = torch.randperm(200, generator=torch.Generator().manual_seed(epoch_seed(3, epoch)))
        for b in range(0, 200, 64):
            for group in opt.param_groups:
                group["lr"] = recipe.lr_at(step, 4)
            idx = perm[b:b + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(ref(images[idx]), labels[idx],
                                              label_smoothing=recipe.label_smoothing).backward()
            if recipe.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(ref.parameters(), recipe.clip_grad_norm)
            opt.step()
            step += 1
    for name, value in ref.state_dict().items():
        torch.testing.assert_close(saved[f"model.{name}"], value, rtol=1e-4, atol=1e-5,
                                   msg=name)


def test_augmentations(one_torch_thread):
    cpu_seed(0)
    x = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    crops = batches.random_crop(x, 2)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(16):  # every output is one 8x8 window of its padded input
        windows = [padded[i, :, r:r + 8, c:c + 8] for r in range(5) for c in range(5)]
        assert any(torch.equal(crops[i], w) for w in windows)
    assert len({tuple(c.flatten().tolist()) for c in crops}) > 1
    xf = x.float()
    flipped = batches.hflip(xf)
    same = [torch.equal(flipped[i], xf[i]) for i in range(16)]
    assert all(s or torch.equal(flipped[i], xf[i].flip(-1)) for i, s in enumerate(same))
    assert 0 < sum(same) < 16
    rrc = batches.random_resized_crop(xf / 255, (6, 5), 0.3)
    assert rrc.shape == (16, 3, 6, 5) and 0 <= rrc.min() and rrc.max() <= 1
    cpu_seed(1)
    a = batches.random_resized_crop(xf, (6, 6), 0.3)
    cpu_seed(1)
    assert torch.equal(a, batches.random_resized_crop(xf, (6, 6), 0.3))
    # Evaluation batches are never augmented; training batches are.
    split = data.Split(x.numpy(), torch.arange(16).numpy())
    dd = batches.to_device(split, 8, "cpu", augment=batches.Augment(crop_padding=2, hflip=True))
    ix = torch.arange(16)
    assert torch.equal(dd.batch(ix)[0], xf / 255)
    assert not torch.equal(dd.batch(ix, train=True)[0], xf / 255)


AUG = ["--crop-padding", "3", "--hflip", "--normalize", "--schedule", "cosine",
       "--warmup-epochs", "0.5", "--momentum", "0.9", "--batch-size", "64", "--epochs", "3",
       "--no-progress", "--label-smoothing", "0.1"]
UNTIMED = {"train_seconds", "eval_seconds", "examples_per_sec", "elapsed_s"}


def history(run: Path) -> list[dict]:
    index = json.loads((run / "checkpoint.json").read_text())
    return [{k: v for k, v in r.items() if k not in UNTIMED} for r in index["history"]]


def test_resume_with_augmentation_and_schedule_is_exact(idx_dir, tmp_path, capsys, monkeypatch,
                                                         one_torch_thread):
    def run(out: Path, *extra: str) -> int:
        return main(["train", str(TINY), "--data-dir", str(idx_dir), "--device", "cpu",
                     "--out", str(out), *AUG, *extra])
    assert run(tmp_path / "whole") == 0
    real_epoch = Trainer._epoch

    def interrupted(self, epoch, *args):
        if epoch == 2:
            raise KeyboardInterrupt  # after epoch 1's checkpoint, before epoch 2 trains
        return real_epoch(self, epoch, *args)
    monkeypatch.setattr(Trainer, "_epoch", interrupted)
    assert run(tmp_path / "broken") == 130  # archc's exit code for an interrupt
    assert json.loads((tmp_path / "broken" / "checkpoint.json").read_text())["epoch"] == 1
    assert (tmp_path / "broken" / "curves.png").exists()  # drawn for the epochs done
    monkeypatch.undo()
    assert run(tmp_path / "broken", "--resume", str(tmp_path / "broken")) == 0
    assert history(tmp_path / "broken") == history(tmp_path / "whole")
    lrs = [r["lr"] for r in history(tmp_path / "whole")]  # the last step's of each epoch
    assert 0.1 > lrs[0] > lrs[1] > lrs[2] > 0
    capsys.readouterr()
    assert run(tmp_path / "whole", "--resume", str(tmp_path / "whole"), "--normalize",
               "--mean", "0.5", "--std", "0.5") == 1
    assert "cannot change mean when resuming" in capsys.readouterr().err


def test_best_and_last_checkpoints_tensorboard_and_quiet(idx_dir, tmp_path, capsys,
                                                        one_torch_thread):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    code = main(["train", str(TINY), "--data-dir", str(idx_dir), "--device", "cpu", "--out",
                 str(out), "--epochs", "3", "--batch-size", "32", "--lr", "0.3", "--quiet"])
    assert code == 0
    captured = capsys.readouterr()
    assert captured.err == "" and len(captured.out.strip().splitlines()) == 2
    hist = history(out)
    best = max(hist, key=lambda r: r["test_acc"])
    best_index = json.loads((out / "best.json").read_text())
    assert best_index["epoch"] == best["epoch"] and best_index["history"][-1]["test_acc"] == \
        best["test_acc"]
    assert (out / best_index["tensors"]).exists() and (out / "ckpt-0003.safetensors").exists()
    events = EventAccumulator(str(out))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/train", "loss/test", "accuracy/test", "accuracy/test_top5", "lr"} <= tags
    assert [e.value for e in events.Scalars("accuracy/test")] == pytest.approx(
        [r["test_acc"] for r in hist])
    assert main(["eval", str(TINY), "--checkpoint", str(out / "best.json"), "--data-dir",
                 str(idx_dir), "--device", "cpu"]) == 0
    assert f"test acc {best['test_acc']:.3f}" in capsys.readouterr().out



def test_freed_step_buffers_are_reused_not_faulted_in_again(one_torch_thread):
    """archc/train/host.py: the buffers a CPU training step frees are reused by the next step
    instead of being faulted in from the kernel again (lenet_bn, batch 256: ~1,900 page faults
    per step before, 0 after). Run in a fresh process: the setting is for the whole process."""
    import subprocess
    import textwrap

    code = textwrap.dedent("""
        import platform, resource, sys, torch
        import torch.nn.functional as F
        import archc
        from archc.train import host
        torch.set_num_threads(1)
        m = archc.build(archc.load("lenet_bn"))
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        x, y = torch.rand(256, 1, 28, 28), torch.randint(0, 10, (256,))
        def faults(n=4):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(n):
                opt.zero_grad(); F.cross_entropy(m(x), y).backward(); opt.step()
            return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / n
        faults()
        off = faults()
        glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
        assert host.keep_freed_memory() is glibc and host.keep_freed_memory() is glibc
        faults()
        print(off, min(faults() for _ in range(3)), glibc)  # the quietest of three windows
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    off, on, glibc = out.stdout.split()
    if glibc == "True":
        # on: at most 10 per step, or 10x fewer than off (0-30 per step here: a step that grows
        # the heap faults its new pages, so the quietest of three windows counts). Off is
        # usually 800-1,900, but glibc's own dynamic mmap threshold sometimes keeps the blocks
        # already (64 seen once in 13 runs), so off is not asserted.
        assert float(on) <= max(10.0, float(off) / 10), out.stdout
