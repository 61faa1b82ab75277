"""The forecast effect of approving a change request: expected rebate and basis before and after."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd

from rebatelab.data.tables import RebateData
from rebatelab.programs.changes import ChangeRequest, effective_terms
from rebatelab.programs.terms import load_programs
from rebatelab.workspace.requests import _load, _workspace

__all__ = ["approval_effect"]

_COLUMNS = ["terms", "customers", "expected_rebate", "projected_basis"]


def approval_effect(
    data: RebateData, programs, request: ChangeRequest, as_of, *, workspace=None, method=None
) -> pd.DataFrame:
    """The forecast of the affected program and customers without and with a request approved.

    Only the request's program (and its variant) are reduced and forecast, so the effect of
    one request costs one small forecast, not the whole book's.

    Parameters
    ----------
    data : RebateData
    programs : ProgramSet
        The program file's programs (a path is accepted).
    request : ChangeRequest
        A recorded request (:func:`rebatelab.workspace.changes.requests`), usually pending.
    as_of : date-like
        The day of the forecast (the data up to it).
    workspace : path, optional
        The workspace whose approved requests are in force in both cases (default
        ``rebatelab.duckdb`` in the data folder).
    method : str, optional
        Forecast method (default: the forecast's default).

    Returns
    -------
    DataFrame
        Two rows, ``terms`` = ``"before"`` (the approved requests) and ``"after"`` (with this
        one approved too; every approved request counts whatever its effective day): the
        ``customers`` concerned (the request's, or every member for a change),
        ``expected_rebate`` [currency] and ``projected_basis`` (projected mean end-of-period
        basis under the program [basis unit: currency for a sales basis]) summed over them.
    """
    from rebatelab.engine.stage_one import reduce  # heavy rooms only when asked
    from rebatelab.forecasting.projection import forecast

    programs = load_programs(programs)
    prop = request.proposal
    recorded = [r for r in _load(_workspace(data, workspace)) if r.request_id != request.request_id]
    approved = dataclasses.replace(
        request, status="approved", decided_at=dt.datetime.max, decided_by="(what-if)"
    )
    day = pd.Timestamp(as_of).normalize()
    kw = {} if method is None else {"method": method}
    rows = []
    for label, records in (("before", recorded), ("after", [*recorded, approved])):
        progs, en = effective_terms(programs, data.enrollments, records, None)
        ids = [i for i in (prop.program_id, prop.variant_id) if i is not None and i in progs]
        trial = dataclasses.replace(data, enrollments=en, cache={})
        fc = forecast(reduce(trial, progs.subset(ids), day), **kw)
        if prop.customers:
            fc = fc[fc["customer_id"].astype(str).isin(prop.customers)]
        rows.append(
            {
                "terms": label,
                "customers": ", ".join(prop.customers) or f"{fc['customer_id'].nunique()} members",
                "expected_rebate": float(fc["expected_rebate"].sum()),
                "projected_basis": float(fc["projected_mean"].sum()),
            }
        )
    return pd.DataFrame(rows, columns=_COLUMNS)
