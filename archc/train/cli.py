"""`archc train` and `archc eval`: wiring from parsed arguments (defined in
archc/commands/train.py and eval.py) to the run, step by step: recipe, run folder, data, the
static fit of the network to the data, then the trainer (archc/train/loop.py) or one evaluation.

Importing this module must not import torch (`archc check` stays torch-free): everything heavy
is imported inside the command functions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from archc.core.errors import ArchcError, UsageError
from archc.core.recipe import Recipe, RecipeError, make_recipe
from archc.train.config import TrainError, cli_recipe
from archc.train.data import Data, load_data

# What a resumed run may not change: what the data is, and what the weights and optimizer
# state mean. Everything else (the run's length, rates, schedule, augmentation) may change.
FIXED_ON_RESUME = {"dataset", "resize", "normalize", "mean", "std", "init", "optimizer"}


def report_error(exc: ArchcError) -> int:
    """Print like the rest of archc (with the source line when the error points into a spec);
    a usage error goes on to the CLI, which prints it and exits 2 as every command does."""
    from archc.core.sources import print_errors

    if isinstance(exc, UsageError):
        raise exc
    print_errors(exc)
    return 1


def cmd_train(args: argparse.Namespace) -> int:
    try:
        if getattr(args, "text", None) is not None:  # a language model on next tokens
            from archc.train.text import train_text

            return train_text(args)
        return train(args)
    except ArchcError as exc:
        return report_error(exc)


def cmd_eval(args: argparse.Namespace) -> int:
    try:
        return evaluate_checkpoint(args)
    except ArchcError as exc:
        return report_error(exc)


def _resume_recipe(stored: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    for key, value in flags.items():
        if key in FIXED_ON_RESUME and stored.get(key) != value:
            raise RecipeError(f"cannot change {key} when resuming (the run used "
                              f"{stored.get(key)!r})", hint="start a new run with --out")
    return {**stored, **flags}


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def train(args: argparse.Namespace) -> int:
    from archc.train import checkpoint
    from archc.train.report import book_lines
    from archc.train.source import load_model

    flags = cli_recipe(args)
    src = load_model(args.spec, args.set, args.network)
    run_dir = checkpoint.run_dir(args, src.name)
    seed = 0 if args.seed is None else args.seed
    if args.resume:
        stored = checkpoint.read_index(run_dir)[1]
        recipe = make_recipe(_resume_recipe(stored["recipe"], flags), source="--resume")
        if args.seed is not None and args.seed != stored["seed"]:
            raise TrainError(f"cannot change the seed when resuming (the run used "
                             f"{stored['seed']})")
        seed = stored["seed"]
    else:
        recipe = make_recipe(src.recipe, flags, source=f"{args.spec}: train")
    data = _load_data(args, recipe)
    recipe = _finish_recipe(recipe, data)
    shape = _network_shape(recipe, data)
    model_fn = src.fit(shape, len(data.classes), recipe.resize is not None)
    # torch only now: a spec that does not fit the data is reported without waiting for it
    from archc.train import dist
    from archc.train.loop import RunConfig, Trainer, resolve_device

    world = dist.from_env()
    progress = not (args.no_progress or args.quiet)
    cfg = RunConfig(recipe=recipe, size=(shape[1], shape[2]), seed=seed, device=args.device,
                    engine=args.engine, channels_last=args.channels_last,
                    deterministic=args.deterministic, progress=progress,
                    tensorboard=args.tensorboard, eval_batch_size=args.eval_batch_size,
                    world=world)
    device = resolve_device(args.device, world)
    dist.init(world, device)
    run_dir = Path(dist.broadcast_object(str(run_dir), world))
    if world.is_main:
        _say(args, f"run folder: {run_dir}")
    info = {"name": src.name, "spec": args.spec, "params": args.set, "network": args.network,
            "input_shape": list(shape), "classes": len(data.classes),
            "class_names": list(data.classes), "dataset": data.name}
    out = (lambda s: None) if args.quiet else print
    trainer = Trainer(model_fn, data.train, data.test, run_dir, cfg, info, out=out,
                      network=src.network(shape) if src.network else None)
    history = trainer.run(resume=bool(args.resume))
    if world.is_main:
        dev = f"cuda:{device.index}" if device.type == "cuda" else str(device)
        print(book_lines(history, dev))
    return 0


def _load_data(args: argparse.Namespace, recipe: Recipe) -> Data:
    data = load_data(recipe.dataset, args.data_dir, args.cache_dir,
                     allow_download=not args.no_download, size=recipe.resize,
                     progress=not (getattr(args, "no_progress", False) or
                                   getattr(args, "quiet", False)))
    limit_train = getattr(args, "limit_train", None)
    return Data(data.name, data.train.head(limit_train) if limit_train else data.train,
                data.test.head(args.limit_test) if args.limit_test else data.test,
                data.classes)


def _finish_recipe(recipe: Recipe, data: Data) -> Recipe:
    """The recipe as the run stores it: the data set named, normalisation numbers filled in
    (computed from the training images when the recipe gives none)."""
    from archc.train.batches import channel_stats

    update: dict[str, Any] = {"dataset": data.name}
    channels = data.image_shape[0]
    if recipe.normalize:
        if recipe.mean is None or recipe.std is None:
            update["mean"], update["std"] = channel_stats(data.train)
        else:
            for key in ("mean", "std"):
                n = len(getattr(recipe, key))
                if n not in (1, channels):
                    raise RecipeError(f"train: {key} has {n} values, the data's images have "
                                      f"{channels} channel{'s' * (channels != 1)}",
                                      hint=f"give 1 or {channels} numbers")
    return recipe.model_copy(update=update)


def _network_shape(recipe: Recipe, data: Data) -> tuple[int, int, int]:
    c, h, w = data.image_shape
    if recipe.resize is not None:
        return c, recipe.resize, recipe.resize
    if h != w and recipe.random_resized_crop:
        raise RecipeError("train: random_resized_crop needs resize with non-square images")
    return c, h, w


def evaluate_checkpoint(args: argparse.Namespace) -> int:
    from archc.train import checkpoint
    from archc.train.batches import to_device
    from archc.train.dist import World
    from archc.train.engine import evaluate
    from archc.train.loop import resolve_device
    from archc.train.source import load_model

    index_path, index, tensors = _eval_checkpoint(args)
    recipe = make_recipe(index["recipe"], source=str(index_path))
    shape, classes = _stored_shape(index, index_path)
    params = args.set or _strings(index.get("params"), index_path, "params")
    network = args.network or index.get("network")
    src = load_model(args.spec, params, network if isinstance(network, str) else None)
    model = src.fit(shape, classes, True)()
    checkpoint.restore(model, None, index, tensors)
    device = resolve_device(args.device, World())
    model = model.to(device)
    args.quiet = True
    data = _load_data(args, recipe)
    if data.image_shape[0] != shape[0] or len(data.classes) != classes:
        raise TrainError(f"the data ({data.name}: {len(data.classes)} classes of "
                         f"{'x'.join(map(str, data.image_shape))} images) is not what "
                         f"{index_path} was trained on ({classes} classes, "
                         f"{shape[0]} channels)", hint="pass the run's --data-dir")
    split = data.test if args.split == "test" else data.train
    import torch

    amp = torch.bfloat16 if device.type == "cuda" and recipe.precision != "fp32" else None
    norm = (recipe.mean, recipe.std) if recipe.normalize else (None, None)
    dd = to_device(split, (shape[1], shape[2]), device, *norm)
    s = evaluate(model, dd, args.eval_batch_size, amp, World()).tolist()
    dev = f"cuda:{device.index}" if device.type == "cuda" else str(device)
    top5 = f"top-5 {s[3] / s[2]:.3f} " if classes > 5 else ""  # (of <= 5 classes: always 1)
    print(f"{args.split} loss {s[0] / s[2]:.3f}, {args.split} acc {s[1] / s[2]:.3f}, "
          f"{top5}({int(s[2])} examples, epoch {index['epoch']}) on {dev}")
    return 0


def _eval_checkpoint(args: argparse.Namespace) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """The index path, index and tensors to evaluate: `--checkpoint PATH` (a run folder means
    its last checkpoint, as ever), or `--weights RUN [--checkpoint best|last|N]` (a run folder
    means its best checkpoint, else its last, as for every command taking --weights)."""
    from archc.train import checkpoint

    if args.weights is None:
        if args.checkpoint is None:
            raise TrainError("eval needs the run: --weights RUN (or --checkpoint PATH)")
        index_path, _ = checkpoint.read_index(Path(args.checkpoint))
        index, tensors = checkpoint.load(Path(args.checkpoint))
        return index_path, index, tensors
    from archc.train.trained import read_weights

    weights = read_weights(args.weights, args.checkpoint)
    if weights.run is None:
        raise TrainError(f"{args.weights}: not a training run's checkpoint (eval needs the "
                         "run's record: its data, input shape and recipe)")
    print(f"evaluating {weights.source}", file=sys.stderr)
    return Path(args.weights), weights.run, {f"model.{k}": v
                                             for k, v in weights.state_dict.items()}


def _stored_shape(index: dict[str, Any], path: Path) -> tuple[tuple[int, int, int], int]:
    shape, classes = index.get("input_shape"), index.get("classes", 10)
    ok = (isinstance(shape, list) and len(shape) == 3 and
          all(isinstance(d, int) and 1 <= d <= 1 << 16 for d in shape) and
          isinstance(classes, int) and 1 <= classes <= 1 << 20)
    if not ok or not isinstance(shape, list):
        raise checkpoint_error(f"{path}: bad checkpoint index: input_shape {shape!r} / classes "
                               f"{classes!r}")
    return (shape[0], shape[1], shape[2]), classes


def _strings(value: Any, path: Path, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise checkpoint_error(f"{path}: bad checkpoint index: {key} must be a list of strings")
    return value


def checkpoint_error(message: str) -> Exception:
    from archc.train.checkpoint import CheckpointError

    return CheckpointError(message)
