"""A closed period recomputed as it was closed, compared with what it recorded."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rebatelab.engine.stage_one import reduce
from rebatelab.errors import LedgerError
from rebatelab.money import cents
from rebatelab.programs.terms import load_programs
from rebatelab.workspace.ledger_view import ledger
from rebatelab.workspace.snapshot import _snapshot, _terms_in_force, period_end
from rebatelab.workspace.store import _money, default_workspace

__all__ = ["replay", "Replay"]


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
