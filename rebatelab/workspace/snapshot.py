"""What a close books: the period's last day, the terms in force, the snapshot per contract."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd

from rebatelab.engine.accrual import accrue
from rebatelab.engine.stage_one import Reduction
from rebatelab.errors import LedgerError, ParameterError
from rebatelab.finance.liability import align_forecast, liability_forecast, settle_forecast
from rebatelab.finance.rollforward import contract_cents

__all__ = ["period_end", "BOOKS"]


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
