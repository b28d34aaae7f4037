"""Weights as users hold them, for every command that takes `--weights` and for
`archc.load_weights`: a training run's folder (its best or last checkpoint, or epoch N), its
checkpoint.json / best.json / ckpt-N.safetensors, a torchvision or timm state_dict (.pth), an
`archc import-weights` output. Also what a run records beside the tensors: the spec's --set
values, the input shape, the class names and the preprocessing (archc/emit/preprocess.py)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archc.core.errors import UsageError
from archc.emit.weights import WeightError, read_state_dict

if TYPE_CHECKING:
    import torch

CHOICES = "best, last or an epoch number"
WRAPPERS = ("model.", "module.")  # archc checkpoints; DataParallel / DDP


@dataclass(frozen=True)
class Weights:
    """A state_dict under the module's own names, where it came from, and the run's record
    (the checkpoint index) when it came from an archc training run."""

    state_dict: dict[str, torch.Tensor]
    source: str  # for people: "runs/x/ckpt-0002.safetensors (best: epoch 2)"
    run: dict[str, Any] | None = field(default=None)

    @property
    def params(self) -> dict[str, Any]:
        """The --set values the run was trained with."""
        from archc.core.overrides import parse_sets

        stored = (self.run or {}).get("params") or []
        return parse_sets([p for p in stored if isinstance(p, str)])

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        shape = (self.run or {}).get("input_shape")
        if isinstance(shape, list) and shape and all(isinstance(d, int) for d in shape):
            return tuple(shape)
        return None

    @property
    def network(self) -> str | None:
        name = (self.run or {}).get("network")
        return name if isinstance(name, str) else None

    @property
    def class_names(self) -> list[str] | None:
        names = (self.run or {}).get("class_names")
        ok = isinstance(names, list) and all(isinstance(n, str) for n in names)
        return names if ok else None


def unwrap(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's own keys: an archc checkpoint's `model.` (its `optim.` tensors dropped) and
    a DataParallel/DDP `module.` prefix taken off, as long as every key carries one."""
    if any(k.startswith("model.") for k in state):
        state = {k: v for k, v in state.items() if not k.startswith("optim.")}
    for prefix in WRAPPERS:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def read_weights(path: str | Path, checkpoint: str | None = None) -> Weights:
    """The weights at `path`; `checkpoint` (best, last or N) picks one checkpoint of a run
    folder (default: best where the run recorded one, else last)."""
    path = Path(path)
    if checkpoint is not None and not path.is_dir():
        raise UsageError(f"--checkpoint {checkpoint}: only a run folder holds several "
                         f"checkpoints, and '{path}' is not a folder")
    if path.is_dir():
        return _from_run(path, checkpoint or "")
    if path.suffix == ".json":
        return _from_index(path, "")
    if path.suffix == ".safetensors" and re.fullmatch(r"ckpt-[0-9]{4,9}\.safetensors", path.name):
        for index in ("best.json", "checkpoint.json"):
            if _names(path.parent / index, path.name):
                return _from_index(path.parent / index, "")
    if not path.exists():
        raise UsageError(f"no such weights file: '{path}'")
    state = unwrap(read_state_dict(path))
    return Weights(state, str(path), _run_beside(path))


def _from_run(folder: Path, which: str) -> Weights:
    from archc.train.checkpoint import BEST, INDEX

    if not (folder / INDEX).exists():
        raise WeightError(f"'{folder}' holds no checkpoint (no {INDEX})",
                          hint="pass a run folder of `archc train`, a checkpoint's .json or "
                          ".safetensors, or a state_dict file (.pth, .safetensors)")
    if which == "" or which == "best":
        if (folder / BEST).exists():
            return _from_index(folder / BEST, "best")
        if which == "best":
            raise WeightError(f"'{folder}' has no best checkpoint ({BEST}): the run recorded no "
                              "test accuracy", hint="pass --checkpoint last")
    if which in ("", "last"):
        return _from_index(folder / INDEX, "last")
    if not which.isdigit():
        raise UsageError(f"--checkpoint {which}: expected {CHOICES}")
    return _epoch(folder, int(which))


def _epoch(folder: Path, epoch: int) -> Weights:
    from archc.train.checkpoint import BEST, INDEX

    for index in (BEST, INDEX):
        if _epoch_of(folder / index) == epoch:
            return _from_index(folder / index, f"epoch {epoch}")
    tensors = folder / f"ckpt-{epoch:04d}.safetensors"
    if tensors.is_file():
        state = unwrap(read_state_dict(tensors))
        return Weights(state, f"{tensors} (epoch {epoch})", _run_beside(tensors))
    kept = sorted(int(m[1]) for p in folder.glob("ckpt-*.safetensors")
                  if (m := re.fullmatch(r"ckpt-([0-9]+)\.safetensors", p.name)))
    raise WeightError(f"'{folder}' keeps no checkpoint of epoch {epoch}",
                      hint=f"it keeps epoch{'s' * (len(kept) != 1)} "
                      f"{', '.join(map(str, kept)) or 'none'} (the last and the best)")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _epoch_of(index: Path) -> int | None:
    data = _read_json(index) if index.exists() else None
    epoch = (data or {}).get("epoch")
    return epoch if isinstance(epoch, int) else None


def _names(index: Path, tensors: str) -> bool:
    return index.exists() and (_read_json(index) or {}).get("tensors") == tensors


def _run_beside(path: Path) -> dict[str, Any] | None:
    """The record of the run a loose ckpt-N.safetensors belongs to (its folder's index)."""
    from archc.train.checkpoint import FORMAT, INDEX

    if not re.fullmatch(r"ckpt-[0-9]+\.safetensors", path.name):
        return None
    data = _read_json(path.parent / INDEX) if (path.parent / INDEX).exists() else None
    return data if data is not None and data.get("format") == FORMAT else None


def _from_index(index_path: Path, which: str) -> Weights:
    """A checkpoint through its index (validated, the tensors' checksum verified)."""
    from archc.train import checkpoint

    index, tensors = checkpoint.load(index_path)
    name = index_path.parent / index["tensors"]
    label = f"epoch {index['epoch']}"
    label = f"{which}: {label}" if which in ("best", "last") else label
    return Weights(unwrap(tensors), f"{name} ({label})", index)


def same_network(spec: str, network: str | None, trained: Any, run: str) -> None:
    """A run's --set values and input shape fit the network it trained, not another one:
    `predict lenet --weights RUN` of a tiny_rgb run failed at lenet's `expect` line, its
    input shape replaced by the run's."""
    from archc.pipeline.program import load_program, resolve_spec
    from archc.pipeline.zoo import as_spec

    if not isinstance(trained, str) or network not in (None, trained):
        return
    try:
        path = resolve_spec(str(as_spec(spec, None)[0]))
    except UsageError:
        return  # the load that follows reports it
    prog = load_program(path)
    if prog.errors or trained in prog.networks:
        return  # (a spec that does not load: the load that follows reports it)
    raise UsageError(f"--weights {run}: trained network '{trained}', which {spec} does not "
                     "define", hint="give the spec the run was trained from (its "
                     "checkpoint.json names it)")
