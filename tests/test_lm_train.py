"""`archc train SPEC --text FILE` and `archc generate`, run from the CLI as a user would: a tiny
byte-level GPT trained on a small generated text reaches a held-out loss below the text's
unigram entropy (what a model that ignores context can reach at best), and its weights
generate text; bad input gets a located error or a message, exit 1, never a traceback."""

from __future__ import annotations

import collections
import json
import math
import random
from pathlib import Path

import pytest

from archc.cli import main

SPEC = """\
# a byte-level GPT of one block
network tiny_lm(n=16, d=32) {
  input tokens(n, 256)
  add { embedding(256, d) | position_embedding(n, d) }
  h: {
    add { layernorm attention(2, causal=true, layout="gpt2") | }
    add { layernorm linear(2 * d) gelu linear(d) | }
  }
  layernorm
  lm_head: linear(256, bias=false)
  train { optimizer = "adamw"  lr = 0.005  batch_size = 16  epochs = 3  schedule = "cosine" }
}
"""


def _text() -> str:
    rng = random.Random(0)
    subjects, verbs = ["the cat", "a dog", "my bird", "the fox"], ["sat on", "ran to", "saw"]
    objects = ["the mat", "a log", "the hill", "my hat"]
    return "".join(f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}.\n"
                   for _ in range(300))


def _unigram_entropy(text: str) -> float:
    counts = collections.Counter(text.encode())
    total = sum(counts.values())
    return -sum(c / total * math.log(c / total) for c in counts.values())


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_torch_thread) -> tuple[Path, Path, str]:
    folder = tmp_path_factory.mktemp("lm")
    spec, text = folder / "tiny.arch", folder / "story.txt"
    spec.write_text(SPEC)
    text.write_text(_text())
    assert main(["train", str(spec), "--text", str(text), "--out", str(folder / "run"),
                 "--device", "cpu"]) == 0
    return spec, folder / "run", _text()


def test_train_on_text_beats_the_unigram_entropy(run, capsys) -> None:
    _, folder, text = run
    history = json.loads((folder / "text_run.json").read_text())["history"]
    assert len(history) == 3
    assert history[-1]["held_out_loss"] < history[0]["held_out_loss"]
    assert history[-1]["held_out_loss"] < _unigram_entropy(text)  # 2.73 nats; ~1.7 reached
    assert history[-1]["perplexity"] == pytest.approx(math.exp(history[-1]["held_out_loss"]))


def test_generate_prints_text(run, capsys) -> None:
    spec, folder, _ = run
    assert main(["generate", str(spec), "--weights", str(folder), "--prompt", "the cat",
                 "--tokens", "40", "--top-k", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("the cat") and len(out.encode()) >= 40


def test_text_needs_a_language_model(tmp_path: Path, capsys) -> None:
    text = tmp_path / "t.txt"
    text.write_text(_text())
    assert main(["train", "lenet", "--text", str(text), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "error" in err and "not token ids" in err and "Traceback" not in err


def test_text_past_the_vocabulary(tmp_path: Path, capsys) -> None:
    spec, text = tmp_path / "s.arch", tmp_path / "t.txt"
    spec.write_text(SPEC.replace("256", "100"))
    text.write_text(_text() + "\u00e9")  # bytes 0xc3 0xa9 >= 100
    assert main(["train", str(spec), "--text", str(text), "--out", str(tmp_path / "r")]) == 1
    assert "the network's vocabulary is 100" in capsys.readouterr().err


def test_bin_of_uint16_ids(tmp_path: Path) -> None:
    """nanoGPT's train.bin: little-endian uint16 token ids, up to 65535."""
    import numpy as np

    from archc.train.config import TrainError
    from archc.train.text import read_ids

    ids = [0, 7, 50256, 65535, 300]
    path = tmp_path / "train.bin"
    np.array(ids, dtype=np.uint16).tofile(path)
    assert read_ids(path).tolist() == ids
    (tmp_path / "odd.bin").write_bytes(b"abc")
    with pytest.raises(TrainError, match="even size"):
        read_ids(tmp_path / "odd.bin")


@pytest.mark.parametrize("value", ["nan", "-1", "inf", "hot"])
def test_generate_refuses_a_temperature_it_cannot_sample_with(tmp_path: Path, capsys,
                                                              value: str) -> None:
    """nan ended in torch.multinomial's RuntimeError traceback; -1 sampled greedily."""
    with pytest.raises(SystemExit) as exc:
        main(["generate", "gpt2", "--weights", str(tmp_path), "--temperature", value])
    assert exc.value.code == 2
    assert f"--temperature: expected a number >= 0, got '{value}'" in capsys.readouterr().err
