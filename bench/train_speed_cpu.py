"""Training speed on the CPU: the book's loop (d2l train_ch6, 003) against `archc train`, in
paired fresh processes on the same data.

    python bench/train_speed_cpu.py --data-dir ../shared/data/mnist-5k --pairs 3 [--out FILE]

Each pair runs the book loop and `archc train SPEC` (order alternating between pairs) for the
same epochs, batch size, learning rate and model (lenet_bn by default, built by archc for both),
each in its own process. The book loop is 003's train_ch6 step for step: a DataLoader with 4
workers turning each image into a tensor (PIL + ToTensor), a host sync per batch, an evaluation
per epoch. `archc train` runs as a user runs it: progress bar off, but checkpoint, metrics,
TensorBoard events and curves.png on. Reported per run: examples/s by the loop's own timer (the
book's `Timer` around each step; archc's `train_seconds`, which count every step and its host
reads) and the whole process's wall time; then the ratios archc / book per pair.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def book(args: argparse.Namespace) -> None:
    """The book's train_ch6 on the CPU; prints one JSON line."""
    import numpy as np
    import torch
    from torch import nn

    sys.path.insert(0, str(ROOT))
    import archc
    from archc.emit.torch import init_weights
    from archc.train.data import load_data

    data = load_data(args.dataset, args.data_dir, allow_download=False)

    class Images(torch.utils.data.Dataset):  # d2l: FashionMNIST(transform=ToTensor())
        def __init__(self, split):
            from PIL import Image

            self.split, self.Image = split, Image

        def __len__(self) -> int:
            return len(self.split)

        def __getitem__(self, i: int):
            img = self.Image.fromarray(self.split.images[i, 0])
            x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).unsqueeze(0)
            return x, int(self.split.labels[i])

    train_iter = torch.utils.data.DataLoader(Images(data.train), args.batch_size, shuffle=True,
                                             num_workers=4)
    test_iter = torch.utils.data.DataLoader(Images(data.test), args.batch_size, shuffle=False,
                                            num_workers=4)
    torch.manual_seed(0)
    net = archc.build(archc.load(args.spec))
    init_weights(net, "xavier")
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr)
    loss = nn.CrossEntropyLoss()
    timer, examples, hits, total_loss = 0.0, 0, 0.0, 0.0
    for _ in range(args.epochs):
        net.train()
        for X, y in train_iter:
            t = time.perf_counter()
            optimizer.zero_grad()
            y_hat = net(X)
            l = loss(y_hat, y)  # noqa: E741 - the book's name
            l.backward()
            optimizer.step()
            with torch.no_grad():
                total_loss += float(l * X.shape[0])
                hits += float((y_hat.argmax(axis=1) == y).sum())
                examples += X.shape[0]
            timer += time.perf_counter() - t
        net.eval()
        right = seen = 0
        with torch.no_grad():
            for X, y in test_iter:  # d2l evaluate_accuracy_gpu
                right += float((net(X).argmax(axis=1) == y).sum())
                seen += y.numel()
    print(json.dumps({"examples": examples, "seconds": timer, "rate": examples / timer,
                      "test_acc": right / seen, "train_acc": hits / examples}))


def run_book(args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--role", "book", "--data-dir", str(args.data_dir),
           "--spec", args.spec, "--epochs", str(args.epochs), "--lr", str(args.lr),
           "--batch-size", str(args.batch_size), "--dataset", args.dataset]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "wall_s": wall}


def run_archc(args: argparse.Namespace, out: Path) -> dict:
    cmd = [sys.executable, "-m", "archc", "train", args.spec, "--data-dir", str(args.data_dir),
           "--device", "cpu", "--out", str(out), "--epochs", str(args.epochs), "--lr",
           str(args.lr), "--batch-size", str(args.batch_size), "--dataset", args.dataset,
           "--no-progress", *args.archc_flags.split()]
    env = {**os.environ, "PYTHONPATH": str(args.archc_root)}
    t = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    wall = time.perf_counter() - t
    hist = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    examples = sum(r["examples"] for r in hist)
    seconds = sum(r["train_seconds"] for r in hist)
    return {"examples": examples, "seconds": seconds, "rate": examples / seconds,
            "test_acc": hist[-1]["test_acc"], "wall_s": wall,
            "epoch_seconds": [round(r["train_seconds"], 2) for r in hist]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--role", choices=["bench", "book"], default="bench")
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--spec", default=str(ROOT / "specs" / "lenet_bn.arch"))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--archc-flags", default="", help="extra flags for archc train")
    p.add_argument("--archc-root", type=Path, default=ROOT,
                   help="the checkout whose archc trains (to compare versions)")
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    if a.role == "book":
        book(a)
        return
    res: dict = {"machine": f"{platform.processor() or platform.machine()}, "
                            f"{os.cpu_count()} CPUs", "python": platform.python_version(),
                 "date": time.strftime("%Y-%m-%d"), "spec": a.spec, "epochs": a.epochs,
                 "archc_root": str(a.archc_root), "load_before": os.getloadavg(),
                 "pairs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.pairs):
            order = ["book", "archc"] if i % 2 == 0 else ["archc", "book"]
            pair = {}
            for who in order:
                pair[who] = run_book(a) if who == "book" else run_archc(a, Path(tmp) / f"r{i}")
                print(f"pair {i + 1} {who}: {pair[who]['rate']:,.0f} ex/s by its timer, "
                      f"{pair[who]['wall_s']:.1f} s wall, test acc {pair[who]['test_acc']:.3f}",
                      flush=True)
            pair["rate_ratio"] = pair["archc"]["rate"] / pair["book"]["rate"]
            pair["wall_ratio"] = pair["book"]["wall_s"] / pair["archc"]["wall_s"]
            print(f"pair {i + 1}: archc / book = {pair['rate_ratio']:.2f}x by own rate, "
                  f"{pair['wall_ratio']:.2f}x by wall time", flush=True)
            res["pairs"].append(pair)
            if a.out:
                a.out.write_text(json.dumps(res, indent=1))
    rates = [q["rate_ratio"] for q in res["pairs"]]
    walls = [q["wall_ratio"] for q in res["pairs"]]
    print(f"median over {len(rates)} pairs: {statistics.median(rates):.2f}x by own rate "
          f"(range {min(rates):.2f}-{max(rates):.2f}), {statistics.median(walls):.2f}x by wall "
          f"time (range {min(walls):.2f}-{max(walls):.2f})")


if __name__ == "__main__":
    main()
