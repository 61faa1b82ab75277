"""Finance reports from the workspace: roll-forward in filing layout, accrual, aging, journal."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

from rebatelab.money import cents
from rebatelab.report import finance as rep
from rebatelab.report.finance import (
    Accounts,
    accrual_report,
    aging_report,
    journal_entries,
    rollforward_report,
)
from rebatelab.workspace.close import LedgerView

MONEY = ["opening", "provision_current", "adjustment_prior", "payments", "closing"]


def _view():
    """One contract over two closes, worked by hand.

    P/A: March basis 100, booked 10; June basis 300, booked 45, a payment of 5 in June.
    March: provision 10 (all current), closing 10. June: expense 35; 45 per 300 of basis is
    0.15, so the 200 of basis added this period carry 30 (current-period provision) and the
    true-up is 5; closing 10 + 30 + 5 - 5 = 40. Q/B: June only, a release of nothing, a
    credit note of -2 (reversing part of a payment) to cash.
    """
    closes = pd.DataFrame(
        {
            "period": ["2026-03", "2026-06"],
            "as_of": pd.to_datetime(["2026-03-31", "2026-06-30"]),
            "closed_at": pd.to_datetime(["2026-04-02", "2026-07-02"]),
            "method": ["m", "m"],
            "book": ["expected", "expected"],
            "n_rows": [1, 2],
        }
    )
    snapshot = pd.DataFrame(
        {
            "period": ["2026-03", "2026-06", "2026-06"],
            "program_id": ["P", "P", "Q"],
            "customer_id": ["A", "A", "B"],
            "basis_type": "net_sales",
            "basis": [100.0, 300.0, 50.0],
            "tier": [1, 1, 0],
            "accrued": [8.0, 40.0, 0.0],
            "expected": [10.0, 45.0, 0.0],
            "most_likely": [10.0, 45.0, 0.0],
            "booked": [10.0, 45.0, 0.0],
            "method": "m",
        }
    )
    payments = pd.DataFrame(
        {
            "period": ["2026-06", "2026-06"],
            "program_id": ["P", "Q"],
            "customer_id": ["A", "B"],
            "date": pd.to_datetime(["2026-06-10", "2026-06-11"]).date,
            "amount": [5.0, -2.0],
            "payment_id": ["pay-1", "pay-2"],
        }
    )
    rollforward = pd.DataFrame(
        {
            "period": ["2026-03", "2026-06", "2026-06"],
            "program_id": ["P", "P", "Q"],
            "opening": [0.0, 10.0, 0.0],
            "expense": [10.0, 35.0, 0.0],
            "payments": [0.0, 5.0, -2.0],
            "closing": [10.0, 40.0, 2.0],
            "ties": True,
        }
    )
    return LedgerView(closes, rollforward, snapshot, payments)


def test_docstring_examples():
    assert doctest.testmod(rep, optionflags=doctest.ELLIPSIS).failed == 0


def test_rollforward_worked_by_hand():
    rf = rollforward_report(_view(), by="customer")
    pa = rf[rf["program_id"] == "P"].set_index("period")[MONEY]
    assert pa.loc["2026-03"].tolist() == [0.0, 10.0, 0.0, 0.0, 10.0]
    assert pa.loc["2026-06"].tolist() == [10.0, 30.0, 5.0, 5.0, 40.0]
    qb = rf[rf["program_id"] == "Q"].set_index("period")[MONEY]
    assert qb.loc["2026-06"].tolist() == [0.0, 0.0, 0.0, -2.0, 2.0]
    total = rollforward_report(_view(), by="total").set_index("period")[MONEY]
    assert total.loc["2026-06"].tolist() == [10.0, 30.0, 5.0, 3.0, 42.0]


def test_journal_balances_and_posts_to_the_accounts_given():
    j = journal_entries(_view(), accounts=Accounts("6100 Rebates", "2300 Accrued", "1200 AR"))
    assert list(j.columns) == list(rep.JOURNAL_COLUMNS)
    june = j[j["journal"] == "REBATE-2026-06"]
    by = june.groupby("account")[["debit", "credit"]].sum()
    # expense 35 (debit 6100 / credit 2300), payment 5 (debit 2300 / credit AR), the -2
    # credit note reversed (debit AR / credit 2300)
    assert by.loc["6100 Rebates"].tolist() == [35.0, 0.0]
    assert by.loc["2300 Accrued"].tolist() == [5.0, 37.0]
    assert by.loc["1200 AR"].tolist() == [2.0, 5.0]
    for _, g in j.groupby("journal"):
        assert cents(g["debit"]).sum() == cents(g["credit"]).sum()
    assert set(june["date"].astype(str)) == {"2026-06-30"}
    assert set(june.loc[june["memo"].str.contains("pay-1"), "customer"]) == {"A"}


def test_aging_buckets_count_days_since_the_period_end():
    from rebatelab.programs.terms import load_programs

    programs = load_programs(
        """
programs:
  - {id: P, start: 2026-01-01, end: 2026-04-15, tiers: [{from: 0, rate: 0.1}]}
  - {id: Q, start: 2026-01-01, end: 2026-12-31, tiers: [{from: 0, rate: 0.1}]}
"""
    )
    ag = aging_report(_view(), programs)
    row = ag[ag["program_id"] == "P"].iloc[0]
    # 45 booked - 5 paid, due since 2026-04-15: 76 days at 2026-06-30 -> 61-90
    assert (row["outstanding"], row["days_since_end"], row["61-90"]) == (40.0, 76, 40.0)
    assert row["0-30"] == row["31-60"] == row["90+"] == 0
    assert "Q" not in set(ag["program_id"])  # still open: not payable yet
    assert ag.iloc[-1]["program_id"] == "TOTAL" and ag.iloc[-1]["outstanding"] == 40.0


def test_accrual_report_names_customers():
    cu = pd.DataFrame({"customer_id": ["A", "B"], "name": ["Acme Ltd", "Bolt & Co"]})
    acc = accrual_report(_view(), customers=cu)
    assert acc["customer_name"].tolist() == ["Acme Ltd", "Bolt & Co"]
    assert acc["outstanding"].tolist() == [40.0, 2.0]


@pytest.mark.slow
def test_reports_tie_with_the_ledger_on_the_sample(tmp_path):
    from rebatelab.datasets import load_sample
    from rebatelab.workspace.close import close, ledger

    data, programs = load_sample()
    ws = tmp_path / "ws.duckdb"
    for period in ("2026-03", "2026-06", "2026-09"):
        close(data, programs, period, workspace=ws, book="accrued")
    view = ledger(ws)
    assert view.ties
    by_prog = rollforward_report(view, by="program")
    m = view.rollforward.merge(
        by_prog, on=["period", "program_id"], how="left", suffixes=("_ledger", "")
    )
    assert m["opening"].notna().all()
    for c in ("opening", "payments", "closing"):
        np.testing.assert_array_equal(cents(m[c]), cents(m[f"{c}_ledger"]))
    np.testing.assert_array_equal(
        cents(m["provision_current"]) + cents(m["adjustment_prior"]), cents(m["expense"])
    )
    by_cust = rollforward_report(view, by="customer", customers=data.customers)
    assert by_cust["customer_name"].notna().all()
    for rf in (by_prog, by_cust):
        lhs = cents(rf["opening"]) + cents(rf["provision_current"]) + cents(rf["adjustment_prior"])
        np.testing.assert_array_equal(lhs - cents(rf["payments"]), cents(rf["closing"]))
    # opening of each period = closing of the previous, in total
    tot = rollforward_report(view, by="total")
    assert cents(tot["opening"]).tolist()[1:] == cents(tot["closing"]).tolist()[:-1]
    j = journal_entries(view)
    assert cents(j["debit"]).sum() == cents(j["credit"]).sum()
    acc = j[j["account"] == "Accrued rebates"]
    # the accrued-rebates account's balance is the ledger's closing liability
    assert cents(acc["credit"]).sum() - cents(acc["debit"]).sum() == cents(tot["closing"])[-1]
