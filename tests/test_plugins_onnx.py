"""A network with a plugin op exported to ONNX runs in onnxruntime as the built module does
(its own file: the ONNX exporter's imports and tracing take most of its 15 s)."""

from __future__ import annotations

from pathlib import Path

import torch

import archc
from archc import plugins

from .test_plugins import GRN_PY, SMALL, isolated, randomized, run

__all__ = ["isolated"]  # the fixture: the registry as it was after each test


def test_onnx_export_runs_like_the_built_module(capsys, tmp_path: Path,
                                               one_torch_thread) -> None:
    import onnxruntime

    spec, onnx, weights = tmp_path / "small.arch", tmp_path / "small.onnx", tmp_path / "w.pth"
    spec.write_text(SMALL)
    plugins.load(GRN_PY)
    built = randomized(archc.build(archc.load(spec))).eval()
    torch.save(built.state_dict(), weights)
    code, _, err = run(capsys, "export", str(spec), "-o", str(onnx), "--plugin", GRN_PY,
                       "--weights", str(weights))
    assert code == 0, err
    x = torch.randn(3, 3, 16, 16)
    [out] = onnxruntime.InferenceSession(str(onnx)).run(None, {"input": x.numpy()})
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(out), built(x), atol=1e-4)
