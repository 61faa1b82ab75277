"""The program designer in a real browser: several designs compared, results out of date.

Voila serves ``notebooks/01_program_design.ipynb``; Playwright drives Debian's Chromium (the
setup of ``test_browser.py``, whose fixtures this module uses). Each test does the same
actions on the view built in-process and expects the page to show its exact output.
"""

from __future__ import annotations

import pytest

from tests.widgets import test_browser as _shared
from tests.widgets.test_browser import UPDATE_TIMEOUT, _finish, _open, _text

# the Voila server, browser and page fixtures of test_browser.py (one server for this module)
voila = _shared.voila
browser = _shared.browser
page = _shared.page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "01_program_design.ipynb"


def _local(tmp_path):
    """The notebook's view, in-process."""
    import rebatelab as rl
    from rebatelab.widgets import ProgramDesigner

    data, programs = rl.load_sample()
    return ProgramDesigner(data, programs, save_dir=tmp_path)


def _expect(locator, text):
    from playwright.sync_api import expect

    expect(locator).to_have_text(text, timeout=UPDATE_TIMEOUT)


def _set(page, selector: str, value: float):
    box = page.locator(f"{selector} input")
    box.fill(f"{value:g}")
    box.press("Enter")


def test_several_designs_side_by_side(voila, page, tmp_path):
    local = _local(tmp_path)
    start = _text(local.status.value)
    local.add_design()
    local.tier_rate[0].value = 2.5
    after = _text(local.status.value)
    payouts = [f"${v:,.0f}" for v in local.table["payout"]]
    assert local.stale is None and list(local.table.index) == ["current", "design 1", "design 2"]

    _open(page, voila, NOTEBOOK, ".rl-status b")
    _expect(page.locator(".rl-status"), start)
    page.locator("button.rl-add").click()
    _set(page, ".rl-rate-1", 2.5)
    _expect(page.locator(".rl-status"), after)
    head = page.locator(".rl-results tr").first
    _expect(head.locator("th"), ["figure (mean over scenarios)", "current", "design 1",
                                 "design 2"])  # fmt: skip
    _expect(page.locator(".rl-results tr").nth(1).locator("td"), ["Mean payout [USD]", *payouts])
    page.wait_for_selector("img.rl-image-comparison[src^='blob:']")
    assert "How these figures relate to the forecast" in page.locator(".rl-relation").inner_text()
    _finish(page, "01_program_design_designs")


def test_invalid_input_marks_results_out_of_date_until_fixed(voila, page, tmp_path):
    local = _local(tmp_path)
    first = local.tier_from[0].value
    second = local.tier_from[1].value
    local.tier_from[1].value = first  # not above tier 1
    stale = _text(local.status.value)
    assert stale.startswith("out of date: design 1: tier 2 starts at")
    local.tier_from[1].value = second
    fixed = _text(local.status.value)
    assert "out of date" not in fixed

    _open(page, voila, NOTEBOOK, ".rl-status b")
    _set(page, ".rl-from-2", first)
    _expect(page.locator(".rl-status"), stale)
    page.wait_for_selector(".rl-stale", timeout=UPDATE_TIMEOUT)  # results greyed
    _finish(page, "01_program_design_out_of_date")
    _set(page, ".rl-from-2", second)
    _expect(page.locator(".rl-status"), fixed)
    page.wait_for_selector(".rl-stale", state="detached", timeout=UPDATE_TIMEOUT)
