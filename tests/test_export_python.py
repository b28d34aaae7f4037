"""What an exported Python file says and accepts: one class per block definition used by all
its instances, constructor arguments for what varies, the network's parameters as constructor
arguments (free where the value only flows into layer sizes, checked where it decides
structure), shape comments, the header, imports of torch alone, and the `archc export` command.
(Equivalence of every export with archc.build: tests/test_export.py.)"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest
import torch

import archc
from archc.cli import main
from archc.export.python import export_python
from archc.registry.ops import REGISTRY


def _module(tmp_path: Path, name: str, text: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _same_outputs(ours: torch.nn.Module, theirs: torch.nn.Module, shape) -> bool:
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, *shape, dtype=torch.float64)
    ours, theirs = ours.double().eval(), theirs.double().eval()
    with torch.no_grad():
        return torch.equal(ours(x), theirs(x))


@pytest.fixture(scope="module")
def r18_text() -> str:
    return export_python("resnet18", command="archc export resnet18 -o r18.py")


def test_resnet18_reads_like_torchvision(r18_text: str, tmp_path: Path) -> None:
    lines = r18_text.splitlines()
    assert lines[0].startswith('"""Network `resnet18` of resnet18.arch')
    assert "    archc export resnet18 -o r18.py" in lines
    assert r18_text.count("class ") == 3  # Residual, ResStage, Resnet18
    assert "class Residual(nn.Module):" in lines and "class ResStage(nn.Sequential):" in lines
    assert "        x = self.layer2(x)  # 128x12x12" in lines
    assert "        self.fc = nn.Linear(512, classes)" in lines
    r18 = _module(tmp_path, "r18", r18_text)
    model = r18.Resnet18()
    assert sum(isinstance(m, r18.Residual) for m in model.modules()) == 8


def test_network_parameter_is_a_constructor_argument(r18_text: str, tmp_path: Path) -> None:
    r18 = _module(tmp_path, "r18b", r18_text)
    net = archc.load("resnet18", {"classes": 100}, (1, 32, 32))
    assert _same_outputs(archc.build(net), r18.Resnet18(classes=100), net.input_shape)


def test_structural_parameters_are_checked(tmp_path: Path) -> None:
    tv = _module(tmp_path, "tvr", export_python("tv_resnet"))
    tv.TvResnet(classes=10)
    with pytest.raises(ValueError, match="depth=18 is built into this file"):
        tv.TvResnet(depth=34)
    vgg = _module(tmp_path, "vgg", export_python("vgg11", input_shape=None))
    with pytest.raises(ValueError, match="ratio=1"):
        vgg.Vgg11(ratio=4)


SPEC = """
block widen(c) { conv(c, k=1) relu conv(2 * c, k=1) }
block pick(c, deep) { if deep { conv(c, k=3, pad=1) } else { conv(c, k=1) } }
network n(w=4, d=8, gated=false) {
  input 3x6x6
  a: widen(w)
  b: pick(d, d > 6)
  if gated { sigmoid }
  flatten
  fc: linear(w * 3)
}
"""


@pytest.mark.parametrize("sets", [{"w": 5}, {"w": 1}])
def test_value_parameters_flow_through_blocks(tmp_path: Path, sets) -> None:
    spec = tmp_path / "flow.arch"
    spec.write_text(SPEC)
    text = export_python(spec)
    assert "self.a = Widen(in_channels, w)" in text and "nn.Linear(288, 3 * w)" in text
    mod = _module(tmp_path, f"flow{sets['w']}", text)
    net = archc.load(spec, sets)
    assert _same_outputs(archc.build(net), mod.N(**sets), net.input_shape)
    for deciding in ({"d": 5}, {"gated": True}):  # used in a condition: fixed in the file
        with pytest.raises(ValueError, match="is built into this file"):
            mod.N(**deciding)


def test_imports_torch_only_and_runs_without_archc(r18_text: str, tmp_path: Path) -> None:
    tree = ast.parse(r18_text)
    roots = {(n.module if isinstance(n, ast.ImportFrom) else a.name).split(".")[0]
             for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
             for a in (n.names if isinstance(n, ast.Import) else [n])}
    assert roots <= {"torch", "collections"}
    (tmp_path / "r18.py").write_text(r18_text)
    code = ("import sys; sys.modules['archc'] = None; import torch, r18; "
            "print(tuple(r18.Resnet18().eval()(torch.randn(2, 1, 96, 96)).shape))")
    done = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, "
                           f"{str(tmp_path)!r}); {code}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "(2, 10)"


# ----------------------------------------------------------------------------- the command


def test_command_writes_the_python_file(tmp_path: Path, r18_text: str) -> None:
    out = tmp_path / "r18.py"
    assert main(["export", "resnet18", "-o", str(out)]) == 0
    assert out.read_text() == r18_text


@pytest.mark.parametrize("argv, message", [
    (["-o", "m.txt"], "export writes FILE.py or FILE.onnx, not '.txt'"),
    (["-o", "m.txt"], "write .txt (the printed report) with `archc build SPEC -o"),
    (["-o", "m.py", "--weights", "w.pth"], "no such weights file"),  # (.py takes weights)
])
def test_usage_errors(argv, message, tmp_path: Path, capsys) -> None:
    argv = [a if a.startswith("-") or "." not in a else str(tmp_path / a) for a in argv]
    assert main(["export", "lenet", *argv]) == 2
    assert message in capsys.readouterr().err


def test_missing_onnx_packages_say_how_to_get_them(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['onnxscript'] = None; from archc.cli import main; "
            f"sys.exit(main(['export', 'lenet', '-o', {str(tmp_path / 'm.onnx')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert "pip install 'archc[onnx]'" in done.stderr and "Traceback" not in done.stderr


def test_an_op_without_source_is_a_located_error(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setitem(REGISTRY, "relu", replace(REGISTRY["relu"], source=None))
    assert main(["export", "resnet_mnist", "-o", str(tmp_path / "m.py")]) == 1
    err = capsys.readouterr().err
    assert "resnet_mnist.arch" in err and "op 'relu' has no source form" in err
    assert not (tmp_path / "m.py").exists()


def test_block_named_like_a_support_class_gets_its_own_name(tmp_path: Path) -> None:
    """A user block whose class name would be LayerNorm2d (the support class the file defines
    for `layernorm` on images) gets another name instead of silently replacing it."""
    spec = tmp_path / "coll.arch"
    spec.write_text("block layer_norm2d(c) { conv(c, k=1) layernorm }\n"
                    "network n { input 4x8x8 layer_norm2d(4) layernorm }\n")
    text = export_python(str(spec))
    classes = [n.name for n in ast.parse(text).body if isinstance(n, ast.ClassDef)]
    assert len(classes) == len(set(classes)) and "LayerNorm2d" in classes, classes
    exported = _module(tmp_path, "coll_export", text).N()
    assert _same_outputs(archc.build(archc.load(str(spec))), exported, (4, 8, 8))


GROUP = """
network n(h=8, p=0.1) {
  input 12
  g: { add { linear(h) relu dropout(p) linear(12) | } }
  fc: linear(2)
}
"""


def test_a_group_class_takes_its_owners_parameters_by_name(tmp_path: Path) -> None:
    """A group holding a join gets a class; it takes the network's (or its block's) parameters
    by their spec names, as the block classes do (GPT-2's transformer group took `wpe_arg0`,
    `drop_arg0` and twelve `p`, `p_`, ... for one `p`)."""
    spec = tmp_path / "group.arch"
    spec.write_text(GROUP)
    text = export_python(spec)
    assert "_arg" not in text and "p_" not in text
    assert "    def __init__(self, h: int = 8, p: float = 0.1) -> None:" in text
    assert "        self.linear1 = nn.Linear(12, h)" in text
    assert "        self.g = NetworkG(h=h, p=p)" in text
    mod = _module(tmp_path, "group", text)
    net = archc.load(spec, {"h": 5})
    assert _same_outputs(archc.build(net), mod.N(h=5), net.input_shape)


def test_gpt2s_transformer_group_as_the_readme_shows_it(tmp_path: Path) -> None:
    out = tmp_path / "gpt2.py"
    assert main(["export", "gpt2", "-o", str(out)]) == 0
    text = out.read_text()
    assert "        self, d: int, heads: int, positions: int = 1024, p: float = 0.1" in text
    assert "        self.transformer = NetworkTransformer(d, 12, positions=positions, p=p)" in text


def test_a_width_that_must_divide_stays_a_parameter(tmp_path: Path) -> None:
    """ViT's `d` only sizes layers, but `d + 1` is not divisible by the heads: the exporter
    moves such a parameter by doubling and tripling it, and `d` stays a constructor argument
    (it was built in as 768)."""
    text = export_python("tv_vit", input_shape=(3, 32, 32))
    assert "d=768 is built into this file" not in text
    assert "self.self_attention = SelfAttention(d, heads)" in text
    mod = _module(tmp_path, "vit_d", text)
    net = archc.load("tv_vit", {"d": 96, "mlp": 384}, (3, 32, 32))
    assert _same_outputs(archc.build(net), mod.TvVit(d=96, mlp=384), net.input_shape)


def test_a_block_of_many_parameters_exports_its_width_without_trying_every_sum(
        tmp_path: Path) -> None:
    """A block whose output width is the sum of its 22 parameters: the running width after it
    is fitted over bounded kinds of forms (archc/export/widths.py MAX_FORMS; every sum of any n
    of 22 is millions of forms, which took minutes), and still found: the sum of all 22."""
    n = 22
    params = ", ".join(f"a{i}" for i in range(n))
    branches = " | ".join(f"conv(a{i}, k=1)" for i in range(n))
    calls = "\n".join(f"  wide({', '.join(str(j + k + 1) for j in range(n))})" for k in range(3))
    spec = tmp_path / "wide.arch"
    spec.write_text(f"block wide({params}) {{ concat {{ {branches} }} }}\n"
                    f"network n {{\n  input 3x8x8\n{calls}\n  conv(8, k=1)\n}}\n")
    text = export_python(str(spec))
    assert "c = " + " + ".join(str(j + 1) for j in range(n)) in text
    exported = _module(tmp_path, "wide_export", text).N()
    assert _same_outputs(archc.build(archc.load(str(spec))), exported, (3, 8, 8))


@pytest.mark.parametrize("body", ['"block": { transition(4) }', "transition(4)\n  relu"])
def test_a_block_of_one_parameter_in_a_group_exports(tmp_path: Path, body: str) -> None:
    """A call with fewer than three numbers to fit a width over (a prelude `transition(4)` in a
    labelled group) exported with a ValueError traceback (archc/export/widths.py asked for
    comb(-1, 2)); found by bench/export_channels.py."""
    spec = tmp_path / "group.arch"
    spec.write_text(f"network n {{\n  input 2x12x17\n  {body}\n}}\n")
    exported = _module(tmp_path, "group_export", export_python(str(spec))).N()
    assert _same_outputs(archc.build(archc.load(str(spec))), exported, (2, 12, 17))


def test_a_running_group_labelled_with_no_identifier(tmp_path: Path) -> None:
    """Groups labelled `12` and `"block-2"` whose calls take the running width: built by
    add_module and reached by getattr (it wrote `self.12 = nn.Sequential()`, a file Python
    cannot import; found by bench/export_channels.py); at 5 input channels as archc builds."""
    spec = tmp_path / "labels.arch"
    spec.write_text("block unit(c) { conv(c, k=3, pad=1) relu }\nnetwork n {\n  input 3x8x8\n"
                    "  conv(8, k=1)\n  12: { unit(8) unit(16) }\n"
                    '  "block-2": { unit(16) unit(4) }\n}\n')
    text = export_python(str(spec))
    assert 'self.add_module("12", nn.Sequential())' in text
    exported = _module(tmp_path, "labels_export", text).N(in_channels=5)
    assert _same_outputs(archc.build(archc.load(str(spec), input_shape=(5, 8, 8))), exported,
                         (5, 8, 8))


def test_a_parameter_whose_moves_changed_nothing_is_built_in(tmp_path: Path) -> None:
    """`width` sizes a pool's kernel as `(width + 11) // 4`: 3 at the exported 1 and at the
    moves the exporter tries, so nothing in the class reads it. It is built in (a ValueError
    if changed), not a constructor argument that would build a kernel of 3 at width 5."""
    spec = tmp_path / "pooled.arch"
    spec.write_text("network pooled(width=1) {\n  input 3x2x19\n"
                    "  maxpool(stride=3, ceil=true, pad=1, k=(width + 11) // 4) * 2\n}\n")
    module = _module(tmp_path, "pooled_export", export_python(str(spec)))
    assert _same_outputs(archc.build(archc.load(str(spec))), module.Pooled(), (3, 2, 19))
    with pytest.raises(ValueError, match="width=1 is built into this file"):
        module.Pooled(width=5)


def test_two_parameters_moved_at_once_are_not_mistaken_for_each_other(tmp_path: Path) -> None:
    """The stride is `p // 2` and `k` is read nowhere. Moved together at two steps (k at 1, 2,
    4; p at 4, 7, 11) the strides 2, 3, 5 were also `k + 1`, and the class wrote
    `stride=k + 1`: N0(k=4) built a stride of 5 where archc builds 2 (bench/export_channels.py
    --params, seed 6470). A third step of the two tells them apart: every parameter moved by
    3 builds what archc builds, or says it is built in."""
    spec = tmp_path / "strided.arch"
    spec.write_text("network n0(k=1, c=2, p=4) {\n  input 2x1x10\n"
                    "  avgpool(k=3, pad=in.h, stride=p // 2)\n}\n")
    module = _module(tmp_path, "strided_export", export_python(str(spec)))
    assert "stride=k" not in Path(str(module.__file__)).read_text()
    for name, value in (("k", 1), ("c", 2), ("p", 4)):
        want = archc.build(archc.load(str(spec), {name: value + 3}))
        try:
            got = module.N0(**{name: value + 3})
        except ValueError as exc:
            assert "is built into this file" in str(exc)
            continue
        assert _same_outputs(want, got, (2, 1, 10)), name
