"""Issue 21 item 7: does an exported network's class build the right network at other input
channels? Random valid specs on images (tests/strategies.gen_valid) are exported to `.py`; where
the spec also checks at C + 2 input channels, the exported class is asked for that
(`Net(in_channels=C + 2)`) and compared with `archc.build` of the spec at that input: a strict
state_dict load and the same outputs (to 1e-5 relative: the same layers may sum in another order,
1e-8 apart in float32). Each spec is one of:

- `follows`: its class takes `in_channels` and equals archc's build at C + 2;
- `fixed`: its class takes no `in_channels` (built for the spec's channels: the exporter found
  no one class for the network at other input channels);
- `wrong`: its class takes `in_channels` but builds something else at C + 2 (a load error, a
  crash or other outputs): a silently wrong model; saved to OUT for a look;
- `refused`: `archc export` says why it cannot export it (a located error); `crash`: the
  export itself ended in a traceback; `broken`: the file it wrote does not import (both kept
  in OUT).

Specs whose input is not an image, or that do not check at C + 2, are skipped. Prints a JSON
summary.

    python bench/export_channels.py --count 400 --seed 1000 --out /tmp/channels
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import archc  # noqa: E402
from archc.core.errors import ArchcError  # noqa: E402
from archc.core.graph import Ids  # noqa: E402
from archc.export.python import export_python  # noqa: E402
from tests.strategies import gen_valid  # noqa: E402


def network_class(path: Path) -> type:
    """The exported file's network class (its docstring starts "Network `")."""
    loader = importlib.util.spec_from_file_location(path.stem, path)
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    (cls,) = [c for c in vars(module).values() if isinstance(c, type)
              and (c.__doc__ or "").startswith("Network `")]
    return cls


def verdict(seed: int, out: Path) -> str:
    """`follows`, `fixed`, `wrong`, `refused`, `crash`, `broken` or `skipped` for the spec of
    `seed`."""
    import inspect

    spec = gen_valid(random.Random(seed), comments=False)
    if len(spec.input_shape) != 3:
        return "skipped"
    c, h, w = spec.input_shape
    try:
        want = archc.build(archc.loads(spec.text, path="g.arch", input_shape=(c + 2, h, w)))
    except Exception:  # noqa: BLE001 (a spec that does not hold at C + 2: nothing to ask)
        return "skipped"
    source = out / f"{seed}.arch"
    source.write_text(spec.text, encoding="utf-8")
    exported = out / f"g{seed}.py"
    try:
        exported.write_text(export_python(source), encoding="utf-8")
    except ArchcError:  # said, with its place: refused
        return "refused"
    except Exception:  # noqa: BLE001 (a traceback of `archc export`: the finding)
        return "crash"
    try:
        cls = network_class(exported)
    except Exception:  # noqa: BLE001 (a file Python cannot import: the finding)
        return "broken"
    if "in_channels" not in inspect.signature(cls).parameters:
        result = "fixed"
    else:
        try:
            got = cls(in_channels=c + 2).eval()
        except Exception:  # noqa: BLE001 (any failure of the class is the finding)
            got = None
        result = _same(got, want, (c + 2, h, w), seed) if got is not None else "wrong"
    if result != "wrong":  # (a crash or a broken file, returned above, keeps its files)
        source.unlink()
        exported.unlink()
    return result


def param_verdicts(seed: int, out: Path) -> list[str]:
    """`--params`: each integer parameter of the spec's network moved by 3 (further than the
    exporter's own moves), at the spec's input: `follows` (the class built with it equals
    archc's build with `--set` of it), `guarded` (the class says the value is built in),
    `wrong`, or nothing for a move the spec itself refuses."""
    import inspect

    spec = gen_valid(random.Random(seed), comments=False)
    source = out / f"p{seed}.arch"
    source.write_text(spec.text, encoding="utf-8")
    try:
        net = archc.loads(spec.text, path="g.arch")
        cls = network_class(_written(out / f"p{seed}.py", export_python(source)))
    except Exception:  # noqa: BLE001 (the channel verdicts count exports that fail)
        return []
    if isinstance(net.input_shape, Ids) or net.inputs:  # (token ids; named inputs)
        return []
    found = []
    for name, value in net.params.items():
        if type(value) is not int or name not in inspect.signature(cls).parameters:
            continue
        try:
            want = archc.build(archc.loads(spec.text, {name: value + 3}, path="g.arch"))
        except Exception:  # noqa: BLE001 (the spec refuses the move: nothing to ask)
            continue
        try:
            got = cls(**{name: value + 3}).eval()
        except ValueError as exc:
            found.append("guarded" if "built into this file" in str(exc) else "wrong")
            continue
        except Exception:  # noqa: BLE001
            found.append("wrong")
            continue
        said = _same(got, want, tuple(net.input_shape), seed)
        if said != "skipped":
            found.append(said)
    return found


def _written(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _same(got: Any, want: Any, shape: tuple[int, ...], seed: int) -> str:
    """`follows` where the class loads archc's state_dict strictly and gives its outputs on a
    batch of two (one sample is too few for some layers: a groupnorm of one value a group),
    `wrong` where not; `skipped` where archc's own build fails on that batch (nothing to
    compare with)."""
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(seed))
    try:
        with torch.no_grad():
            expected = want.eval()(x)
    except Exception:  # noqa: BLE001 (the spec's network itself fails on the input)
        return "skipped"
    try:
        got.load_state_dict(want.state_dict(), strict=True)
        with torch.no_grad():  # (the same layers may sum in another order: 1e-8 apart)
            return "follows" if torch.allclose(got(x), expected, rtol=1e-5,
                                               atol=1e-6) else "wrong"
    except Exception:  # noqa: BLE001 (any failure of the class is the finding)
        return "wrong"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/export-channels"))
    parser.add_argument("--params", action="store_true",
                        help="move the network's integer parameters instead (param_verdicts)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    counts: Counter[str] = Counter()
    wrong = []
    start = time.process_time()
    for seed in range(args.seed, args.seed + args.count):
        found = param_verdicts(seed, args.out) if args.params else [verdict(seed, args.out)]
        counts.update(found)
        if {"wrong", "crash", "broken"} & set(found):
            wrong.append(seed)
    print(json.dumps({"specs": args.count, **counts, "kept_seeds": wrong,
                      "cpu_s": round(time.process_time() - start, 1)}, indent=2))


if __name__ == "__main__":
    main()
