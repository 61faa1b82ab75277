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
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rebatelab.engine.stage_one import Reduction, reduce
from rebatelab.errors import LedgerError, ParameterError
from rebatelab.finance.rollforward import _rollforward
from rebatelab.programs.terms import load_programs
from rebatelab.workspace.audit import _audit
from rebatelab.workspace.ledger_view import LedgerView, ledger
from rebatelab.workspace.payments import _flags, _new_payments
from rebatelab.workspace.reproduce import Replay, replay
from rebatelab.workspace.snapshot import BOOKS, _snapshot, _terms_in_force, period_end
from rebatelab.workspace.store import (
    _connect,
    _delete_period,
    _money,
    _write_audit,
    _write_close,
    _write_flags,
    _write_payments,
    _write_rollforward,
    _write_snapshot,
    check_workspace,
    default_workspace,
)

__all__ = ["close", "ledger", "replay", "period_end", "Close", "LedgerView", "Replay", "BOOKS"]


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
    flags : DataFrame
        Flagged payments booked with ``accept_flagged`` (``payment_id, program_id,
        customer_id, kind, amount, message``).
    audit : dict
        The audit record: input file hashes, program-file hash, version, as-of, method.
    """

    period: str
    as_of: dt.date
    snapshot: pd.DataFrame
    payments: pd.DataFrame
    rollforward: pd.DataFrame
    book: str = "expected"
    method: str = ""
    flags: pd.DataFrame | None = None
    audit: dict | None = None


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
    accept_flagged: bool = False,
    changes: bool = True,
    known_at=None,
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
    accept_flagged : bool
        Book new payments that are flagged (overpayment, unknown program or customer, possible
        duplicate); without it a close with flagged payments is refused, naming them.
    forecaster : callable, optional
        ``forecaster(reduction[, method=...])`` returning one row per (program_id,
        customer_id) of :func:`rebatelab.accrue` with ``expected_rebate`` and
        ``most_likely_rebate``; default
        :func:`rebatelab.finance.liability.liability_forecast`, the liability's forecast.
    changes : bool
        Apply the approved change requests of the workspace in force on the period's last day
        (:func:`rebatelab.workspace.changes.apply_workspace`; default). The audit record names
        the requests used (``changes_in_force``, ``program_versions``).
    known_at : datetime-like, optional
        Only requests decided by then count (UTC); default: now. To re-run a close as it was,
        give the time it recorded (:func:`replay` does).

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
    LedgerError
        A Reduction given while approved changes are in force (its lines were reduced with
        other terms): give the data, or ``changes=False``.

    Notes
    -----
    An approved change decided after a period was closed but effective before its end
    (back-dated) does not rewrite that period: it is in force at the next close, whose
    expense (cumulative catch-up) carries its effect.

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
    import duckdb

    path = Path(workspace) if workspace is not None else default_workspace(data)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    known = now if known_at is None else pd.Timestamp(known_at).to_pydatetime()
    data, programs, in_force = _terms_in_force(
        data, programs, path if changes else None, as_of, known_at=known, apply=red is None
    )
    if red is not None and len(in_force):
        raise LedgerError(
            f"approved change request(s) {in_force['request_id'].tolist()} are in force on "
            f"{as_of} in {path}, but a Reduction was given (its lines were reduced with the "
            "program file's terms): close the data itself, or pass changes=False"
        )
    con = _connect(path)
    try:
        meta = check_workspace(con, path)
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
            flags = _flags(red, con, pay, snap)
            if len(flags) and not accept_flagged:
                shown = "; ".join(
                    f"{r.kind}: {r.payment_id} ({r.message})" for r in flags.head(5).itertuples()
                )
                raise LedgerError(
                    f"{len(flags)} payment(s) flagged, nothing booked: {shown}; check them, then "
                    "pass accept_flagged=True (--accept-flagged) to book them as they are"
                )
            rf = _rollforward(snap, prev_snap, prev_rf, pay)
            audit = _audit(
                red,
                method=method,
                book=book,
                forecaster=forecaster,
                snap=snap,
                pay=pay,
                rf=rf,
                flags=flags,
                meta=meta,
                changes=in_force,
                known_at=known,
            )
            _write_snapshot(con, period, snap)
            _write_payments(con, period, pay)
            _write_flags(con, period, flags)
            _write_rollforward(con, period, rf)
            _write_audit(con, period, audit)
            info = {
                "method": snap_method,
                "book": book,
                "data_source": red.source,
                "programs_source": getattr(red.programs, "source", ""),
                "n_rows": len(snap),
                "closed_at": now,
            }
            _write_close(con, period, as_of, info)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except duckdb.Error as exc:
        raise LedgerError(
            f"ledger workspace {path} is damaged (restore it from a backup): {exc}"
        ) from None
    finally:
        con.close()
    return Close(
        period,
        as_of,
        _money(snap),
        _money(pay),
        _money(rf),
        book,
        snap_method,
        _money(flags),
        audit,
    )
