"""The `archc graph -o net.html` page in a real browser: headless Chromium (the system's
`chromium` and `chromium-driver` packages) driven by selenium, offline. It loads with no console
error, a click opens a block to its children, a search finds a layer and the panel shows that
layer's source line; a broken spec's page shows its failing node and diagnostic.

Without Chromium this skips, saying why, except where ARCHC_REQUIRE_BROWSER=1 (set by
`.ci/run`): there it fails, so CI never skips it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import archc
from archc.cli import main
from archc.core.graph import Layer, walk

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _need(available: bool, reason: str) -> None:
    if available:
        return
    if os.environ.get("ARCHC_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    driver_path = shutil.which("chromedriver")
    _need(binary is not None and driver_path is not None,
          "needs Chromium and chromedriver (apt-get install chromium chromium-driver; "
          ".ci/run installs them)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _need(False, "needs selenium (pip install -e '.[dev]')")
    opts = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,900"):
        opts.add_argument(arg)
    opts.binary_location = binary
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Chromium leaves its singleton-socket folder in TMPDIR: the test's own folder, not /tmp
    env = {**os.environ, "TMPDIR": str(tmp_path_factory.mktemp("chromium"))}
    driver = webdriver.Chrome(service=Service(driver_path, env=env), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _open(driver, path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(path.resolve().as_uri())
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.body.dataset.ready === '1'"))


def _errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def _shown(driver, css: str) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.dataset.name)", css)


def test_efficientnet_page(browser, tmp_path: Path, capsys) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "e.html"
    assert main(["graph", "tv_efficientnet", "-o", str(page)]) == 0
    capsys.readouterr()
    _open(browser, page)
    assert _errors(browser) == []
    nodes = set(_shown(browser, "#scene [data-name]"))
    assert "features.4" in nodes and "features.4.0" not in nodes  # opened collapsed

    # a click opens a block in place: its children appear
    browser.find_element(By.CSS_SELECTOR, '#scene g.node.block[data-name="features.4"]').click()
    nodes = set(_shown(browser, "#scene [data-name]"))
    assert "features.4.0" in nodes and "features.4" in _shown(browser, "#scene g.cluster")

    # search finds a layer; choosing it shows its source line in the panel
    net = archc.load("tv_efficientnet")
    name = "features.6.2.block.3.0"
    layer = dict(walk(net.root.items))[name]
    assert isinstance(layer, Layer)
    line = net.sources[layer.span.path].splitlines()[layer.span.line - 1]
    box = browser.find_element(By.ID, "search")
    for query, match in (("1280x7x7", "1280x7x7"), ("silu", "silu")):  # by shape, by op
        box.send_keys(query)
        hits = browser.find_elements(By.CSS_SELECTOR, "#results .hit")
        assert hits and all(match in h.text for h in hits), query
        box.clear()
        box.send_keys(" ")  # (clear() sends no input event)
    box.clear()
    box.send_keys(name)
    hit = browser.find_element(By.CSS_SELECTOR, "#results .hit")
    assert hit.text.startswith(name)
    hit.click()
    panel = browser.find_element(By.ID, "panel")
    assert panel.find_element(By.TAG_NAME, "h3").text == name
    assert panel.find_element(By.CSS_SELECTOR, "pre.src").text.strip() == line.strip()
    assert f"model.{name}" in panel.text and f":{layer.span.line}:" in panel.text
    assert "mbconv" in panel.text  # the call chain of blocks that made it
    assert name in _shown(browser, "#scene g.node.selected")  # opened down to it

    # the heat map colours by MACs without error
    browser.find_element(By.CSS_SELECTOR, '#heat option[value="m"]').click()
    assert "MACs" in browser.find_element(By.ID, "info").text
    assert _errors(browser) == []


def test_broken_page_marks_the_failure(browser, tmp_path: Path, capsys) -> None:
    from selenium.webdriver.common.by import By

    spec = tmp_path / "broken.arch"
    spec.write_text("network broken {\n  input 1x32x32\n  conv(8, k=3) relu\n  conv(3)\n"
                    "  relu\n}\n")
    page = tmp_path / "b.html"
    assert main(["graph", str(spec), "-o", str(page)]) == 1
    capsys.readouterr()
    _open(browser, page)
    assert _errors(browser) == []
    assert len(browser.find_elements(By.CSS_SELECTOR, "#scene g.node.error")) == 1
    panel = browser.find_element(By.ID, "panel").text
    assert "error[A0302]" in panel and "missing argument 'k'" in panel and "hint:" in panel
    assert "conv(3)" in panel  # the failing line


def test_depth_option_opens_the_page_that_deep(browser, tmp_path: Path, capsys) -> None:
    page = tmp_path / "r.html"
    for given, shown, hidden in ((["--depth", "1"], "layer1", "layer1.0"),
                                 (["--depth", "all"], "layer1.0.conv1", None)):
        assert main(["graph", "resnet18", "-o", str(page), *given]) == 0
        _open(browser, page)
        names = set(_shown(browser, "#scene [data-name]"))
        assert shown in names and (hidden is None or hidden not in names)
        assert _errors(browser) == []
    capsys.readouterr()
