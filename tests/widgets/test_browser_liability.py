"""The liability dashboard in a real browser, on a real ledger workspace: its export downloads.

Voila serves the notebooks with ``REBATELAB_WORKSPACE`` naming a workspace with two closes of
the sample (in a temporary folder, never in the bundled sample); the test checks that the
dashboard shows that ledger's roll-forward and its chart, that the figures are the in-process
view's, and that *Export to xlsx* gives a file the browser downloads (a formatted workbook).

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
UPDATE_TIMEOUT = 60_000  # a loaded 2-core machine: the kernel builds the view first


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
def closed_workspace(tmp_path_factory):
    """A ledger workspace with the sample's 2026-08 and 2026-09 closes (fast run-rate forecast)."""
    import rebatelab as rl
    from rebatelab.workspace.close import close

    ws = tmp_path_factory.mktemp("ledger") / "rebatelab.duckdb"
    data, programs = rl.load_data(SAMPLE), rl.load_programs(SAMPLE / "programs.yaml")
    for period in ("2026-08", "2026-09"):
        close(data, programs, period, workspace=ws, method="run_rate")
    return ws


@pytest.fixture(scope="module")
def voila(tmp_path_factory, closed_workspace):
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
            env={**os.environ, "REBATELAB_WORKSPACE": str(closed_workspace)},
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


def test_liability_dashboard_shows_the_ledger_and_downloads_the_workbook(
    voila, page, closed_workspace, tmp_path
):
    import openpyxl

    import rebatelab as rl
    from rebatelab.widgets import LiabilityForecast

    # the same view in-process: the browser must show its exact status and ledger note
    red = rl.reduce(rl.load_data(SAMPLE), rl.load_programs(SAMPLE / "programs.yaml"),
                    "2026-09-30")  # fmt: skip
    local = LiabilityForecast(red, workspace=closed_workspace)
    before = _text(local.status.value)
    assert local.rollforward is not None and "2 closed period(s)" in local.ledger_note

    _open(page, voila, "03_liability_forecast.ipynb", ".rl-status b")
    _expect_text(page, ".rl-status", before)
    _expect_text(page, ".rl-ledger-note", local.ledger_note)
    page.wait_for_selector("img.rl-image-history[src^='blob:']")
    page.wait_for_selector("img.rl-image-rollforward[src^='blob:']")
    from playwright.sync_api import expect

    expect(page.locator(".rl-rf-table")).to_contain_text("provision (current-period sales)")

    page.locator(".rl-export button, button.rl-export").first.click()
    link = page.locator("a.rl-download-link")
    link.wait_for(timeout=UPDATE_TIMEOUT)
    with page.expect_download(timeout=UPDATE_TIMEOUT) as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "liability_2026-09-30_p80.xlsx"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    wb = openpyxl.load_workbook(saved)
    assert wb.sheetnames[0] == "cover" and "rollforward" in wb.sheetnames
    cover = {r[0]: r[1] for r in wb["cover"].iter_rows(min_row=3, values_only=True)}
    assert cover["as of"] == "2026-09-30"
    total = wb["total"]
    header = [c.value for c in total[1]]
    assert total.cell(row=2, column=header.index("expected") + 1).value == pytest.approx(
        float(local.result.total.iloc[0]["expected"])
    )
    assert total.freeze_panes == "A2"
    _finish(page, "03_liability_forecast_ledger")
