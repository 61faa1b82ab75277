"""The change-request dashboard in a real browser: propose as a rep, approve as a manager.

Voila serves notebooks/04_change_requests.ipynb (its workspace is a new temporary file per
page); Playwright picks a customer eligible for GOLD-2026, proposes enrolling them, sees the
request pending in the manager's queue, is refused when approving as the proposer, approves as
the manager and sees it approved and the customer enrolled. Uses the setup of
``test_browser.py`` (its fixtures).
"""

from __future__ import annotations

import pytest

from tests.widgets import test_browser as _shared
from tests.widgets.test_browser import UPDATE_TIMEOUT, _finish, _open

# the Voila server, browser and page fixtures of test_browser.py (one server for this module)
voila = _shared.voila
browser = _shared.browser
page = _shared.page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "04_change_requests.ipynb"
GOLD = "GOLD-2026"


@pytest.fixture(scope="module")
def customer():
    from rebatelab import load_data, load_programs
    from tests.conftest import SAMPLE
    from tests.workspace.test_changes import _candidates

    data = load_data(SAMPLE)
    (c,) = _candidates(data, load_programs(SAMPLE / "programs.yaml"), 1)
    return c


def _expect(locator, text):
    from playwright.sync_api import expect

    expect(locator).to_contain_text(text, timeout=UPDATE_TIMEOUT)


def test_propose_then_approve_in_the_browser(voila, page, customer):
    _open(page, voila, NOTEBOOK, ".rl-queue")
    panel = page.locator(".rl-propose-panel")
    queue = page.locator(".rl-manager-queue")
    _expect(queue.locator(".rl-queue"), "No pending request.")

    # the rep: pick the customer, see GOLD-2026 eligible, propose enrolling them
    picker = page.locator(".rl-customer input")
    picker.fill(customer)
    picker.press("Enter")
    _expect(panel.locator("h4"), f"Customer {customer}")
    _expect(panel.locator(".rl-discover tr", has_text=GOLD), "eligible")
    panel.locator(".rl-program select").select_option(GOLD)
    panel.locator(".rl-effective input").fill("2026-07-01")
    panel.locator(".rl-reason input").fill("signed at the trade show")
    panel.locator(".rl-reason input").press("Tab")
    panel.locator("button.rl-propose").click()
    _expect(panel.locator(".rl-message"), "is pending")
    _expect(panel.locator(".rl-requests"), "pending")

    # the manager's queue shows it; the proposer may not approve it
    _expect(queue.locator(".rl-queue"), customer)
    _expect(queue.locator(".rl-queue"), GOLD)
    user = queue.locator(".rl-user input")
    user.fill("rep")
    user.press("Enter")
    queue.locator(".rl-decision-reason input").fill("looks fine")
    queue.locator(".rl-decision-reason input").press("Tab")
    queue.locator("button.rl-approve").click()
    _expect(queue.locator(".rl-message"), "cannot approve or reject their own request")

    # approved by another user: out of the queue, on record, the customer enrolled
    user.fill("manager")
    user.press("Enter")
    queue.locator("button.rl-approve").click()
    _expect(queue.locator(".rl-message"), "approved by manager")
    _expect(queue.locator(".rl-queue"), "No pending request.")
    _expect(queue.locator(".rl-decided"), "approved")
    # the rep's panel re-reads the workspace: the GOLD-2026 row and the request say so
    _expect(panel.locator(".rl-discover tr", has_text=GOLD), "enrolled")
    _expect(panel.locator(".rl-requests tr", has_text=GOLD), "approved")
    _finish(page, "04_change_requests")
