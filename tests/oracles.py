"""What must hold for any input, shared by the tests and bench/fuzz.py.

`verify_claims`: a checked network's static shapes, parameters and FLOPs equal what its module
really does. `check_input`: `archc check` on arbitrary bytes exits 1 with located diagnostics,
or exits 0 and the claims hold; never a traceback, never a hang.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import signal
from dataclasses import dataclass
from pathlib import Path

import torch

import archc
from archc.cli import main
from archc.core.graph import Layer, Network, Scope, walk
from archc.emit.torch import example_input
from archc.registry.ops import REGISTRY
from tests.util import flop_counter, static_params

# Above these, a valid mutant is only checked, not built (a fuzzer can ask for 1M channels).
MAX_VERIFY_PARAMS = 2_000_000
MAX_VERIFY_ELEMENTS = 2_000_000


def static_flops(net: Network) -> int:
    return 2 * sum(REGISTRY[n.op].macs(n.args, n.in_shape, n.out_shape)
                   for _, n in walk(net.root.items) if isinstance(n, Layer))


def small_enough(net: Network) -> bool:
    nodes = [n for _, n in walk(net.root.items)]
    return (static_params(net) <= MAX_VERIFY_PARAMS and len(nodes) <= 2000
            and math.prod(net.input_shape) <= MAX_VERIFY_ELEMENTS
            and all(math.prod(n.out_shape) <= MAX_VERIFY_ELEMENTS for n in nodes)
            and static_flops(net) <= 4e9)


def verify_claims(net: Network, model: torch.nn.Module | None = None) -> None:
    """Assert that every shape, the parameter count and the FLOPs the checker claims for `net`
    are what a real forward pass of its module shows (forward hooks on every layer and scope,
    `sum(p.numel())`, FlopCounterMode)."""
    model = model if model is not None else archc.build(net)
    model.eval()
    # an inline op (layer_scale, class_token, ...) is a parameter of its scope, not a module
    inline = {name: node for name, node in walk(net.root.items)
              if isinstance(node, Layer) and REGISTRY[node.op].inline}
    nodes = {name: node for name, node in walk(net.root.items)
             if isinstance(node, (Layer, Scope)) and name not in inline}
    seen: dict[str, list] = {name: [] for name in nodes}
    hooks = []
    for name in nodes:
        module = model.get_submodule(name)
        hooks.append(module.register_forward_hook(
            lambda mod, inp, out, name=name: seen[name].append(
                (tuple(inp[0].shape[1:]), tuple(out.shape[1:])))))
    batch = 2
    try:
        with torch.no_grad(), flop_counter() as counter:
            out = model(example_input(net.input_shape, batch))
    finally:
        for h in hooks:
            h.remove()
    assert tuple(out.shape) == (batch, *net.output_shape)
    for name, node in nodes.items():
        assert seen[name] == [(node.in_shape, node.out_shape)], name
    leaves = {n for n, m in model.named_modules() if n and not list(m.children())}
    layers = {name for name, node in nodes.items() if isinstance(node, Layer)}
    unknown = {n for n in leaves - set(nodes)  # (an op's own parts: attention's out_proj)
               if not any(n.startswith(layer + ".") for layer in layers)}
    assert unknown == set(), "modules the checker does not know about"
    for name, node in nodes.items():
        if isinstance(node, Layer):
            want = REGISTRY[node.op].params(node.args, node.in_shape, node.out_shape)
            got = sum(p.numel() for p in model.get_submodule(name).parameters())
            if getattr(node.args, "tie", None):  # the shared weight is counted where it lives
                got -= model.get_submodule(name).weight.numel()
            assert got == want, name
    for name, node in inline.items():
        want = REGISTRY[node.op].params(node.args, node.in_shape, node.out_shape)
        assert model.get_parameter(name).numel() == want, name
    total = sum(p.numel() for p in model.parameters())
    assert total == static_params(net)
    assert counter.get_total_flops() == batch * static_flops(net)
    from archc.expansion import stats  # what `archc summary` prints agrees too

    counts = stats.count(net.root)
    assert counts.params == total
    assert counts.flops == static_flops(net)


# ----------------------------------------------------------------------------- any input

DIAGNOSTIC = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): error\[A\d{4}\]: \S", re.M)


class Hang(Exception):
    pass


@dataclass
class Outcome:
    rc: int
    out: str
    err: str
    verified: bool = False


@contextlib.contextmanager
def time_limit(seconds: int, cpu: bool = False):
    """A bound on in-process work (main thread, POSIX; elsewhere no bound): wall-clock seconds,
    or with `cpu` seconds of this process's CPU time, which a machine shared with other jobs
    does not stretch (what the fuzz campaigns use)."""
    which, sig = (signal.ITIMER_PROF, "SIGPROF") if cpu else (signal.ITIMER_REAL, "SIGALRM")
    if not hasattr(signal, sig):
        yield
        return

    def on_alarm(signum, frame):
        raise Hang(f"no result after {seconds}s" + (" of CPU time" if cpu else ""))
    old = signal.signal(getattr(signal, sig), on_alarm)
    signal.setitimer(which, seconds)
    try:
        yield
    finally:
        signal.setitimer(which, 0)
        signal.signal(getattr(signal, sig), old)


def check_input(data: bytes, path: Path, seconds: int = 20, verify: bool = True,
                cpu: bool = False) -> Outcome:
    """Write `data` to `path`, run `archc check` in-process and assert the contract:
    exit 1 with `path:line:col: error:` lines and no traceback, or exit 0 and (if `verify`)
    the checker's claims hold for every network. Any other exception propagates."""
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with time_limit(seconds, cpu):
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(["check", str(path)])
        outcome = Outcome(rc, out.getvalue(), err.getvalue())
        assert "Traceback" not in outcome.err
        if rc == 1:
            where = list(DIAGNOSTIC.finditer(outcome.err))  # this file, a used one or <prelude>
            assert where, f"exit 1 without a located diagnostic:\n{outcome.err}"
            for m in where:
                assert int(m["line"]) >= 1 and int(m["col"]) >= 1, m.group(0)
        else:
            assert rc == 0, f"exit code {rc}"
            if verify:
                outcome.verified = verify_all(path)
    return outcome


def build_input(path: Path, seconds: int = 30, cpu: bool = False) -> int:
    """`archc build` on a spec, in-process: exit 0, or 1 with a located error (a model over
    1 GB is refused); never a traceback or a hang. Returns the exit code."""
    out, err = io.StringIO(), io.StringIO()
    with time_limit(seconds, cpu):
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(["build", str(path), "--max-memory", "1GB"])  # refused, not allocated
    assert "Traceback" not in err.getvalue()
    assert rc == 0 or (rc == 1 and DIAGNOSTIC.search(err.getvalue())), err.getvalue()[-2000:]
    return rc


VERIFIED_NETWORKS = 3  # of a file with hundreds, the first (each `load` reads the whole file)


def verify_all(path: Path) -> bool:
    """The networks of a spec that passed `check` (up to VERIFIED_NETWORKS): each loads, builds
    and keeps its claims."""
    from archc.pipeline.program import load_program

    prog = load_program(path)
    assert not prog.errors
    verified = False
    for name in list(prog.networks)[:VERIFIED_NETWORKS]:
        net = archc.load(path, network=name)
        if small_enough(net):
            verify_claims(net)
            verified = True
    return verified


def _constant(p: torch.Tensor) -> bool:
    """Every value of `p` the same; decided by the first two where they differ (a random
    weight's almost always do: no pass over VGG's 138M parameters for that)."""
    flat = p.detach().reshape(-1)
    return bool(flat[0] == flat[1]) and bool((flat == flat[0]).all())


def perturb(model: torch.nn.Module) -> None:
    """No parameter stays constant (BN/LN affines, zero biases, class tokens, layer scales) and
    BN running statistics (and FrozenBatchNorm2d's four buffers) are not the identity, so a
    dropped bias or a missing norm shows in a comparison with a reference model
    (tests/test_zoo.py, tests/test_segmentation.py, tests/test_detection_backbone.py)."""
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in model.parameters():
            if p.numel() > 1 and _constant(p):
                p.add_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))
        for mod in model.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                mod.running_mean.normal_(0, 0.2, generator=g)
                mod.running_var.uniform_(0.5, 1.5, generator=g)
            elif type(mod).__name__ == "FrozenBatchNorm2d":  # torchvision.ops' or archc's
                mod.weight.uniform_(0.5, 1.5, generator=g)
                mod.bias.normal_(0, 0.2, generator=g)
                mod.running_mean.normal_(0, 0.2, generator=g)
                mod.running_var.uniform_(0.5, 1.5, generator=g)
