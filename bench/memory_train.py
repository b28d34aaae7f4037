"""`archc summary --train` against the device: for resnet18/50, mobilenet_v3_large, vit_b_16 and
densenet121 at two batch sizes, one eager training step (forward, cross-entropy, backward, SGD
step) of the archc-built model, measuring what autograd saves inside the forward
(saved_tensors_hooks, each storage once, parameters excluded) and, on CUDA, the allocator's
peak over the step above what was allocated before it; beside the static estimate. Prints a
markdown table for BENCHMARKS.md: the saved bytes (exact: equal on CPU), and on CUDA the
measured step peak against the estimate (gradients + optimizer state + saved + backward
transient), whose difference is the allocator's and the kernels' workspace overhead.
Usage: python bench/memory_train.py [--device cuda] [--batches 8,32] [--size 224]
[--precision fp32|amp]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import archc  # noqa: E402
from archc.expansion.memory import fmt_bytes  # noqa: E402
from archc.expansion.memory_train import estimate  # noqa: E402
from archc.train.memory import measuring  # noqa: E402

MODELS = {"resnet18": ("tv_resnet", {"depth": 18}), "resnet50": ("tv_resnet", {"depth": 50}),
          "mobilenet_v3_large": ("tv_mobilenet_v3", {"variant": "large"}),
          "vit_b_16": ("tv_vit", {"variant": "b_16"}),
          "densenet121": ("tv_densenet", {"depth": 121})}


def step(name: str, batch: int, size: int, device: torch.device, amp: bool) -> list[str]:
    spec, sets = MODELS[name]
    net = archc.load(spec, sets, (3, size, size))
    torch.manual_seed(0)
    model = archc.build(net).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, net.output_shape[0], (batch,), device=device)
    with measuring(model, batch, device) as measured:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp,
                            cache_enabled=False):
            out = model(x)
        torch.nn.functional.cross_entropy(out.float(), y).backward()
        opt.step()
    est = estimate(net, batch, "sgd", "amp" if amp else "fp32", device.type)
    saved = est.saved.total.at(batch)
    row = [name, f"{size}", f"{batch}", f"{measured.saved_bytes:,} B", f"{saved:,} B",
           f"{saved - measured.saved_bytes:+,} B"]
    if measured.cuda_peak_bytes is not None and measured.cuda_base_bytes is not None:
        peak = measured.cuda_peak_bytes - measured.cuda_base_bytes
        expected = est.total - est.param_bytes
        row += [fmt_bytes(peak), fmt_bytes(expected), f"{(peak - expected) / peak:+.1%}"]
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batches", default="8,32")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--precision", choices=("fp32", "amp"), default="fp32")
    p.add_argument("--models", default=",".join(MODELS))
    args = p.parse_args()
    device = torch.device(args.device)
    head = ["model", "side", "batch", "saved (measured)", "saved (archc)", "error"]
    if device.type == "cuda":
        head += ["step peak (measured)", "step (archc)", "overhead"]
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {device} ({card}), {args.precision}, torch {torch.__version__}")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name in args.models.split(","):
        for batch in map(int, args.batches.split(",")):
            print("| " + " | ".join(step(name, batch, args.size, device,
                                         args.precision == "amp")) + " |", flush=True)


if __name__ == "__main__":
    main()
