"""`archc import` of language models torch.fx cannot trace (issue 25, item 4): transformers'
GPT2LMHeadModel and LlamaForCausalLM at two layers, random init, read through torch.export from
the CLI as a user runs it (`archc import gpt2_small.py:make -o x.arch --input 16`). The spec
proves itself equal (fp64 logits, eval and train mode, strict load), writes the tied lm_head
with `tie=` (found by storage, counted once), and counts what the hand-written specs/gpt2.arch
and specs/llama.arch count. A tie through torch.fx, and refusals through torch.export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.util import run_cli

SPECS = Path(__file__).resolve().parent.parent / "specs"

GPT2 = '''
from transformers import GPT2Config, GPT2LMHeadModel


def make(**options):
    return GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=100,
                                      n_positions=32, bos_token_id=0, eos_token_id=0,
                                      **options))
'''
GPT2_SETS = ["layers=2", "d=64", "heads=4", "vocab=100", "positions=32", "seq=16"]

LLAMA = '''
from transformers import LlamaConfig, LlamaForCausalLM


def make(**options):
    config = dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4,
                  num_key_value_heads=2, intermediate_size=128, vocab_size=256,
                  rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=64)
    return LlamaForCausalLM(LlamaConfig(**{**config, **options}))
'''

TIED = '''
import torch
from torch import nn


class TinyLM(nn.Module):
    """Embed, mix, normalise, and read the logits out through the embedding's own weight."""

    def __init__(self, vocab=50, d=16, share="parameter"):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.mix = nn.Linear(d, d)
        self.norm = nn.RMSNorm(d, eps=1e-5)
        self.out = nn.Linear(d, vocab, bias=False)
        if share == "parameter":  # one Parameter under two names, as transformers ties
            self.out.weight = self.emb.weight
        elif share == "storage":  # two Parameters over one storage
            self.out.weight = nn.Parameter(self.emb.weight.detach())

    def forward(self, x):
        return self.out(self.norm(torch.relu(self.mix(self.emb(x)))))


class TwoTables(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Embedding(50, 16)
        self.b = nn.Embedding(50, 16)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.a(x) + self.b(x)


class Checked(nn.Module):
    """A shape assert torch.fx cannot trace (a Proxy has no truth value)."""

    def __init__(self, two=False):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, 4)
        self.two = two

    def forward(self, x):
        assert x.shape[1] == 3, "RGB"
        y = torch.relu(self.conv(x))
        logits = self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))
        return (logits, y) if self.two else logits


def make(**options):
    return TinyLM(**options)


def two_tables():
    return TwoTables()


def checked(**options):
    return Checked(**options)
'''


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def imported(capsys, target: str, out: Path, *options: str) -> tuple[str, str]:
    code, stdout, err = run_cli(capsys, "import", target, "-o", out, *options)
    assert code == 0, err
    assert f"{out} is equal to {target}" in stdout
    assert "loaded with strict=True" in stdout
    code, _, err = run_cli(capsys, "check", out)
    assert code == 0, err
    return out.read_text(), stdout


def counts(capsys, *argv: str) -> tuple[int, int]:
    code, out, err = run_cli(capsys, "summary", *argv, "--json")
    assert code == 0, err
    s = json.loads(out)
    return s["params"], s["macs"]


def test_gpt2_through_torch_export(capsys, tmp_path):
    """GPT-2 as transformers builds it (NewGELUActivation: tanh-GELU term by term, so equal
    to fp64 rounding, and the proof says why); one block per class; the lm_head tied to wte
    by storage; the parameters and MACs of specs/gpt2.arch at the same config."""
    py = write(tmp_path, "gpt2_small.py", GPT2)
    out = tmp_path / "gpt2.arch"
    text, stdout = imported(capsys, f"{py}:make", out, "--input", "16")
    assert "traced with torch.export (torch.fx cannot trace GPT2LMHeadModel: " in stdout
    for mode in ("eval", "train"):
        assert f"{mode} mode: logits equal to fp64 rounding (fp64, a seeded random 2x16 " \
            "token ids" in stdout
    assert "NewGELUActivation computes tanh-GELU term by term" in stdout
    # the tied weight once: GPT2LMHeadModel's parameters() (by identity) and archc's count
    assert "108,544 parameters, as the module's 108,544" in stdout
    assert "input tokens(16, 100)" in text and len(text.splitlines()) == 47  # as README says
    assert "block gpt2_block {" in text and "block gpt2_mlp {" in text
    assert "attn: attention(4, dropout=0.1, causal=true, layout=\"gpt2\")" in text
    assert "wpe: position_embedding(32, 64)" in text and "wte: embedding(100, 64)" in text
    assert "c_fc: linear(256, transposed=true)" in text
    assert 'lm_head: linear(100, bias=false, tie="transformer.wte")' in text
    sets = [a for s in GPT2_SETS for a in ("--set", s)]
    assert counts(capsys, out) == counts(capsys, str(SPECS / "gpt2.arch"), *sets) == \
        counts(capsys, "--torch", f"{py}:make", "--input", "16") == (108_544, 1_740_800)


def test_gpt2_bit_equal(capsys, tmp_path):
    """With the activation that is F.gelu(approximate='tanh') (GELUTanh), every module
    computes what archc's op computes: the logits are bit-equal in eval and train mode."""
    py = write(tmp_path, "gpt2_small.py", GPT2)
    _, stdout = imported(capsys, f"{py}:make", tmp_path / "g.arch", "--input", "16",
                         "--kwargs", '{"activation_function": "gelu_pytorch_tanh"}')
    assert "eval mode: logits equal (fp64, a seeded random 2x16 token ids, max |diff| 0)" \
        in stdout
    assert "train mode: logits equal (fp64, a seeded random 2x16 token ids, max |diff| 0)" \
        in stdout


@pytest.fixture
def rmsnorm_at_input_dtype(monkeypatch) -> None:
    """LlamaRMSNorm computing at its input's dtype, as nn.RMSNorm does (as tests/test_lm.py)."""
    import torch
    from transformers.models.llama import modeling_llama

    def forward(self: Any, x: torch.Tensor) -> torch.Tensor:
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.variance_epsilon))
    monkeypatch.setattr(modeling_llama.LlamaRMSNorm, "forward", forward)


def test_llama_through_torch_export(capsys, tmp_path, rmsnorm_at_input_dtype):
    """Llama: grouped-query attention with RoPE, RMSNorm, SwiGLU as a `mul` join; bit-equal
    once LlamaRMSNorm computes at its input's dtype; the counts of specs/llama.arch's tiny
    member (the same config)."""
    py = write(tmp_path, "llama_small.py", LLAMA)
    out = tmp_path / "llama.arch"
    text, stdout = imported(capsys, f"{py}:make", out, "--input", "16")
    assert "traced with torch.export (torch.fx cannot trace LlamaForCausalLM: " in stdout
    assert "eval mode: logits equal (fp64, a seeded random 2x16 token ids, max |diff| 0)" \
        in stdout and "train mode: logits equal (fp64" in stdout
    assert "block llama_decoder_layer {" in text and "block llama_mlp {" in text
    assert "self_attn: attention(4, bias=false, causal=true, kv_heads=2, rope=true, " \
        'layout="llama")' in text
    assert "mul {\n    gate_proj: linear(128, bias=false)\n    act_fn: silu\n  " \
        "| up_proj: linear(128, bias=false)\n  }" in text
    assert "tie=" not in text  # LlamaConfig's tie_word_embeddings is False
    assert counts(capsys, out) == counts(capsys, str(SPECS / "llama.arch")) == \
        (106_816, 1_507_328)


def test_llama_float32_rmsnorm(capsys, tmp_path):
    """transformers' own LlamaRMSNorm computes in float32: equal to float32 rounding, and
    the proof says so and why."""
    py = write(tmp_path, "llama_small.py", LLAMA)
    _, stdout = imported(capsys, f"{py}:make", tmp_path / "l.arch", "--input", "16",
                         "--kwargs", '{"num_hidden_layers": 1}')
    for mode in ("eval", "train"):
        assert f"{mode} mode: logits equal to float32 rounding (fp64" in stdout
    assert "LlamaRMSNorm computes in float32 whatever its input" in stdout


@pytest.mark.parametrize("share", ["parameter", "storage"])
def test_tie_through_fx(capsys, tmp_path, share):
    """A user's tiny LM that torch.fx traces: the output layer shares the embedding's weight
    (one Parameter, or two over one storage), found by storage, written `tie=`, counted once
    by archc's proof and by `summary --torch`."""
    py = write(tmp_path, "tiny_lm.py", TIED)
    kwargs = json.dumps({"share": share})
    text, stdout = imported(capsys, f"{py}:make", tmp_path / "t.arch", "--input", "8",
                            "--kwargs", kwargs)
    assert "traced with torch.fx\n" in stdout
    assert "outputs equal (fp64, a seeded random 2x8 token ids" in stdout
    assert "1,088 parameters, as the module's 1,088" in stdout
    assert "input tokens(8, 50)" in text and "emb: embedding(50, 16)" in text
    assert "norm: rmsnorm(1e-05)" in text  # nn.RMSNorm
    assert 'out: linear(50, bias=false, tie="emb")' in text
    assert counts(capsys, tmp_path / "t.arch")[0] == 50 * 16 + 16 * 16 + 16 + 16 == 1_088
    if share == "parameter":  # on the meta device `summary --torch` sees Parameters alone
        assert counts(capsys, "--torch", f"{py}:make", "--input", "8")[0] == 1_088


def test_untied(capsys, tmp_path):
    py = write(tmp_path, "tiny_lm.py", TIED)
    text, _ = imported(capsys, f"{py}:make", tmp_path / "u.arch", "--input", "8",
                       "--kwargs", '{"share": "none"}')
    assert "tie=" not in text
    assert counts(capsys, tmp_path / "u.arch")[0] == 2 * 50 * 16 + 16 * 16 + 16 + 16


def test_image_model_through_torch_export(capsys, tmp_path):
    """Not only language models: a CNN whose shape assert stops torch.fx goes through
    torch.export (the assert dropped), bit-equal."""
    py = write(tmp_path, "tiny_lm.py", TIED)
    text, stdout = imported(capsys, f"{py}:checked", tmp_path / "c.arch", "--input", "3x8x8")
    assert "traced with torch.export (torch.fx cannot trace Checked: " in stdout
    assert "eval mode: outputs equal (fp64, a seeded random 2x3x8x8 input, max |diff| 0)" \
        in stdout
    assert "conv: conv(8, 3, pad=1)\n  relu\n  gap\n  flatten\n  head: linear(4)" in text


@pytest.mark.parametrize("target, kwargs, message, line", [
    # through torch.export: a GPT2Attention setting no archc op expresses, at the line of
    # transformers' GPT2Block that calls it
    ("gpt2_small.py:make", '{"scale_attn_by_inverse_layer_idx": true}',
     "module 'transformer.h.0.attn' (GPT2Attention): attention scores not scaled by "
     "1/sqrt(head_dim) alone", "attn_output, _ = self.attn("),
    # a weight shared by two embeddings: archc ties a linear's weight only
    ("tiny_lm.py:two_tables", "{}", "module 'b' (Embedding): its weight is 'a.weight' (the same "
     "storage); archc shares only a linear's weight", "return self.a(x) + self.b(x)"),
    # through torch.export: two tensors returned
    ("tiny_lm.py:checked", '{"two": true}', "forward returns 2 tensors; archc networks return "
     "one (traced with torch.export: torch.fx cannot trace Checked", None),
])
def test_refused(capsys, tmp_path, target, kwargs, message, line):
    write(tmp_path, "gpt2_small.py", GPT2)
    write(tmp_path, "tiny_lm.py", TIED)
    out = tmp_path / "refused.arch"
    size = "3x8x8" if "checked" in target else "16"
    code, stdout, err = run_cli(capsys, "import", str(tmp_path / target), "-o", out,
                                "--input", size, "--kwargs", kwargs)
    assert code == 1 and stdout == "" and not out.exists()
    first, source = err.splitlines()[:2]
    assert f"error[A0901]: {message}" in first, err
    assert line is None or source.strip() == line


def test_token_model_without_input_n(capsys, tmp_path):
    """Without `--input N` a language model is traced on images (3x224x224): refused, and the
    hint names the flag."""
    py = write(tmp_path, "gpt2_small.py", GPT2)
    code, stdout, err = run_cli(capsys, "import", f"{py}:make", "-o", tmp_path / "g.arch")
    assert code == 1 and stdout == "" and not (tmp_path / "g.arch").exists()
    assert "error[A0901]: torch.fx cannot trace GPT2LMHeadModel: " in err
    assert "torch.export cannot either" in err
    assert "hint: a model with an nn.Embedding reads token ids: give --input N for N of them" \
        in err
