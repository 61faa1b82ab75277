"""Period close: a rebate ledger in an embedded DuckDB workspace file.

Closing a period (a calendar month, ``"YYYY-MM"``) records, as of its last day:

- the accrual snapshot per program and customer: basis, tier, ``accrued`` (earned at the tier
  reached), ``expected`` (the forecast's expected end-of-period rebate), ``most_likely`` and the
  amount ``booked`` (expected by default), with the forecast method;
- the payments (from the data folder's ``payments`` table) dated on or before that day and not
  recorded by an earlier close;
- the roll-forward per program: ``opening + expense - payments = closing``, where ``opening``
  is the previous close's ``closing`` and ``expense`` is the cumulative catch-up: this close's
  booked amount less the previous close's (ASC 606 re-estimates the whole contract each period).

Amounts are held in integer cents while computing and stored as ``DECIMAL(18, 2)``, so the
roll-forward ties to the cent from one close to the next. A close is one transaction: if any
step fails, the workspace is left exactly as it was. Periods are closed in order; closing a
period twice is refused unless ``reopen=True`` (only the latest closed period can be reopened).
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rebatelab.engine.accrual import accrue
from rebatelab.engine.stage_one import Reduction, reduce
from rebatelab.errors import LedgerError, ParameterError
from rebatelab.finance.liability import align_forecast, liability_forecast
from rebatelab.finance.rollforward import _rollforward, contract_cents
from rebatelab.money import cents
from rebatelab.programs.terms import load_programs
from rebatelab.workspace.store import (
    _TABLES,
    _connect,
    _delete_period,
    _money,
    _write_close,
    _write_payments,
    _write_rollforward,
    _write_snapshot,
    default_workspace,
)

__all__ = ["close", "ledger", "period_end", "Close", "LedgerView", "BOOKS"]


#: What the ledger books per (program, customer).
BOOKS = ("expected", "accrued")


def period_end(period: str) -> dt.date:
    """Last day of a ``"YYYY-MM"`` period.

    Examples
    --------
    >>> period_end("2026-02")
    datetime.date(2026, 2, 28)
    """
    if not isinstance(period, str) or not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
        raise ParameterError(f"period must be 'YYYY-MM' (e.g. '2026-03'), got {period!r}")
    first = pd.Timestamp(f"{period}-01")
    return (first + pd.offsets.MonthEnd(0)).date()


@dataclass(frozen=True)
class Close:
    """What one close recorded.

    Attributes
    ----------
    period : str
    as_of : datetime.date
    snapshot : DataFrame
        Per (program, customer): ``basis, tier, accrued, expected, most_likely, booked``.
    payments : DataFrame
        Payments recorded by this close.
    rollforward : DataFrame
        Per program: ``opening, expense, payments, closing`` [currency].
    book : {"expected", "accrued"}
        What was booked.
    method : str
        The forecast method(s) of the snapshot (``accrued`` when no forecast was made).
    """

    period: str
    as_of: dt.date
    snapshot: pd.DataFrame
    payments: pd.DataFrame
    rollforward: pd.DataFrame
    book: str = "expected"
    method: str = ""


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
    """

    closes: pd.DataFrame
    rollforward: pd.DataFrame
    snapshot: pd.DataFrame
    payments: pd.DataFrame

    @property
    def ties(self) -> bool:
        """True when every roll-forward row ties to the cent."""
        return bool(self.rollforward["ties"].all()) if len(self.rollforward) else True


def _snapshot(red: Reduction, *, method, book, forecaster) -> tuple[pd.DataFrame, str]:
    """Per (program, customer) amounts to book [cents], and the forecast method recorded."""
    acc = accrue(red)
    prog = acc["program_id"].astype(str).to_numpy()
    out = pd.DataFrame(
        {
            "program_id": prog,
            "customer_id": acc["customer_id"].astype(str).to_numpy(),
            "pool_id": acc["pool_id"].astype(str).to_numpy(),
            "basis_type": acc["basis_type"].astype(str).to_numpy(),
            "basis": acc["basis"].to_numpy(dtype=float),
            "tier": acc["tier"].to_numpy(dtype=np.int64),
            "accrued_c": contract_cents(prog, acc["earned"].to_numpy(dtype=float)),
        }
    )
    if book == "accrued" and forecaster is None:
        out["expected_c"] = out["accrued_c"]
        out["most_likely_c"] = out["accrued_c"]
        out["method"] = "accrued"
    else:
        kw = {} if method is None else {"method": method}
        fc = (forecaster or liability_forecast)(red, **kw)
        try:
            fc = align_forecast(acc, fc)
        except ParameterError as exc:
            raise LedgerError(f"the forecast does not match the accrual: {exc}") from None
        # the same cents as the liability report's (contract_cents of the same forecast)
        out["expected_c"] = contract_cents(prog, fc["expected_rebate"].to_numpy(dtype=float))
        out["most_likely_c"] = contract_cents(prog, fc["most_likely_rebate"].to_numpy(dtype=float))
        out["method"] = (
            fc["method"].astype(str).to_numpy() if "method" in fc.columns else (method or "")
        )
    out["booked_c"] = out["expected_c"] if book == "expected" else out["accrued_c"]
    return out, ";".join(sorted(set(out["method"].astype(str))))


def _new_payments(red: Reduction, con, as_of: dt.date) -> pd.DataFrame:
    """Payments dated on or before ``as_of`` that no earlier close recorded."""
    pay = red.payments
    cols = ["program_id", "customer_id", "date", "amount_c", "seq"]
    if pay is None or len(pay) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    p = pd.DataFrame(
        {
            "program_id": pay["program_id"].astype(str).to_numpy(),
            "customer_id": pay["customer_id"].astype(str).to_numpy(),
            "date": pd.to_datetime(pay["date"]).dt.date.to_numpy(),
            "amount_c": cents(pay["amount"].to_numpy(dtype=float)),
        }
    )
    p = p[p["date"] <= as_of]
    # identical payments are told apart by their order of appearance
    p["seq"] = p.groupby(["program_id", "customer_id", "date", "amount_c"]).cumcount()
    done = con.execute(
        "SELECT program_id, customer_id, date, CAST(round(amount * 100) AS BIGINT) AS amount_c, "
        "seq FROM payments"
    ).fetchdf()
    if len(done):
        done["date"] = pd.to_datetime(done["date"]).dt.date
        done["seq"] = done["seq"].astype(np.int64)
        done["amount_c"] = done["amount_c"].astype(np.int64)
        m = p.merge(done, on=cols, how="left", indicator=True)
        p = m[m["_merge"] == "left_only"].drop(columns="_merge")
    return p.reset_index(drop=True)


def close(
    data,
    programs=None,
    period: str | None = None,
    *,
    workspace=None,
    reopen: bool = False,
    method: str | None = None,
    book: str = "expected",
    forecaster=None,
) -> Close:
    """Close a period: record the accrual snapshot, new payments and the roll-forward.

    Parameters
    ----------
    data : RebateData or Reduction
        The data folder (its ``payments`` table holds ``program_id, customer_id, date,
        amount``), or stage one's result as of the period's last day
        (:func:`rebatelab.reduce`; then ``programs`` is its own and ``period`` defaults to its
        month).
    programs : ProgramSet, optional
        Required with a RebateData.
    period : str
        ``"YYYY-MM"``; the close is as of the month's last day.
    workspace : str or Path, optional
        DuckDB workspace file; default ``rebatelab.duckdb`` in the data folder.
    reopen : bool
        Replace the latest closed period instead of refusing to close it again.
    method : str, optional
        Forecast method for ``expected`` (default: the forecast's default method).
    book : {"expected", "accrued"}
        What the ledger books per (program, customer): the forecast's expected end-of-period
        rebate (ASC 606 expected value, default) or the amount earned at the current tier.
    forecaster : callable, optional
        ``forecaster(reduction[, method=...])`` returning one row per (program_id,
        customer_id) of :func:`rebatelab.accrue` with ``expected_rebate`` and
        ``most_likely_rebate``; default
        :func:`rebatelab.finance.liability.liability_forecast`, the liability's forecast.

    Returns
    -------
    Close

    Raises
    ------
    LedgerError
        Closing a closed period without ``reopen``; closing a period before the latest closed
        one; reopening a period that is not the latest; a forecast whose rows do not match
        the accrual's contracts.
    ParameterError
        A bad period or book; a Reduction as of another day than the period's last.

    Notes
    -----
    Per program: ``expense = booked_t - booked_{t-1}`` (cumulative catch-up),
    ``closing = opening + expense - payments`` with ``opening`` the previous closing, so
    ``closing = booked_t - (all payments recorded so far)``, in integer cents. The amounts
    booked per contract are :func:`~rebatelab.finance.rollforward.contract_cents` of the
    forecast, so the booked total equals :func:`rebatelab.liability`'s ``expected`` to the
    cent. The whole close is one DuckDB transaction.

    Examples
    --------
    Close March 2026 of the sample, booking the amounts earned to date (no forecast):

    >>> import tempfile, pathlib
    >>> import rebatelab as rl
    >>> data, programs = rl.load_sample()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     ws = pathlib.Path(folder) / "ledger.duckdb"
    ...     march = rl.close(data, programs, "2026-03", workspace=ws, book="accrued")
    ...     ties = rl.ledger(ws).ties
    >>> rf = march.rollforward.set_index("program_id")
    >>> rf.loc["GOLD-2025", ["opening", "expense", "payments", "closing"]].tolist()
    [0.0, 12523.39, 12523.39, 0.0]
    >>> ties
    True
    """
    if book not in BOOKS:
        raise ParameterError(f"book must be one of {list(BOOKS)}, got {book!r}")
    if isinstance(data, Reduction):
        if period is None:
            period = data.as_of.strftime("%Y-%m")
        as_of = period_end(period)
        if pd.Timestamp(as_of) != data.as_of:
            raise ParameterError(
                f"the reduction is as of {data.as_of.date()}; closing {period} needs one as of "
                f"{as_of}"
            )
        if programs is not None and list(load_programs(programs).ids) != list(data.programs.ids):
            raise ParameterError(
                "programs differ from the reduction's; pass programs=None with a Reduction"
            )
        red = data
    else:
        if period is None:
            raise ParameterError("close needs a period 'YYYY-MM'")
        as_of = period_end(period)
        if programs is None:
            raise ParameterError("close needs programs with a RebateData")
        red = None
    path = Path(workspace) if workspace is not None else default_workspace(data)
    con = _connect(path)
    try:
        closed = con.execute("SELECT period FROM closes ORDER BY period").fetchdf()["period"]
        closed = closed.astype(str).tolist()
        if period in closed:
            if not reopen:
                raise LedgerError(
                    f"period {period} is already closed in {path}; pass reopen=True "
                    "(--reopen) to replace it"
                )
            later = [p for p in closed if p > period]
            if later:
                raise LedgerError(
                    f"cannot reopen {period}: later periods are closed {later}; reopen them "
                    "first, latest first"
                )
        elif closed and period < closed[-1]:
            raise LedgerError(
                f"periods are closed in order: {period} is before the latest closed period "
                f"{closed[-1]}"
            )
        # compute everything before writing to the workspace
        if red is None:
            red = reduce(data, load_programs(programs), as_of)
        snap, snap_method = _snapshot(red, method=method, book=book, forecaster=forecaster)
        con.execute("BEGIN TRANSACTION")
        try:
            if period in closed:
                _delete_period(con, period)
            prev = [p for p in closed if p < period]
            prev_period = prev[-1] if prev else None
            prev_snap = con.execute(
                "SELECT program_id, CAST(round(booked * 100) AS BIGINT) AS booked_c "
                "FROM snapshot WHERE period = ?",
                [prev_period],
            ).fetchdf()
            prev_rf = con.execute(
                "SELECT program_id, CAST(round(closing * 100) AS BIGINT) AS closing_c "
                "FROM rollforward WHERE period = ?",
                [prev_period],
            ).fetchdf()
            pay = _new_payments(red, con, as_of)
            unknown = sorted(set(pay["program_id"]) - set(red.programs.ids)) if len(pay) else []
            if unknown:
                warnings.warn(
                    f"payments name programs not in the program file: {unknown[:5]}; they are "
                    "deducted in the roll-forward",
                    stacklevel=2,
                )
            rf = _rollforward(snap, prev_snap, prev_rf, pay)
            _write_snapshot(con, period, snap)
            _write_payments(con, period, pay)
            _write_rollforward(con, period, rf)
            info = {
                "method": snap_method,
                "book": book,
                "data_source": red.source,
                "programs_source": getattr(red.programs, "source", ""),
                "n_rows": len(snap),
            }
            _write_close(con, period, as_of, info)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.close()
    return Close(period, as_of, _money(snap), _money(pay), _money(rf), book, snap_method)


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
    """
    con = _connect(Path(workspace), read_only=True)
    try:
        tables = set(
            con.execute("SELECT table_name FROM information_schema.tables").fetchdf()["table_name"]
        )
        if not set(_TABLES) <= tables:
            raise LedgerError(f"{workspace} is not a rebatelab ledger workspace")
        closes = con.execute("SELECT * FROM closes ORDER BY period").fetchdf()
        rf = con.execute(
            "SELECT period, program_id, "
            "CAST(round(opening * 100) AS BIGINT) AS opening_c, "
            "CAST(round(expense * 100) AS BIGINT) AS expense_c, "
            "CAST(round(payments * 100) AS BIGINT) AS payments_c, "
            "CAST(round(closing * 100) AS BIGINT) AS closing_c "
            "FROM rollforward ORDER BY period, program_id"
        ).fetchdf()
        where, args = ("WHERE period = ?", [period]) if period else ("", [])
        snap = con.execute(
            f"SELECT * FROM snapshot {where} ORDER BY period, program_id, customer_id", args
        ).fetchdf()
        pay = con.execute(
            f"SELECT * FROM payments {where} ORDER BY period, date, program_id, customer_id", args
        ).fetchdf()
    finally:
        con.close()
    # ties: opening = previous period's closing (0 when absent); opening + expense - payments
    # = closing
    if len(rf):
        periods = closes["period"].astype(str).tolist()
        prev_of = dict(zip(periods[1:], periods[:-1], strict=False))
        rf["period"] = rf["period"].astype("string")
        rf["prev_period"] = rf["period"].map(prev_of).astype("string")
        prev = rf[["period", "program_id", "closing_c"]].rename(
            columns={"period": "prev_period", "closing_c": "prev_closing_c"}
        )
        rf = rf.merge(prev, on=["prev_period", "program_id"], how="left")
        prev_closing = rf["prev_closing_c"].fillna(0).to_numpy(dtype=np.int64)
        rf["ties"] = (rf["opening_c"].to_numpy(dtype=np.int64) == prev_closing) & (
            rf["opening_c"] + rf["expense_c"] - rf["payments_c"] == rf["closing_c"]
        )
        rf = rf.drop(columns=["prev_period", "prev_closing_c"])
    else:
        rf["ties"] = pd.Series(dtype=bool)
    for df in (snap, pay):
        for c in ("accrued", "expected", "most_likely", "booked", "amount"):
            if c in df.columns:
                df[c] = df[c].astype(float)
    rf = _money(rf)
    rf = rf[["period", "program_id", "opening", "expense", "payments", "closing", "ties"]]
    return LedgerView(closes, rf, snap, pay)
