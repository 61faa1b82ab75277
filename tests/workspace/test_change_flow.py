"""The governed-change flow from the command line: only approved terms accrue and are forecast.

Propose an enrollment -> pending, not in ``accrue`` / ``forecast``; approve (as another user,
taken from the environment) -> in both from its effective day, with the basis counted by
brute force from the lines; a variant; a refusal over a guardrail; a rejection with a reason;
``history`` lists every event in order with who and why.
"""

from __future__ import annotations

import pandas as pd
import pytest

from rebatelab import load_data, load_programs
from rebatelab.cli.main import main
from tests.conftest import SAMPLE
from tests.workspace.test_changes import AS_OF, GOLD, _candidates, _gold_basis, _gold_earned


@pytest.fixture(scope="module")
def sample():
    return load_data(SAMPLE), load_programs(SAMPLE / "programs.yaml")


def _rows(path, program, customer):
    df = pd.read_csv(path, dtype={"customer_id": str, "program_id": str})
    return df[(df["program_id"] == program) & (df["customer_id"] == customer)]


def test_propose_approve_accrue_forecast_history(sample, tmp_path, capsys, monkeypatch):
    data, programs = sample
    c, c2, c3 = _candidates(data, programs, 3)
    ws = tmp_path / "changes.duckdb"
    base = ["--data", str(SAMPLE), "--workspace", str(ws)]
    cli_ws = ["--workspace", str(ws)]
    monkeypatch.delenv("REBATELAB_USER", raising=False)
    monkeypatch.setenv("USER", "rita")  # the proposer, from the environment

    def run(*argv):
        rc = main(list(argv))
        out = capsys.readouterr()
        return rc, out.out, out.err

    def accrue(as_of=AS_OF):
        out = tmp_path / f"accrue-{as_of}.csv"
        rc, _, err = run("accrue", "--data", str(SAMPLE), "--as-of", as_of, "--out", str(out),
                         *cli_ws)  # fmt: skip
        assert rc == 0, err
        return out

    def forecast(as_of=AS_OF):
        out = tmp_path / f"forecast-{as_of}.csv"
        rc, _, err = run("forecast", "--data", str(SAMPLE), "--as-of", as_of, "--out", str(out),
                         "--method", "run_rate", *cli_ws)  # fmt: skip
        assert rc == 0, err
        return out

    # 1. propose an enrollment: pending, neither accrued nor forecast
    rc, out, err = run("propose", *base, "--program", GOLD, "--enroll", c, "--effective",
                       "2026-07-01", "--reason", "signed at the trade show",
                       "--today", AS_OF)  # fmt: skip
    assert rc == 0, err
    assert "request 1 pending" in out
    rc, out, _ = run("history", *cli_ws, "--pending")
    assert rc == 0 and c in out and "pending" in out
    assert _rows(accrue(), GOLD, c).empty
    assert _rows(forecast(), GOLD, c).empty

    # 2. the proposer cannot approve; another user (REBATELAB_USER) can
    rc, _, err = run("approve", "1", *cli_ws, "--reason", "mine")
    assert rc == 2 and "cannot approve or reject their own request" in err
    assert "Traceback" not in err
    monkeypatch.setenv("REBATELAB_USER", "max")
    rc, out, err = run("approve", "1", *cli_ws, "--reason", "paperwork checked")
    assert rc == 0 and "request 1 approved by max" in out, err

    # 3. approved: accrued from its effective day (basis by brute force from the lines) ...
    row = _rows(accrue(), GOLD, c)
    basis = _gold_basis(data, c, "2026-07-01", AS_OF)
    assert len(row) == 1 and row["basis"].iloc[0] == pytest.approx(basis, abs=0.005)
    assert row["earned"].iloc[0] == pytest.approx(_gold_earned(basis), abs=0.005)
    # ... and forecast from its effective day: in force on 2026-09-30, not on 2026-06-30
    fc = _rows(forecast(), GOLD, c)
    assert len(fc) == 1 and fc["basis_to_date"].iloc[0] == pytest.approx(basis, abs=0.005)
    assert _rows(forecast("2026-06-30"), GOLD, c).empty

    # 4. a variant over a guardrail is refused naming the rule; one within is pending
    monkeypatch.delenv("REBATELAB_USER")
    rc, _, err = run("propose", *base, "--program", GOLD, "--variant", c2, "--tiers",
                     "1400:0.09", "--reason", "match a competitor", "--today", AS_OF)  # fmt: skip
    assert rc == 2 and "max_rate=0.05" in err and "Traceback" not in err
    rc, out, err = run("propose", *base, "--program", GOLD, "--variant", c2, "--tiers",
                       "1400:0.025,3600:0.035,9200:0.045", "--reason", "match a competitor",
                       "--today", AS_OF, "--user", "sam")  # fmt: skip
    assert rc == 0 and "request 3 pending" in out, err
    vid = f"{GOLD}-{c2}"
    assert _rows(accrue(), vid, c2).empty
    rc, out, err = run("approve", "3", *cli_ws, "--reason", "within guardrails", "--user", "max")
    assert rc == 0, err
    vrow = _rows(accrue(), vid, c2)
    vbasis = _gold_basis(data, c2, "2026-01-01", AS_OF)
    assert len(vrow) == 1 and vrow["basis"].iloc[0] == pytest.approx(vbasis, abs=0.005)
    assert _rows(accrue(), GOLD, c2).empty  # the variant replaces the parent for c2

    # 5. reject with a reason: never accrued
    rc, _, err = run("propose", *base, "--program", GOLD, "--enroll", c3, "--reason",
                     "wants in", "--today", AS_OF)  # fmt: skip
    assert rc == 0, err
    rc, out, err = run("reject", "4", *cli_ws, "--reason", "not this year", "--user", "max")
    assert rc == 0 and "rejected" in out, err
    assert _rows(accrue(), GOLD, c3).empty

    # 6. history: every event, in time order, with who and why
    out_csv = tmp_path / "history.csv"
    rc, out, err = run("history", *cli_ws, "--out", str(out_csv))
    assert rc == 0 and "4 request(s), 8 event(s)" in out, err
    h = pd.read_csv(out_csv, parse_dates=["at"])
    assert list(h["seq"]) == list(range(1, 9))
    assert h["at"].is_monotonic_increasing
    got = set(zip(h["request_id"], h["event"], h["user"], h["reason"], strict=True))
    assert got == {
        (1, "proposed", "rita", "signed at the trade show"),
        (1, "approved", "max", "paperwork checked"),
        (2, "proposed", "rita", "match a competitor"),
        (2, "refused", "(rebatelab)", h.loc[h["event"] == "refused", "reason"].iloc[0]),
        (3, "proposed", "sam", "match a competitor"),
        (3, "approved", "max", "within guardrails"),
        (4, "proposed", "rita", "wants in"),
        (4, "rejected", "max", "not this year"),
    }
    assert "max_rate=0.05" in h.loc[h["event"] == "refused", "reason"].iloc[0]
    # each request's proposal comes before its decision
    first = h.groupby("request_id")["seq"].agg(["min", "max"])
    props = h[h["event"] == "proposed"].set_index("request_id")["seq"]
    assert (props == first["min"]).all()
