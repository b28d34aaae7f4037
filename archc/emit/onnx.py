"""Stage 3, resolved graph -> ONNX (`archc export SPEC -o model.onnx`): the module archc.build
makes, exported by torch.onnx.export with a dynamic batch axis and the spec's input shape,
weights from a state_dict file or initialised with a seed, then checked with onnx.checker.
The ONNX packages are the optional extra `archc[onnx]`.

Two exporters: torch.onnx's TorchScript one (`dynamo=False`) and its torch.export one
(`dynamo=True`). Both give models onnxruntime runs equal to the module (tests/onnx_check.py);
the TorchScript one takes a third of the CPU time (BENCHMARKS.md, `bench/onnx_speed.py`:
EfficientNet-B0 3.8 s against 12.3 s), so it goes first and the other is the fallback for a
module it cannot trace (it is deprecated in torch and may leave). The layers it cannot convert
as built are swapped for equal ones first (archc/emit/onnx_rewrite.py), so that no bundled
spec needs the fallback."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from archc.core.atomic import cannot_write, writable_place
from archc.core.errors import ArchcError, UsageError
from archc.core.graph import Network

EXTRA_HINT = "pip install 'archc[onnx]'   (onnx, onnxscript; onnxruntime to run the model)"
OPSET = 18  # of the TorchScript exporter (the dynamo one writes its own default, 20)


def require_onnx() -> None:
    """Fail with a usage message, not a traceback, when the ONNX packages are missing."""
    from importlib.util import find_spec

    for name in ("onnx", "onnxscript"):  # found, not imported: onnxscript alone takes 1-2 s
        if find_spec(name) is None:
            raise UsageError(f"exporting ONNX needs the '{name}' package, which is not "
                             "installed", hint=EXTRA_HINT)


Progress = Callable[[str], None]


def _silent(stage: str) -> None:
    pass


def export_onnx(net: Network, path: str | Path,
                weights: str | Path | Mapping[str, Any] | None = None, seed: int = 0,
                metadata: Mapping[str, str] | None = None, exporter: str = "auto",
                progress: Progress = _silent) -> str:
    """Write `net` as an ONNX model to `path` (input 'input': N x C x H x W, N dynamic; output
    'output', or one named output per `output NAME` of the spec, in order), its weights a
    file's or a state_dict's (else a seeded init), `metadata` as metadata_props.
    `exporter`: 'torchscript', 'dynamo', or 'auto' (TorchScript, else dynamo where
    TorchScript fails). `progress` is called with each stage as it starts. Returns the name
    of the exporter that wrote the file."""
    require_onnx()
    if exporter not in ("auto", *EXPORTERS):
        raise UsageError(f"unknown ONNX exporter '{exporter}'",
                         hint=f"one of auto, {', '.join(EXPORTERS)}")
    writable_place(path)  # before the exporter's seconds of work, not after them
    progress("importing torch and onnx")
    import onnx
    import torch

    from archc import build
    from archc.emit.weights import read_state_dict

    progress(f"building {net.name}")
    torch.manual_seed(seed)
    model = build(net).eval()
    if weights is not None:
        state = weights if isinstance(weights, Mapping) else read_state_dict(weights)
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise ArchcError(f"--weights {weights}: does not fit {net.name}: missing "
                             f"{_few(result.missing_keys)}, unexpected "
                             f"{_few(result.unexpected_keys)}")
    from archc.emit.torch import example_input

    # one example per input, named as the spec names them (ONNX's graph inputs)
    shapes = dict(net.inputs) or {"input": net.input_shape}
    examples = tuple(example_input(s, 2) for s in shapes.values())
    tmp = Path(f"{path}.tmp{os.getpid()}")
    try:
        # eval mode's outputs: not the training-only ones (`output aux training`)
        names = [k for k in net.outputs if k not in net.training_outputs]
        used = _export(model, examples, tmp, exporter, progress, names or ["output"],
                       list(shapes))
        progress("checking with onnx.checker")
        if metadata:
            _add_metadata(tmp, metadata)
        onnx.checker.check_model(str(tmp), full_check=True)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise UsageError(cannot_write(path, exc)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return used


def _export(model: Any, examples: tuple[Any, ...], path: Path, exporter: str,
            progress: Progress, outputs: list[str], inputs: list[str]) -> str:
    """Run the chosen exporter (or, for 'auto', the first that succeeds) into `path`."""
    import torch

    names = list(EXPORTERS) if exporter == "auto" else [exporter]
    failures = []
    threads = torch.get_num_threads()
    for name in names:
        progress(f"exporting with torch.onnx ({name} exporter)")
        # Tracing runs the forward once, on an example batch: no autograd graph is needed, and
        # one thread does it in a quarter of the CPU time of all cores contending on a busy
        # machine (bench/onnx_speed.py: 0.6 s against 2.4-3.7 s for EfficientNet-B0).
        torch.set_num_threads(1)
        log: list[str] = []
        try:
            with _captured(log), warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                EXPORTERS[name](model, examples, path, outputs, inputs)
            return name
        except Exception as exc:  # the exporter's own failure, with its log
            failures.append(f"{name}: {exc}\n{''.join(log)[-2000:]}")
            path.unlink(missing_ok=True)
        finally:
            torch.set_num_threads(threads)
    raise ArchcError("torch.onnx.export failed: " + "\n".join(failures))


@contextlib.contextmanager
def _captured(log: list[str]) -> Iterator[None]:
    """What the exporter prints, into `log`: Python's prints and warnings, and what torch's
    C++ writes to the file descriptors themselves (the TorchScript exporter's graph dump
    when it fails), which a caller reading stdout (tests/onnx_check.py) must not see."""
    import tempfile

    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with contextlib.redirect_stdout(io.StringIO()) as out, \
                    contextlib.redirect_stderr(out):
                try:
                    yield
                finally:
                    log.append(out.getvalue())
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            log.append(sink.read().decode(errors="replace"))


def _torchscript(model: Any, examples: tuple[Any, ...], path: Path, outputs: list[str],
                 inputs: list[str]) -> None:
    import torch

    from archc.emit.onnx_rewrite import make_traceable, rename_values, traceable_names

    # channel shuffles and non-dividing adaptive pools, as layers this exporter converts (the
    # module is built for this export alone; the swapped layers compute the same)
    make_traceable(model, examples)
    stand_in = traceable_names([*inputs, *outputs])
    inputs, outputs = ([stand_in.get(n, n) for n in names] for names in (inputs, outputs))
    # a dict of outputs is flattened in its order, the order of `outputs`
    torch.onnx.export(model, examples, str(path), dynamo=False, input_names=inputs,
                      output_names=outputs, opset_version=OPSET,
                      dynamic_axes={name: {0: "batch"} for name in [*inputs, *outputs]})
    if stand_in:
        rename_values(str(path), {new: old for old, new in stand_in.items()})


def _dynamo(model: Any, examples: tuple[Any, ...], path: Path, outputs: list[str],
            inputs: list[str]) -> None:
    import torch

    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(model, examples, dynamo=True, input_names=inputs,
                                output_names=outputs,
                                dynamic_shapes=tuple({0: batch} for _ in inputs),
                                external_data=False)
    assert program is not None
    program.save(str(path))


EXPORTERS: dict[str, Callable[[Any, tuple[Any, ...], Path, list[str], list[str]], None]] = {
    "torchscript": _torchscript, "dynamo": _dynamo}


def stage_printer(stream: Any) -> Progress:
    """A `progress` that prints each stage on `stream` with the time since the first one."""
    start = time.perf_counter()

    def show(stage: str) -> None:
        print(f"[{time.perf_counter() - start:5.1f} s] {stage}", file=stream, flush=True)

    return show


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
