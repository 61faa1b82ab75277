"""Program versions and the terms in force: what the approved change requests make accrue.

- :func:`apply_workspace` gives the data and programs with the approved requests in force at
  a date: only approved terms accrue. Every caller that accrues, forecasts, reviews or
  closes applies it first.
- :func:`in_force` lists the approved requests a close used.
- :func:`versions` and :func:`diff` show the recorded program versions field by field.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from rebatelab.data.tables import RebateData
from rebatelab.programs.changes import _in_force, diff_terms, effective_terms
from rebatelab.programs.terms import ProgramSet, load_programs
from rebatelab.workspace.requests import _load, _open, _workspace

__all__ = ["versions", "diff", "apply_workspace", "in_force"]


def versions(workspace, program: str | None = None) -> pd.DataFrame:
    """The recorded program versions: ``program_id, version, effective, request_id, terms``.

    Version 1 of a changed program is its program-file terms; each approved change adds one.
    A variant's first version is its approved terms. ``terms`` are JSON text.
    """
    cols = ["program_id", "version", "effective", "request_id", "recorded_at", "terms"]
    path = Path(workspace)
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    con = _open(path, read_only=True)
    try:
        names = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        if "program_versions" not in names:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        where, args = ("WHERE program_id = ?", [program]) if program is not None else ("", [])
        return con.execute(
            f"SELECT {', '.join(cols)} FROM program_versions {where} ORDER BY program_id, version",
            args,
        ).fetchdf()
    finally:
        con.close()


def diff(workspace, program: str) -> pd.DataFrame:
    """Field-by-field changes between consecutive versions of ``program``.

    Returns
    -------
    DataFrame
        ``program_id, from_version, to_version, effective, request_id, field, before, after``
        (values as JSON text), one row per changed field (:func:`diff_terms`); a changed
        program's version 1 (the program file's terms) is the reference; a variant's first
        version is compared with nothing (every field ``before`` empty).
    """
    v = versions(workspace, program)
    cols = [
        "program_id",
        "from_version",
        "to_version",
        "effective",
        "request_id",
        "field",
        "before",
        "after",
    ]
    parts = []
    prev = {}
    for row in v.itertuples(index=False):  # one per version
        terms = json.loads(row.terms)
        if pd.isna(row.request_id):  # version 1 of a changed program: the program file's terms
            prev = terms
            continue
        d = diff_terms(prev, terms)
        d.insert(0, "request_id", row.request_id)
        d.insert(0, "effective", row.effective)
        d.insert(0, "to_version", int(row.version))
        d.insert(0, "from_version", int(row.version) - 1)
        d.insert(0, "program_id", row.program_id)
        parts.append(d)
        prev = terms
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.concat(parts, ignore_index=True)[cols]


def apply_workspace(
    data: RebateData, programs: ProgramSet, workspace, as_of, *, known_at=None
) -> tuple[RebateData, ProgramSet]:
    """The data and programs with the approved requests in force on ``as_of``.

    Parameters
    ----------
    data : RebateData
    programs : ProgramSet
        The program file's programs (a path is accepted).
    workspace : path or None
        The workspace file; None: ``rebatelab.duckdb`` in the data folder. A workspace that
        does not exist (or has no requests) changes nothing.
    as_of : date-like
        The as-of day: requests effective after it are not in force.
    known_at : datetime-like, optional
        Only decisions taken by then (to re-run an earlier close as it was).

    Returns
    -------
    data : RebateData
        ``data`` itself when no enrollment is in force, else a copy with the approved
        enrollments added (``enrolled_on`` = the effective day).
    programs : ProgramSet
        ``programs`` itself when no variant or version is in force, else the terms in force.
        Pending, rejected and refused requests never count.
    """
    programs = load_programs(programs)
    path = _workspace(data, workspace)
    recorded = _load(path)
    new_programs, en = effective_terms(
        programs, data.enrollments, recorded, as_of, known_at=known_at
    )
    if en is not data.enrollments:
        data = dataclasses.replace(data, enrollments=en, cache={})
    return data, new_programs


def in_force(workspace, as_of, *, known_at=None) -> pd.DataFrame:
    """The approved requests in force on ``as_of``: what a close should record it used.

    Parameters
    ----------
    workspace : path
    as_of : date-like
    known_at : datetime-like, optional
        Only decisions taken by then.

    Returns
    -------
    DataFrame
        ``request_id, kind, program_id`` (the variant's id for a variant), ``customers``
        (comma-separated), ``effective, decided_at`` in the order they apply; with
        :func:`apply_workspace` and the same ``known_at`` it reproduces the terms.
    """
    rows = [
        {
            "request_id": r.request_id,
            "kind": r.proposal.kind,
            "program_id": r.proposal.variant_id or r.proposal.program_id,
            "customers": ", ".join(r.proposal.customers),
            "effective": r.proposal.effective,
            "decided_at": r.decided_at,
        }
        for r in _in_force(_load(Path(workspace)), as_of, known_at)
    ]
    cols = ["request_id", "kind", "program_id", "customers", "effective", "decided_at"]
    return pd.DataFrame(rows, columns=cols)
