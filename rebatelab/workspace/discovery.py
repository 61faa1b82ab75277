"""Discovery: the programs open to one customer, with what each would pay on the forecast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rebatelab.data.tables import RebateData
from rebatelab.errors import DataValidationError
from rebatelab.programs.terms import load_programs
from rebatelab.workspace.requests import _load
from rebatelab.workspace.store import default_workspace
from rebatelab.workspace.versions import apply_workspace

__all__ = ["discover"]


def discover(
    data: RebateData, programs, customer_id: str, as_of, workspace=None, *, method=None
) -> pd.DataFrame:
    """The programs open to one customer: enrolled in, eligible for, or pending.

    Parameters
    ----------
    data : RebateData
    programs : ProgramSet
        The program file's programs (a path is accepted).
    customer_id : str
    as_of : date-like
        Programs whose period ended before this day are left out.
    workspace : path, optional
        Approved requests in force count, pending ones are listed; default
        ``rebatelab.duckdb`` in the data folder, when it exists.
    method : str, optional
        Forecast method (default: the forecast's default, ``hierarchical``).

    Returns
    -------
    DataFrame
        One row per program: ``program_id, name, status`` (``enrolled``, ``pending``: a
        request waits for approval, ``eligible``: passes the filters but not enrolled),
        ``request_id`` (pending), ``enrollment, start, end, basis`` (to date),
        ``expected_rebate`` [currency] (on the forecast; for an eligible or pending customer,
        what they would likely earn if enrolled; NaN for a program not started yet).
    """
    from rebatelab.engine.stage_one import reduce  # the heavy rooms only when discovering
    from rebatelab.forecasting.projection import forecast
    from rebatelab.review.eligibility import eligible_not_enrolled

    programs = load_programs(programs)
    customer_id = str(customer_id)
    if customer_id not in set(data.customers["customer_id"].astype(str)):
        raise DataValidationError(f"{data.source}: unknown customer {customer_id!r}")
    day = pd.Timestamp(as_of).normalize()
    path = None
    if workspace is not None:
        path = Path(workspace)
    elif not str(getattr(data, "source", "<")).startswith("<"):
        path = default_workspace(data)
    if path is not None:
        data, programs = apply_workspace(data, programs, path, day)
    recorded = _load(path) if path is not None else []
    pending: dict[str, int] = {}
    for r in recorded:
        if r.status == "pending" and customer_id in r.proposal.customers:
            pending.setdefault(r.proposal.program_id, r.request_id)
    open_ = [p for p in programs if p.end >= day.date()]
    running = [p.id for p in open_ if p.start <= day.date()]
    cols = [
        "program_id",
        "name",
        "status",
        "request_id",
        "enrollment",
        "start",
        "end",
        "basis",
        "expected_rebate",
    ]
    found = {}
    if running:
        red = reduce(data, programs.subset(running), day)
        kw = {} if method is None else {"method": method}
        fc = forecast(red, **kw)
        mine = fc[fc["customer_id"].astype(str) == customer_id]
        for row in mine.itertuples(index=False):
            found[str(row.program_id)] = (
                "enrolled",
                float(row.basis_to_date),
                float(row.expected_rebate),
            )
        cand = red.candidates
        if len(cand) and (cand["customer_id"].astype(str) == customer_id).any():
            en = eligible_not_enrolled(red, method=method)
            en = en[en["customer_id"].astype(str) == customer_id]
            for row in en.itertuples(index=False):
                found.setdefault(
                    str(row.program_id), ("eligible", float(row.basis), float(row.expected_rebate))
                )
    for p in open_:
        if p.id in running:
            continue
        en = data.enrollments
        enrolled = bool(
            (
                (en["program_id"].astype(str) == p.id)
                & (en["customer_id"].astype(str) == customer_id)
            )
            .to_numpy(dtype=bool)
            .any()
        ) or customer_id in (p.customers_only or ())
        if enrolled:
            found[p.id] = ("enrolled", np.nan, np.nan)
    rows = []
    for p in open_:
        status, basis, expected = found.get(p.id, (None, np.nan, np.nan))
        if p.id in pending and status != "enrolled":
            status = "pending"
        if status is None:
            continue
        rows.append(
            {
                "program_id": p.id,
                "name": p.name or p.id,
                "status": status,
                "request_id": pending.get(p.id) if status == "pending" else None,
                "enrollment": "variant" if p.variant_of else p.enrollment,
                "start": p.start,
                "end": p.end,
                "basis": basis,
                "expected_rebate": expected,
            }
        )
    out = pd.DataFrame(rows, columns=cols)
    out["request_id"] = out["request_id"].astype("Int64")
    return out
