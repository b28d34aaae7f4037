"""`archc train` and `archc eval`: argument parsing and wiring; the work is in loop.py.

Importing this module must not import torch (`archc check` stays torch-free): everything heavy
is imported inside the command functions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from archc.errors import ArchcError, ArchcErrors, render

RECIPE_FLAGS = ("dataset", "optimizer", "lr", "momentum", "weight_decay", "epochs", "batch_size",
                "resize", "init", "normalize")
# What a resumed run may change: the optimizer's numbers and the length of the run.
RESUMABLE = {"lr", "momentum", "weight_decay", "epochs", "batch_size"}


def register(subparsers: Any) -> None:
    """Add the `train` and `eval` subcommands to an argparse subparsers object."""
    t = subparsers.add_parser("train", help="train a spec's network on (Fashion-)MNIST",
                              description="Train the network a spec describes with the spec's "
                              "recipe (its train { } section); flags override the recipe.")
    t.add_argument("spec", help="a .arch file, a bundled spec name, or module:function")
    _data_flags(t)
    g = t.add_argument_group("recipe (overrides the spec's train section)")
    g.add_argument("--dataset", choices=["fashion-mnist", "mnist"])
    g.add_argument("--optimizer", choices=["sgd"])
    g.add_argument("--lr", type=float)
    g.add_argument("--momentum", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--resize", type=int, help="image side the network sees (native 28)")
    g.add_argument("--init", choices=["xavier", "default"])
    g.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None,
                   help="MNIST mean/std normalisation (0.1307/0.3081)")
    g.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                   help="any recipe key (repeatable)")
    r = t.add_argument_group("run")
    _spec_flags(r)
    r.add_argument("--seed", type=int, help="seed for init, shuffling and dropout (default 0)")
    r.add_argument("--out", type=Path, help="run folder (default runs/NAME, then NAME-2, ...)")
    r.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_DIR",
                   help="continue a run from its last checkpoint (RUN_DIR, else --out, else "
                        "the latest runs/NAME*)")
    _device_flags(t)
    r.add_argument("--engine", default="auto",
                   choices=["auto", "eager", "graph", "compile", "compile-graph"],
                   help="auto: a CUDA graph per step on one GPU, eager elsewhere")
    r.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="auto: bf16 autocast on GPU, fp32 on CPU")
    r.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    r.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=None,
                   help="deterministic kernels (default: on for CPU)")
    r.add_argument("--limit-train", type=int, metavar="N", help="use the first N training images")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    e = subparsers.add_parser("eval", help="evaluate a checkpoint on the test set")
    e.add_argument("spec", help="the spec (or module:function) the checkpoint was trained from")
    _spec_flags(e)
    e.add_argument("--checkpoint", type=Path, required=True,
                   help="a run folder, its checkpoint.json or its .safetensors file")
    _data_flags(e)
    _device_flags(e)
    e.add_argument("--split", choices=["test", "train"], default="test")
    e.set_defaults(func=cmd_eval)


def _spec_flags(p: Any) -> None:
    p.add_argument("--set", action="append", default=[], metavar="K=V",
                   help="set a network parameter (repeatable), as in `archc build`")
    p.add_argument("--network", help="which network of the file (default: the first)")


def _data_flags(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument("--data-dir", type=Path, help="folder with the four IDX files")
    d.add_argument("--cache-dir", type=Path, help="download cache (default ~/.cache/archc)")
    d.add_argument("--no-download", action="store_true", help="never use the network")
    d.add_argument("--limit-test", type=int, metavar="N", help="use the first N test images")


def _device_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--eval-batch-size", type=int, default=1024)


def main(argv: list[str] | None = None) -> int:
    """`python -m archc.train train|eval ...` (the same commands as `archc train|eval`)."""
    parser = argparse.ArgumentParser(prog="archc")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def report_error(exc: ArchcError) -> int:
    """Print like the rest of archc (with the source line when the error points into a spec)."""
    try:
        from archc.cli import print_errors
    except ImportError:
        for err in exc.errors if isinstance(exc, ArchcErrors) else [exc]:
            print(render(err), file=sys.stderr)
    else:
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
