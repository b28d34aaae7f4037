"""Checkpoints: tensors in safetensors, everything else in JSON; never pickle, always atomic.

A checkpoint is `ckpt-NNNN.safetensors` (model and optimizer tensors) plus `checkpoint.json`,
which names that file and its SHA-256. Each is written to a temporary file, fsync'd and moved
into place with os.replace; the JSON goes last, so whatever a crash leaves behind, the JSON
always points at a complete tensor file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archc.atomic import atomic_write_bytes as atomic_write
from archc.train.config import TrainError

if TYPE_CHECKING:
    import torch

FORMAT = "archc-checkpoint/1"
INDEX = "checkpoint.json"


class CheckpointError(TrainError):
    """A checkpoint that is missing, incomplete or does not fit the model."""


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def flatten_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None
                  ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split model and optimizer state into safetensors-ready tensors and JSON-ready rest."""
    import torch

    tensors = {f"model.{k}": _snapshot(v) for k, v in model.state_dict().items()}
    meta: dict[str, Any] = {}
    if optimizer is not None:
        sd = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, state in sd["state"].items():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{idx}.{key}"] = _snapshot(value)
                else:
                    scalars.setdefault(str(idx), {})[key] = value
        meta = {"param_groups": sd["param_groups"], "scalars": scalars}
    return tensors, meta


def _snapshot(t: torch.Tensor) -> torch.Tensor:
    """A contiguous host copy that training can no longer change (always a copy, also on CPU,
    because the file may be written in the background while training goes on)."""
    import torch

    return t.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)


def save(folder: Path, epoch: int, model: torch.nn.Module,
         optimizer: torch.optim.Optimizer | None, info: dict[str, Any]) -> Path:
    """Write the checkpoint for `epoch` and drop the tensor files older checkpoints used."""
    return write(folder, epoch, *flatten_state(model, optimizer), info)


def write(folder: Path, epoch: int, tensors: dict[str, torch.Tensor], optim_meta: dict[str, Any],
          info: dict[str, Any]) -> Path:
    """`save` from a snapshot taken by `flatten_state` (safe to call from another thread)."""
    from safetensors.torch import save as st_save

    folder.mkdir(parents=True, exist_ok=True)
    blob = st_save(tensors, metadata={"format": FORMAT, "epoch": str(epoch)})
    name = f"ckpt-{epoch:04d}.safetensors"
    atomic_write(folder / name, blob)
    index = {**info, "format": FORMAT, "epoch": epoch, "tensors": name,
             "sha256": hashlib.sha256(blob).hexdigest(), "optimizer": optim_meta}
    atomic_write_json(folder / INDEX, index)
    for old in folder.glob("ckpt-*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return folder / INDEX


def resolve(path: Path) -> Path:
    """Accept a run folder, its checkpoint.json, or a tensor file beside one."""
    if path.is_dir():
        path = path / INDEX
    elif path.suffix == ".safetensors":
        path = path.with_name(INDEX)
    if not path.exists():
        raise CheckpointError(f"{path}: no checkpoint here",
                              hint="pass a run folder or its checkpoint.json")
    return path


def load(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a checkpoint's JSON and its tensors (verified by SHA-256; no pickle involved)."""
    from safetensors.torch import load as st_load

    index_path = resolve(path)
    try:
        index = json.loads(index_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{index_path}: unreadable checkpoint index ({exc})") from None
    if index.get("format") != FORMAT:
        raise CheckpointError(f"{index_path}: not an archc checkpoint "
                              f"(format {index.get('format')!r}, expected {FORMAT!r})")
    tensor_path = index_path.parent / index["tensors"]
    try:
        blob = tensor_path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{tensor_path}: cannot read checkpoint tensors ({exc})") from None
    if hashlib.sha256(blob).hexdigest() != index["sha256"]:
        raise CheckpointError(f"{tensor_path}: checksum mismatch, the file is corrupt")
    return index, st_load(blob)


def restore(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
            index: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """Load saved state into a freshly built model (and optimizer), strictly."""
    model_sd = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(model_sd, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError("checkpoint does not fit this model: " + " ".join(first[:3]),
                              hint="evaluate with the spec and overrides it was trained with"
                              ) from None
    if optimizer is None:
        return
    meta = index["optimizer"]
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, scalars in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(scalars)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
