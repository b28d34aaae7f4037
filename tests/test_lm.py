"""Language models (issue 22) against the real thing: specs/gpt2.arch and specs/llama.arch
built by archc equal transformers' GPT2LMHeadModel and LlamaForCausalLM (random init, no
download) logit for logit in float64 after a strict load of the reference's state_dict; every
full-size member counts the parameters the reference has on the meta device; attention's
FLOPs are FlopCounterMode's on the math path; `archc summary gpt2` reports 124,439,808."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import archc
import archc.emit.weights
from archc.cli import main
from archc.core.graph import Ids, Layer, walk
from archc.emit.torch import example_input
from archc.expansion.stats import count
from tests.oracles import verify_claims
from tests.util import cpu_seed

SPECS = Path(__file__).resolve().parent.parent / "specs"

# (spec --set values, transformers config) of the two-layer members compared logit for logit
TINY_GPT2 = ({"layers": 2, "d": 64, "heads": 4, "vocab": 100, "positions": 32, "seq": 16},
             dict(n_layer=2, n_embd=64, n_head=4, vocab_size=100, n_positions=32,
                  bos_token_id=0, eos_token_id=0))
TINY_LLAMA = ({"variant": "tiny"},
              dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4,
                   num_key_value_heads=2, intermediate_size=128, vocab_size=256,
                   rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=64))

# the full-size members: spec, --set values, reference class, config, parameters
GPT2_SIZES = {"small": (12, 768, 12, 124_439_808), "medium": (24, 1024, 16, 354_823_168),
              "large": (36, 1280, 20, 774_030_080), "xl": (48, 1600, 25, 1_557_611_200)}
LLAMA_SIZES = {
    "llama2_7b": (dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                       num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32),
                  6_738_415_616),
    "llama3_8b": (dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                       num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                       rope_theta=500000.0), 8_030_261_248),
}


# transformers is imported by the tests that use it, not at collection: every pytest-xdist
# worker collects every file, and the import is ~2 s of CPU
def gpt2(**config: Any) -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(**config))


def llama(**config: Any) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(**config))


@pytest.fixture
def rmsnorm_at_input_dtype(monkeypatch) -> None:
    """transformers' LlamaRMSNorm computes in float32 whatever its input (an upcast meant for
    half precision), so in float64 it rounds to float32; compared in float64, it computes the
    same formula at its input's dtype, as nn.RMSNorm does."""
    def forward(self: Any, x: torch.Tensor) -> torch.Tensor:
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.variance_epsilon))
    from transformers.models.llama import modeling_llama

    monkeypatch.setattr(modeling_llama.LlamaRMSNorm, "forward", forward)


def _equal_logits(spec: str, sets: dict, reference: torch.nn.Module) -> archc.Network:
    net = archc.load(SPECS / spec, sets)
    model = archc.build(net).eval()
    reference.eval()
    assert sorted(model.state_dict()) == sorted(reference.state_dict())  # key for key
    model.load_state_dict(reference.state_dict(), strict=True)
    assert sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in reference.parameters()) == count(net.root).params
    model.double(), reference.double()
    x = example_input(net.input_shape, 3)
    with torch.no_grad():
        want, got = reference(x).logits, model(x)
    assert got.shape == want.shape == (3, *net.output_shape)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    return net


def test_gpt2_equals_transformers() -> None:
    cpu_seed(0)
    sets, config = TINY_GPT2
    net = _equal_logits("gpt2.arch", sets, gpt2(**config))
    model = archc.build(net)
    # lm_head shares the token embedding: one Parameter, under both state_dict keys
    assert model.get_submodule("lm_head").weight is model.get_submodule("transformer.wte").weight
    assert {"lm_head.weight", "transformer.wte.weight"} <= set(model.state_dict())


def test_llama_equals_transformers(rmsnorm_at_input_dtype) -> None:
    cpu_seed(0)
    sets, config = TINY_LLAMA
    net = _equal_logits("llama.arch", sets, llama(**config))
    attention = [n.args for _, n in walk(net.root.items)
                 if isinstance(n, Layer) and n.op == "attention"]
    assert len(attention) == 2 and all(  # grouped-query (2 key/value heads of 4), rotary
        a.kv_heads == 2 and a.heads == 4 and a.rope for a in attention)  # type: ignore[attr-defined]


@pytest.mark.parametrize("kv_heads", [4, 1])  # multi-head, multi-query
def test_llama_heads_equal_transformers(kv_heads: int, rmsnorm_at_input_dtype) -> None:
    cpu_seed(0)
    sets, config = TINY_LLAMA
    reference = llama(**{**config, "num_key_value_heads": kv_heads, "rope_theta": 500000.0})
    _equal_logits("llama.arch", {**sets, "kv_heads": kv_heads, "theta": 500000.0}, reference)


@pytest.mark.parametrize("variant", GPT2_SIZES)
def test_gpt2_sizes_count_the_reference(variant: str) -> None:
    layers, d, heads, params = GPT2_SIZES[variant]
    with torch.device("meta"):
        reference = gpt2(n_layer=layers, n_embd=d, n_head=heads)
    assert sum(p.numel() for p in reference.parameters()) == params
    net = archc.load(SPECS / "gpt2.arch", {"variant": variant})
    assert count(net.root).params == params


@pytest.mark.parametrize("variant", LLAMA_SIZES)
def test_llama_sizes_count_the_reference(variant: str) -> None:
    config, params = LLAMA_SIZES[variant]
    with torch.device("meta"):
        reference = llama(**config)
    assert sum(p.numel() for p in reference.parameters()) == params
    net = archc.load(SPECS / "llama.arch", {"variant": variant})
    assert count(net.root).params == params


def test_summary_gpt2_json(capsys) -> None:
    assert main(["summary", "gpt2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"] == 124_439_808 and out["input"] == [1024] and out["vocab"] == 50257
    rows = {r["name"]: r for r in out["layers"]}
    assert rows["lm_head"]["params"] == 0 and rows["transformer.wte"]["params"] == 50257 * 768
    # a shorter sequence: --input N keeps the spec's vocabulary
    assert main(["summary", "gpt2", "--input", "128", "--json"]) == 0
    short = json.loads(capsys.readouterr().out)
    assert short["params"] == 124_439_808 and short["output"] == [128, 50257]


def test_input_override_keeps_the_vocabulary() -> None:
    net = archc.load(SPECS / "gpt2.arch", input_shape=(64,))
    assert isinstance(net.input_shape, Ids) and net.input_shape.vocab == 50257


@pytest.mark.parametrize("spec, sets", [("gpt2.arch", TINY_GPT2[0]),
                                        ("llama.arch", TINY_LLAMA[0])])
def test_shapes_params_and_flops_against_a_forward_pass(spec: str, sets: dict) -> None:
    verify_claims(archc.load(SPECS / spec, sets))


@pytest.mark.parametrize("args", [
    "attention(4, causal=true, layout=\"gpt2\")",
    "attention(4, causal=true, kv_heads=1, rope=true, layout=\"llama\")",
    "attention(4, kv_heads=2, bias=false, layout=\"llama\")",
])
def test_attention_flops_on_the_math_path(args: str) -> None:
    """Q K^T and the weighted sum of V counted in full (N^2 D MACs each), the causal mask
    too: what the math path computes, and what FlopCounterMode counts there."""
    net = archc.loads(f"network t {{ input 12x32 x: {args} }}")
    model = archc.build(net).eval()
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), \
            FlopCounterMode(display=False) as counter:
        model(torch.randn(2, 12, 32))
    assert counter.get_total_flops() == 2 * count(net.root).flops


def test_swiglu_with_mul() -> None:
    """SwiGLU (Shazeer 2020) with the `mul` join: down(silu(gate(x)) * up(x))."""
    net = archc.loads("network t { input 6x8 mlp: { mul { gate: linear(12, bias=false) silu "
                      "| up: linear(12, bias=false) } down: linear(8, bias=false) } }")
    model = archc.build(net).eval()
    x = torch.randn(2, 6, 8)
    m = model.get_submodule("mlp")
    want = m.down(torch.nn.functional.silu(m.gate(x)) * m.up(x))
    torch.testing.assert_close(model(x), want)


def test_last_token() -> None:
    net = archc.loads("network t { input tokens(5, 10) embedding(10, 4) x: token(-1) }")
    model = archc.build(net).eval()
    ids = example_input(net.input_shape, 2)
    assert net.output_shape == (4,)
    torch.testing.assert_close(model(ids), model.get_submodule("embedding")(ids)[:, -1])


def test_list_names_the_reference(capsys) -> None:
    assert main(["list", "gpt2", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {n: r["params"] for n, r in rows.items()} == {
        "gpt2": 124_439_808, "gpt2-medium": 354_823_168, "gpt2-large": 774_030_080,
        "gpt2-xl": 1_557_611_200}
    assert rows["gpt2"]["reference"] == "transformers GPT2LMHeadModel (gpt2)"
    assert main(["list", "llama"]) == 0
    out = capsys.readouterr().out
    assert "6,738,415,616" in out and "8,030,261,248" in out and "equal to transformers" in out


def test_import_weights_reads_the_hubs_gpt2_layout(tmp_path: Path, capsys) -> None:
    """The Hub's gpt2 model.safetensors is GPT2Model's state_dict: no `transformer.` prefix, no
    lm_head (tied to wte), old causal-mask buffers; import-weights maps it onto the spec."""
    from safetensors.torch import save_file

    cpu_seed(0)
    sets, config = TINY_GPT2
    reference = gpt2(**config).eval()
    hub = {k.removeprefix("transformer."): v.clone() for k, v in reference.state_dict().items()
           if k != "lm_head.weight"}
    hub["h.0.attn.bias"] = torch.ones(1, 1, 32, 32)  # what old checkpoints carry
    save_file(hub, str(tmp_path / "model.safetensors"))
    out = tmp_path / "archc.safetensors"
    argv = ["import-weights", "gpt2", str(tmp_path / "model.safetensors"), "-o", str(out)]
    assert main([*argv, *(a for k, v in sets.items() for a in ("--set", f"{k}={v}"))]) == 0
    assert "1 tied weights shared" in capsys.readouterr().err
    net = archc.load(SPECS / "gpt2.arch", sets)
    model = archc.build(net).eval()
    model.load_state_dict(archc.emit.weights.read_state_dict(out), strict=True)
    x = example_input(net.input_shape, 2)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x).logits)


STABLELM = """\
block layer(d, heads, kv, inter, rotary) {
  add {
    input_layernorm: layernorm(eps=1e-5)
    self_attn: attention(heads, bias=false, causal=true, kv_heads=kv, rope=true,
                         rotary_dim=rotary, layout="llama")
  |
  }
  add {
    post_attention_layernorm: layernorm(eps=1e-5)
    mlp: {
      mul { gate_proj: linear(inter, bias=false) act_fn: silu | up_proj: linear(inter, bias=false) }
      down_proj: linear(d, bias=false)
    }
  |
  }
}
network stablelm {
  input tokens(16, 256)
  model: {
    embed_tokens: embedding(256, 64)
    layers: { for i in 0..2 { "{i}": layer(64, 4, 2, 128, 4) } }
    norm: layernorm(eps=1e-5)
  }
  lm_head: linear(256, bias=false)
}
"""


def test_partial_rotary_equals_stablelm() -> None:
    """Rotary positions on the first quarter of each head (rotary_dim=4 of 16): transformers'
    StableLmForCausalLM (partial_rotary_factor=0.25), logit for logit in float64."""
    from transformers import StableLmConfig, StableLmForCausalLM

    cpu_seed(0)
    reference = StableLmForCausalLM(StableLmConfig(
        vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, partial_rotary_factor=0.25,
        layer_norm_eps=1e-5, max_position_embeddings=64)).eval()
    net = archc.loads(STABLELM)
    model = archc.build(net).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    model.double(), reference.double()
    x = example_input(net.input_shape, 2)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x).logits, rtol=1e-12, atol=1e-12)
