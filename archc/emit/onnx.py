"""Stage 3, resolved graph -> ONNX (`archc export SPEC -o model.onnx`): the module archc.build
makes, exported by torch.onnx.export with a dynamic batch axis and the spec's input shape,
weights from a state_dict file or initialised with a seed, then checked with onnx.checker.
The ONNX packages are the optional extra `archc[onnx]`."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ArchcError, UsageError
from ..graph import Network

EXTRA_HINT = "pip install 'archc[onnx]'   (onnx, onnxscript; onnxruntime to run the model)"


def require_onnx() -> None:
    """Fail with a usage message, not a traceback, when the ONNX packages are missing."""
    for name in ("onnx", "onnxscript"):
        try:
            __import__(name)
        except ImportError:
            raise UsageError(f"exporting ONNX needs the '{name}' package, which is not "
                             "installed", hint=EXTRA_HINT) from None


def export_onnx(net: Network, path: str | Path,
                weights: str | Path | Mapping[str, Any] | None = None, seed: int = 0,
                metadata: Mapping[str, str] | None = None) -> None:
    """Write `net` as an ONNX model to `path` (input 'input': N x C x H x W, N dynamic; output
    'output', or one named output per `output NAME` of the spec, in order), its
    weights a file's or a state_dict's (else a seeded init), `metadata` as metadata_props."""
    require_onnx()
    import onnx
    import torch

    from .. import build
    from ..weights import read_state_dict

    torch.manual_seed(seed)
    model = build(net).eval()
    if weights is not None:
        state = weights if isinstance(weights, Mapping) else read_state_dict(weights)
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise ArchcError(f"--weights {weights}: does not fit {net.name}: missing "
                             f"{_few(result.missing_keys)}, unexpected "
                             f"{_few(result.unexpected_keys)}")
    from .torch import example_input

    example = example_input(net.input_shape, 2)
    batch = torch.export.Dim("batch", min=1)
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            program = torch.onnx.export(model, (example,), dynamo=True, input_names=["input"],
                                        output_names=list(net.outputs) or ["output"],
                                        dynamic_shapes=({0: batch},), external_data=False)
    except Exception as exc:  # the exporter's own failure, with its log
        raise ArchcError(f"torch.onnx.export failed: {exc}\n{log.getvalue()[-2000:]}") \
            from None
    assert program is not None
    tmp = Path(f"{path}.tmp{os.getpid()}")
    try:
        program.save(str(tmp))
        if metadata:
            _add_metadata(tmp, metadata)
        onnx.checker.check_model(str(tmp), full_check=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _few(keys: list[str]) -> str:
    if not keys:
        return "none"
    return ", ".join(keys[:5]) + (f" (and {len(keys) - 5} more)" if len(keys) > 5 else "")


def _add_metadata(path: Path, metadata: Mapping[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
