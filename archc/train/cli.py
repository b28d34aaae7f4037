"""`archc train` and `archc eval`: wiring from parsed arguments to the run (the arguments are
defined in archc/commands/train.py and eval.py); the work is in loop.py.

Importing this module must not import torch (`archc check` stays torch-free): everything heavy
is imported inside the command functions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from archc.errors import ArchcError

RECIPE_FLAGS = ("dataset", "optimizer", "lr", "momentum", "weight_decay", "epochs", "batch_size",
                "resize", "init", "normalize")
# What a resumed run may change: the optimizer's numbers and the length of the run.
RESUMABLE = {"lr", "momentum", "weight_decay", "epochs", "batch_size"}


def report_error(exc: ArchcError) -> int:
    """Print like the rest of archc (with the source line when the error points into a spec)."""
    from archc.commands.options import print_errors

    print_errors(exc)
    return 1


def cmd_train(args: argparse.Namespace) -> int:
    try:
        return _train(args)
    except ArchcError as exc:
        return report_error(exc)


def cmd_eval(args: argparse.Namespace) -> int:
    try:
        return _eval(args)
    except ArchcError as exc:
        return report_error(exc)


def _cli_recipe(args: argparse.Namespace) -> dict[str, Any]:
    from archc.train.config import parse_assignment

    flags = {k: getattr(args, k) for k in RECIPE_FLAGS if getattr(args, k) is not None}
    flags.update(parse_assignment(s) for s in args.recipe)
    return flags


def _stored_index(run_dir: Path) -> dict[str, Any]:
    from archc.train.checkpoint import resolve

    return json.loads(resolve(run_dir).read_text())


def _resume_recipe(stored: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    from archc.train.config import RecipeError

    for key, value in flags.items():
        if key not in RESUMABLE and stored.get(key) != value:
            raise RecipeError(f"cannot change {key} when resuming (the run used "
                              f"{stored.get(key)!r})", hint="start a new run with --out")
    return {**stored, **flags}


def _train(args: argparse.Namespace) -> int:
    from archc.train import dist
    from archc.train.config import make_recipe
    from archc.train.loop import RunConfig, Trainer, resolve_device
    from archc.train.report import book_lines
    from archc.train.source import load_model

    world = dist.from_env()
    flags = _cli_recipe(args)
    src = load_model(args.spec, args.set, args.network)
    run_dir = _run_dir(args, src.name)
    seed = 0 if args.seed is None else args.seed
    if args.resume:
        stored = _stored_index(run_dir)
        recipe = make_recipe(_resume_recipe(stored["recipe"], flags), source="--resume")
        if args.seed is not None and args.seed != stored["seed"]:
            raise ArchcError(f"cannot change the seed when resuming (the run used "
                             f"{stored['seed']})")
        seed = stored["seed"]
    else:
        recipe = make_recipe(src.recipe, flags, source=f"{args.spec}: train")
    model_fn = src.builder(recipe.image_size)
    train_split, test_split = _load_data(args, recipe.dataset)
    if args.limit_train:
        train_split = _head(train_split, args.limit_train)
    cfg = RunConfig(recipe=recipe, seed=seed, device=args.device, engine=args.engine,
                    precision=args.precision, channels_last=args.channels_last,
                    deterministic=args.deterministic, progress=not args.no_progress,
                    eval_batch_size=args.eval_batch_size, world=world)
    device = resolve_device(args.device, world)
    dist.init(world, device)
    run_dir = Path(dist.broadcast_object(str(run_dir), world))
    if world.is_main:
        print(f"run folder: {run_dir}", file=sys.stderr)
    info = {"name": src.name, "spec": args.spec, "params": args.set, "network": args.network,
            "input_shape": [1, recipe.image_size, recipe.image_size]}
    trainer = Trainer(model_fn, train_split, test_split, run_dir, cfg, info)
    history = trainer.run(resume=bool(args.resume))
    if world.is_main:
        dev = f"cuda:{device.index}" if device.type == "cuda" else str(device)
        print(book_lines(history, dev))
    return 0


def _run_dir(args: argparse.Namespace, name: str) -> Path:
    from archc.train.config import TrainError

    if isinstance(args.resume, str):
        return Path(args.resume)
    if args.out is not None:
        if not args.resume and (args.out / "checkpoint.json").exists():
            raise TrainError(f"{args.out} already holds a run",
                             hint="pass --resume to continue it, or another --out")
        return args.out
    base = Path("runs") / name
    candidates = [base, *sorted(base.parent.glob(f"{name}-*"))]
    existing = [p for p in candidates if (p / "checkpoint.json").exists()]
    if args.resume:
        if not existing:
            raise TrainError(f"no run of {name} to resume under runs/", hint="pass --out")
        return max(existing, key=lambda p: (p / "checkpoint.json").stat().st_mtime)
    n = 1
    while (base if n == 1 else base.with_name(f"{name}-{n}")).joinpath("checkpoint.json").exists():
        n += 1
    return base if n == 1 else base.with_name(f"{name}-{n}")


def _load_data(args: argparse.Namespace, dataset: str) -> tuple[Any, Any]:
    from archc.train.data import load_split, locate

    paths = locate(dataset, args.data_dir, args.cache_dir, allow_download=not args.no_download)
    train, test = load_split(paths, "train"), load_split(paths, "test")
    if args.limit_test:
        test = _head(test, args.limit_test)
    return train, test


def _head(split: Any, n: int) -> Any:
    from archc.train.data import Split

    return Split(split.images[:n], split.labels[:n])


def _eval(args: argparse.Namespace) -> int:
    import torch

    from archc.train import checkpoint
    from archc.train.config import make_recipe
    from archc.train.data import to_device
    from archc.train.dist import World
    from archc.train.engine import evaluate
    from archc.train.loop import resolve_device
    from archc.train.source import load_model

    index, tensors = checkpoint.load(args.checkpoint)
    recipe = make_recipe(index["recipe"], source=str(args.checkpoint))
    src = load_model(args.spec, args.set or index.get("params", []),
                     args.network or index.get("network"))
    model = src.builder(recipe.image_size)()
    checkpoint.restore(model, None, index, tensors)
    device = resolve_device(args.device, World())
    model = model.to(device)
    train, test = _load_data(args, recipe.dataset)
    split = test if args.split == "test" else train
    amp = torch.bfloat16 if device.type == "cuda" else None
    data = to_device(split, recipe.image_size, device, recipe.normalize, channels_last=False)
    s = evaluate(model, data, args.eval_batch_size, amp, World()).tolist()
    dev = f"cuda:{device.index}" if device.type == "cuda" else str(device)
    print(f"{args.split} loss {s[0] / s[2]:.3f}, {args.split} acc {s[1] / s[2]:.3f} "
          f"({int(s[2])} examples, epoch {index['epoch']}) on {dev}")
    return 0
