"""What a run shows and leaves behind: a progress bar per epoch, metrics.jsonl, TensorBoard
event files, curves.png (drawn once, when the run ends: drawing holds the GIL, and drawn during
training it slowed the CPU steps beside it) and the book's closing lines."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archc.train.checkpoint import atomic_write


class EpochBar:
    """A rich progress bar for one epoch: batches, loss, accuracy, examples/s."""

    def __init__(self, epoch: int, epochs: int, batches: int, enabled: bool):
        self.progress = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TimeElapsedColumn(),
            console=Console(file=sys.stderr), transient=False)
        self.task = self.progress.add_task("train", total=batches, stats="")

    def __enter__(self) -> EpochBar:
        if self.progress is not None:
            self.progress.start()
        return self

    def update(self, done: int, loss: float, acc: float, rate: float, extra: str = "") -> None:
        if self.progress is not None:
            stats = f"loss {loss:.3f}  acc {acc:.3f}  {rate:,.0f} ex/s{extra}"
            self.progress.update(self.task, completed=done, stats=stats)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def epoch_line(record: dict[str, Any], epochs: int) -> str:
    """One epoch in one line, for runs without a progress bar (`--no-progress`, CI logs)."""
    top5 = f", test top-5 {record['test_top5']:.3f}" if "test_top5" in record else ""
    return (f"epoch {record['epoch']}/{epochs}: loss {record['train_loss']:.3f}, train acc "
            f"{record['train_acc']:.3f}, test acc {record['test_acc']:.3f}{top5}, "
            f"{record['examples_per_sec']:,.0f} ex/s, {record['train_seconds']:.1f} s")


class BackgroundWriter:
    """Runs one file-writing job at a time on a thread (checkpoint, metrics, plot), so that
    serialising and fsync'ing ~45 MB per epoch overlaps the next epoch's training. A job's
    error surfaces at the next `submit` or `flush`."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def submit(self, job: Callable[[], None]) -> None:
        self.flush()
        self.thread = threading.Thread(target=self._run, args=(job,), name="archc-writer")
        self.thread.start()

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # noqa: BLE001 - handed to the training thread
            self.error = exc

    def flush(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            error, self.error = self.error, None
            raise error


def write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    """metrics.jsonl: one JSON object per finished epoch (rewritten whole, atomically, so a
    resumed run never keeps the lines of an epoch it is redoing)."""
    atomic_write(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in history).encode())


class TensorBoard:
    """TensorBoard event files in the run folder (`tensorboard --logdir runs`): per-epoch
    losses, accuracies, learning rate and speed. The writer queues events on its own thread."""

    def __init__(self, run_dir: Path, first_epoch: int):
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: events a crashed run logged past its last checkpoint are dropped.
        self.writer = SummaryWriter(str(run_dir), purge_step=first_epoch)

    def epoch(self, record: dict[str, Any]) -> None:
        step = record["epoch"]
        for key, tag in (("train_loss", "loss/train"), ("test_loss", "loss/test"),
                         ("train_acc", "accuracy/train"), ("test_acc", "accuracy/test"),
                         ("test_top5", "accuracy/test_top5"), ("lr", "lr"),
                         ("examples_per_sec", "speed/examples_per_sec")):
            if key in record:
                self.writer.add_scalar(tag, record[key], step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def read_metrics(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot(path: Path, history: list[dict[str, Any]], title: str) -> None:
    """The book's animator, as a file: train loss, train acc and test acc against epochs."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(5.5, 3.8), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(epochs, [r["train_loss"] for r in history], "-o", ms=3, label="train loss")
    ax.plot(epochs, [r["train_acc"] for r in history], "--o", ms=3, label="train acc")
    ax.plot(epochs, [r["test_acc"] for r in history], "-.o", ms=3, label="test acc")
    if all("test_top5" in r for r in history):
        ax.plot(epochs, [r["test_top5"] for r in history], ":o", ms=3, label="test top-5")
    ax.set_xlabel("epoch")
    ax.set_xlim(0.8, max(epochs[-1], 1) + 0.2)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    tmp.replace(path)


def book_lines(history: list[dict[str, Any]], device: str) -> str:
    """The two lines d2l's train_ch6 ends with (002: `loss 0.014, train acc 0.996, test acc
    0.895` / `4680.2 examples/sec on cuda:0`); examples/sec counts training time only."""
    last = history[-1]
    examples = sum(r["examples"] for r in history)
    seconds = sum(r["train_seconds"] for r in history)
    rate = examples / seconds if seconds > 0 else float("nan")
    return (f"loss {last['train_loss']:.3f}, train acc {last['train_acc']:.3f}, "
            f"test acc {last['test_acc']:.3f}\n{rate:.1f} examples/sec on {device}")
