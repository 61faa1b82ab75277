"""The three dashboards in a real browser: Voila serves the notebooks, Playwright drives them.

Each test opens one dashboard, waits for its first output, changes one control, waits for the
exact output the same view computes in-process for that change, checks that the page raised no
JavaScript error, and saves a screenshot to ``out/screenshots/``.

Chromium is Debian's (``/usr/bin/chromium``; ``.ci/run`` installs it). Without it the tests
skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import html
import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from rebatelab.datasets import sample_path

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = sample_path()  # the bundled sample
CHROMIUM = Path("/usr/bin/chromium")
VOILA = ROOT / ".venv" / "bin" / "voila"
SHOTS = ROOT / "out" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: A dashboard runs its notebook in a fresh kernel on first load; on a busy 2-core machine
#: that takes a few seconds, so allow generously [ms].
LOAD_TIMEOUT = 90_000
VIEWPORT = {"width": 1280, "height": 1000}
UPDATE_TIMEOUT = 30_000


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {CHROMIUM} is missing: .ci/run should have installed it")
    pytest.skip(f"{CHROMIUM} not found (apt-get install chromium); browser tests skipped")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _text(status_html: str) -> str:
    """The text a browser shows for a status HTML snippet (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", status_html)).strip()


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    """Base URL of a Voila server on a free loopback port serving notebooks/."""
    _require_chromium()
    if not VOILA.exists():
        pytest.fail(f"{VOILA} not found: run `make install` to build the project's .venv")
    port = _free_port()
    log = tmp_path_factory.mktemp("voila") / "voila.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [
                str(VOILA),
                "--no-browser",
                f"--port={port}",
                "--Voila.ip=127.0.0.1",
                "--show_tracebacks=True",
                str(ROOT / "notebooks"),
            ],
            cwd=ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Voila did not start on {url}:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser(voila):
    try:
        from playwright import sync_api
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI is set but playwright (Python) is not installed")
        pytest.skip("playwright (Python) not installed; browser tests skipped")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    yield pg
    context.close()


def _open(page, voila, notebook: str, ready: str):
    page.goto(f"{voila}/voila/render/{notebook}", timeout=LOAD_TIMEOUT)
    page.wait_for_selector(ready, timeout=LOAD_TIMEOUT)


def _expect_text(page, selector: str, text: str):
    from playwright.sync_api import expect

    expect(page.locator(selector)).to_have_text(text, timeout=UPDATE_TIMEOUT)


def _finish(page, name: str):
    """Screenshot the whole dashboard (Voila scrolls inside #rendered_cells: grow the view)."""
    height = page.evaluate(
        "() => (document.getElementById('rendered_cells') || document.documentElement).scrollHeight"
    )
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(int(height) + 40, 8000)})
    page.wait_for_timeout(300)  # let the layout settle at the new size
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert page.errors == [], f"JavaScript errors on the {name} dashboard: {page.errors}"


def test_program_design_dashboard(voila, page, tmp_path):
    import rebatelab as rl
    from rebatelab.widgets import ProgramDesigner

    # the same view in-process, with the same change: the browser must show its exact output
    local = ProgramDesigner(rl.load_data(SAMPLE), SAMPLE / "programs.yaml", save_dir=tmp_path)
    top = local.n_tiers.value - 1
    new_rate = round(local.tier_rate[top].value + 1.0, 6)
    before = _text(local.status.value)
    local.tier_rate[top].value = new_rate
    after = _text(local.status.value)
    assert local.error is None and after != before

    _open(page, voila, "01_program_design.ipynb", ".rl-status b")
    _expect_text(page, ".rl-status", before)
    rate = page.locator(f".rl-rate-{top + 1} input")
    rate.fill(f"{new_rate:g}")
    rate.press("Enter")
    _expect_text(page, ".rl-status", after)
    page.wait_for_selector("img.rl-image-comparison[src^='blob:']")
    _finish(page, "01_program_design")


def test_liability_forecast_dashboard(voila, page, tmp_path):
    import rebatelab as rl
    from rebatelab.widgets import LiabilityForecast

    # the status line does not depend on the ledger: the same view in-process, moved to 81%
    local = LiabilityForecast(rl.load_data(SAMPLE), SAMPLE / "programs.yaml", export_dir=tmp_path)
    before = _text(local.status.value)
    local.percentile.value = 0.81
    after = _text(local.status.value)
    assert "constrained (81%)" in after

    _open(page, voila, "03_liability_forecast.ipynb", ".rl-status b")
    _expect_text(page, ".rl-status", before)
    # one keyboard step on the percentile slider's handle: 80% -> 81%
    handle = page.locator(".rl-percentile .noUi-handle")
    handle.focus()
    handle.press("ArrowRight")
    _expect_text(page, ".rl-status", after)
    # the sample has no ledger: the view says so (test_browser_liability.py opens one)
    _expect_text(page, ".rl-ledger-note", _text(local.ledger_note))
    _finish(page, "03_liability_forecast")


# the sales review dashboard: tests/widgets/test_browser_review.py
