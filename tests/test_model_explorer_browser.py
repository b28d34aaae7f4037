"""`archc graph --format model-explorer` opened in Model Explorer itself: its server
(`model-explorer net.json --node_data_paths=...`, from the ai-edge-model-explorer package) and
its web app in headless Chromium, whose JSON loader reads the graph and both node-data files.
Like tests/test_html_browser.py, this fails instead of skipping where ARCHC_REQUIRE_BROWSER=1."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import archc
from archc.cli import main
from archc.expansion.stats import count

try:
    from tests.test_html_browser import browser  # noqa: F401  (the fixture)
except ImportError:  # run from inside tests/
    from test_html_browser import browser  # noqa: F401


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_model_explorer_loads_graph_and_node_data(browser, tmp_path: Path, capsys) -> None:  # noqa: F811
    out = tmp_path / "net.json"
    assert main(["graph", "resnet18", "-o", str(out), "--format", "model-explorer"]) == 0
    capsys.readouterr()
    port = _free_port()
    exe = shutil.which("model-explorer") or str(Path(sys.executable).with_name("model-explorer"))
    log = tmp_path / "server.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            [exe, str(out), f"--node_data_paths={tmp_path / 'net.params.json'},"
             f"{tmp_path / 'net.macs.json'}", "--no_open_in_browser", "--port", str(port),
             "--host", "127.0.0.1"], stdout=sink, stderr=subprocess.STDOUT)
    try:
        url = ""
        for _ in range(240):  # it prints the URL that loads the files once it is up
            url = next((w for w in log.read_text().split() if w.startswith("http://")), "")
            if url or server.poll() is not None:
                break
            time.sleep(0.25)
        assert url, f"model-explorer did not start: {log.read_text()[-2000:]}"
        browser.get(url)
        text = ""
        for _ in range(120):
            text = browser.execute_script("return document.body.innerText")
            if "MACs" in text and "nodes" in text:
                break
            time.sleep(0.25)
        net = archc.load("resnet18")
        total = count(net.root)
        assert "resnet18" in text and "params" in text and "MACs" in text, text[:500]
        assert str(total.params) in text and str(total.macs) in text  # the node data's sums
        assert "Unsupported JSON format" not in text
    finally:
        server.terminate()
        server.wait(timeout=10)
