"""Period close: catch-up, roll-forward ties, refusal, reopen, one transaction, payments."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebatelab import RebateData, accrue, load_programs
from rebatelab.errors import LedgerError, ParameterError
from rebatelab.workspace import close as ledger_mod
from rebatelab.workspace.close import close, ledger, period_end
from tests.conftest import PROGRAMS_YAML, make_frames


def test_docstring_examples():
    assert doctest.testmod(ledger_mod, optionflags=doctest.ELLIPSIS).failed == 0


@pytest.mark.parametrize(
    "module, names",
    [
        ("ledger_view", ["ledger", "LedgerView"]),
        ("reproduce", ["replay", "Replay"]),
        ("snapshot", ["period_end", "BOOKS"]),
    ],
)
def test_the_close_s_parts_are_importable_from_workspace_close(module, names):
    import importlib

    import rebatelab.workspace as room

    home = importlib.import_module(f"rebatelab.workspace.{module}")
    for name in names:
        assert getattr(ledger_mod, name) is getattr(home, name) is getattr(room, name)
        assert name in ledger_mod.__all__


def stub_forecaster(red, method="stub"):
    """A deterministic stand-in for the forecast: halfway between earned and the next tier."""
    acc = accrue(red)
    nxt = acc["earned_at_next"].fillna(acc["earned"])
    exp = np.round(acc["earned"] + 0.5 * (nxt - acc["earned"]) + 0.333, 2)
    return acc.assign(expected_rebate=exp, most_likely_rebate=acc["earned"], method=method)


def _data(payments=None):
    tx, cu, pr, en = make_frames()
    return RebateData.from_frames(tx, cu, pr, en, payments)


PAYMENTS = pd.DataFrame(
    {
        "program_id": ["TOOLS", "POOL", "POOL", "TOOLS", "POOL"],
        "customer_id": ["A", "B", "B", "B", "E"],
        "date": ["2025-04-15", "2025-05-20", "2025-05-20", "2025-05-31", "2025-06-01"],
        "amount": [100.10, 33.33, 33.33, 0.01, 999.0],  # two identical POOL/B payments
    }
)


def _close(data, period, ws, **kw):
    # PAYMENTS holds two identical lines and an overpayment (flagged): booked as they are here
    kw.setdefault("accept_flagged", True)
    return close(data, PROGRAMS_YAML, period, workspace=ws, forecaster=stub_forecaster, **kw)


def _state(ws):
    v = ledger(ws)
    return v.closes.drop(columns="closed_at"), v.rollforward, v.snapshot, v.payments


def _assert_same(a, b):
    for x, y in zip(a, b, strict=True):
        pd.testing.assert_frame_equal(x, y)


def test_domain_example_4_catch_up_through_the_ledger(tmp_path):
    # One program, one customer; the forecast's expected rebate is 75 x 20 after Q1 and
    # 300 x 68 after Q2 (DOMAIN.md example 4): Q2's expense must be exactly 18,900.
    data = _data()
    expected = {"2025-03-31": 75 * 20.0, "2025-06-30": 300 * 68.0}

    def fc(red, method=None):
        acc = accrue(red)
        e = np.where(
            (acc["program_id"] == "TOOLS") & (acc["customer_id"] == "A"),
            expected[str(red.as_of.date())],
            0.0,
        )
        return acc.assign(expected_rebate=e, most_likely_rebate=e)

    ws = tmp_path / "ws.duckdb"
    q1 = close(data, PROGRAMS_YAML, "2025-03", workspace=ws, forecaster=fc)
    q2 = close(data, PROGRAMS_YAML, "2025-06", workspace=ws, forecaster=fc)
    r1 = q1.rollforward.set_index("program_id").loc["TOOLS"]
    r2 = q2.rollforward.set_index("program_id").loc["TOOLS"]
    assert (r1["opening"], r1["expense"], r1["closing"]) == (0.0, 1_500.0, 1_500.0)
    assert (r2["opening"], r2["expense"], r2["closing"]) == (1_500.0, 18_900.0, 20_400.0)
    assert ledger(ws).ties


def test_three_consecutive_closes_tie_to_the_cent_with_payments(tmp_path):
    data = _data(PAYMENTS)
    ws = tmp_path / "ws.duckdb"
    results = [_close(data, p, ws) for p in ("2025-04", "2025-05", "2025-06")]
    view = ledger(ws)
    assert view.ties
    rf = view.rollforward
    assert list(view.closes["period"]) == ["2025-04", "2025-05", "2025-06"]
    paid = PAYMENTS.assign(date=pd.to_datetime(PAYMENTS["date"]))
    for r in results:
        # closing = booked now - every payment dated up to now, per program, to the cent
        booked = r.snapshot.groupby("program_id")["booked"].sum()
        upto = paid[paid["date"] <= pd.Timestamp(r.as_of)].groupby("program_id")["amount"].sum()
        got = rf[rf["period"] == r.period].set_index("program_id")["closing"]
        want = booked.sub(upto, fill_value=0).reindex(got.index, fill_value=0)
        np.testing.assert_array_equal(np.round(got * 100), np.round(want * 100))
        # opening = previous closing
    piv = rf.pivot(index="program_id", columns="period", values=["opening", "closing"])
    np.testing.assert_array_equal(piv["opening"]["2025-05"], piv["closing"]["2025-04"])
    np.testing.assert_array_equal(piv["opening"]["2025-06"], piv["closing"]["2025-05"])
    # the payments land in the period whose close first saw them, each exactly once
    per = view.payments.groupby("period")["amount"].sum().round(2).to_dict()
    assert per == {"2025-04": 100.10, "2025-05": 66.67, "2025-06": 999.0}
    # expense over all closes = last booked (nothing booked before the first close)
    total_exp = rf.groupby("program_id")["expense"].sum()
    last = results[-1].snapshot.groupby("program_id")["booked"].sum()
    np.testing.assert_allclose(total_exp.reindex(last.index), last, atol=1e-9)


def test_refuses_to_close_twice_and_leaves_the_workspace_unchanged(tmp_path):
    data = _data(PAYMENTS)
    ws = tmp_path / "ws.duckdb"
    _close(data, "2025-04", ws)
    before = _state(ws)
    with pytest.raises(LedgerError, match="2025-04 is already closed"):
        _close(data, "2025-04", ws)
    _assert_same(before, _state(ws))
    with pytest.raises(LedgerError, match="closed in order"):
        _close(data, "2025-03", ws)
    _close(data, "2025-05", ws)
    with pytest.raises(LedgerError, match="later periods are closed"):
        _close(data, "2025-04", ws, reopen=True)


def test_reopen_is_idempotent(tmp_path):
    data = _data(PAYMENTS)
    ws = tmp_path / "ws.duckdb"
    _close(data, "2025-04", ws)
    _close(data, "2025-05", ws)
    first = _state(ws)
    _close(data, "2025-05", ws, reopen=True)
    _close(data, "2025-05", ws, reopen=True)
    _assert_same(first, _state(ws))


def test_failure_midway_rolls_back(tmp_path, monkeypatch):
    data = _data(PAYMENTS)
    ws = tmp_path / "ws.duckdb"
    _close(data, "2025-04", ws)
    before = _state(ws)

    def boom(*args, **kwargs):
        raise RuntimeError("injected failure after the snapshot and payments were written")

    monkeypatch.setattr(ledger_mod, "_write_rollforward", boom)
    with pytest.raises(RuntimeError, match="injected"):
        _close(data, "2025-05", ws)
    _assert_same(before, _state(ws))
    # a failing reopen keeps the old period too
    with pytest.raises(RuntimeError, match="injected"):
        _close(data, "2025-04", ws, reopen=True)
    _assert_same(before, _state(ws))
    monkeypatch.undo()
    _close(data, "2025-05", ws)
    assert ledger(ws).ties


def test_late_payment_is_taken_by_the_next_close(tmp_path):
    ws = tmp_path / "ws.duckdb"
    _close(_data(PAYMENTS.iloc[:1]), "2025-04", ws)
    late = pd.concat(
        [
            PAYMENTS.iloc[:1],
            pd.DataFrame([["TOOLS", "A", "2025-04-20", 5.0]], columns=PAYMENTS.columns),
        ]
    )
    r = _close(_data(late), "2025-05", ws)
    assert r.payments["amount"].tolist() == [5.0]
    assert ledger(ws).ties


def test_book_accrued_needs_no_forecast(tmp_path):
    data = _data(PAYMENTS)
    ws = tmp_path / "ws.duckdb"
    r = close(data, PROGRAMS_YAML, "2025-04", workspace=ws, book="accrued")
    acc = accrue(data, load_programs(PROGRAMS_YAML), "2025-04-30")
    np.testing.assert_allclose(r.snapshot["booked"], acc["earned"])


def test_bad_inputs():
    with pytest.raises(ParameterError, match="YYYY-MM"):
        period_end("2025-13")
    assert period_end("2024-02").isoformat() == "2024-02-29"
    with pytest.raises(ParameterError, match="workspace"):
        close(_data(), PROGRAMS_YAML, "2025-04", forecaster=stub_forecaster)
    with pytest.raises(ParameterError, match="book"):
        close(_data(), PROGRAMS_YAML, "2025-04", workspace="x.duckdb", book="cash")


def test_close_takes_a_reduction_of_the_period_end(tmp_path):
    from rebatelab.engine.stage_one import reduce

    data = _data(PAYMENTS)
    programs = load_programs(PROGRAMS_YAML)
    red = reduce(data, programs, "2025-04-30")
    by_red = close(red, workspace=tmp_path / "a.duckdb", forecaster=stub_forecaster)
    by_data = close(
        data, programs, "2025-04", workspace=tmp_path / "b.duckdb", forecaster=stub_forecaster
    )
    assert by_red.period == "2025-04"  # the reduction's month
    for a, b in (
        (by_red.snapshot, by_data.snapshot),
        (by_red.payments, by_data.payments),
        (by_red.rollforward, by_data.rollforward),
    ):
        pd.testing.assert_frame_equal(a, b)
    assert (by_red.book, by_red.method) == ("expected", "stub")
    with pytest.raises(ParameterError, match="as of 2025-04-30"):
        close(red, period="2025-05", workspace=tmp_path / "c.duckdb")
    # a forecast whose contracts are not the accrual's is refused, naming them
    with pytest.raises(LedgerError, match="no forecast row"):
        close(red, workspace=tmp_path / "d.duckdb", forecaster=lambda r: stub_forecaster(r)[1:])


def test_cli_constants_are_the_workspace_ones():
    from rebatelab.cli.commands import close as close_cmd
    from rebatelab.cli.commands import ledger as ledger_cmd
    from rebatelab.workspace.store import WORKSPACE_NAME

    assert close_cmd.BOOKS == ledger_mod.BOOKS
    assert ledger_cmd.WORKSPACE_NAME == WORKSPACE_NAME


def test_ledger_of_missing_workspace(tmp_path):
    with pytest.raises(LedgerError, match="no ledger workspace"):
        ledger(tmp_path / "none.duckdb")


# -- the CLI, with the real forecast -------------------------------------------------------------
def test_cli_close_and_ledger(tmp_path, capsys):
    from rebatelab.cli.main import main
    from tests.review.test_review import make_book, write_book

    folder = write_book(tmp_path / "data")
    # the book's first payment exceeds its contract's accrual (flagged): booked as it is
    close_args = ["close", "--data", str(folder), "--method", "run_rate", "--accept-flagged"]
    close_args.append("--period")
    for period in ("2025-04", "2025-05"):
        assert main([*close_args, period]) == 0
    out = capsys.readouterr().out
    assert "rebatelab close 2025-05" in out and "= closing" in out
    assert (folder / "rebatelab.duckdb").exists()  # the default workspace, beside the data
    assert main([*close_args, "2025-05"]) == 2
    assert "already closed" in capsys.readouterr().err
    assert main([*close_args, "2025-05", "--reopen"]) == 0
    capsys.readouterr()
    csv = tmp_path / "rf.csv"
    assert main(["ledger", "--data", str(folder), "--out", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "2 closed period(s)" in out and "ties to the cent: yes" in out
    rf = pd.read_csv(csv)
    assert set(rf["period"]) == {"2025-04", "2025-05"}
    # every payment dated up to the last close is deducted exactly once
    pay = make_book()[4]
    assert rf["payments"].sum() == pytest.approx(pay["amount"].sum(), abs=1e-9)
    view = ledger(folder / "rebatelab.duckdb")
    assert set(view.closes["method"]) == {"run_rate"}
    assert main(["ledger", "--data", str(folder), "--period", "2025-05"]) == 0
    assert "snapshot 2025-05" in capsys.readouterr().out
    assert main(["ledger"]) == 2


@settings(max_examples=40, deadline=None)
@given(
    booked=st.lists(
        st.lists(st.integers(0, 10**9), min_size=3, max_size=3), min_size=1, max_size=5
    ),
    paid=st.lists(st.lists(st.integers(0, 10**8), min_size=3, max_size=3), min_size=5, max_size=5),
)
def test_rollforward_ties_for_any_sequence(booked, paid):
    # integer cents per program (3 programs) over consecutive closes: opening = previous
    # closing, closing = booked now - all payments so far, expense = booked change
    from rebatelab.finance.rollforward import _rollforward

    progs = ["P0", "P1", "P2"]
    prev_snap = pd.DataFrame({"program_id": [], "booked_c": []})
    prev_rf = pd.DataFrame({"program_id": [], "closing_c": []})
    paid_so_far = np.zeros(3, dtype=np.int64)
    for t, b in enumerate(booked):
        snap = pd.DataFrame({"program_id": progs, "booked_c": np.array(b, dtype=np.int64)})
        pay = pd.DataFrame({"program_id": progs, "amount_c": np.array(paid[t], dtype=np.int64)})
        rf = _rollforward(snap, prev_snap, prev_rf, pay).set_index("program_id").loc[progs]
        paid_so_far += np.array(paid[t])
        np.testing.assert_array_equal(rf["closing_c"], np.array(b) - paid_so_far)
        np.testing.assert_array_equal(
            rf["opening_c"] + rf["expense_c"] - rf["payments_c"], rf["closing_c"]
        )
        if t:
            np.testing.assert_array_equal(rf["opening_c"], prev_rf.set_index("program_id")
                                          .loc[progs, "closing_c"])  # fmt: skip
        prev_snap, prev_rf = snap, rf.reset_index()[["program_id", "closing_c"]]
