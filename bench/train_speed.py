"""Training speed: the book's loop (d2l train_ch6, 003) against archc's, in one process.

    python bench/train_speed.py --data-dir ../shared/data/fashion-mnist-subset [--out FILE]

Same model (002's ResNet-18, from specs/resnet18.arch when the compiler is importable), same
batch size (256) and resize (96), on a training set of --n images tiled from the IDX files
given (the full Fashion-MNIST is 60,000). Prints examples/s of each loop and the ratios; also
checks that a CUDA-graph step computes what an eager step does, and times whole 10-epoch runs
of `archc train` in fresh processes (imports, capture or compile, evaluation and checkpoints
included).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archc.emit.torch import init_weights  # noqa: E402
from archc.train.batches import to_device  # noqa: E402
from archc.train.data import Split, load_data  # noqa: E402
from archc.train.dist import World  # noqa: E402
from archc.train.engine import Stepper  # noqa: E402


def model_factory(resize: int):
    """The document's ResNet-18, from the bundled spec, at the recipe's input size."""
    import archc

    net = archc.load("resnet18", input_shape=(1, resize, resize))
    return (lambda: archc.build(net)), "specs/resnet18.arch"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def tile(split: Split, n: int) -> Split:
    reps = -(-n // len(split))
    return Split(np.tile(split.images, (reps, 1, 1, 1))[:n], np.tile(split.labels, reps)[:n])


# ----------------------------------------------------------------------------- the book's loop

class BookDataset(torch.utils.data.Dataset):
    """d2l.load_data_fashion_mnist: PIL image -> Resize(resize) -> ToTensor, per item."""

    def __init__(self, split: Split, resize: int):
        from PIL import Image

        self.split, self.resize, self.Image = split, resize, Image
        try:
            from torchvision import transforms

            self.trans = transforms.Compose([transforms.Resize(resize), transforms.ToTensor()])
        except ImportError:
            self.trans = None

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int):
        img = self.Image.fromarray(self.split.images[i, 0])
        if self.trans is not None:
            x = self.trans(img)
        else:  # what Resize + ToTensor do to a PIL "L" image
            img = img.resize((self.resize, self.resize), self.Image.BILINEAR)
            x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).unsqueeze(0)
        return x, int(self.split.labels[i])


def book_loop(model_fn, split: Split, resize: int, batch: int, lr: float, epochs: int,
              device: torch.device) -> list[dict]:
    """003's train_ch6, step for step (4 loader workers, a host sync per batch, fp32)."""
    torch.manual_seed(0)
    net = model_fn()
    init_weights(net, "xavier")
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    it = torch.utils.data.DataLoader(BookDataset(split, resize), batch, shuffle=True,
                                     num_workers=4)
    out = []
    for _ in range(epochs):
        metric = [0.0, 0.0, 0.0]
        timer = 0.0
        net.train()
        wall = time.perf_counter()
        for X, y in it:
            t = time.perf_counter()
            optimizer.zero_grad()
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)  # noqa: E741 - the book's name
            l.backward()
            optimizer.step()
            with torch.no_grad():
                hits = float((y_hat.argmax(axis=1).type(y.dtype) == y).type(y.dtype).sum())
                metric = [metric[0] + float(l * X.shape[0]), metric[1] + hits,
                          metric[2] + X.shape[0]]
            timer += time.perf_counter() - t
        wall = time.perf_counter() - wall
        out.append({"examples": metric[2], "book_timer_s": timer, "wall_s": wall,
                    "book_rate": metric[2] / timer, "wall_rate": metric[2] / wall,
                    "train_acc": metric[1] / metric[2]})
        print(f"  book loop epoch: {out[-1]['book_rate']:,.0f} ex/s by the book's timer, "
              f"{out[-1]['wall_rate']:,.0f} ex/s wall", flush=True)
    return out


# ----------------------------------------------------------------------------- hand-tuned loop

def hand_loop(model_fn, split: Split, resize: int, batch: int, lr: float, steps: int,
              device: torch.device) -> dict:
    """A careful hand-written eager loop: data resized once on the GPU, bf16, channels_last,
    cuDNN autotuning, metrics summed on the device, no host sync until the end."""
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    net = model_fn()
    init_weights(net, "xavier")
    net = net.to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    dd = to_device(split, resize, device, channels_last=True)
    sums = torch.zeros(2, device=device)
    perm = torch.randperm(len(dd), device=device)
    nb = len(dd) // batch

    def step(i: int) -> None:
        x, y = dd.batch(perm[(i % nb) * batch:(i % nb + 1) * batch])
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out = net(x)
        loss = F.cross_entropy(out.float(), y)
        loss.backward()
        opt.step()
        sums[0] += loss.detach()
        sums[1] += (out.argmax(1) == y).sum()

    for i in range(20):
        step(i)
    sync(device)
    t = time.perf_counter()
    for i in range(steps):
        step(i)
    sync(device)
    dt = time.perf_counter() - t
    return {"rate": steps * batch / dt, "seconds": dt}


# ----------------------------------------------------------------------------- archc's engines

def engine_rate(model_fn, split: Split, resize: int, batch: int, lr: float, steps: int,
                engine: str, device: torch.device, amp=torch.bfloat16,
                channels_last: bool = True) -> dict:
    """Steady examples/s of one Stepper engine, and its start-up cost (first steps)."""
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    net = model_fn()
    init_weights(net, "xavier")
    net = net.to(device, memory_format=torch.channels_last if channels_last else
                 torch.contiguous_format)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    dd = to_device(split, resize, device, channels_last=channels_last)
    st = Stepper(net, opt, dd, batch, engine, amp, World())
    perm = torch.randperm(len(dd), device=device)
    nb = len(dd) // batch

    def run(k0: int, k: int) -> float:
        t = time.perf_counter()
        for i in range(k0, k0 + k):
            j = i % nb
            st.step(perm[j * batch:(j + 1) * batch], batch)
        sync(device)
        return time.perf_counter() - t

    warm = run(0, 10)
    dt = run(10, steps)
    return {"rate": steps * batch / dt, "startup_s": warm, "seconds": dt}


def graph_matches_eager(model_fn, split: Split, resize: int, device: torch.device) -> float:
    """Relative difference of the weights after one epoch (with an odd last batch) trained by
    the eager step and by the graph step, in fp32."""
    small = Split(split.images[:256 * 6 + 100], split.labels[:256 * 6 + 100])
    params = []
    for engine in ("eager", "graph"):
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.manual_seed(0)
        net = model_fn()
        init_weights(net, "xavier")
        net = net.to(device)
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        dd = to_device(small, resize, device)
        st = Stepper(net, opt, dd, 256, engine, None, World())
        perm = torch.randperm(len(dd), generator=torch.Generator().manual_seed(1)).to(device)
        for b in range(0, len(dd), 256):
            idx = perm[b:b + 256]
            st.step(idx, idx.shape[0])
        params.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    torch.backends.cudnn.deterministic = False
    return float((params[0] - params[1]).norm() / params[0].norm())


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def whole_runs(train: Split, test: Split, runs: list[str], epochs: int) -> dict:
    """`archc train resnet18` end to end in a fresh process per run (imports, data upload,
    capture or compile, evaluation and checkpoints included), on the tiled data written as
    IDX files. `compile-graph:cold` compiles with an empty inductor cache, `:warm` reuses it."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, split in (("train", train), ("t10k", test)):
            write_idx(d / f"{name}-images-idx3-ubyte.gz", split.images[:, 0])
            write_idx(d / f"{name}-labels-idx1-ubyte.gz", split.labels)
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(d / "inductor-cache")}
        for i, run in enumerate(runs):
            engine = run.split(":")[0]
            cmd = [sys.executable, "-m", "archc", "train", "resnet18", "--data-dir", str(d),
                   "--out", str(d / f"run{i}"), "--engine", engine, "--epochs", str(epochs),
                   "--no-progress"]
            t = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t
            tail = proc.stdout.strip().splitlines()[-3:]
            out[run] = {"wall_s": wall, "rc": proc.returncode, "stdout_tail": tail,
                        "stderr_tail": proc.stderr[-1500:] if proc.returncode else ""}
            metrics = d / f"run{i}" / "metrics.jsonl"
            if metrics.exists():
                out[run].update(breakdown(wall, [json.loads(x) for x in
                                                 metrics.read_text().splitlines()]))
            print(f"  whole run, {run}: {wall:.1f} s wall, rc {proc.returncode}: "
                  + " | ".join(tail), flush=True)
            print("    " + ", ".join(f"{k} {v:.1f}" for k, v in out[run].items()
                                     if k.endswith("_s") and k != "wall_s"), flush=True)
    return out


def breakdown(wall: float, hist: list[dict]) -> dict:
    """Where a whole run's wall time went, from its metrics.jsonl."""
    train = sum(r["train_seconds"] for r in hist)
    evals = sum(r["eval_seconds"] for r in hist)
    first = hist[0]
    return {"train_s": train, "first_epoch_train_s": first["train_seconds"],
            "steady_epoch_train_s": float(np.median([r["train_seconds"] for r in hist[1:]])),
            "eval_s": evals,
            "before_epoch1_s": first["elapsed_s"] - first["train_seconds"] - first["eval_seconds"],
            "between_epochs_s": hist[-1]["elapsed_s"] - first["elapsed_s"] - train - evals
            + first["train_seconds"] + first["eval_seconds"],
            "outside_trainer_s": wall - hist[-1]["elapsed_s"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--n", type=int, default=60000, help="training images (tiled)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--resize", type=int, default=96)
    p.add_argument("--steps", type=int, default=200, help="timed steps per fast variant")
    p.add_argument("--book-epochs", type=int, default=2)
    p.add_argument("--engines", default="eager,graph,compile-graph")
    p.add_argument("--whole-runs", default="graph,compile-graph:cold,compile-graph:warm",
                   help="fresh-process `archc train` runs ('' for none)")
    p.add_argument("--n-test", type=int, default=10000, help="test images (tiled)")
    p.add_argument("--out", type=Path)
    p.add_argument("--device", default="cuda:0", help="cpu only for a smoke test")
    p.add_argument("--profile", type=Path, help="write a kernel-time table of an eager step")
    a = p.parse_args()
    device = torch.device(a.device)
    on_gpu = device.type == "cuda"
    model_fn, source = model_factory(a.resize)
    ds = load_data("fashion-mnist", a.data_dir, allow_download=False)
    train, test = tile(ds.train, a.n), tile(ds.test, a.n_test)
    gpu = torch.cuda.get_device_name(device) if on_gpu else platform.processor()
    res: dict = {"gpu": gpu, "torch": torch.__version__,
                 "python": platform.python_version(), "model": source, "n": a.n,
                 "batch": a.batch_size, "resize": a.resize}
    print(f"{res['gpu']}, torch {res['torch']}, model {source}, {a.n} images, "
          f"batch {a.batch_size}, resize {a.resize}", flush=True)

    def save() -> None:  # after every stage, so a run cut short keeps what it measured
        if a.out:
            a.out.write_text(json.dumps(res, indent=1))

    if on_gpu:
        res["graph_vs_eager_rel_diff"] = graph_matches_eager(model_fn, train, a.resize, device)
        print(f"graph step vs eager step, fp32, 1 epoch: rel diff "
              f"{res['graph_vs_eager_rel_diff']:.2e}", flush=True)
    res["book"] = book_loop(model_fn, train, a.resize, a.batch_size, 0.05, a.book_epochs, device)
    save()
    res["hand"] = hand_loop(model_fn, train, a.resize, a.batch_size, 0.05, a.steps, device)
    print(f"  hand-tuned eager: {res['hand']['rate']:,.0f} ex/s", flush=True)
    save()
    res["engines"] = {}
    for engine in a.engines.split(","):
        r = engine_rate(model_fn, train, a.resize, a.batch_size, 0.05, a.steps, engine, device,
                        channels_last=on_gpu)
        res["engines"][engine] = r
        print(f"  archc {engine}: {r['rate']:,.0f} ex/s (first 10 steps {r['startup_s']:.1f}s)",
              flush=True)
        save()
    if a.whole_runs:
        res["whole"] = whole_runs(train, test, a.whole_runs.split(","), 10)
        save()
    if a.profile:
        profile(model_fn, train, a.resize, a.batch_size, device, a.profile)
    summarize(res)


def profile(model_fn, split: Split, resize: int, batch: int, device: torch.device,
            path: Path) -> None:
    """Where an eager bf16 step spends GPU time (kernel table), for the notes."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof

    torch.manual_seed(0)
    net = model_fn().to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    dd = to_device(split.head(batch * 8), resize, device, channels_last=True)
    st = Stepper(net, opt, dd, batch, "eager", torch.bfloat16, World())
    idx = torch.arange(batch, device=device)
    for _ in range(5):
        st.step(idx, batch)
    sync(device)
    with prof(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
        for _ in range(5):
            st.step(idx, batch)
        sync(device)
    avg = p.key_averages()
    for key in ("self_device_time_total", "self_cuda_time_total", "cuda_time_total"):
        try:
            path.write_text(avg.table(sort_by=key, row_limit=40))
            return
        except (KeyError, AttributeError, ValueError):
            continue


def summarize(res: dict) -> None:
    book = res["book"][-1]  # steady epoch (workers and cuDNN warm)
    book_best = max(book["book_rate"], book["wall_rate"])
    print(f"\n{'loop':<28}{'examples/s':>12}{'x book':>9}")
    rows = [("book (train_ch6), its timer", book["book_rate"]),
            ("book (train_ch6), wall", book["wall_rate"]),
            ("hand-tuned eager", res["hand"]["rate"])]
    rows += [(f"archc --engine {k}", v["rate"]) for k, v in res["engines"].items()]
    for name, rate in rows:
        print(f"{name:<28}{rate:>12,.0f}{rate / book_best:>8.2f}x")
    for run, r in res.get("whole", {}).items():
        print(f"archc train resnet18, 10 epochs, fresh process, {run}: {r['wall_s']:.1f} s wall")
    book_epoch = book["wall_s"]
    print(f"book loop, 10 epochs (10 x its steady epoch, evaluation not counted): "
          f"{10 * book_epoch:.1f} s")


if __name__ == "__main__":
    main()
