"""Checkpoints: tensors in safetensors, everything else in JSON; never pickle, always atomic.

A checkpoint is `ckpt-NNNN.safetensors` (model and optimizer tensors) plus `checkpoint.json`,
which names that file and its SHA-256; `best.json` names the checkpoint with the best test
accuracy so far (the same tensor file while it is the last). Each file is written to a temporary
file, fsync'd and moved into place with os.replace; the JSON goes last, so whatever a crash
leaves behind, the JSON always points at a complete tensor file.

Reading trusts nothing: the index is validated, may only name a plain file of the run folder
(no path, no symlink, no device), and the tensor file must be safetensors with that checksum.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from archc.core.atomic import atomic_write_bytes as atomic_write
from archc.train.config import TrainError

if TYPE_CHECKING:
    import torch

FORMAT = "archc-checkpoint/1"
INDEX = "checkpoint.json"
BEST = "best.json"
TENSOR_FILE = r"ckpt-[0-9]{4,9}\.safetensors"
MAX_INDEX_BYTES = 64 << 20  # the index is JSON metadata: a few KB, plus the run's history


class CheckpointError(TrainError):
    """A checkpoint that is missing, incomplete, corrupt or does not fit the model."""


class Index(BaseModel):
    """What checkpoint.json must hold (more keys are kept as they are)."""

    model_config = ConfigDict(extra="allow")

    format: str
    epoch: int = Field(ge=0)
    tensors: str = Field(pattern=f"^{TENSOR_FILE}$")
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    optimizer: dict[str, Any] = Field(default_factory=dict)
    recipe: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    history: list[dict[str, Any]] = Field(default_factory=list)


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
        groups = [{k: (float(v) if isinstance(v, torch.Tensor) else v) for k, v in g.items()}
                  for g in sd["param_groups"]]  # a tensor lr (CUDA graphs) is stored as a number
        meta = {"param_groups": groups, "scalars": scalars}
    return tensors, meta


def _snapshot(t: torch.Tensor) -> torch.Tensor:
    """A contiguous host copy that training can no longer change (always a copy, also on CPU,
    because the file may be written in the background while training goes on)."""
    import torch

    return t.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)


def save(folder: Path, epoch: int, model: torch.nn.Module,
         optimizer: torch.optim.Optimizer | None, info: dict[str, Any], best: bool = False
         ) -> Path:
    """Write the checkpoint for `epoch` and drop the tensor files no index names any more."""
    return write(folder, epoch, *flatten_state(model, optimizer), info, best)


def write(folder: Path, epoch: int, tensors: dict[str, torch.Tensor], optim_meta: dict[str, Any],
          info: dict[str, Any], best: bool = False) -> Path:
    """`save` from a snapshot taken by `flatten_state` (safe to call from another thread)."""
    from safetensors.torch import save as st_save

    folder.mkdir(parents=True, exist_ok=True)
    blob = st_save(tensors, metadata={"format": FORMAT, "epoch": str(epoch)})
    name = f"ckpt-{epoch:04d}.safetensors"
    atomic_write(folder / name, blob)
    index = {**info, "format": FORMAT, "epoch": epoch, "tensors": name,
             "sha256": hashlib.sha256(blob).hexdigest(), "optimizer": optim_meta}
    atomic_write_json(folder / INDEX, index)
    if best:
        atomic_write_json(folder / BEST, index)
    keep = {name, _named_tensors(folder / BEST)}
    for old in folder.glob("ckpt-*.safetensors"):
        if old.name not in keep:
            old.unlink(missing_ok=True)
    return folder / INDEX


def _named_tensors(index_path: Path) -> str | None:
    try:
        return read_index(index_path)[1]["tensors"]
    except CheckpointError:
        return None


def resolve(path: Path) -> Path:
    """Accept a run folder, its checkpoint.json or best.json, or a tensor file beside them."""
    if path.is_dir():
        path = path / INDEX
    elif path.suffix == ".safetensors":
        path = path.with_name(INDEX)
    if not path.exists():
        raise CheckpointError(f"{path}: no checkpoint here",
                              hint="pass a run folder, its checkpoint.json or best.json")
    return path


def _read_small(path: Path, limit: int) -> bytes:
    """The bytes of a regular file (never a device or FIFO), at most `limit` of them."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CheckpointError(f"{path}: not a regular file")
        if st.st_size > limit:
            raise CheckpointError(f"{path}: {st.st_size:,} bytes, more than a checkpoint file "
                                  f"of this kind may hold ({limit:,})")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(st.st_size + 1)  # a file that grew meanwhile reads short or long:
        if len(data) != st.st_size:        # the checksum or the JSON parser then says so
            raise CheckpointError(f"{path}: changed while being read")
        return data
    finally:
        os.close(fd)


def read_index(path: Path) -> tuple[Path, dict[str, Any]]:
    """The validated index a path resolves to."""
    index_path = resolve(path)
    try:
        raw = json.loads(_read_small(index_path, MAX_INDEX_BYTES))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{index_path}: not a JSON checkpoint index ({exc})",
                              hint="the file is damaged; an earlier run folder may hold a good "
                                   "copy") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{index_path}: not an archc checkpoint index (a JSON "
                              f"{type(raw).__name__}, expected an object)")
    if raw.get("format") != FORMAT:
        raise CheckpointError(f"{index_path}: not an archc checkpoint "
                              f"(format {raw.get('format')!r}, expected {FORMAT!r})")
    try:
        index = Index.model_validate(raw).model_dump()
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise CheckpointError(f"{index_path}: bad checkpoint index: {where}: {err['msg']}",
                              hint=f"the tensor file must be named like "
                                   f"ckpt-0001.safetensors, beside {index_path.name}"
                              if where == "tensors" else None) from None
    return index_path, index


def _tensor_blob(index_path: Path, index: dict[str, Any]) -> bytes:
    path = index_path.parent / index["tensors"]  # a bare file name (validated)
    try:
        if stat.S_ISLNK(path.lstat().st_mode):
            raise CheckpointError(f"{path}: a symbolic link; checkpoint tensors must be a "
                                  "plain file in the run folder")
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint tensors missing") from None
    blob = _read_small(path, 1 << 40)
    if hashlib.sha256(blob).hexdigest() != index["sha256"]:
        raise CheckpointError(f"{path}: checksum mismatch, the file is corrupt")
    return blob


def load(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a checkpoint's JSON and its tensors (verified by SHA-256; no pickle involved)."""
    from safetensors.torch import load as st_load

    index_path, index = read_index(path)
    blob = _tensor_blob(index_path, index)
    tensor_path = index_path.parent / index["tensors"]
    header = int.from_bytes(blob[:8], "little") if len(blob) >= 8 else 0
    if not (0 < header <= len(blob) - 8 and blob[8:9] == b"{"):
        what = "a pickle" if blob[:1] == b"\x80" else "not a safetensors file"
        raise CheckpointError(f"{tensor_path}: {what}; archc reads checkpoint tensors only "
                              "from safetensors and never unpickles them")
    try:
        return index, st_load(blob)
    except Exception as exc:  # noqa: BLE001 - safetensors' own error type varies by version
        raise CheckpointError(f"{tensor_path}: not a readable safetensors file "
                              f"({type(exc).__name__}: {str(exc)[:200]})") from None


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
    try:
        _restore_optimizer(optimizer, index, tensors)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise CheckpointError(f"the checkpoint's optimizer state does not fit ({exc})",
                              hint="start a new run with --out") from None


def _restore_optimizer(optimizer: torch.optim.Optimizer, index: dict[str, Any],
                       tensors: dict[str, torch.Tensor]) -> None:
    meta = index["optimizer"]
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, scalars in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(scalars)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def run_dir(args: argparse.Namespace, name: str) -> Path:
    """The run folder: --resume's, --out (refused if it holds a run and not resuming), or
    runs/NAME, runs/NAME-2, ... (the latest to resume); created and proven writable."""
    if isinstance(args.resume, str):
        return Path(args.resume)
    if args.out is not None:
        if not args.resume and (args.out / INDEX).exists():
            raise TrainError(f"{args.out} already holds a run",
                             hint="pass --resume to continue it, or another --out")
        return writable(args.out)
    base = Path("runs") / name
    candidates = [base, *sorted(base.parent.glob(f"{name}-*"))]
    existing = [p for p in candidates if (p / INDEX).exists()]
    if args.resume:
        if not existing:
            raise TrainError(f"no run of {name} to resume under runs/", hint="pass --out")
        return max(existing, key=lambda p: (p / INDEX).stat().st_mtime)
    n = 1
    while (base if n == 1 else base.with_name(f"{name}-{n}")).joinpath(INDEX).exists():
        n += 1
    return writable(base if n == 1 else base.with_name(f"{name}-{n}"))


def writable(folder: Path) -> Path:
    """Create the run folder now, and prove it writable, so a bad --out fails before training."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".archc-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            reason = "a file is in the way (the run folder, or a folder above it, is a file)"
        raise TrainError(f"{folder}: cannot write the run folder ({reason})",
                         hint="pass --out with a folder you can write") from None
    return folder
