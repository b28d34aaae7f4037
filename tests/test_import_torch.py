"""`archc import pkg.module:factory -o model.arch`, run as a user runs it: torchvision models and
archc's own exported .py files come back as specs that check, load the module's state_dict with
strict=True and give bit-equal fp64 outputs in eval and train mode (archc proves it itself; the
tests also compare the spec's counts with the hand-written zoo spec's). What archc cannot
express is refused with error[A0901] at the Python line, and nothing is written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.util import run_cli


def imported(capsys, target: str, out: Path, *options: str) -> str:
    code, stdout, err = run_cli(capsys, "import", target, "-o", out, *options)
    assert code == 0, err
    assert f"{out} is equal to {target}" in stdout
    assert "eval mode: outputs equal (fp64" in stdout
    assert "train mode: outputs equal (fp64" in stdout
    assert "loaded with strict=True" in stdout
    code, _, err = run_cli(capsys, "check", out)
    assert code == 0, err
    return out.read_text()


def counts(capsys, *argv: str) -> tuple[int, int]:
    code, out, err = run_cli(capsys, "summary", *argv, "--json")
    assert code == 0, err
    s = json.loads(out)
    return s["params"], s["macs"]


def test_resnet18(capsys, tmp_path):
    out = tmp_path / "r18.arch"
    text = imported(capsys, "torchvision.models:resnet18", out, "--input", "3x64x64")
    # one block per torch class, an `if` on the statement only some instances have; the stages
    # as one block with a loop whose first iteration differs
    assert "block basic_block(c, stride=1, downsample=false) {" in text
    assert "| if downsample {" in text and "basic_block_2" not in text
    assert "layer1: layer(64)" in text and "layer4: layer(512, stride=2, downsample=true)" in text
    assert "for i in 0..2 {\n    if i == 0 {" in text
    assert len(text.splitlines()) <= 50
    assert counts(capsys, out) == counts(capsys, "tv_resnet", "--set", "depth=18", "--input",
                                         "3x64x64")


def test_resnet50_done_when(capsys, tmp_path):
    """Issue 25's done-when: resnet50 in at most 60 lines with one `bottleneck` block (an `if`
    on its downsample) and one stage block (a `for` whose first iteration differs)."""
    out = tmp_path / "r50.arch"
    text = imported(capsys, "torchvision.models:resnet50", out, "--input", "3x64x64")
    assert len(text.splitlines()) <= 60
    assert "block bottleneck(c, stride=1, downsample=false) {" in text
    assert "conv3: conv(4 * c, 1, bias=false)" in text
    assert [ln.split("(")[0] for ln in text.splitlines() if ln.startswith("block ")] == \
        ["block bottleneck", "block layer"]
    assert "block layer(c, n, stride=1) {" in text and "layer3: layer(256, 6, stride=2)" in text
    assert "bottleneck(c, stride=stride, downsample=true)" in text
    assert counts(capsys, out) == counts(capsys, "tv_resnet", "--set", "depth=50", "--input",
                                         "3x64x64")


@pytest.mark.parametrize("model, spec, size", [
    ("squeezenet1_1", ["tv_squeezenet", "--set", "version=1.1"], "3x64x64"),  # concat joins
    ("mobilenet_v3_small", ["tv_mobilenet_v3", "--set", "variant=small"], "3x64x64"),  # mul, add
    # torchvision's StochasticDepth kept whole; fp64 depthwise convs are slow: a small input
    ("efficientnet_b0", ["tv_efficientnet"], "3x16x16"),
])
def test_torchvision_joins(capsys, tmp_path, model, spec, size):
    out = tmp_path / f"{model}.arch"
    imported(capsys, f"torchvision.models:{model}", out, "--input", size)
    assert counts(capsys, out) == counts(capsys, *spec, "--input", size)


def test_torchvision_video_model(capsys, tmp_path):
    """3-D convs (subclasses of nn.Conv3d that keep its forward map as conv), 3-D BN and
    pooling: the rank comes from the clip."""
    out = tmp_path / "r3d.arch"
    text = imported(capsys, "torchvision.models.video:r3d_18", out, "--input", "3x4x32x32")
    assert "conv(64, (3, 7, 7), stride=(1, 2, 2), pad=(1, 3, 3), bias=false)" in text
    assert counts(capsys, out) == counts(capsys, "r3d_18", "--input", "3x4x32x32")


@pytest.mark.parametrize("spec", ["resnet_mnist", "googlenet"])
def test_round_trip_of_exported_python(capsys, tmp_path, spec):
    py = tmp_path / f"{spec}.py"
    code, _, err = run_cli(capsys, "export", spec, "-o", py)
    assert code == 0, err
    cls = [line.split()[1].split("(")[0] for line in py.read_text().splitlines()
           if line.startswith("class ")][-1]
    size = "x".join(map(str, json.loads(run_cli(capsys, "summary", spec, "--json")[1])["input"]))
    out = tmp_path / f"{spec}.arch"
    imported(capsys, f"{py}:{cls}", out, "--input", size)
    assert counts(capsys, out) == counts(capsys, spec)


USER = '''
import torch
from torch import nn
import torch.nn.functional as F


class Gate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.fc(F.adaptive_avg_pool2d(x, 1)))


class Net(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.act = nn.ReLU()
        self.gate1 = Gate(width)
        self.gate2 = Gate(width)
        self.head = nn.Linear(width, 4)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        x = self.act(self.stem(x))
        x = self.act(self.gate2(self.gate1(x)) + x)
        return self.head(self.drop(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))


class Upsampler(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.up = nn.Upsample(scale_factor=2)

    def forward(self, x):
        return self.up(self.conv(x))


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.conv(self.conv(x))


class Branchy(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x


class TinyViT(nn.Module):
    """Patches flattened and transposed into tokens, a class token and a position embedding
    (named otherwise than torchvision's), attention without biases, the class token read."""

    def __init__(self, weights=False):
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, 8))
        self.pos = nn.Parameter(torch.randn(1, 5, 8))
        self.attn = nn.MultiheadAttention(8, 2, bias=False, batch_first=True)
        self.head = nn.Linear(8, 3)
        self.weights = weights

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.pos + x
        x = self.attn(x, x, x, need_weights=self.weights)[0]
        return self.head(x[:, 0])


def make(width=8):
    return Net(width)


def tiny_vit():
    return TinyViT()


def attention_weights():
    return TinyViT(weights=True)


def upsampler():
    return Upsampler()


def shared():
    return Shared()


def branchy():
    return Branchy()
'''


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "user_model.py"
    path.write_text(USER)
    return path


def test_user_model(capsys, tmp_path, user_file):
    """A model written as a Python class: a residual over two gates (mul), a stateless module
    used twice, functional pooling and flatten, dropout (equal in train mode too)."""
    out = tmp_path / "net.arch"
    text = imported(capsys, f"{user_file}:make", out, "--kwargs", '{"width": 6}',
                    "--input", "3x10x10")
    assert "block gate {" in text and "mul {" in text and "add {" in text
    assert "gate1: gate" in text and "gate2: gate" in text
    assert "drop: dropout(0.3)" in text


def test_user_vision_transformer(capsys, tmp_path, user_file):
    """flatten(2).transpose(1, 2) as tokens, the class token and position embedding labelled
    with their parameters' names, nn.MultiheadAttention(bias=False) as attention, x[:, 0]."""
    out = tmp_path / "vit.arch"
    text = imported(capsys, f"{user_file}:tiny_vit", out, "--input", "3x8x8")
    body = text[text.index("network"):]
    for line in ("patch: conv(8, 4, stride=4)", "tokens", "cls: class_token",
                 "pos: pos_embedding", "attn: attention(2, bias=false)", "token",
                 "head: linear(3)"):
        assert f"  {line}\n" in body


@pytest.mark.parametrize("factory, message, line", [
    ("attention_weights", "module 'attn' (MultiheadAttention) is called otherwise than as "
     "self-attention", "x = self.attn(x, x, x, need_weights=self.weights)[0]"),
    ("upsampler", "module 'up' (Upsample): no archc op builds a Upsample",
     "return self.up(self.conv(x))"),
    ("shared", "module 'conv' is called twice with its weights", "return self.conv(self.conv(x))"),
])
def test_refused_at_the_python_line(capsys, tmp_path, user_file, factory, message, line):
    out = tmp_path / "refused.arch"
    code, stdout, err = run_cli(capsys, "import", f"{user_file}:{factory}", "-o", out,
                                "--input", "3x8x8")
    assert code == 1 and stdout == ""
    first, source = err.splitlines()[:2]
    assert first.startswith(f"{user_file}:") and f"error[A0901]: {message}" in first
    assert source.strip() == line
    assert not out.exists()


def test_python_lines_are_recorded_only_for_a_refusal(capsys, tmp_path, user_file,
                                                      monkeypatch):
    """Recording each call's Python line is a third to a half of an import's time, and only
    a refusal reads it: an import that succeeds traces once without the lines; a refused call
    is refused again from a trace with them, and says the line (the test above)."""
    import archc.importer.torch_export as tracing

    asked: list[bool] = []
    real = tracing.fx_trace
    monkeypatch.setattr(tracing, "fx_trace",
                        lambda model, lines=False: asked.append(lines) or real(model, lines))
    imported(capsys, f"{user_file}:tiny_vit", tmp_path / "vit.arch", "--input", "3x8x8")
    assert asked == [False]
    asked.clear()
    code, _, err = run_cli(capsys, "import", f"{user_file}:upsampler", "-o",
                           tmp_path / "up.arch", "--input", "3x8x8")
    assert code == 1 and "return self.up(self.conv(x))" in err
    assert asked == [False, True]
    # a model neither tracer takes is refused from the first trace: no second fx trace and
    # no second torch.export attempt
    asked.clear()
    code, _, err = run_cli(capsys, "import", f"{user_file}:branchy", "-o", tmp_path / "b.arch")
    assert code == 1 and "torch.fx cannot trace Branchy" in err
    assert asked == [False]


def test_untraceable_is_refused(capsys, tmp_path, user_file):
    code, _, err = run_cli(capsys, "import", f"{user_file}:branchy", "-o", tmp_path / "b.arch")
    assert code == 1
    assert "error[A0901]: torch.fx cannot trace Branchy" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["no_such_pkg:net"], "cannot import 'no_such_pkg'"),
    (["torchvision.models:resnet18", "--kwargs", "[1]"], "--kwargs must be a JSON object"),
    (["torchvision.models:resnet18", "--name", "9lives"], "is not a name"),
])
def test_bad_targets(capsys, tmp_path, argv, message):
    code, _, err = run_cli(capsys, "import", *argv, "-o", tmp_path / "x.arch")
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize("code, message", [
    ("import sys\ndef make():\n    sys.exit(0)\n", "{file}:make() raised SystemExit: 0"),
    ("import sys\nsys.exit(3)\n", "cannot import '{file}': SystemExit: 3"),
])
@pytest.mark.parametrize("command", ["import", "summary"])
def test_a_factory_that_exits_is_an_error(capsys, tmp_path, code, message, command):
    """sys.exit(0) in the user's file ended `archc import` with exit 0 and nothing written."""
    file = tmp_path / "m.py"
    file.write_text(code)
    argv = (["import", f"{file}:make", "-o", tmp_path / "x.arch"] if command == "import" else
            ["summary", "--torch", f"{file}:make"])
    got, _, err = run_cli(capsys, *argv)
    assert got == 2 and message.format(file=file) in err and "Traceback" not in err
    assert not (tmp_path / "x.arch").exists()


def test_a_single_layer_is_refused_with_the_way_out(capsys, tmp_path):
    """A factory returning nn.Conv2d itself was refused as `no archc op for torch.conv2d()`
    (fx traces into the root's forward); wrapped in nn.Sequential it imports."""
    file = tmp_path / "one.py"
    file.write_text("import torch\ndef bare():\n    return torch.nn.Conv2d(3, 4, 3)\n"
                    "def wrapped():\n    return torch.nn.Sequential(bare())\n")
    code, _, err = run_cli(capsys, "import", f"{file}:bare", "-o", tmp_path / "b.arch",
                           "--input", "3x8x8")
    assert code == 1 and "error[A0901]: Conv2d is one layer, not a network of layers" in err
    assert "wrap it: nn.Sequential(layer)" in err and not (tmp_path / "b.arch").exists()
    code, out, err = run_cli(capsys, "import", f"{file}:wrapped", "-o", tmp_path / "w.arch",
                             "--input", "3x8x8")
    assert code == 0 and "is equal to" in out + err, err


def test_readme_user_model(capsys, tmp_path, monkeypatch):
    """The README's section on a model written as a Python class, run as it says: the command
    prints what the README shows and writes the spec it shows (its comment lines left out)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Import: a PyTorch model you already have"):]
    python = re.search(r"```python\n(.*?)```", section, re.S)
    command = re.search(r"`(archc import model\.py:make [^`]*)` prints\n\n```\n(.*?)```", section,
                        re.S)
    spec = re.search(r"and writes \(the comment lines left out.*?```\n(.*?)```", section, re.S)
    assert python and command and spec
    (tmp_path / "model.py").write_text("import torch\nfrom torch import nn\n\n\n" +
                                       python.group(1) + "\n\ndef make():\n    return Net()\n")
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run_cli(capsys, *command.group(1).split()[1:])
    assert code == 0, err
    assert stdout == command.group(2)
    written = [ln for ln in (tmp_path / "net.arch").read_text().splitlines()
               if not ln.startswith("#")]
    assert "\n".join(written).strip() + "\n" == spec.group(1)
