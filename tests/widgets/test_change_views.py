"""The rep's ProposePanel and the manager's queue, driven in process on the sample."""

from __future__ import annotations

import pytest

from rebatelab import load_data, load_programs
from rebatelab.widgets.changes import ManagerQueue, ProposePanel, parse_tiers
from rebatelab.workspace.changes import apply_workspace, requests
from tests.conftest import SAMPLE
from tests.workspace.test_changes import AS_OF, GOLD, _candidates

pytest.importorskip("ipywidgets")


@pytest.fixture(scope="module")
def sample():
    return load_data(SAMPLE), load_programs(SAMPLE / "programs.yaml")


def test_parse_tiers():
    assert parse_tiers("1,400: 2%\n\n3600: 0.03") == [
        {"from": 1400.0, "rate": 0.02},
        {"from": 3600.0, "rate": 0.03},
    ]
    with pytest.raises(ValueError, match="1400 2%"):
        parse_tiers("1400 2%")


def test_propose_then_approve_in_the_views(sample, tmp_path):
    data, programs = sample
    (c,) = _candidates(data, programs, 1)
    ws = tmp_path / "ws.duckdb"
    panel = ProposePanel(workspace=ws, data=data, programs=programs, as_of=AS_OF, user="rita")
    panel.show(c, GOLD)
    found = panel.found.set_index("program_id")
    assert found.at[GOLD, "status"] == "eligible" and panel.program.value == GOLD
    assert not panel.propose_button.disabled

    # the variant form: the guardrail result at once, refusals name the rule
    panel.tiers.value = "1400: 9%"
    assert "max_rate=0.05" in panel.check_variant() and "Refused" in panel.check_result.value
    panel.tiers.value = "1400: 2.5%"
    assert panel.check_variant() == "ok"
    panel.tiers.value = ""

    panel.reason.value = "signed at the trade show"
    panel.effective.value = "2026-07-01"
    panel.propose_enrollment()
    assert "is pending" in panel.message.value
    assert panel.found.set_index("program_id").at[GOLD, "status"] == "pending"
    assert "pending" in panel.requests_table.value
    d, p = apply_workspace(data, programs, ws, AS_OF)
    assert not ((d.enrollments["customer_id"] == c) & (d.enrollments["program_id"] == GOLD)).any()

    queue = ManagerQueue(workspace=ws, data=data, programs=programs, as_of=AS_OF, user="rita")
    (row,) = queue.pending.itertuples(index=False)
    assert (row.program_id, row.customers, row.check) == (GOLD, c, "ok")
    assert row.rebate_before == 0 and row.basis_before == 0  # not a member before
    assert row.basis_after > 0 and row.rebate_after >= 0
    queue.reason.value = "fine"
    queue.decide("approved")  # as the proposer: refused, shown
    assert "cannot approve or reject their own request" in queue.message.value
    assert [r.status for r in requests(ws)] == ["pending"]
    queue.user.value = "max"
    queue.decide("approved")
    assert "approved by max" in queue.message.value and queue.pending.empty
    assert "approved" in queue.decided.value
    # the rep's status line still says pending until the panel re-reads the workspace
    rid = panel.reported
    assert rid is not None and f"Request {rid}" in panel.message.value
    panel.show(c)
    assert panel.found.set_index("program_id").at[GOLD, "status"] == "enrolled"
    assert "is approved by max (fine)" in panel.message.value
    assert "pending" not in panel.message.value and "rl-ok" in panel.message.value
    panel.refresh()  # the same, through refresh()
    assert "is approved by max (fine)" in panel.message.value
    other = next(x for x in data.customers["customer_id"].astype(str) if x != c)
    panel.show(other)  # another customer: no line about c's request
    assert panel.message.value == "" and panel.reported is None
