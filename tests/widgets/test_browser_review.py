"""The sales review dashboard in a real browser: row click, call-list download, empty filter.

Voila serves ``notebooks/02_opportunity_review.ipynb``; Playwright drives Debian's Chromium
(the setup of ``test_browser.py``, whose fixtures this module uses). Each test compares the
page with the same view built in-process.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.widgets import test_browser as _shared
from tests.widgets.test_browser import LOAD_TIMEOUT, UPDATE_TIMEOUT, _finish, _open, _text

# the Voila server, browser and page fixtures of test_browser.py (one server for this module)
voila = _shared.voila
browser = _shared.browser
page = _shared.page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "02_opportunity_review.ipynb"
AS_OF = "2026-09-30"  # the notebook's day


@pytest.fixture(scope="module")
def local():
    """The notebook's view, in-process."""
    import rebatelab as rl
    from rebatelab.widgets import ReviewDashboard

    data, programs = rl.load_sample()
    return ReviewDashboard(data, programs, as_of=AS_OF)


def _expect(locator, text):
    from playwright.sync_api import expect

    expect(locator).to_have_text(text, timeout=UPDATE_TIMEOUT)


def test_row_click_drills_down(voila, page, local):
    _open(page, voila, NOTEBOOK, ".rl-status b")
    _expect(page.locator(".rl-status"), _text(local.status.value))
    page.get_by_role("tab", name=re.compile(r"^Risks")).click()
    rows = page.locator(".rl-table-risks tr.rl-row")
    rows.nth(2).wait_for(timeout=LOAD_TIMEOUT)
    pid, cid = local.tables["risks"].rows[2]["_key"]
    rows.nth(2).click()
    _expect(page.locator(".rl-heading h4"), f"{cid} in {pid}")
    from playwright.sync_api import expect

    expect(rows.nth(2)).to_have_class(re.compile("rl-selected"), timeout=UPDATE_TIMEOUT)
    page.wait_for_selector("img.rl-image-drilldown[src^='blob:']", timeout=UPDATE_TIMEOUT)
    frame = page.frame_locator("iframe.rl-statement")
    expect(frame.locator("h1")).to_contain_text(cid, timeout=UPDATE_TIMEOUT)
    # the statement frame is as tall as its page: nothing clipped
    clipped = page.evaluate(
        "() => { const f = document.querySelector('iframe.rl-statement');"
        " return f.contentDocument.documentElement.scrollHeight - f.clientHeight; }"
    )
    assert clipped <= 0
    _finish(page, "02_opportunity_review")


def test_call_list_downloads_in_the_browser(voila, page, local, tmp_path):
    _open(page, voila, NOTEBOOK, ".rl-status b")
    expected = local.call_list()
    with page.expect_download(timeout=UPDATE_TIMEOUT) as info:
        page.locator(".rl-download-csv button").click()
    download = info.value
    assert download.suggested_filename == f"call-list_all-reps_{AS_OF}.csv"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    got = pd.read_csv(target)
    assert len(got) == len(expected) and list(got.columns) == list(expected.columns)
    with page.expect_download(timeout=UPDATE_TIMEOUT) as info:
        page.locator(".rl-download-xlsx button").click()
    xlsx = tmp_path / info.value.suggested_filename
    info.value.save_as(xlsx)
    assert len(pd.read_excel(xlsx)) == len(expected)
    assert page.errors == []


def test_empty_filter_says_so_in_words(voila, page):
    _open(page, voila, NOTEBOOK, ".rl-status b")
    box = page.locator(".rl-min-value input")
    box.fill("100000000000")
    box.press("Enter")
    _expect(page.locator(".rl-table-opportunities .rl-empty"),
            "No opportunities under these filters.")  # fmt: skip
    # no broken image anywhere: every image shown has a picture
    broken = page.evaluate(
        "() => [...document.querySelectorAll('img')].filter(i => i.offsetParent !== null"
        " && !(i.complete && i.naturalWidth > 0)).length"
    )
    assert broken == 0
    assert page.errors == []
