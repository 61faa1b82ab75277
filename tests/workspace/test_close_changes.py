"""Close with governed changes: approved requests in force apply, are recorded, and replay.

Amounts are checked against a brute-force sum of the sample's lines and GOLD-2026's tier
schedule written out by hand (the helpers of test_changes), not against the engine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rebatelab import load_data, load_programs
from rebatelab.cli.main import main
from rebatelab.engine.stage_one import reduce
from rebatelab.errors import LedgerError
from rebatelab.programs.changes import Proposal
from rebatelab.workspace.changes import apply_workspace, approve, propose
from rebatelab.workspace.close import close, ledger, replay
from tests.conftest import SAMPLE
from tests.workspace.test_changes import GOLD, JUNE, _candidates, _gold_basis, _gold_earned

AS_OF = "2026-09-30"


def _row(df, program, customer):
    return df[(df["program_id"] == program) & (df["customer_id"] == customer)]


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    """August closed with a request pending; approved back-dated to July; September closed."""
    data = load_data(SAMPLE)
    programs = load_programs(SAMPLE / "programs.yaml")
    ws = tmp_path_factory.mktemp("ws") / "rebatelab.duckdb"
    (c,) = _candidates(data, programs, 1)
    req = propose(
        data,
        programs,
        Proposal.enrollment(GOLD, c, effective="2026-07-01", reason="late paperwork"),
        user="rita",
        workspace=ws,
        now=JUNE,
    )
    aug = close(data, programs, "2026-08", workspace=ws, book="accrued")
    approve(ws, req.request_id, user="max", reason="back-dated to July")
    sep = close(data, programs, "2026-09", workspace=ws, book="accrued")
    return data, programs, ws, c, req, aug, sep


@pytest.mark.slow
def test_close_applies_the_approved_request_and_records_it(story):
    data, programs, ws, c, req, aug, sep = story
    assert aug.audit["changes_in_force"] == "(none)"  # pending at the August close
    assert aug.audit["program_versions"] == "(program file only)"
    assert _row(aug.snapshot, GOLD, c).empty
    assert sep.audit["changes_in_force"] == str(req.request_id)
    assert f"#{req.request_id} enrollment {GOLD} from 2026-07-01" in sep.audit["program_versions"]
    booked = _row(sep.snapshot, GOLD, c)["booked"].iloc[0]
    assert booked == _gold_earned(_gold_basis(data, c, "2026-07-01", AS_OF))
    assert booked > 0


@pytest.mark.slow
def test_backdated_change_is_a_catch_up_not_a_rewrite(story):
    data, programs, ws, c, req, aug, sep = story
    view = ledger(ws)
    assert view.ties
    snap = view.snapshot
    stored_aug = snap[snap["period"] == "2026-08"]
    assert _row(stored_aug, GOLD, c).empty  # August as it was closed
    rf = view.rollforward.set_index(["period", "program_id"])
    gold = {p: snap.loc[(snap["period"] == p) & (snap["program_id"] == GOLD), "booked"].sum()
            for p in ("2026-08", "2026-09")}  # fmt: skip
    assert rf.loc[("2026-09", GOLD), "expense"] == pytest.approx(
        gold["2026-09"] - gold["2026-08"], abs=0.005
    )
    # September counts the customer's lines from the effective day (2026-07-01), before the
    # August close too, and none from before it
    basis = _row(sep.snapshot, GOLD, c)["basis"].iloc[0]
    assert basis == pytest.approx(_gold_basis(data, c, "2026-07-01", AS_OF))
    assert basis < _gold_basis(data, c, "2026-01-01", AS_OF)


@pytest.mark.slow
def test_replay_reproduces_each_close_with_what_was_known_then(story):
    data, programs, ws, c, req, aug, sep = story
    for period in ("2026-08", "2026-09"):
        r = replay(data, programs, period, workspace=ws)
        assert r.identical, r.differences.head()
        assert len(r.snapshot) == len(r.recorded)
    # what is known now would give August another figure: the replay is not "now"
    d_now, p_now = apply_workspace(data, programs, ws, "2026-08-31")
    assert d_now is not data
    # a re-run of the September close with its recorded time gives the same audit record
    again = close(
        data,
        programs,
        "2026-09",
        workspace=ws,
        book="accrued",
        reopen=True,
        known_at=sep.audit["changes_known_at"],
    )
    assert again.audit == sep.audit
    pd.testing.assert_frame_equal(again.snapshot, sep.snapshot)


@pytest.mark.slow
def test_a_reduction_is_refused_while_changes_are_in_force(story):
    data, programs, ws, *_ = story
    red = reduce(data, programs, AS_OF)
    with pytest.raises(LedgerError, match="a Reduction was given"):
        close(red, period="2026-09", workspace=ws, reopen=True, book="accrued")
    # an explicit choice to close the program file's terms is accepted
    done = close(red, period="2026-09", workspace=ws, reopen=True, book="accrued", changes=False)
    assert done.audit["changes_in_force"] == "(none)"
    close(data, programs, "2026-09", workspace=ws, reopen=True, book="accrued")  # restore


@pytest.mark.slow
def test_cli_liability_applies_the_workspace(story, tmp_path, capsys):
    data, programs, ws, c, req, *_ = story
    base = ["liability", "--data", str(SAMPLE), "--as-of", AS_OF, "--method", "run_rate"]
    with_ws, without = tmp_path / "with.csv", tmp_path / "without.csv"
    assert main([*base, "--workspace", str(ws), "--out", str(with_ws)]) == 0
    assert f"#{req.request_id}" in capsys.readouterr().out
    assert main([*base, "--no-workspace", "--out", str(without)]) == 0
    a = pd.read_csv(with_ws).set_index("program_id")
    b = pd.read_csv(without).set_index("program_id")
    added = _gold_earned(_gold_basis(data, c, "2026-07-01", AS_OF))
    np.testing.assert_allclose(a.loc[GOLD, "accrued"] - b.loc[GOLD, "accrued"], added, atol=0.01)
    assert a.loc[GOLD, "customers"] == b.loc[GOLD, "customers"] + 1
