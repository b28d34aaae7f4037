"""`archc graph -o net.html`: CPU seconds to write the page (a fresh process, imports included,
and in process after a warm-up), its size, and how long headless Chromium takes until the page
is interactive (the page's own `performance.now()` when its script has drawn it: parse, layout,
first render), for the largest zoo member, EfficientNet-B0 and a 97,000-node spec.
Usage: python bench/html_speed.py [--repeat N]   (needs chromium + chromedriver, selenium)"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archc.cli import main as archc_main  # noqa: E402

BOMB = ("network bomb { input 4x4x4  { b0 } * 1024 }\nblock b0() { b1 b1 }\n"
        "block b1() { b2 b2 }\nblock b2() { b3 b3 }\nblock b3() { b4 b4 }\n"
        "block b4() { b5 b5 }\nblock b5() { relu }\n")


def cases(tmp: Path) -> list[tuple[str, list[str]]]:
    bomb = tmp / "bomb.arch"
    bomb.write_text(BOMB)
    return [("tv_efficientnet (b0)", ["tv_efficientnet"]),
            ("efficientnet_v2_l (largest zoo member)",
             ["tv_efficientnet_v2", "--set", "variant=l"]),
            ("97,000-node spec ({ b0 } * 1024)", [str(bomb)])]


def fresh_cpu(args: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "archc", "graph", *args], check=True,
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                       stderr=subprocess.DEVNULL)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best


def in_process_cpu(args: list[str], repeat: int) -> float:
    archc_main(["graph", *args])  # warm: parser, prelude, imports
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        archc_main(["graph", *args])
        best = min(best, time.process_time() - t)
    return best


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
        opts.add_argument(arg)
    opts.binary_location = shutil.which("chromium") or "chromium"
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def page_ms(driver, page: Path, repeat: int) -> tuple[float, float]:
    """Best of `repeat`: the page's own time to interactive, and the wall time of get()."""
    from selenium.webdriver.support.ui import WebDriverWait

    best, wall = float("inf"), float("inf")
    for _ in range(repeat):
        driver.get("about:blank")
        t = time.perf_counter()
        driver.get(page.as_uri())
        WebDriverWait(driver, 60).until(
            lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
        wall = min(wall, 1000 * (time.perf_counter() - t))
        best = min(best, float(driver.execute_script("return document.body.dataset.readyMs")))
    return best, wall


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        driver = browser()
        try:
            for name, args in cases(tmp):
                page = tmp / "net.html"
                out = [*args, "-o", str(page)]
                fresh = fresh_cpu(out, a.repeat)
                warm = in_process_cpu(out, a.repeat)
                ready, wall = page_ms(driver, page, a.repeat)
                nodes = driver.execute_script("return document.getElementById('info').textContent")
                print(f"{name}\n  write: {fresh:.2f} s CPU fresh process, {warm:.3f} s in process"
                      f"; page {page.stat().st_size / 1e6:.2f} MB\n  Chromium: interactive at "
                      f"{ready:.0f} ms (get() returned after {wall:.0f} ms); {nodes}")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
