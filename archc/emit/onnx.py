"""Stage 3, resolved graph -> ONNX (`archc export SPEC -o model.onnx`): the module archc.build
makes, exported by torch.onnx.export with a dynamic batch axis and the spec's input shape,
weights from a state_dict file or initialised with a seed, then checked with onnx.checker.
The ONNX packages are the optional extra `archc[onnx]`."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

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


def export_onnx(net: Network, path: str | Path, weights: str | None = None,
                seed: int = 0) -> None:
    """Write `net` as an ONNX model to `path` (input 'input': N x C x H x W, N dynamic)."""
    require_onnx()
    import onnx
    import torch

    from .. import build
    from ..weights import read_state_dict

    torch.manual_seed(seed)
    model = build(net).eval()
    if weights is not None:
        state = read_state_dict(weights)
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
                                        output_names=["output"],
                                        dynamic_shapes=({0: batch},), external_data=False)
    except Exception as exc:  # the exporter's own failure, with its log
        raise ArchcError(f"torch.onnx.export failed: {exc}\n{log.getvalue()[-2000:]}") \
            from None
    assert program is not None
    tmp = Path(f"{path}.tmp{os.getpid()}")
    try:
        program.save(str(tmp))
        onnx.checker.check_model(str(tmp), full_check=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _few(keys: list[str]) -> str:
    if not keys:
        return "none"
    return ", ".join(keys[:5]) + (f" (and {len(keys) - 5} more)" if len(keys) > 5 else "")
