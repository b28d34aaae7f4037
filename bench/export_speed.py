"""Issue 20 item 4, speed: `archc export SPEC -o x.py` against `archc summary SPEC` and
`archc check --no-cache SPEC` of the same spec, each a fresh process, timed in the same run
(best of N CPU seconds: user + system, which hardly depend on the load). Specs: ResNet-sized
ones (resnet18, tv_resnet, tv_mobilenet_v3) and ConvNeXt-T with `gelu * 1024` in its block.
Target: export within 2x summary, and the ConvNeXt in about the time it checks.

    python bench/export_speed.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_speed import ROOT, best_time  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wide = Path(tmp) / "convnext_gelu1024.arch"
        text = (ROOT / "specs" / "tv_convnext.arch").read_text()
        wide.write_text(text.replace("4: gelu\n", "4: gelu * 1024\n"))
        specs = [str(ROOT / "specs" / f"{s}.arch")
                 for s in ("resnet18", "tv_resnet", "tv_mobilenet_v3")] + [str(wide)]
        env = {**os.environ, "ARCHC_CACHE_DIR": tmp}
        print(f"python {platform.python_version()}, {os.cpu_count()} cores, "
              f"load {os.getloadavg()[0]:.1f}; CPU seconds, best of {args.repeat}")
        print("| spec | check | summary | export .py | export / summary | export / check |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for spec in specs:
            arch = [sys.executable, "-m", "archc"]
            _, check = best_time([*arch, "check", spec, "--no-cache"], args.repeat, env)
            _, summary = best_time([*arch, "summary", spec], args.repeat, env)
            _, export = best_time([*arch, "export", spec, "-o", str(Path(tmp) / "m.py")],
                                  args.repeat, env)
            print(f"| {Path(spec).stem} | {check:.2f} | {summary:.2f} | {export:.2f} | "
                  f"{export / summary:.2f}x | {export / check:.2f}x |")


if __name__ == "__main__":
    main()
