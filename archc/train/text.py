"""`archc train SPEC --text FILE` and `archc generate`: a language model trained on next-token
prediction. The data is a plain text file read as bytes (ids 0..255, no tokenizer, nothing to
download) or a `.bin` of uint16 token ids (nanoGPT's layout); the last tenth is held out.
Each step draws `batch_size` random windows of the spec's N tokens (nanoGPT's get_batch); an
epoch is as many steps as the training ids hold windows. The recipe (optimizer, lr, warmup,
cosine, weight decay, bf16 on GPU) is the spec's train { } section under the flags, as for
images. The run folder holds model.safetensors and text_run.json (spec, --set values, loss
and perplexity per epoch).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from archc.core.errors import ArchcError, ShapeError
from archc.core.graph import Ids, Network
from archc.core.recipe import Recipe, make_recipe
from archc.train.config import TrainError

RUN_FILE = "text_run.json"
WEIGHTS = "model.safetensors"


def read_ids(path: Path) -> torch.Tensor:
    """The token ids of a file: uint16 ids for a .bin, else its bytes."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrainError(f"--text {path}: cannot read it ({exc.strerror or exc})") from None
    if path.suffix == ".bin":
        if len(data) % 2:
            raise TrainError(f"--text {path}: a .bin of uint16 ids has an even size, "
                             f"got {len(data)} bytes")
        ids = torch.frombuffer(bytearray(data), dtype=torch.int16).long() & 0xFFFF
    else:
        ids = torch.frombuffer(bytearray(data), dtype=torch.uint8).long()
    return ids


def language_model(spec: str, sets: list[str], network: str | None) -> Network:
    """The spec's network, checked to be a language model: token ids in, one row of logits
    per token out (located errors at its input line or last layer)."""
    from archc.front import tree
    from archc.pipeline.driver import load_network
    from archc.pipeline.program import pick_network
    from archc.train.source import _parse_params

    net, prog = load_network(spec, _parse_params(sets) or None, None, network)
    defn = pick_network(prog, network)
    where = next((s.span for s in defn.body if isinstance(s, tree.Input)), defn.span)
    shape = net.input_shape
    try:
        if not isinstance(shape, Ids):
            raise ShapeError(f"archc train --text: the network takes {_fmt(shape)}, not token "
                             "ids", where, "write `input tokens(N, 256)` (bytes) and an "
                             "embedding(256, dim)")
        if net.output_shape != (shape[0], shape.vocab):
            last = net.root.items[-1].span if net.root.items else where
            raise ShapeError(f"archc train --text: the network's output is "
                             f"{_fmt(net.output_shape)}, next-token logits are "
                             f"{shape[0]}x{shape.vocab}", last,
                             f"end with linear({shape.vocab}) on every token")
    except ArchcError as exc:
        exc.sources = prog.sources
        raise
    return net


def _fmt(shape: tuple[int, ...]) -> str:
    from archc.registry.ops import fmt_shape

    return fmt_shape(shape)


def _batch(ids: torch.Tensor, n: int, size: int, gen: torch.Generator
           ) -> tuple[torch.Tensor, torch.Tensor]:
    starts = torch.randint(len(ids) - n, (size,), generator=gen)
    x = torch.stack([ids[s:s + n] for s in starts.tolist()])
    y = torch.stack([ids[s + 1:s + 1 + n] for s in starts.tolist()])
    return x, y


def _optimizer(model: torch.nn.Module, r: Recipe) -> torch.optim.Optimizer:
    if r.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=r.lr, betas=(r.beta1, r.beta2),
                                 weight_decay=r.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=r.lr, momentum=r.momentum,
                           weight_decay=r.weight_decay, nesterov=r.nesterov)


def _loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
          amp: torch.dtype | None) -> torch.Tensor:
    with torch.autocast(x.device.type, dtype=amp or torch.float32, enabled=amp is not None):
        logits = model(x)
    return F.cross_entropy(logits.float().flatten(0, 1), y.flatten())


@torch.no_grad()
def _held_out_loss(model: torch.nn.Module, ids: torch.Tensor, n: int, batch: int,
                   device: torch.device, amp: torch.dtype | None) -> float:
    """The mean next-token loss over the held-out ids, window after window."""
    model.eval()
    windows = max(1, (len(ids) - 1) // n)
    total, count = 0.0, 0
    for first in range(0, windows, batch):
        starts = [w * n for w in range(first, min(windows, first + batch))]
        x = torch.stack([ids[s:s + n] for s in starts]).to(device)
        y = torch.stack([ids[s + 1:s + 1 + n] for s in starts]).to(device)
        total += _loss(model, x, y, amp).item() * len(starts)
        count += len(starts)
    model.train()
    return total / count


def train_text(args: argparse.Namespace) -> int:
    """The run: check, train, print loss and perplexity per epoch, save."""
    from archc import build
    from archc.train.checkpoint import run_dir as run_folder
    from archc.train.config import cli_recipe
    from archc.train.dist import World
    from archc.train.loop import resolve_device

    net = language_model(args.spec, args.set, args.network)
    ids_shape = net.input_shape
    assert isinstance(ids_shape, Ids)
    n, vocab = ids_shape[0], ids_shape.vocab
    ids = read_ids(Path(args.text))
    if len(ids) < 2 * (n + 1):
        raise TrainError(f"--text {args.text}: {len(ids)} tokens are too few for windows of "
                         f"{n}", hint="use a longer text or a shorter `input tokens(N, ...)`")
    if int(ids.max()) >= vocab:
        raise TrainError(f"--text {args.text}: holds id {int(ids.max())}, the network's "
                         f"vocabulary is {vocab}", hint="raise the vocab of `input tokens`")
    recipe = make_recipe(net.recipe, cli_recipe(args), source=f"{args.spec}: train")
    seed = 0 if args.seed is None else args.seed
    torch.manual_seed(seed)
    device = resolve_device(args.device, World())
    model = build(net).to(device).train()
    cut = len(ids) - max(n + 1, len(ids) // 10)
    train_ids, held_ids = ids[:cut], ids[cut:]
    steps = max(1, len(train_ids) // (recipe.batch_size * n))
    opt = _optimizer(model, recipe)
    amp = torch.bfloat16 if device.type == "cuda" and recipe.precision != "fp32" else None
    gen = torch.Generator().manual_seed(seed)
    run_dir = run_folder(args, net.name)
    say = (lambda s: None) if args.quiet else print
    say(f"{len(train_ids):,} training tokens, {len(held_ids):,} held out; windows of {n}, "
        f"{steps} steps an epoch")
    history: list[dict[str, float]] = []
    for epoch in range(recipe.epochs):
        start, losses = time.perf_counter(), []
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = recipe.lr_at(epoch * steps + step, steps)
            x, y = _batch(train_ids, n, recipe.batch_size, gen)
            loss = _loss(model, x.to(device), y.to(device), amp)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        held = _held_out_loss(model, held_ids, n, recipe.batch_size, device, amp)
        row = {"epoch": epoch + 1, "train_loss": sum(losses) / len(losses),
               "held_out_loss": held, "perplexity": math.exp(min(held, 50.0)),
               "seconds": time.perf_counter() - start}
        history.append(row)
        say(f"epoch {epoch + 1}: train loss {row['train_loss']:.3f}, held-out loss "
            f"{held:.3f}, perplexity {row['perplexity']:.2f} ({row['seconds']:.1f} s)")
    _save(run_dir, model, args, recipe, history)
    print(f"run folder: {run_dir}; final held-out loss {history[-1]['held_out_loss']:.3f} "
          f"(perplexity {history[-1]['perplexity']:.2f})", file=sys.stderr)
    return 0


def _save(run_dir: Path, model: torch.nn.Module, args: argparse.Namespace, recipe: Recipe,
          history: list[dict[str, float]]) -> None:
    from safetensors.torch import save_file

    # a tied weight is one tensor under two keys: each key gets its own copy in the file
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(run_dir / WEIGHTS))
    info: dict[str, Any] = {"spec": args.spec, "params": list(args.set),
                            "network": args.network, "text": str(args.text),
                            "recipe": recipe.model_dump(), "history": history}
    (run_dir / RUN_FILE).write_text(json.dumps(info, indent=2))


def generate(args: argparse.Namespace) -> int:
    """Sample tokens after a prompt from a run's weights; print the prompt and the text."""
    from archc import build
    from archc.emit.weights import read_state_dict

    run = Path(args.weights)
    weights = run / WEIGHTS if run.is_dir() else run
    sets = args.set
    if not sets and run.is_dir() and (run / RUN_FILE).exists():
        sets = json.loads((run / RUN_FILE).read_text()).get("params") or []
    net = language_model(args.spec, sets, args.network)
    shape = net.input_shape
    assert isinstance(shape, Ids)
    model = build(net).eval()
    if not weights.exists():
        raise TrainError(f"--weights {args.weights}: no {WEIGHTS} there",
                         hint="pass the run folder `archc train --text` wrote")
    result = model.load_state_dict(read_state_dict(weights), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise TrainError(f"--weights {weights}: does not fit {net.name} (missing "
                         f"{result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]})")
    gen = torch.Generator().manual_seed(args.seed)
    ids = list(args.prompt.encode("utf-8")) or [ord("\n")]
    if max(ids) >= shape.vocab:
        raise TrainError(f"--prompt: a byte past the network's vocabulary of {shape.vocab}")
    with torch.no_grad():
        for _ in range(args.tokens):
            x = torch.tensor([ids[-shape[0]:]])
            logits = model(x)[0, -1].double() / max(args.temperature, 1e-6)
            if args.top_k:
                cut = torch.topk(logits, min(args.top_k, len(logits))).values[-1]
                logits = logits.masked_fill(logits < cut, -math.inf)
            ids.append(int(torch.multinomial(logits.softmax(-1), 1, generator=gen)))
    print(bytes(i for i in ids if i < 256).decode("utf-8", errors="replace"))
    return 0
