"""Issue 2, speed: forward time of the archc-built ResNet-18 vs the hand-written one of seed
002 (tests/reference), same process, same input; prints the median time of each and the ratio.
Issue 21 item 10, `--zoo`: the same for every zoo family's default member against
torchvision's builder, with torchvision's weights loaded into archc's module (the same
computation, the same numbers), eval mode, interleaved rounds.

    python bench/forward_speed.py [--device cpu|cuda] [--batch 32 256] [--bf16] [--compile]
    python bench/forward_speed.py --zoo [--threads 1] [--batch 1] [--repeat 5] [--rounds 3]
                                  [--family tv_efficientnet ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import archc  # noqa: E402
from tests.reference.models import resnet18 as reference_resnet18  # noqa: E402


def median_ms(model, x, repeat: int) -> float:
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    with torch.no_grad():
        for _ in range(5):
            model(x)
        times = []
        for _ in range(repeat):
            sync()
            start = time.perf_counter()
            model(x)
            sync()
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def compare(batch: int, device: str, repeat: int, bf16: bool, compile_: bool) -> tuple:
    torch.manual_seed(0)
    ours = archc.build(archc.load("resnet18")).to(device).eval()
    ref = reference_resnet18().to(device).eval()
    x = torch.randn(batch, 1, 96, 96, device=device)
    if bf16:
        ours, ref = (m.to(memory_format=torch.channels_last) for m in (ours, ref))
        x = x.to(memory_format=torch.channels_last)
    if compile_:
        ours, ref = torch.compile(ours), torch.compile(ref)
    ctx = torch.autocast(device, torch.bfloat16) if bf16 else torch.autocast(device, enabled=False)
    a, b = [], []
    with ctx:
        for _ in range(3):  # interleaved, so drift in clocks or load hits both alike
            a.append(median_ms(ref, x, repeat))
            b.append(median_ms(ours, x, repeat))
    return min(a), min(b)


def default_member(spec: str):
    """The member `archc build SPEC` builds with no --set: the one whose values are the
    spec's defaults."""
    from archc.pipeline import zoo

    params = archc.load(spec).params
    return next(m for m in zoo.members_of(spec)
                if all(params.get(k) == v for k, v in m.set.items()))


def zoo_pair(spec: str, device: str):
    """(member name, torchvision's model, archc's with torchvision's weights, input shape)."""
    import torchvision.models as tvm

    member = default_member(spec)
    torch.manual_seed(0)
    theirs = tvm.get_model(member.name, weights=None, **member.torchvision_kwargs).eval()
    net = archc.load(spec, dict(member.set))
    ours = archc.build(net).eval()
    mine, state = ours.state_dict(), theirs.state_dict()
    if mine.keys() != state.keys():  # DenseNet's denselayerN: the same tensors in order
        assert [v.shape for v in mine.values()] == [v.shape for v in state.values()], spec
        state = dict(zip(mine, state.values(), strict=True))
    ours.load_state_dict(state, strict=True)
    return member.name, theirs.to(device), ours.to(device), net.input_shape


def interleaved_cpu_ms(models, x, n: int) -> list[list[float]]:
    """CPU milliseconds (time.process_time) of `n` forwards of each model, one of each in
    turn, the order rotating; each model's median, as a one-element list."""
    times: list[list[float]] = [[] for _ in models]
    with torch.no_grad():
        for m in models:
            m(x)
        for i in range(n):  # the order rotates: going first or last costs about 3%
            for k in range(len(models)):
                j = (k + i) % len(models)
                start = time.process_time()
                models[j](x)
                times[j].append(time.process_time() - start)
    return [[statistics.median(t) * 1000] for t in times]


class _OutOfPlace:
    """The archc module with every in-place activation made out of place while called."""

    def __init__(self, model):
        self.model = model
        self.layers = [m for m in model.modules() if getattr(m, "inplace", False)]

    def __call__(self, x):
        for m in self.layers:
            m.inplace = False
        try:
            return self.model(x)
        finally:
            for m in self.layers:
                m.inplace = True


def zoo(args: argparse.Namespace) -> None:
    from archc.pipeline import zoo as table

    torch.set_num_threads(args.threads)
    clock = "wall" if args.device == "cuda" else "CPU"
    print(f"device: {args.device} ({platform.processor() or 'cpu'}, {args.threads} thread(s)), "
          f"torch {torch.__version__}, batch {args.batch}, median {clock} time of "
          f"{args.repeat * args.rounds} forwards, one of each model in turn, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'member':20} {'input':>10} {'torchvision ms':>14} {'archc ms':>9} "
          f"{'ratio':>6} {'out of place ms':>15} {'ratio':>6}")
    ratios = []
    for spec in args.family or [spec for spec, _ in table.families()]:
        name, theirs, ours, shape = zoo_pair(spec, args.device)
        x = torch.randn(args.batch, *shape, device=args.device)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-4)
        slow = _OutOfPlace(ours)
        models = [theirs, ours, slow] if slow.layers else [theirs, ours]
        if args.device == "cuda":
            a, b, *c = ([median_ms(m, x, args.repeat) for _ in range(args.rounds)]
                        for m in models)
        else:  # one forward of each in turn: drift in clocks or load hits all alike
            a, b, *c = interleaved_cpu_ms(models, x, args.repeat * args.rounds)
        c = c[0] if c else [float("nan")]
        ratios.append(min(b) / min(a))
        print(f"{name:20} {'x'.join(map(str, shape)):>10} {min(a):14.2f} {min(b):9.2f} "
              f"{ratios[-1]:6.3f} {min(c):15.2f} {min(c) / min(a):6.3f}", flush=True)
        del theirs, ours, slow
    print(f"geometric mean of archc/torchvision: {statistics.geometric_mean(ratios):.3f}; "
          f"largest {max(ratios):.3f}; load at the end {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", action="store_true",
                    help="every zoo family's default member against torchvision's")
    ap.add_argument("--threads", type=int, default=1, help="--zoo: torch's intra-op threads")
    ap.add_argument("--rounds", type=int, default=3, help="--zoo: interleaved rounds")
    ap.add_argument("--family", nargs="+", help="--zoo: only these specs, in this order")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, nargs="+", help="default 32 (--zoo: 1)")
    ap.add_argument("--repeat", type=int, help="default 30 (--zoo: 5)")
    ap.add_argument("--bf16", action="store_true", help="also bf16 autocast + channels_last")
    ap.add_argument("--compile", action="store_true", help="also torch.compile both")
    args = ap.parse_args()
    if args.zoo:
        args.batch, args.repeat = (args.batch or [1])[0], args.repeat or 5
        zoo(args)
        return
    args.batch, args.repeat = args.batch or [32], args.repeat or 30
    name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu"
    print(f"device: {args.device} ({name}), torch {torch.__version__}, input 1x96x96, "
          f"median of {args.repeat} forwards, best of 3 interleaved rounds")
    print(f"{'batch':>5} {'precision':>10} {'compiled':>8} {'hand-written ms':>16} "
          f"{'archc ms':>9} {'archc/hand':>10}")
    for batch in args.batch:
        for bf16 in ([False, True] if args.bf16 else [False]):
            for compile_ in ([False, True] if args.compile else [False]):
                ref_ms, ours_ms = compare(batch, args.device, args.repeat, bf16, compile_)
                print(f"{batch:>5} {'bf16+cl' if bf16 else 'fp32':>10} {str(compile_):>8} "
                      f"{ref_ms:>16.3f} {ours_ms:>9.3f} {ours_ms / ref_ms:>10.3f}", flush=True)


if __name__ == "__main__":
    main()
