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
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rebatelab.engine.accrual import accrue
from rebatelab.engine.stage_one import Reduction, reduce
from rebatelab.errors import LedgerError, ParameterError
from rebatelab.finance.liability import align_forecast, liability_forecast, settle_forecast
from rebatelab.finance.rollforward import _rollforward, contract_cents
from rebatelab.money import cents
from rebatelab.programs.terms import load_programs
from rebatelab.workspace.store import (
    _TABLES,
    _connect,
    _delete_period,
    _money,
    _tables,
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
            fc = settle_forecast(acc, align_forecast(acc, fc))
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


_PAY_COLS = [
    "program_id",
    "customer_id",
    "date",
    "amount_c",
    "seq",
    "payment_id",
    "corrects",
]


def _content_id(p: pd.DataFrame) -> pd.Series:
    """A payment's content key as a label: ``program/customer/date/amount#seq``."""
    amount = pd.Series(p["amount_c"].to_numpy(dtype=np.int64) / 100.0, index=p.index)
    return (
        p["program_id"]
        + "/"
        + p["customer_id"]
        + "/"
        + p["date"].astype(str)
        + "/"
        + amount.map("{:.2f}".format)
        + "#"
        + p["seq"].astype(str)
    )


def _input_payments(red: Reduction, as_of: dt.date) -> pd.DataFrame:
    """The payments input dated on or before ``as_of``, each with its identity.

    The identity is the ``payment_id`` column when the input has one, else the content key
    (program, customer, date, amount and the order of appearance among identical lines).
    An optional ``corrects`` column names the payment a line corrects (a reversing or
    adjusting entry: its amount, negative to reverse, is added to what was paid).
    """
    pay = red.payments
    if pay is None or len(pay) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _PAY_COLS})
    p = pd.DataFrame(
        {
            "program_id": pay["program_id"].astype(str).to_numpy(),
            "customer_id": pay["customer_id"].astype(str).to_numpy(),
            "date": pd.to_datetime(pay["date"]).dt.date.to_numpy(),
            "amount_c": cents(pay["amount"].to_numpy(dtype=float)),
        }
    )
    # identical payments are told apart by their order of appearance
    p["seq"] = p.groupby(["program_id", "customer_id", "date", "amount_c"]).cumcount()
    ids = pay["payment_id"] if "payment_id" in pay.columns else None
    given = ids.notna().to_numpy() if ids is not None else np.zeros(len(p), bool)
    p["payment_id"] = _content_id(p)
    p["auto_id"] = ~given
    if ids is not None:
        p.loc[given, "payment_id"] = ids[given].astype(str).to_numpy()
        dup = p.loc[given, "payment_id"]
        dup = sorted(set(dup[dup.duplicated()]))
        if dup:
            raise LedgerError(
                f"payments: payment_id {dup[:5]} appears more than once; each payment needs "
                "its own id (a correction is a new line with corrects: <id>)"
            )
    corr = pay["corrects"] if "corrects" in pay.columns else None
    p["corrects"] = (
        corr.astype("string").to_numpy(dtype=object) if corr is not None else [None] * len(p)
    )
    p["corrects"] = p["corrects"].where(pd.notna(p["corrects"]), None)
    return p[p["date"] <= as_of].reset_index(drop=True)


def _booked_payments(con) -> pd.DataFrame:
    done = con.execute(
        "SELECT period, program_id, customer_id, date, "
        "CAST(round(amount * 100) AS BIGINT) AS amount_c, seq, payment_id, corrects "
        "FROM payments"
    ).fetchdf()
    done["date"] = pd.to_datetime(done["date"]).dt.date
    done["seq"] = done["seq"].astype(np.int64)
    done["amount_c"] = done["amount_c"].astype(np.int64)
    missing = done["payment_id"].isna()
    if missing.any():  # a version-1 ledger: content keys
        done.loc[missing, "payment_id"] = _content_id(done[missing])
    return done


def _new_payments(red: Reduction, con, as_of: dt.date) -> pd.DataFrame:
    """Payments dated on or before ``as_of`` that no earlier close recorded.

    Raises
    ------
    LedgerError
        A payment booked by an earlier close is no longer in the input, or its content
        changed (it is named); a correction names a payment that does not exist.
    """
    p = _input_payments(red, as_of)
    done = _booked_payments(con)
    if len(done):
        m = done.merge(p, on="payment_id", how="left", suffixes=("", "_in"), indicator=True)
        gone = m[m["_merge"] == "left_only"]
        if len(gone):
            names = [f"{r.payment_id} (booked in {r.period})" for r in gone.head(5).itertuples()]
            raise LedgerError(
                f"{len(gone)} payment(s) booked by earlier closes are no longer in the payments "
                f"input (removed or changed): {names}; a booked payment is never edited: restore "
                "it and enter a correction, a new line with the difference (negative to reverse) "
                "and corrects: <its id> (docs/finance.md)"
            )
        keys = ["program_id", "customer_id", "date", "amount_c"]
        both = m[m["_merge"] == "both"]
        changed = np.zeros(len(both), bool)
        for k in keys:
            changed |= both[k].to_numpy() != both[f"{k}_in"].to_numpy()
        if changed.any():
            names = both.loc[changed, "payment_id"].head(5).tolist()
            raise LedgerError(
                f"{int(changed.sum())} payment(s) booked by earlier closes were changed in the "
                f"payments input: {names}; restore them and enter corrections (a new line with "
                "corrects: <id>)"
            )
        p = p[~p["payment_id"].isin(set(done["payment_id"]))]
    known = set(p["payment_id"]) | set(done["payment_id"] if len(done) else [])
    bad = p[p["corrects"].notna() & ~p["corrects"].isin(known)]
    if len(bad):
        raise LedgerError(
            f"payments: {len(bad)} correction(s) name no known payment: "
            f"{bad['payment_id'].head(5).tolist()} corrects {bad['corrects'].head(5).tolist()}"
        )
    return p.reset_index(drop=True)


def _flags(red: Reduction, con, pay: pd.DataFrame, snap: pd.DataFrame) -> pd.DataFrame:
    """New payments that need an explicit acceptance to be booked.

    ``unknown_program`` / ``unknown_customer``: not in the program file or the customers;
    ``overpayment``: the contract's payments so far (recorded and new) exceed both its
    accrued and its expected amount; ``possible_duplicate``: the same program, customer, date
    and amount as a payment already recorded or another new line (content keys only).
    """
    cols = ["payment_id", "program_id", "customer_id", "kind", "amount_c", "message"]
    if not len(pay):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    parts = []

    def add(mask, kind, message):
        if mask.any():
            f = pay.loc[mask, ["payment_id", "program_id", "customer_id", "amount_c"]].copy()
            f["kind"] = kind
            f["message"] = message(f)
            parts.append(f)

    prog = pay["program_id"].isin(set(red.programs.ids)).to_numpy()
    add(~prog, "unknown_program", lambda f: "program not in the program file: " + f["program_id"])
    cust_ids = set(red.customers["customer_id"].astype(str)) if len(red.customers) else set()
    cust = pay["customer_id"].isin(cust_ids).to_numpy()
    add(~cust, "unknown_customer", lambda f: "customer not in customers: " + f["customer_id"])
    done = _booked_payments(con)
    keys = ["program_id", "customer_id"]
    paid = pd.concat([done[[*keys, "amount_c"]], pay[[*keys, "amount_c"]]])
    paid = paid.groupby(keys, as_index=False)["amount_c"].sum()
    cap = snap[keys].assign(cap_c=np.maximum(snap["accrued_c"], snap["expected_c"]))
    over = paid.merge(cap, on=keys, how="left").fillna({"cap_c": 0})
    over = over[over["amount_c"] > over["cap_c"]]
    hit = pay.merge(over, on=keys, how="left", suffixes=("", "_paid"))
    mask = hit["cap_c"].notna().to_numpy() & prog & (pay["amount_c"].to_numpy() > 0)

    def over_msg(f):
        h = hit.loc[f.index]
        return (
            "paid "
            + (h["amount_c_paid"] / 100).map("{:,.2f}".format)
            + " in all against "
            + (h["cap_c"] / 100).map("{:,.2f}".format)
            + " accrued/expected"
        )

    add(mask, "overpayment", over_msg)
    content = ["program_id", "customer_id", "date", "amount_c"]
    seen = pd.concat([done[content], pay[content]])
    twice = seen.duplicated(keep=False).to_numpy()[len(done) :]
    auto = pay["auto_id"].to_numpy(dtype=bool)
    add(
        twice & auto,
        "possible_duplicate",
        lambda f: "same program, customer, date and amount as another payment",
    )
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.concat(parts)[cols].reset_index(drop=True)


def _file_hash(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _audit(
    red: Reduction, *, method, book, forecaster, snap, pay, rf, flags, meta, changes, known_at
) -> dict:
    """What a close was computed from and what it found (one record per close)."""
    try:
        from importlib.metadata import version

        ver = version("rebatelab")
    except Exception:  # noqa: BLE001 - a source checkout without metadata
        ver = "unknown"
    audit = {
        "workspace_id": meta.get("workspace_id", ""),
        "schema_version": meta.get("schema_version", ""),
        "rebatelab_version": ver,
        "as_of": str(red.as_of.date()),
        "book": book,
        "forecast_method": ";".join(sorted(set(snap["method"].astype(str)))),
        "forecast_parameters": "default forecaster (liability_forecast, n_levels=16)"
        if forecaster is None
        else f"forecaster {getattr(forecaster, '__name__', repr(forecaster))}",
        "method_requested": method or "(default)",
        "data_source": red.source,
        "programs_source": getattr(red.programs, "source", ""),
        "booked_total": f"{int(snap['booked_c'].sum()) / 100:.2f}",
        "payments_total": f"{int(pay['amount_c'].sum()) / 100 if len(pay) else 0:.2f}",
        "closing_total": f"{int(rf['closing_c'].sum()) / 100:.2f}",
        "accepted_flags": str(len(flags)),
        "changes_known_at": known_at.isoformat(timespec="microseconds"),
        "changes_in_force": ",".join(str(int(i)) for i in changes["request_id"]) or "(none)",
        "program_versions": "; ".join(
            f"#{int(r.request_id)} {r.kind} {r.program_id} from {r.effective}"
            for r in changes.itertuples()
        )
        or "(program file only)",
    }
    src = Path(str(red.source))
    if src.is_dir():
        for f in sorted(src.iterdir()):
            if f.is_file() and not f.name.endswith((".duckdb", ".wal", ".tmp")):
                audit[f"sha256:{f.name}"] = _file_hash(f)
    prog = Path(str(getattr(red.programs, "source", "")))
    if prog.is_file():
        audit["sha256:programs"] = _file_hash(prog)
    return audit


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


def _terms_in_force(data, programs, path: Path | None, as_of, *, known_at, apply: bool):
    """The data and programs with the workspace's approved requests in force, and which."""
    from rebatelab.workspace.changes import apply_workspace, in_force

    cols = ["request_id", "kind", "program_id", "customers", "effective", "decided_at"]
    if path is None or not path.exists():  # no workspace consulted: the program file's terms
        return data, programs, pd.DataFrame(columns=cols)
    used = in_force(path, as_of, known_at=known_at)
    if apply and len(used):
        data, programs = apply_workspace(data, programs, path, as_of, known_at=known_at)
    return data, programs, used


@dataclass(frozen=True)
class Replay:
    """A closed period recomputed as it was closed (:func:`replay`).

    Attributes
    ----------
    period : str
    known_at : datetime.datetime
        Only change requests decided by then were applied (the close's own time).
    snapshot : DataFrame
        The recomputed per (program, customer) ``accrued, expected, most_likely, booked``.
    recorded : DataFrame
        What the close recorded, same columns.
    differences : DataFrame
        Rows where any amount differs (empty when the close is reproduced to the cent).
    """

    period: str
    known_at: dt.datetime
    snapshot: pd.DataFrame
    recorded: pd.DataFrame
    differences: pd.DataFrame

    @property
    def identical(self) -> bool:
        """True when every recorded amount is reproduced to the cent."""
        return len(self.differences) == 0


def replay(data, programs, period: str, *, workspace=None, forecaster=None) -> Replay:
    """Recompute a closed period's snapshot as it was closed, without writing anything.

    The terms are the program file's with the change requests that were decided by the
    close's recorded time (its audit's ``changes_known_at``) and in force on the period's last
    day; the forecast method and the book are the close's.

    Parameters
    ----------
    data : RebateData
    programs : ProgramSet
    period : str
        A closed ``"YYYY-MM"``.
    workspace : str or Path, optional
        Default ``rebatelab.duckdb`` in the data folder.
    forecaster : callable, optional
        As for :func:`close`.

    Returns
    -------
    Replay

    Raises
    ------
    LedgerError
        The period is not closed in the workspace.
    """
    path = Path(workspace) if workspace is not None else default_workspace(data)
    as_of = period_end(period)
    view = ledger(path, period=period)
    row = view.closes[view.closes["period"].astype(str) == period]
    if not len(row):
        raise LedgerError(f"period {period} is not closed in {path}")
    audit = view.audit if view.audit is not None else pd.DataFrame(columns=["period", "key"])
    audit = audit[audit["period"].astype(str) == period]
    rec = dict(zip(audit["key"], audit["value"], strict=True))
    known = pd.Timestamp(rec.get("changes_known_at") or row["closed_at"].iloc[0])
    book = str(row["book"].iloc[0])
    requested = rec.get("method_requested", "(default)")
    method = None if requested in ("(default)", "") else requested
    data, programs, _ = _terms_in_force(
        data, load_programs(programs), path, as_of, known_at=known, apply=True
    )
    red = reduce(data, programs, as_of)
    snap, _ = _snapshot(red, method=method, book=book, forecaster=forecaster)
    keys = ["program_id", "customer_id"]
    amounts = ["accrued", "expected", "most_likely", "booked"]
    mine = _money(snap)[[*keys, *amounts]]
    recorded = view.snapshot[[*keys, *amounts]].copy()
    m = mine.merge(recorded, on=keys, how="outer", suffixes=("", "_recorded"), indicator=True)
    diff = m["_merge"] != "both"
    for c in amounts:
        diff |= cents(m[c].fillna(0).to_numpy()) != cents(m[f"{c}_recorded"].fillna(0).to_numpy())
    return Replay(
        period,
        known.to_pydatetime(),
        mine,
        recorded.reset_index(drop=True),
        m[diff.to_numpy()].drop(columns="_merge").reset_index(drop=True),
    )


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
