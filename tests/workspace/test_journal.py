"""Issue 13 items 2-3: payments as a journal, a workspace that knows itself (fault cases)."""

import duckdb
import pandas as pd
import pytest

from rebatelab.errors import LedgerError
from rebatelab.workspace.close import close, ledger
from tests.workspace.test_ledger import PROGRAMS_YAML, _data, stub_forecaster

PAY = pd.DataFrame(
    {
        "program_id": ["TOOLS"],
        "customer_id": ["A"],
        "date": ["2025-04-15"],
        "amount": [1.00],
    }
)


def _close(pay, period, ws, **kw):
    data = _data(pay)
    return close(data, PROGRAMS_YAML, period, workspace=ws, forecaster=stub_forecaster, **kw)


def test_edited_payment_after_a_close_is_refused_and_a_correction_is_deducted_once(tmp_path):
    ws = tmp_path / "ws.duckdb"
    _close(PAY, "2025-04", ws)
    edited = PAY.assign(amount=[1.10])
    with pytest.raises(LedgerError, match=r"TOOLS/A/2025-04-15/1.00#0"):
        _close(edited, "2025-05", ws)
    fix = pd.DataFrame(
        [["TOOLS", "A", "2025-05-02", 0.10, "TOOLS/A/2025-04-15/1.00#0"]],
        columns=[*PAY.columns, "corrects"],
    )
    corrected = pd.concat([PAY.assign(corrects=None), fix], ignore_index=True)
    _close(corrected, "2025-05", ws)
    view = ledger(ws)
    assert view.ties
    assert round(view.payments["amount"].sum(), 2) == 1.10  # not 2.10


def test_removed_payment_after_a_close_is_refused(tmp_path):
    ws = tmp_path / "ws.duckdb"
    _close(PAY, "2025-04", ws)
    with pytest.raises(LedgerError, match="no longer in the payments input"):
        _close(PAY.iloc[:0], "2025-05", ws)


def test_duplicated_payment_after_a_close_is_flagged(tmp_path):
    ws = tmp_path / "ws.duckdb"
    _close(PAY, "2025-04", ws)
    twice = pd.concat([PAY, PAY], ignore_index=True)
    with pytest.raises(LedgerError, match="possible_duplicate"):
        _close(twice, "2025-05", ws)
    r = _close(twice, "2025-05", ws, accept_flagged=True)
    assert set(r.flags["kind"]) >= {"possible_duplicate"}


def test_overpayment_and_unknown_program_need_acceptance(tmp_path):
    ws = tmp_path / "ws.duckdb"
    big = pd.DataFrame(
        {
            "program_id": ["TOOLS", "NOPE"],
            "customer_id": ["A", "A"],
            "date": ["2025-04-15", "2025-04-15"],
            "amount": [1_000_000.0, 5.0],
        }
    )
    with _no_warning():  # no raw Python warning
        with pytest.raises(LedgerError, match="overpayment") as exc:
            _close(big, "2025-04", ws)
    assert "unknown_program" in str(exc.value)
    assert not ledger(ws).closes.shape[0]  # nothing booked
    r = _close(big, "2025-04", ws, accept_flagged=True)
    assert set(r.flags["kind"]) == {"overpayment", "unknown_program"}


class _no_warning:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *a):
        return self._w.__exit__(*a)


def test_foreign_workspace_is_refused_and_left_alone(tmp_path):
    ws = tmp_path / "other.duckdb"
    con = duckdb.connect(str(ws))
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.close()
    with pytest.raises(LedgerError, match="not a rebatelab workspace"):
        _close(PAY, "2025-04", ws)
    con = duckdb.connect(str(ws))
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    con.close()
    assert tables == {"invoices"}


def test_dropped_table_is_refused_by_close_and_ledger(tmp_path):
    ws = tmp_path / "ws.duckdb"
    _close(PAY, "2025-04", ws)
    con = duckdb.connect(str(ws))
    con.execute("DROP TABLE rollforward")
    con.close()
    with pytest.raises(LedgerError, match="rollforward"):
        _close(PAY, "2025-05", ws)
    with pytest.raises(LedgerError, match="rollforward"):
        ledger(ws)


def test_truncated_workspace_is_refused(tmp_path):
    from rebatelab.cli.main import main

    ws = tmp_path / "ws.duckdb"
    _close(PAY, "2025-04", ws)
    raw = ws.read_bytes()
    ws.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(LedgerError):
        ledger(ws)
    assert main(["ledger", "--workspace", str(ws)]) == 2


def test_lost_history_does_not_tie(tmp_path):
    ws = tmp_path / "ws.duckdb"
    _close(PAY, "2025-04", ws)
    _close(PAY, "2025-05", ws)
    con = duckdb.connect(str(ws))
    con.execute("DELETE FROM payments")
    con.close()
    assert not ledger(ws).ties


def test_rerun_of_a_close_reproduces_it(tmp_path):
    ws = tmp_path / "ws.duckdb"
    a = _close(PAY, "2025-04", ws)
    # the same inputs, and the change requests known at the first close's time
    b = _close(PAY, "2025-04", ws, reopen=True, known_at=a.audit["changes_known_at"])
    pd.testing.assert_frame_equal(a.snapshot, b.snapshot)
    pd.testing.assert_frame_equal(a.rollforward, b.rollforward)
    assert a.audit == b.audit
    assert a.audit["as_of"] == "2025-04-30" and "rebatelab_version" in a.audit
