"""Change requests and decisions in the workspace: propose, approve, reject, history.

Change requests (:class:`~rebatelab.programs.changes.Proposal`) and the decisions on them are
stored in the same DuckDB workspace file as the ledger, in their own tables
(``change_requests``, ``change_decisions``, ``program_versions``), append-only: a decision is
a new row, nothing is updated or deleted. Each write is one transaction.

- :func:`propose` checks a proposal against the terms in force (the program file plus the
  approved requests) and records who, when, why, the proposed terms and the check's result.
  A proposal that breaks a rule or a guardrail is recorded as ``refused`` and the error is
  raised with the rule it breaks. A program with ``approval: {required: false}`` approves a
  proposal that passes the checks at once.
- :func:`approve` / :func:`reject` record a decision with its reason. The proposer cannot
  decide on their own request; a program's ``approval: {approvers: [...]}`` restricts who
  may. Approving a variant or a change records a new program version
  (:mod:`rebatelab.workspace.versions` reads them).
- :func:`requests` and :func:`history` list every request and decision in order.

Identity: there is no login. The user name is what the caller says (``--user``, or the
environment's ``REBATELAB_USER`` / ``USER``); it is recorded and the separation of proposer
and approver is enforced on it. This is an audit trail, not access control: a deployment
would add authentication and a roles table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from rebatelab.data.tables import RebateData
from rebatelab.errors import DataValidationError, LedgerError, ParameterError, ProgramFileError
from rebatelab.programs.changes import (
    ChangeRequest,
    ChangeRequestError,
    Proposal,
    check_proposal,
    effective_terms,
)
from rebatelab.programs.terms import ProgramSet, load_programs
from rebatelab.workspace.store import _connect, default_workspace

__all__ = [
    "propose",
    "approve",
    "reject",
    "history",
    "requests",
    "check",
    "current_user",
    "SYSTEM",
]


_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS change_requests (
        request_id INTEGER PRIMARY KEY, kind VARCHAR NOT NULL, program_id VARCHAR NOT NULL,
        customers VARCHAR NOT NULL, effective DATE, terms VARCHAR NOT NULL,
        variant_id VARCHAR, reason VARCHAR NOT NULL, proposed_by VARCHAR NOT NULL,
        proposed_at TIMESTAMP NOT NULL, check_result VARCHAR NOT NULL,
        approval_required BOOLEAN NOT NULL, approvers VARCHAR, programs_source VARCHAR,
        base_terms VARCHAR, new_terms VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS change_decisions (
        request_id INTEGER PRIMARY KEY, decision VARCHAR NOT NULL,
        decided_by VARCHAR NOT NULL, decided_at TIMESTAMP NOT NULL, reason VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS program_versions (
        program_id VARCHAR NOT NULL, version INTEGER NOT NULL, effective DATE NOT NULL,
        request_id INTEGER, terms VARCHAR NOT NULL, recorded_at TIMESTAMP NOT NULL,
        PRIMARY KEY (program_id, version))""",
]

#: Who records automatic decisions (checks failed, or no approval required).
SYSTEM = "(rebatelab)"


def current_user(user: str | None = None) -> str:
    """The user name: ``user``, else ``$REBATELAB_USER``, else ``$USER``.

    Raises
    ------
    ParameterError
        When none is set (or it is blank).
    """
    name = user if user is not None else os.environ.get("REBATELAB_USER") or os.environ.get("USER")
    name = (name or "").strip()
    if not name:
        raise ParameterError("no user name: pass --user NAME (or set REBATELAB_USER)")
    return name


def _now(now) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return pd.Timestamp(now).to_pydatetime().replace(tzinfo=None)


def _reason(reason) -> str:
    text = (reason or "").strip()
    if not text:
        raise ParameterError("give a reason (--reason TEXT): it is recorded with the request")
    return text


def _workspace(data, workspace) -> Path:
    return Path(workspace) if workspace is not None else default_workspace(data)


def _open(path: Path, *, read_only: bool = False):
    con = _connect(path, read_only=read_only)
    if not read_only:
        for ddl in _SCHEMA:
            con.execute(ddl)
    return con


def _has_tables(con) -> bool:
    names = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    return "change_requests" in names


_REQUEST_SQL = """
    SELECT r.*, d.decision, d.decided_by, d.decided_at, d.reason AS decision_reason
    FROM change_requests r LEFT JOIN change_decisions d USING (request_id)
    ORDER BY r.request_id"""


def _frame(con) -> pd.DataFrame:
    return con.execute(_REQUEST_SQL).fetchdf()


def _records(df: pd.DataFrame) -> list[ChangeRequest]:
    out = []
    for r in df.itertuples(index=False):  # one object per recorded request (a handful)
        eff = None if pd.isna(r.effective) else pd.Timestamp(r.effective).date()
        prop = Proposal(
            r.kind,
            r.program_id,
            tuple(json.loads(r.customers)),
            eff,
            json.loads(r.terms),
            None if pd.isna(r.variant_id) else r.variant_id,
            r.reason,
        )
        decided = None if pd.isna(r.decided_at) else pd.Timestamp(r.decided_at).to_pydatetime()
        out.append(
            ChangeRequest(
                int(r.request_id),
                prop,
                r.proposed_by,
                pd.Timestamp(r.proposed_at).to_pydatetime(),
                status="pending" if pd.isna(r.decision) else r.decision,
                check=r.check_result,
                decided_by=None if pd.isna(r.decided_by) else r.decided_by,
                decided_at=decided,
                decision_reason=None if pd.isna(r.decision_reason) else r.decision_reason,
            )
        )
    return out


def _load(path: Path) -> list[ChangeRequest]:
    """Every recorded request ([] when the workspace or its tables do not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    con = _open(path, read_only=True)
    try:
        if not _has_tables(con):
            return []
        return _records(con.execute(_REQUEST_SQL).fetchdf())
    finally:
        con.close()


def _transaction(path: Path, write):
    con = _open(path)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            out = write(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return out
    finally:
        con.close()


def _decide(con, request_id: int, decision: str, user: str, at: dt.datetime, reason: str) -> None:
    con.execute(
        "INSERT INTO change_decisions VALUES (?, ?, ?, ?, ?)",
        [request_id, decision, user, at, reason],
    )


def _record_version(con, request_id: int, at: dt.datetime) -> None:
    """A new program version for an approved variant or change (the base first, if new)."""
    kind, pid, vid, eff, base, new = con.execute(
        "SELECT kind, program_id, variant_id, effective, base_terms, new_terms "
        "FROM change_requests WHERE request_id = ?",
        [request_id],
    ).fetchone()
    if kind == "enrollment":
        return
    target = vid if kind == "variant" else pid
    (last,) = con.execute(
        "SELECT max(version) FROM program_versions WHERE program_id = ?", [target]
    ).fetchone()
    if last is None and kind == "change":
        start = json.loads(base)["start"]
        con.execute(
            "INSERT INTO program_versions VALUES (?, 1, ?, NULL, ?, ?)", [target, start, base, at]
        )
        last = 1
    con.execute(
        "INSERT INTO program_versions VALUES (?, ?, ?, ?, ?, ?)",
        [target, (last or 0) + 1, eff, request_id, new, at],
    )


def _check_members(data: RebateData, programs: ProgramSet, enrollments, checked) -> None:
    """The customers exist and pass the program's customer filter (the engine's messages)."""
    from rebatelab.engine.eligibility import members

    prop = checked.proposal
    known = set(data.customers["customer_id"].astype(str))
    unknown = [c for c in prop.customers if c not in known]
    if unknown:
        raise DataValidationError(f"{data.source}: unknown customers {unknown[:5]}")
    rec = ChangeRequest(0, prop, "", dt.datetime.min, status="approved", decided_at=dt.datetime.min)
    trial_programs, trial_en = effective_terms(programs, enrollments, [rec], None)
    trial = dataclasses.replace(data, enrollments=trial_en, cache={})
    members(trial, trial_programs.subset([prop.variant_id or prop.program_id]))


def _check_pending(recorded: list[ChangeRequest], proposal: Proposal) -> None:
    """One pending request at a time per program and customer (per program for a change)."""
    for r in recorded:
        pr = r.proposal
        if (
            r.status != "pending"
            or pr.kind != proposal.kind
            or pr.program_id != proposal.program_id
        ):
            continue
        if proposal.kind == "change" or set(pr.customers) & set(proposal.customers):
            who = "" if proposal.kind == "change" else f" for {', '.join(pr.customers)}"
            raise ChangeRequestError(
                f"request {r.request_id} ({pr.kind} of {pr.program_id}{who}) is still pending: "
                "approve or reject it first"
            )


def _check_order(recorded: list[ChangeRequest], proposal: Proposal) -> None:
    """A program's versions take effect in the order they are numbered."""
    eff = proposal.effective
    if proposal.kind != "change" or eff is None:
        return
    last = [
        r.proposal.effective
        for r in recorded
        if r.status == "approved"
        and r.proposal.kind == "change"
        and r.proposal.program_id == proposal.program_id
        and r.proposal.effective is not None
    ]
    if last and eff < max(last):
        raise ChangeRequestError(
            f"program {proposal.program_id} has a version in force from {max(last)}: a new "
            f"version takes effect on or after it, not from {eff}"
        )


def _checks(data, programs, recorded, proposal, today):
    """(error or None, Checked or None): every check a proposal passes before it is pending."""
    in_force, en = effective_terms(programs, data.enrollments, recorded, None)
    error, checked = None, None
    try:
        _check_pending(recorded, proposal)
        checked = check_proposal(in_force, en, proposal, today=today)
        _check_order(recorded, checked.proposal)
        _check_members(data, in_force, en, checked)
    except (ProgramFileError, ChangeRequestError, DataValidationError) as exc:
        error = exc
    return error, checked


def check(data: RebateData, programs, proposal: Proposal, *, workspace=None, now=None) -> str:
    """What :func:`propose` would decide, without recording anything.

    Parameters
    ----------
    data : RebateData
    programs : ProgramSet
        The program file's programs (a path is accepted).
    proposal : Proposal
    workspace : path, optional
        The workspace file (default ``rebatelab.duckdb`` in the data folder); the approved
        and pending requests it holds count, as they would for :func:`propose`.
    now : datetime-like, optional
        When (default: the clock, UTC).

    Returns
    -------
    str
        ``"ok"``, or the message of the rule or guardrail the proposal breaks.
    """
    programs = load_programs(programs)
    if proposal.program_id not in programs:
        return f"unknown program {proposal.program_id!r}; known: {programs.ids[:10]}"
    error, _ = _checks(
        data, programs, _load(_workspace(data, workspace)), proposal, _now(now).date()
    )
    return "ok" if error is None else str(error)


def propose(
    data: RebateData,
    programs: ProgramSet,
    proposal: Proposal,
    *,
    user: str | None = None,
    workspace=None,
    now=None,
) -> ChangeRequest:
    """Record a change request, checked against the terms in force.

    Parameters
    ----------
    data : RebateData
        The data folder (its customers and enrollments; its folder locates the workspace).
    programs : ProgramSet
        The program file's programs (a path is accepted).
    proposal : Proposal
        :meth:`Proposal.enrollment`, :meth:`Proposal.variant` or :meth:`Proposal.change`,
        with its ``reason``.
    user : str, optional
        Who proposes (default :func:`current_user`).
    workspace : path, optional
        The workspace file (default ``rebatelab.duckdb`` in the data folder).
    now : datetime-like, optional
        When (default: the clock, UTC). Its day decides whether a program is active.

    Returns
    -------
    ChangeRequest
        Status ``"pending"``, or ``"approved"`` when the program requires no approval.

    Raises
    ------
    ProgramFileError
        The proposed terms break a program-file rule or a guardrail: the request is
        recorded as ``refused`` with this message, then the error is raised.
    ChangeRequestError
        Refused by a rule of the workflow (active program edited in place, already enrolled,
        already pending...): recorded as ``refused`` too. An unknown program is not recorded.
    ParameterError
        No reason or no user name.
    """
    user = current_user(user)
    reason = _reason(proposal.reason)
    programs = load_programs(programs)
    at = _now(now)
    path = _workspace(data, workspace)
    if proposal.program_id not in programs:
        raise ChangeRequestError(
            f"unknown program {proposal.program_id!r}; known: {programs.ids[:10]}"
        )
    rule = programs[programs[proposal.program_id].variant_of or proposal.program_id].approval

    def write(con):
        recorded = _records(_frame(con))
        error, checked = _checks(data, programs, recorded, proposal, at.date())
        prop = checked.proposal if checked is not None else proposal
        (last,) = con.execute("SELECT max(request_id) FROM change_requests").fetchone()
        rid = int(last or 0) + 1
        con.execute(
            "INSERT INTO change_requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                rid,
                prop.kind,
                prop.program_id,
                json.dumps(list(prop.customers)),
                prop.effective,
                json.dumps(prop.terms),
                prop.variant_id,
                reason,
                user,
                at,
                "ok" if error is None else str(error),
                True if rule is None else bool(rule.required),
                None
                if rule is None or rule.approvers is None
                else json.dumps(list(rule.approvers)),
                programs.source,
                None if checked is None or checked.base is None else json.dumps(checked.base),
                None if checked is None or checked.terms is None else json.dumps(checked.terms),
            ],
        )
        if error is not None:
            _decide(con, rid, "refused", SYSTEM, at, str(error))
        elif rule is not None and not rule.required:
            _decide(con, rid, "approved", SYSTEM, at, "no approval required for this program")
            _record_version(con, rid, at)
        return rid, error

    rid, error = _transaction(path, write)
    if error is not None:
        raise error
    return _one(path, rid)


def _one(path: Path, request_id: int) -> ChangeRequest:
    for r in _load(path):
        if r.request_id == request_id:
            return r
    raise ChangeRequestError(f"{path}: no change request {request_id}")


def _decision(workspace, request_id, decision: str, *, user, reason, now) -> ChangeRequest:
    user = current_user(user)
    reason = _reason(reason)
    at = _now(now)
    path = Path(workspace)
    if not path.exists():
        raise LedgerError(f"no workspace at {path}")
    try:
        request_id = int(request_id)
    except (TypeError, ValueError):
        raise ParameterError(f"request id must be a number, got {request_id!r}") from None

    def write(con):
        byid = {r.request_id: r for r in _records(_frame(con))}
        r = byid.get(request_id)
        if r is None:
            pending = [k for k, v in byid.items() if v.status == "pending"]
            raise ChangeRequestError(
                f"{path}: no change request {request_id}; pending: {pending[:10] or 'none'}"
            )
        if r.status != "pending":
            raise ChangeRequestError(
                f"request {request_id} was already {r.status} by {r.decided_by} on "
                f"{r.decided_at:%Y-%m-%d %H:%M}"
            )
        if user.casefold() == r.proposed_by.casefold():
            raise ChangeRequestError(
                f"request {request_id} was proposed by {user}: a user cannot approve or reject "
                "their own request"
            )
        (approvers,) = con.execute(
            "SELECT approvers FROM change_requests WHERE request_id = ?", [request_id]
        ).fetchone()
        allowed = None if approvers is None else json.loads(approvers)
        if allowed is not None and user.casefold() not in {a.casefold() for a in allowed}:
            raise ChangeRequestError(
                f"program {r.proposal.program_id}'s approvers are {allowed}: {user} may not "
                f"decide on request {request_id}"
            )
        _decide(con, request_id, decision, user, at, reason)
        if decision == "approved":
            _record_version(con, request_id, at)

    _transaction(path, write)
    return _one(path, request_id)


def approve(workspace, request_id: int, *, user=None, reason, now=None) -> ChangeRequest:
    """Approve a pending request: its terms accrue from its effective day.

    Parameters
    ----------
    workspace : path
        The workspace file.
    request_id : int
    user : str, optional
        Who approves (default :func:`current_user`); not the proposer, and one of the
        program's ``approval: approvers`` when it lists them.
    reason : str
        Why (recorded).
    now : datetime-like, optional
        When (default: the clock, UTC).

    Returns
    -------
    ChangeRequest

    Raises
    ------
    ChangeRequestError
        Unknown or already decided request, self-approval, a user not among the approvers.
    """
    return _decision(workspace, request_id, "approved", user=user, reason=reason, now=now)


def reject(workspace, request_id: int, *, user=None, reason, now=None) -> ChangeRequest:
    """Reject a pending request (same rules as :func:`approve`); its terms never accrue."""
    return _decision(workspace, request_id, "rejected", user=user, reason=reason, now=now)


def requests(workspace, *, status: str | None = None) -> list[ChangeRequest]:
    """The recorded requests (optionally only those with ``status``), by request id."""
    out = _load(Path(workspace))
    return [r for r in out if status is None or r.status == status]


_HISTORY_COLUMNS = [
    "seq",
    "at",
    "event",
    "request_id",
    "kind",
    "program_id",
    "customers",
    "effective",
    "user",
    "reason",
    "terms",
    "check",
    "status",
]


def history(workspace, *, program: str | None = None, customer: str | None = None) -> pd.DataFrame:
    """Every request and decision in order, for audit.

    Parameters
    ----------
    workspace : path
    program : str, optional
        Only requests about this program (as parent of a variant, or the variant's id).
    customer : str, optional
        Only requests naming this customer.

    Returns
    -------
    DataFrame
        One row per event (``proposed``, then ``approved`` / ``rejected`` / ``refused``) in
        the order they happened (ties: by request, the proposal first): ``seq, at, event,
        request_id, kind, program_id, customers`` (comma-separated), ``effective, user,
        reason, terms`` (JSON), ``check`` (``ok`` or the rule broken) and the request's
        current ``status``.
    """
    rows = []
    for r in _load(Path(workspace)):
        pr = r.proposal
        if program is not None and program not in (pr.program_id, pr.variant_id):
            continue
        if customer is not None and customer not in pr.customers:
            continue
        common = {
            "request_id": r.request_id,
            "kind": pr.kind,
            "program_id": pr.variant_id or pr.program_id if pr.kind == "variant" else pr.program_id,
            "customers": ", ".join(pr.customers),
            "effective": pr.effective,
            "terms": json.dumps(pr.terms),
            "check": r.check,
            "status": r.status,
        }
        rows.append(
            {
                **common,
                "at": r.proposed_at,
                "event": "proposed",
                "user": r.proposed_by,
                "reason": pr.reason,
                "_order": 0,
            }
        )
        if r.status != "pending":
            rows.append(
                {
                    **common,
                    "at": r.decided_at,
                    "event": r.status,
                    "user": r.decided_by,
                    "reason": r.decision_reason,
                    "_order": 1,
                }
            )
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _HISTORY_COLUMNS})
    df = pd.DataFrame(rows).sort_values(["at", "request_id", "_order"], kind="stable")
    df = df.reset_index(drop=True)
    df["seq"] = np.arange(1, len(df) + 1)
    return df[_HISTORY_COLUMNS]
