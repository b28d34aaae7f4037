"""Plugins (archc/plugins.py): the user's own ops, loaded by the user (--plugin, [tool.archc]
plugins in pyproject.toml, entry points `archc.registry.ops`), checked like archc's own. The example
(examples/plugins: ConvNeXt V2's GRN and ConvNeXt V2-Atto) is compared with the reference
written here in plain torch (facebookresearch/ConvNeXt-V2, models/convnextv2.py and utils.py):
its parameter count, one GRN layer's output and the whole network's, with the same weights."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

import archc
from archc import plugins
from archc.cli import main
from archc.commands.plugin import prove
from archc.registry.ops import REGISTRY
from tests.util import cpu_seed

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples" / "plugins"
GRN_PY = str(EXAMPLES / "grn.py")
ATTO = str(EXAMPLES / "convnextv2_atto.arch")
TEST_PLUGINS = Path(__file__).parent / "plugins"
PLUGIN_FILES = ("grn.py", "grn_torch.py", "grn_blocks.arch")  # the example plugin
SMALL = ('requires "archc-grn"\n\nblock b(c) {\n  channel_linear(4 * c)\n  gelu\n'
         "  g: grn(eps=1e-5)\n  channel_linear(c)\n}\n\nnetwork small {\n  input 3x16x16\n"
         "  conv(8, k=4, stride=4)\n  b(8) * 2\n  gap\n  flatten\n  linear(10)\n}\n")
ATTO_PARAMS = 3_708_400  # timm's convnextv2_atto (1000 classes), and the reference's below


@pytest.fixture(autouse=True)
def isolated() -> Iterator[None]:
    """Each test loads plugins afresh and leaves the registry as it found it."""
    registry, loaded, path = dict(REGISTRY), dict(plugins.LOADED), list(sys.path)
    owners = dict(plugins.OP_PLUGIN)
    yield
    REGISTRY.clear()
    REGISTRY.update(registry)
    plugins.OP_PLUGIN.clear()
    plugins.OP_PLUGIN.update(owners)
    plugins.LOADED.clear()
    plugins.LOADED.update(loaded)
    sys.path[:] = path
    for name in ("grn", "grn_torch", "liar", "crashy", "noplugin", "clash", "clash2",
                 "noschema", "twice_plugin"):
        sys.modules.pop(name, None)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def in_subprocess(code: str, cwd: Path = ROOT, path: str = "") -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), path) if p)}
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


# ----------------------------------------------------------------------------- the reference


class RefGRN(nn.Module):
    """ConvNeXt V2's GRN as its authors wrote it (models/utils.py): channels-last."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class RefLayerNorm(nn.Module):
    """models/utils.py LayerNorm, data_format="channels_first"."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(dim)), nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class RefBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.grn = RefGRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(y)))))
        return x + y.permute(0, 3, 1, 2)  # drop_path_rate 0: the identity


class RefConvNeXtV2(nn.Module):
    """models/convnextv2.py ConvNeXtV2; `convnextv2_atto`: depths 2, 2, 6, 2, dims 40..320."""

    def __init__(self, depths=(2, 2, 6, 2), dims=(40, 80, 160, 320), classes=1000) -> None:
        super().__init__()
        self.downsample_layers = nn.ModuleList([nn.Sequential(
            nn.Conv2d(3, dims[0], kernel_size=4, stride=4), RefLayerNorm(dims[0]))])
        for i in range(3):
            self.downsample_layers.append(nn.Sequential(
                RefLayerNorm(dims[i]), nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2)))
        self.stages = nn.ModuleList(nn.Sequential(*[RefBlock(d) for _ in range(n)])
                                    for d, n in zip(dims, depths, strict=True))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample_layers, self.stages, strict=True):
            x = stage(down(x))
        return self.head(self.norm(x.mean([-2, -1])))


def archc_name(ref: str) -> str:
    """The reference's parameter name -> the example spec's (its labels)."""
    for pattern, to in ((r"downsample_layers\.0\.", "stem."), (r"downsample_layers\.(\d)\.",
                        r"down\1."), (r"stages\.(\d)\.", r"stage\1."), (r"norm\.", "head.norm."),
                        (r"head\.(weight|bias)", r"head.fc.\1")):
        if re.match(pattern, ref):
            return re.sub(pattern, to, ref, count=1)
    return ref


def randomized(module: nn.Module) -> nn.Module:
    """Every parameter random (GRN starts as the identity: gamma = beta = 0)."""
    cpu_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return module


def load_reference(model: nn.Module, ref: nn.Module) -> None:
    theirs = {archc_name(k): v for k, v in ref.state_dict().items()}
    ours = model.state_dict()
    assert set(theirs) == set(ours)
    # GRN's gamma and beta: 1x1x1xC channels-last there, 1xCx1x1 here (examples/plugins)
    model.load_state_dict({k: v.reshape(ours[k].shape) for k, v in theirs.items()}, strict=True)


# ----------------------------------------------------------------------------- the example


def test_atto_parameters_equal_the_reference(capsys) -> None:
    assert sum(p.numel() for p in RefConvNeXtV2().parameters()) == ATTO_PARAMS
    code, out, _ = run(capsys, "summary", "--plugin", GRN_PY, ATTO, "--depth", "1")
    assert code == 0 and f"{ATTO_PARAMS:,} total" in out
    model = archc.build(archc.load(ATTO))
    assert sum(p.numel() for p in model.parameters()) == ATTO_PARAMS


def test_atto_output_equals_the_reference(one_torch_thread) -> None:
    plugins.load(GRN_PY)
    model = archc.build(archc.load(ATTO, input_shape=(3, 64, 64))).eval()
    ref = randomized(RefConvNeXtV2()).eval()
    load_reference(model, ref)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=1e-4, rtol=1e-4)


def test_grn_layer_equals_the_reference(one_torch_thread) -> None:
    plugins.load(GRN_PY)
    model = archc.build(archc.loads("network t { input 8x5x6 x: grn }")).eval()
    ref = randomized(RefGRN(8))
    model.x.gamma.data.copy_(ref.gamma.data.reshape(1, 8, 1, 1))
    model.x.beta.data.copy_(ref.beta.data.reshape(1, 8, 1, 1))
    x = torch.randn(3, 8, 5, 6)
    expected = ref(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    assert torch.allclose(model(x), expected, atol=1e-5)
    assert not torch.allclose(expected, x)  # the weights do something


def test_the_plugins_block_equals_the_reference_block(one_torch_thread) -> None:
    """examples/plugins/grn_blocks.arch, shipped with the plugin: ConvNeXt V2's Block."""
    plugins.load(GRN_PY)
    model = archc.build(archc.loads("network t { input 8x9x9 b: convnextv2_block }")).eval()
    ref = randomized(RefBlock(8)).eval()
    ours = model.state_dict()
    model.load_state_dict({f"b.{k}": v.reshape(ours[f"b.{k}"].shape)
                           for k, v in ref.state_dict().items()}, strict=True)
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=1e-5)


def test_plugin_blocks_are_checked(capsys, tmp_path: Path) -> None:
    (tmp_path / "bad_blocks.arch").write_text("block bad {\n  conv(0, k=1)\n}\n")
    (tmp_path / "with_blocks.py").write_text(
        "from pathlib import Path\nfrom archc.plugins import Plugin\n"
        "plugin = Plugin('with-blocks', blocks=Path(__file__).with_name('bad_blocks.arch'))\n")
    try:
        code, out, _ = run(capsys, "plugin", "check", str(tmp_path / "with_blocks.py"))
    finally:
        sys.modules.pop("with_blocks", None)
    assert code == 1 and "FAIL blocks bad_blocks.arch: bad" in out
    assert "error[A0305]: conv: argument 'out' must be >= 1, got 0" in out


def test_check_and_summary_never_import_torch() -> None:
    out = in_subprocess(
        "import sys; from archc.cli import main; "
        f"a = main(['check', '--plugin', {GRN_PY!r}, {ATTO!r}]); "
        f"b = main(['summary', '--plugin', {GRN_PY!r}, {ATTO!r}]); "
        "print('rc', a, b, 'torch' in sys.modules)")
    assert "rc 0 0 False" in out
    assert re.search(r"stage0\.0\.grn\s+│ grn\s+│ add\[0\] │ 160x56x56 │\s+320 │\s+0 │", out), out


def test_without_the_plugin_the_error_names_it(capsys) -> None:
    code, _, err = run(capsys, "check", ATTO)
    assert code == 1 and "Traceback" not in err
    assert f"{ATTO}:19:12: error[A0211]: unknown layer 'grn': this spec requires plugin " \
        '"archc-grn", which is not loaded' in err
    assert "--plugin FILE_OR_MODULE" in err
    code, _, err = run(capsys, "build", ATTO)  # every command: the same error
    assert code == 1 and "error[A0211]" in err


def test_the_language_server_names_the_missing_plugin() -> None:
    from archc.lsp.analysis import analyze
    from archc.lsp.analysis import run as analyse

    result = analyse(analyze(ATTO, Path(ATTO).read_text(encoding="utf-8"), 1))
    assert [(e.code, e.span.line, e.span.col) for e, _ in result.errors] == [("A0211", 19, 12)]


def test_an_unknown_op_without_requires_is_a_plain_unknown_layer() -> None:
    net = "network t { input 3x8x8 grn }"
    with pytest.raises(archc.ArchcErrors) as info:
        archc.loads(net)
    assert [e.code for e in info.value.errors] == ["A0201"]
    with pytest.raises(archc.ArchcErrors) as info:
        archc.loads('requires "archc-grn"\n' + net)
    assert [e.code for e in info.value.errors] == ["A0211"]
    plugins.load(GRN_PY)  # loaded: the spec checks, `requires` or not
    assert archc.loads('requires "archc-grn"\n' + net).output_shape == (3, 8, 8)


def test_graph_and_fmt(capsys, tmp_path: Path) -> None:
    dot = tmp_path / "atto.dot"
    code, _, err = run(capsys, "graph", "--plugin", GRN_PY, ATTO, "-o", str(dot))
    assert code == 0, err
    assert '"grn"' in dot.read_text() or "grn" in dot.read_text()
    assert run(capsys, "fmt", "--check", ATTO)[0] == 0  # `requires` is laid out too


def test_export_imports_the_plugin_class(capsys, tmp_path: Path, one_torch_thread,
                                        monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the command recorded in the file: the same length anywhere
    spec = tmp_path / "small.arch"
    spec.write_text(SMALL)
    out = tmp_path / "small_model.py"
    code, _, err = run(capsys, "export", "small.arch", "-o", "small_model.py", "--plugin",
                       GRN_PY)
    assert code == 0, err
    text = out.read_text()
    assert "from grn_torch import GRN" in text and "GRN(4 * c, eps=1e-05)" in text  # c: b's
    assert "Needs torch and the plugin module grn_torch" in text
    for args in (["format", "--isolated", "--check"],
                 ["check", "--isolated", "--select", "E,F,W,I,B,UP"]):
        done = subprocess.run([sys.executable, "-m", "ruff", *args, str(out)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        import small_model  # type: ignore[import-not-found]
    finally:
        sys.modules.pop("small_model", None)
    built = randomized(archc.build(archc.load(spec))).eval()
    exported = small_model.Small().eval()
    exported.load_state_dict(built.state_dict(), strict=True)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(exported(x), built(x))


def test_train_a_network_with_a_plugin_op(capsys, tmp_path: Path, one_torch_thread) -> None:
    from tests.train_fixtures import write_idx_set

    data = write_idx_set(tmp_path / "idx", n_train=64, n_test=32)
    spec = tmp_path / "g.arch"
    spec.write_text('requires "archc-grn"\nnetwork tiny_grn {\n  input 1x28x28\n'
                    "  conv(8, k=5, stride=3) grn relu flatten linear(10)\n"
                    "  train { lr = 0.1  batch_size = 32  epochs = 1 }\n}\n")
    code, _, err = run(capsys, "train", str(spec), "--plugin", GRN_PY, "--data-dir", str(data),
                       "--device", "cpu", "--no-progress", "--no-tensorboard", "--out",
                       str(tmp_path / "run"))
    assert code == 0, err
    assert (tmp_path / "run" / "checkpoint.json").exists()


# ----------------------------------------------------------------------------- plugin check


def test_plugin_check_accepts_grn(capsys) -> None:
    code, out, err = run(capsys, "plugin", "check", GRN_PY)
    assert code == 0, out + err
    assert "ok grn: output shape 3x9x9 -> 3x9x9; params 6; MACs 0; export GRN(3, eps=1e-06)" \
        in out
    assert "ok blocks grn_blocks.arch: convnextv2_block" in out


def test_plugin_check_refuses_false_claims(capsys) -> None:
    code, out, err = run(capsys, "plugin", "check", str(TEST_PLUGINS / "liar.py"))
    assert code == 1 and "Traceback" not in err
    assert "mismatch: output shape: declared 3x9x9 -> 3x9x9, the forward pass gives " \
        "3x9x9 -> 3x4x4" in out
    assert "mismatch: params: declared 9, sum of numel gives 12" in out
    assert "mismatch: MACs: declared 0, FlopCounterMode (144 FLOPs for a batch of 2) gives " \
        "36" in out
    assert "mismatch: export: `nn.Conv2d(3, 3, 3)` builds Conv2d(3, 3, kernel_size=(3, 3), " \
        "stride=(1, 1)), the torch factory Conv2d(3, 3, kernel_size=(1, 1), stride=(1, 1))" in out
    assert "4 op(s) refused" in err


def test_plugin_check_refuses_a_rule_that_crashes(capsys) -> None:
    code, out, _ = run(capsys, "plugin", "check", str(TEST_PLUGINS / "crashy.py"))
    assert code == 1
    assert "shape rule on input 12: crashy: the shape rule of plugin archc-crashy failed: " \
        "ZeroDivisionError" in out
    assert "returned 'a shape' for input 4x6, not a shape" in out


@pytest.mark.parametrize("name", ["conv", "linear", "layernorm", "channel_linear", "gelu"])
def test_the_same_proof_holds_for_archc_own_ops(name: str, one_torch_thread) -> None:
    proof = prove(REGISTRY[name])
    assert not proof.mismatches and proof.facts


def test_archc_own_op_written_as_a_plugin(one_torch_thread) -> None:
    """Plugin.op takes the registry record's fields: archc's channel_linear, declared again
    through it, passes the same proof and counts the same."""
    own = REGISTRY["channel_linear"]
    plugin = plugins.Plugin("again")
    op = plugin.op("channel_linear_again", own.args, shape=own.shape, torch=own.torch,
                   source=own.source, caption=own.caption, params=own.params, macs=own.macs,
                   family=own.family, init=own.init, doc=own.doc,
                   example=own.example.replace("channel_linear", "channel_linear_again"),
                   example_input=own.example_input)
    try:
        proof = prove(op)
        assert not proof.mismatches, proof.mismatches
        a = archc.loads("network t { input 4x5x5 channel_linear(7) }")
        b = archc.loads("network t { input 4x5x5 channel_linear_again(7) }")
        assert archc.shapes(a)[-1][2] == archc.shapes(b)[-1][2] == (7, 5, 5)
    finally:
        plugin.unload()
    assert "channel_linear_again" not in REGISTRY


def test_a_failing_rule_is_a_located_error(capsys, tmp_path: Path) -> None:
    spec = tmp_path / "c.arch"
    spec.write_text("network n {\n  input 12\n  crashy\n}\n"
                    "network m {\n  input 3x4x4\n  tokens\n  crashy\n}\n")
    crashy = str(TEST_PLUGINS / "crashy.py")
    code, _, err = run(capsys, "check", "--plugin", crashy, str(spec))
    assert code == 1 and "Traceback" not in err
    assert f"{spec}:3:3: error[A0411]: crashy: the shape rule of plugin archc-crashy failed: " \
        "ZeroDivisionError: integer division or modulo by zero (input 12)" in err
    assert f"{spec}:8:3: error[A0411]: crashy: the shape rule of plugin archc-crashy returned " \
        "'a shape' for input 16x3, not a shape" in err
    code, _, err = run(capsys, "summary", "--plugin", crashy, str(spec))
    assert code == 1 and "error[A0411]" in err and "Traceback" not in err
    spec.write_text("network n {\n  input 3x4x4\n  bad_count\n}\n")
    code, _, err = run(capsys, "summary", "--plugin", crashy, str(spec))
    assert code == 1 and "Traceback" not in err
    assert f"{spec}:3:3: error[A0411]: bad_count: the params of plugin archc-crashy returned " \
        "-1, not a count (an integer >= 0)" in err


def test_a_plugin_ops_pytorch_names_lead_to_it(capsys, tmp_path: Path) -> None:
    """`Plugin.op(..., pytorch=...)`: a spec writing the op's PyTorch name is pointed at it."""
    plugin = tmp_path / "twice_plugin.py"
    plugin.write_text(
        "from archc.plugins import Plugin\n"
        "plugin = Plugin('archc-twice', doc='twice its input')\n"
        "plugin.op('twice', shape=lambda a, s: s, torch=lambda a, i, o: None,\n"
        "          doc='twice its input', example='twice', pytorch={'Doubler': 'no arguments'})\n")
    spec = tmp_path / "d.arch"
    spec.write_text("network n {\n  input 3x4x4\n  Doubler\n}\n")
    code, _, err = run(capsys, "check", "--plugin", str(plugin), str(spec))
    assert code == 1 and "did you mean 'twice'? (archc's spelling of Doubler; no arguments)" \
        in err, err


# ----------------------------------------------------------------------------- loading


def test_pyproject_plugins_nearest_the_spec(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "nets").mkdir(parents=True)
    (project / "tools").mkdir()
    for name in PLUGIN_FILES:
        shutil.copy(EXAMPLES / name, project / "tools" / name)
    shutil.copy(ATTO, project / "nets" / "atto.arch")
    (project / "pyproject.toml").write_text('[tool.archc]\nplugins = ["tools/grn.py"]\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = in_subprocess("import sys; from archc.cli import main; "
                        f"print('rc', main(['check', {str(project / 'nets' / 'atto.arch')!r}]))",
                        cwd=elsewhere)
    assert "rc 0" in out


@pytest.mark.parametrize("text, plugins", [
    ('[tool.archc]\nplugins = ["a.py"]\n', ["a.py"]),
    ('[tool]\narchc = { plugins = ["a.py"] }\n', ["a.py"]),
    ('tool.archc.plugins = ["a.py"]\n', ["a.py"]),
    ('tool = { archc = { plugins = ["a.py"] } }\n', ["a.py"]),
    ("[ 'tool' . \"archc\" ]\nplugins = ['a.py']\n", ["a.py"]),
    ('[project]\nname = "x"\n[tool.ruff]\nline-length = 99\n', []),
    ('[tool.archcx]\nplugins = ["a.py"]\n', []),
    # what cannot configure archc is not parsed: TOML it could not read is not its business
    ('[project]\nname = "x" = "y"\n', []),
])
def test_pyproject_forms_that_name_plugins(tmp_path: Path, text: str,
                                           plugins: list[str]) -> None:
    """Every TOML spelling of `[tool.archc] plugins`; a pyproject.toml that has no way to
    say anything of archc is not parsed at all (archc/core/plugin_config.py)."""
    from archc.core.plugin_config import configured

    (tmp_path / "pyproject.toml").write_text(text)
    assert configured(tmp_path) == (tmp_path / "pyproject.toml", plugins)


def test_a_pyproject_that_configures_archc_must_parse(tmp_path: Path) -> None:
    from archc.core.errors import UsageError
    from archc.core.plugin_config import configured

    (tmp_path / "pyproject.toml").write_text('[tool.archc]\nplugins = ["a.py"\n')
    with pytest.raises(UsageError, match="cannot read it"):
        configured(tmp_path)


def test_entry_point_plugins_load_when_installed(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist = site / "archc_grn-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: archc-grn\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[archc.registry.ops]\narchc-grn = grn\n")
    for name in PLUGIN_FILES:
        shutil.copy(EXAMPLES / name, site / name)
    out = in_subprocess("import sys; from archc.cli import main; "
                        f"print('rc', main(['check', {ATTO!r}]))", cwd=tmp_path, path=str(site))
    assert "rc 0" in out


def test_installed_plugins_are_remembered_per_state_of_the_path(tmp_path: Path,
                                                                 monkeypatch) -> None:
    """The entry points are scanned once per state of sys.path in a process: a folder put on
    the path (or a package installed into one, which changes its mtime) is scanned again."""
    from archc.core.plugin_config import installed_names

    before = installed_names()
    assert installed_names() == before and installed_names() is not installed_names()
    dist = tmp_path / "archc_grn-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: archc-grn\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[archc.registry.ops]\narchc-grn = grn\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert installed_names() == sorted([*before, "archc-grn=grn"])


def test_load_errors_are_usage_errors(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "check", "--plugin", str(tmp_path / "none.py"), ATTO)
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, "check", "--plugin", "no_such_plugin_module", ATTO)
    assert code == 2 and "no module named 'no_such_plugin_module'" in err
    (tmp_path / "noplugin.py").write_text("x = 1\n")
    code, _, err = run(capsys, "check", "--plugin", str(tmp_path / "noplugin.py"), ATTO)
    assert code == 2 and "defines no archc plugin" in err
    (tmp_path / "clash.py").write_text(
        "from archc.plugins import Plugin, same_shape\np = Plugin('clash')\n"
        "p.op('conv', shape=same_shape, torch=lambda a, i, o: None, doc='d', example='conv')\n")
    code, _, err = run(capsys, "check", "--plugin", str(tmp_path / "clash.py"), ATTO)
    assert code == 2 and "op 'conv' is already defined by archc" in err and "Traceback" not in err
    assert "conv" in REGISTRY and REGISTRY["conv"].family == "conv"
    (tmp_path / "clash2.py").write_text(
        "from archc.plugins import Plugin, same_shape\np = Plugin('clash2')\n"
        "p.op('grn', shape=same_shape, torch=lambda a, i, o: None, doc='d', example='grn')\n")
    code, _, err = run(capsys, "check", "--plugin", GRN_PY, "--plugin",
                       str(tmp_path / "clash2.py"), ATTO)
    assert code == 2 and "op 'grn' is already defined by plugin archc-grn" in err
    (tmp_path / "noschema.py").write_text(
        "from pydantic import BaseModel\nfrom archc.plugins import Plugin, same_shape\n"
        "p = Plugin('noschema')\nclass A(BaseModel):\n    x: int = 1\n"
        "p.op('noschema', A, shape=same_shape, torch=lambda a, i, o: None, doc='d', "
        "example='noschema')\n")
    code, _, err = run(capsys, "check", "--plugin", str(tmp_path / "noschema.py"), ATTO)
    assert code == 2 and "its schema must subclass archc.plugins.Args" in err
    assert "noschema" not in REGISTRY


def test_language_server_sees_plugin_ops() -> None:
    """Hover, completion and signature help describe an op through op_callee."""
    from archc.lsp.describe import op_callee

    plugins.load(GRN_PY)
    grn = op_callee("grn")
    assert grn.signature == "grn(eps=1e-06)" or grn.signature.startswith("grn(eps=")
    assert "global response normalisation" in grn.doc and grn.where == "plugin archc-grn"


def test_the_readme_example_is_a_working_plugin(capsys, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Plugins: your own ops"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    (tmp_path / "readme_grn.py").write_text(code.group(1))
    shutil.copy(EXAMPLES / "grn_torch.py", tmp_path / "grn_torch.py")
    try:
        status, out, err = run(capsys, "plugin", "check", str(tmp_path / "readme_grn.py"))
    finally:
        sys.modules.pop("readme_grn", None)
    assert status == 0, out + err
    assert "ok grn: output shape 3x9x9 -> 3x9x9; params 6; MACs 0" in out


def test_summary_train_of_an_op_without_a_saved_rule(capsys) -> None:
    """The example's GRN declares no saved-for-backward rule: `summary --train` says it cannot
    count it, at the layer, exit 1 (never a traceback)."""
    code, _, err = run(capsys, "summary", "--plugin", GRN_PY, ATTO, "--train", "--batch", "2")
    assert code == 1
    assert "error[A0309]: grn: its record has no saved-for-backward rule" in err
    assert "Traceback" not in err
