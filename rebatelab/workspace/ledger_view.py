"""Reading a workspace: closes, the roll-forward with its tie checks, snapshots, payments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rebatelab.errors import LedgerError
from rebatelab.finance.rollforward import _rollforward
from rebatelab.workspace.store import _TABLES, _connect, _money, _tables, check_workspace

__all__ = ["ledger", "LedgerView"]


@dataclass(frozen=True)
class LedgerView:
    """Everything recorded in a workspace.

    Attributes
    ----------
    closes : DataFrame
        One row per closed period.
    rollforward : DataFrame
        Per period and program, with ``ties``: the opening equals the previous closing and
        ``opening + expense - payments = closing``, to the cent.
    snapshot, payments : DataFrame
    audit : DataFrame
        ``period, key, value``: each close's audit record.
    flags : DataFrame
        Flagged payments booked with ``accept_flagged``.
    """

    closes: pd.DataFrame
    rollforward: pd.DataFrame
    snapshot: pd.DataFrame
    payments: pd.DataFrame
    audit: pd.DataFrame | None = None
    flags: pd.DataFrame | None = None

    @property
    def ties(self) -> bool:
        """True when every roll-forward row ties to the cent."""
        return bool(self.rollforward["ties"].all()) if len(self.rollforward) else True


def _recompute(closes, snap_prog, pay_prog) -> pd.DataFrame:
    """Every period's roll-forward per program, recomputed from snapshots and payments [cents].

    Opening = the previous period's recomputed closing; expense = booked less the previous
    period's booked; payments = the payments recorded by the close.
    """
    out = []
    empty_rf = pd.DataFrame({"program_id": [], "closing_c": []})
    prev_snap = pd.DataFrame({"program_id": [], "booked_c": []})
    prev_rf = empty_rf
    for period in closes["period"].astype(str):  # a loop over closed periods
        snap = snap_prog[snap_prog["period"] == period]
        pay = pay_prog[pay_prog["period"] == period]
        rf = _rollforward(snap, prev_snap, prev_rf, pay)
        out.append(rf.assign(period=period))
        prev_snap, prev_rf = snap, rf
    if not out:
        return pd.DataFrame(
            columns=["period", "program_id", "opening_c", "expense_c", "payments_c", "closing_c"]
        )
    return pd.concat(out, ignore_index=True)


def ledger(workspace, *, period: str | None = None) -> LedgerView:
    """What a workspace has recorded: closes, roll-forward (with tie checks), snapshots.

    Parameters
    ----------
    workspace : str or Path
        The DuckDB workspace file.
    period : str, optional
        Only this period's snapshot and payments (the closes and roll-forward stay complete).

    Returns
    -------
    LedgerView
        ``rollforward["ties"]``: the stored row equals the one recomputed from the stored
        snapshots and payments, every period in order (opening = the previous period's
        recomputed closing), and each close's snapshot has the rows it recorded. A lost
        period, snapshot row or payment therefore does not tie.

    Raises
    ------
    LedgerError
        No file, a file that is not a rebatelab workspace, a damaged or truncated one, or one
        with a ledger table missing.
    """
    import duckdb

    path = Path(workspace)
    con = _connect(path, read_only=True)
    try:
        tables = _tables(con)
        if not set(_TABLES[:4]) <= tables:
            raise LedgerError(f"{workspace} is not a rebatelab ledger workspace")
        if "rebatelab_meta" in tables:
            check_workspace(con, path)
        closes = con.execute("SELECT * FROM closes ORDER BY period").fetchdf()
        rf = con.execute(
            "SELECT period, program_id, "
            "CAST(round(opening * 100) AS BIGINT) AS opening_c, "
            "CAST(round(expense * 100) AS BIGINT) AS expense_c, "
            "CAST(round(payments * 100) AS BIGINT) AS payments_c, "
            "CAST(round(closing * 100) AS BIGINT) AS closing_c "
            "FROM rollforward ORDER BY period, program_id"
        ).fetchdf()
        snap_prog = con.execute(
            "SELECT period, program_id, CAST(round(sum(booked) * 100) AS BIGINT) AS booked_c, "
            "count(*) AS n FROM snapshot GROUP BY period, program_id"
        ).fetchdf()
        pay_prog = con.execute(
            "SELECT period, program_id, CAST(round(sum(amount) * 100) AS BIGINT) AS amount_c "
            "FROM payments GROUP BY period, program_id"
        ).fetchdf()
        where, args = ("WHERE period = ?", [period]) if period else ("", [])
        snap = con.execute(
            f"SELECT * FROM snapshot {where} ORDER BY period, program_id, customer_id", args
        ).fetchdf()
        pay = con.execute(
            f"SELECT * FROM payments {where} ORDER BY period, date, program_id, customer_id", args
        ).fetchdf()
        audit = (
            con.execute("SELECT period, key, value FROM audit ORDER BY period, key").fetchdf()
            if "audit" in tables
            else pd.DataFrame(columns=["period", "key", "value"])
        )
        flags = (
            con.execute(f"SELECT * FROM flags {where}", args).fetchdf()
            if "flags" in tables
            else pd.DataFrame(columns=["period", "payment_id", "kind", "amount", "message"])
        )
    except duckdb.Error as exc:
        raise LedgerError(
            f"ledger workspace {workspace} is damaged (restore it from a backup): {exc}"
        ) from None
    finally:
        con.close()
    for df in (snap_prog, pay_prog):
        df["period"] = df["period"].astype(str)
        df["program_id"] = df["program_id"].astype(str)
    rf["period"] = rf["period"].astype(str)
    rf["program_id"] = rf["program_id"].astype(str)
    # ties: each stored row equals the one recomputed from snapshots and payments
    rec = _recompute(closes, snap_prog, pay_prog)
    cols = ["opening_c", "expense_c", "payments_c", "closing_c"]
    m = rf.merge(rec, on=["period", "program_id"], how="outer", suffixes=("", "_re"))
    ties = np.ones(len(m), bool)
    for c in cols:
        ties &= m[c].notna().to_numpy() & m[f"{c}_re"].notna().to_numpy()
        ties &= m[c].fillna(-1).to_numpy() == m[f"{c}_re"].fillna(-2).to_numpy()
    # the snapshot holds the rows each close recorded
    n = snap_prog.groupby("period")["n"].sum()
    rows_ok = closes.set_index(closes["period"].astype(str))["n_rows"].eq(
        n.reindex(closes["period"].astype(str)).fillna(0)
    )
    ties &= m["period"].map(rows_ok).fillna(False).to_numpy(dtype=bool)
    m["ties"] = ties
    for c in cols:  # a row missing from the stored roll-forward shows its recomputed figures
        m[c] = m[c].fillna(m[f"{c}_re"]).astype(np.int64)
    rf = m[["period", "program_id", *cols, "ties"]].sort_values(["period", "program_id"])
    for df in (snap, pay):
        for c in ("accrued", "expected", "most_likely", "booked", "amount"):
            if c in df.columns:
                df[c] = df[c].astype(float)
    if "amount" in flags.columns:
        flags["amount"] = flags["amount"].astype(float)
    rf = _money(rf.reset_index(drop=True))
    rf = rf[["period", "program_id", "opening", "expense", "payments", "closing", "ties"]]
    return LedgerView(closes, rf, snap, pay, audit, flags)
