"""Governed changes to the terms: change requests, their checks, and the terms in force.

A rep proposes one of three kinds of change (a :class:`Proposal`):

- ``"enrollment"``: customer X into enrollment-required program P from date D (lines before D
  do not count, as with the enrollments table's ``enrolled_on``);
- ``"variant"``: a negotiated variant of P for some customers (tiers, rates, cap...), checked
  against P's guardrails with the program file's own messages;
- ``"change"``: new terms for P. A program not yet active (its start after the day of the
  request) may be edited in place (the new terms replace the old from its start); an active
  one cannot: the change becomes a new *version* of P, in force from an effective date.

This module is pure logic (no workspace, no data folder): :func:`check_proposal` checks a
proposal against the program file and the enrollments; :func:`effective_terms` applies the
approved requests in force at a date. Storing requests and decisions is the job of
:mod:`rebatelab.workspace.changes`.

The terms in force on the as-of day settle the whole measurement period: a version that
takes effect on 1 July changes the rebate of the period (a back-dated approval shows up as
a catch-up in the next close, never as a rewrite of an earlier close, which keeps its
figures because it is re-run with the requests decided by then: ``known_at``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rebatelab.errors import LedgerError
from rebatelab.programs.terms import Program, ProgramSet, _build

__all__ = [
    "KINDS",
    "ChangeRequestError",
    "Proposal",
    "Checked",
    "ChangeRequest",
    "check_proposal",
    "effective_terms",
    "program_terms",
    "diff_terms",
]


#: The kinds of change a rep may propose.
KINDS = ("enrollment", "variant", "change")

#: Fields a change may never set: they identify the program or its family.
_FIXED = ("id", "variant_of")

#: Fields a variant inherits from its parent and may not set itself.
_INHERITED = ("start", "end", "guardrails", "approval", "enrollment", "pool")


class ChangeRequestError(LedgerError):
    """A change request or a decision on one was refused (not a guardrail: see the message)."""


def _date(value, what: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        raise ChangeRequestError(f"{what}: not a date (YYYY-MM-DD): {value!r}") from None


@dataclass(frozen=True)
class Proposal:
    """What a rep proposes.

    Attributes
    ----------
    kind : {"enrollment", "variant", "change"}
    program_id : str
        The program enrolled into, the parent of the variant, or the program changed.
    customers : tuple of str
        The customer enrolled (exactly one), or the variant's customers; empty for a change.
    effective : datetime.date, optional
        First day the change is in force. Default: the program's start (for a change: in
        place, refused on an active program).
    terms : dict
        Program-file fields: the variant's own terms (``tiers``, ``cap``, ``name``...), the
        fields a change sets, or ``{"baseline": x}`` [basis unit] for an enrollment.
    variant_id : str, optional
        Id of the new variant (default ``"<program>-<customer>[-...]"``).
    reason : str
        Why: recorded with the request.
    """

    kind: str
    program_id: str
    customers: tuple[str, ...] = ()
    effective: dt.date | None = None
    terms: Mapping = field(default_factory=dict)
    variant_id: str | None = None
    reason: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ChangeRequestError(f"kind must be one of {list(KINDS)}, got {self.kind!r}")
        custs = self.customers
        if isinstance(custs, str):
            custs = (custs,)
        object.__setattr__(self, "customers", tuple(str(c).strip() for c in custs))
        object.__setattr__(self, "program_id", str(self.program_id).strip())
        object.__setattr__(self, "effective", _date(self.effective, "effective"))
        if not isinstance(self.terms, Mapping):
            raise ChangeRequestError("terms: must be a mapping of program-file fields")
        object.__setattr__(self, "terms", dict(self.terms))

    @classmethod
    def enrollment(cls, program_id, customer_id, *, effective=None, reason="", baseline=None):
        """Enroll ``customer_id`` in ``program_id`` from ``effective`` (default its start)."""
        terms = {} if baseline is None else {"baseline": float(baseline)}
        return cls("enrollment", program_id, (customer_id,), effective, terms, None, reason)

    @classmethod
    def variant(cls, program_id, customers, *, terms, effective=None, variant_id=None, reason=""):
        """A negotiated variant of ``program_id`` for ``customers`` with its own ``terms``."""
        return cls("variant", program_id, customers, effective, terms, variant_id, reason)

    @classmethod
    def change(cls, program_id, *, terms, effective=None, reason=""):
        """New ``terms`` for ``program_id``, in force from ``effective`` (a new version)."""
        return cls("change", program_id, (), effective, terms, None, reason)


@dataclass(frozen=True)
class Checked:
    """A proposal that passed the checks, with what it would put in force.

    Attributes
    ----------
    proposal : Proposal
        Normalised: ``effective`` set, ``variant_id`` set for a variant.
    base : dict or None
        The program's terms before the change (program-file fields), for a change.
    terms : dict or None
        The new program's or version's whole terms, for a variant or a change.
    """

    proposal: Proposal
    base: dict | None = None
    terms: dict | None = None


@dataclass(frozen=True)
class ChangeRequest:
    """A recorded request and where it stands.

    Attributes
    ----------
    request_id : int
    proposal : Proposal
    proposed_by : str
    proposed_at : datetime.datetime
    status : {"pending", "approved", "rejected", "refused"}
    check : str
        ``"ok"`` or the message of the check it failed.
    decided_by, decided_at, decision_reason
        The decision (None while pending).
    """

    request_id: int
    proposal: Proposal
    proposed_by: str
    proposed_at: dt.datetime
    status: str = "pending"
    check: str = "ok"
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    decision_reason: str | None = None


def program_terms(program: Program) -> dict:
    """A program's terms as program-file fields (JSON types: dates as ISO strings).

    Examples
    --------
    >>> p = Program(id="X", start="2026-01-01", end="2026-12-31", tiers=[{"from": 0, "rate": 0.01}])
    >>> program_terms(p)["tiers"], program_terms(p)["start"]
    ([{'from': 0.0, 'rate': 0.01}], '2026-01-01')
    """
    d = program.model_dump(mode="json", by_alias=True, exclude_none=True)
    d["tiers"] = [
        t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in program.tiers
    ]
    return d


def _raws(programs: ProgramSet) -> dict[str, dict]:
    return {p.id: program_terms(p) for p in programs}


def _rebuild(programs: ProgramSet, raws: dict[str, dict]) -> ProgramSet:
    built = _build(list(raws.values()), source=programs.source)
    return ProgramSet(list(built), source=programs.source, known_ids=programs.known_ids)


def _enrolled(enrollments: pd.DataFrame, program_id: str, customer_id: str) -> bool:
    if enrollments is None or not len(enrollments):
        return False
    m = (enrollments["program_id"].astype(str) == program_id) & (
        enrollments["customer_id"].astype(str) == customer_id
    )
    return bool(m.to_numpy(dtype=bool).any())


def _in_period(p: Program, day: dt.date, what: str) -> None:
    if not (p.start <= day <= p.end):
        raise ChangeRequestError(
            f"{what}: {day} is outside program {p.id}'s period {p.start} .. {p.end}"
        )


def check_proposal(
    programs: ProgramSet, enrollments: pd.DataFrame, proposal: Proposal, *, today
) -> Checked:
    """Check a proposal against the program file's rules, its guardrails and the enrollments.

    Parameters
    ----------
    programs : ProgramSet
        The terms in force (the file's plus the approved requests).
    enrollments : DataFrame
        ``program_id, customer_id`` (and ``enrolled_on``) in force.
    proposal : Proposal
    today : date-like
        The day of the request: a program whose start is on or before it is active.

    Returns
    -------
    Checked

    Raises
    ------
    ProgramFileError
        Terms the program file itself would refuse (unknown key, thresholds not ascending,
        a rate above 1...) or a variant breaking its parent's guardrails: the program file's
        messages, naming the program, the field and the rule.
    ChangeRequestError
        Unknown program, a program that has ended, enrolling in an automatic program or a
        customer already enrolled, an effective date outside the period, editing an active
        program in place, a field a change may not set, a customer already in a variant.
    """
    today = _date(today, "today")
    pid = proposal.program_id
    if pid not in programs:
        raise ChangeRequestError(f"unknown program {pid!r}; known: {programs.ids[:10]}")
    p = programs[pid]
    if p.end < today:
        raise ChangeRequestError(f"program {pid} ended on {p.end}: its terms are closed")
    eff = proposal.effective
    if proposal.kind == "enrollment":
        if len(proposal.customers) != 1:
            raise ChangeRequestError("an enrollment names exactly one customer")
        (cust,) = proposal.customers
        if p.variant_of is not None:
            raise ChangeRequestError(
                f"program {pid} is a variant of {p.variant_of}: its customers are its "
                "customers_only list; propose a variant instead"
            )
        if p.enrollment == "automatic":
            raise ChangeRequestError(
                f"program {pid} has enrollment: automatic: every eligible customer already counts"
            )
        if _enrolled(enrollments, pid, cust):
            raise ChangeRequestError(f"customer {cust} is already enrolled in program {pid}")
        unknown = set(proposal.terms) - {"baseline"}
        if unknown:
            raise ChangeRequestError(f"an enrollment sets only 'baseline', not {sorted(unknown)}")
        eff = p.start if eff is None else eff
        _in_period(p, eff, "effective")
        return Checked(_replace(proposal, effective=eff))
    raws = _raws(programs)
    fixed = [k for k in _FIXED if k in proposal.terms]
    if fixed:
        raise ChangeRequestError(f"terms: a change may not set {fixed}")
    if proposal.kind == "variant":
        if p.variant_of is not None:
            raise ChangeRequestError(
                f"program {pid} is itself a variant of {p.variant_of}: propose a variant of "
                f"{p.variant_of}"
            )
        if not proposal.customers:
            raise ChangeRequestError("a variant names at least one customer")
        bad = [k for k in (*_INHERITED, "customers_only") if k in proposal.terms]
        if bad:
            raise ChangeRequestError(f"terms: a variant inherits {bad} from {pid}")
        taken = {c: v.id for v in programs.variants_of(pid) for c in v.customers_only or ()}
        clash = [c for c in proposal.customers if c in taken]
        if clash:
            raise ChangeRequestError(
                f"customer {clash[0]} already has variant {taken[clash[0]]} of {pid}"
            )
        vid = proposal.variant_id or "-".join([pid, *proposal.customers])
        if vid in raws:
            raise ChangeRequestError(f"variant id {vid!r} is already a program id")
        raw = {
            "id": vid,
            "name": f"{p.name or pid}, negotiated for {', '.join(proposal.customers)}",
            **proposal.terms,
            "variant_of": pid,
            "customers_only": list(proposal.customers),
        }
        eff = p.start if eff is None else eff
        _in_period(p, eff, "effective")
        new = _rebuild(programs, {**raws, vid: raw})[vid]
        return Checked(_replace(proposal, effective=eff, variant_id=vid), None, program_terms(new))
    # a change of the program's own terms
    active = p.start <= today
    if eff is None:
        if active:
            raise ChangeRequestError(
                f"program {pid} is active (it started on {p.start}): it cannot be edited in "
                "place; give an effective date to propose a new version"
            )
        eff = p.start
    _in_period(p, eff, "effective")
    if active and "start" in proposal.terms:
        raise ChangeRequestError(f"program {pid} is active: its start cannot move")
    if not proposal.terms:
        raise ChangeRequestError("terms: a change sets at least one field")
    base = raws[pid]
    new = _rebuild(programs, {**raws, pid: {**base, **proposal.terms}})[pid]
    return Checked(_replace(proposal, effective=eff), base, program_terms(new))


def _replace(proposal: Proposal, **changes) -> Proposal:
    d = {
        "kind": proposal.kind,
        "program_id": proposal.program_id,
        "customers": proposal.customers,
        "effective": proposal.effective,
        "terms": proposal.terms,
        "variant_id": proposal.variant_id,
        "reason": proposal.reason,
    }
    return Proposal(**{**d, **changes})


def _in_force(approved, as_of, known_at) -> list[ChangeRequest]:
    as_of = _date(as_of, "as_of")
    known_at = None if known_at is None else pd.Timestamp(known_at).to_pydatetime()
    rows = []
    for r in approved:
        if r.status != "approved":
            continue
        if as_of is not None and r.proposal.effective > as_of:
            continue
        if known_at is not None and (r.decided_at is None or r.decided_at > known_at):
            continue
        rows.append(r)
    # versions stack in the order they take effect; ties in the order they were decided
    return sorted(
        rows, key=lambda r: (r.proposal.effective, r.decided_at or dt.datetime.min, r.request_id)
    )


def effective_terms(
    programs: ProgramSet,
    enrollments: pd.DataFrame,
    approved: Iterable[ChangeRequest],
    as_of,
    *,
    known_at=None,
) -> tuple[ProgramSet, pd.DataFrame]:
    """The programs and enrollments in force on ``as_of``: the file's plus approved requests.

    Parameters
    ----------
    programs : ProgramSet
        The program file's programs.
    enrollments : DataFrame
        The data folder's enrollments (``program_id, customer_id, enrolled_on, baseline``).
    approved : iterable of ChangeRequest
        Recorded requests; only those with status ``"approved"`` count.
    as_of : date-like or None
        Requests whose ``effective`` day is after it are not in force yet (None: all are).
    known_at : datetime-like, optional
        Only requests decided by then (re-running an earlier close with what was known).

    Returns
    -------
    programs : ProgramSet
        The same object when no variant or change is in force; else the file's programs with
        the versions in force (each change merged onto the terms before it, in the order they
        take effect) and the approved variants appended.
    enrollments : DataFrame
        The same object when no enrollment is in force; else with a row per approved
        enrollment (``enrolled_on`` = its effective day) not already in the file.

    Raises
    ------
    ProgramFileError
        When the resulting set is not valid (e.g. the file changed under an approved variant).

    Examples
    --------
    >>> ps = ProgramSet.from_programs([{"id": "P", "start": "2026-01-01", "end": "2026-12-31",
    ...                                 "tiers": [{"from": 0, "rate": 0.01}]}])
    >>> en = pd.DataFrame({"program_id": ["P"], "customer_id": ["C1"]})
    >>> r = ChangeRequest(1, Proposal.enrollment("P", "C2", effective="2026-07-01"), "ann",
    ...                   dt.datetime(2026, 6, 1), status="approved",
    ...                   decided_at=dt.datetime(2026, 6, 2))
    >>> [len(effective_terms(ps, en, [r], day)[1]) for day in ("2026-06-30", "2026-07-01")]
    [1, 2]
    """
    rows = _in_force(approved, as_of, known_at)
    new_en = [r for r in rows if r.proposal.kind == "enrollment"]
    terms = [r for r in rows if r.proposal.kind != "enrollment"]
    if terms:
        raws = _raws(programs)
        for r in terms:
            pr = r.proposal
            if pr.kind == "variant" and pr.variant_id is not None:
                parent = raws.get(pr.program_id)
                name = f"{(parent or {}).get('name') or pr.program_id}, negotiated for " + (
                    ", ".join(pr.customers)
                )
                raws[pr.variant_id] = {
                    "id": pr.variant_id,
                    "name": name,
                    **pr.terms,
                    "variant_of": pr.program_id,
                    "customers_only": list(pr.customers),
                }
            elif pr.program_id in raws:
                raws[pr.program_id] = {**raws[pr.program_id], **pr.terms}
        programs = _rebuild(programs, raws)
        programs = ProgramSet(
            list(programs),
            source=programs.source,
            known_ids=programs.known_ids
            | {r.proposal.variant_id for r in terms if r.proposal.variant_id},
        )
    if new_en:
        en = enrollments
        keep, seen = [], set()
        for r in new_en:  # the first in force wins; the file's own rows win over requests
            key = (r.proposal.program_id, r.proposal.customers[0])
            if key not in seen and not _enrolled(en, *key):
                keep.append(r)
            seen.add(key)
        if keep:
            add = pd.DataFrame(
                {
                    "program_id": pd.array([r.proposal.program_id for r in keep], dtype="string"),
                    "customer_id": pd.array(
                        [r.proposal.customers[0] for r in keep], dtype="string"
                    ),
                    "enrolled_on": pd.to_datetime([r.proposal.effective for r in keep]).astype(
                        "datetime64[ns]"
                    ),
                    "baseline": np.array(
                        [r.proposal.terms.get("baseline", np.nan) for r in keep], dtype=float
                    ),
                }
            )
            base = en.copy()
            for c in ("enrolled_on", "baseline"):
                if c not in base.columns:
                    base[c] = add[c].iloc[:0].reindex(base.index)
            add = add[[c for c in base.columns if c in add.columns]]
            enrollments = pd.concat([base, add], ignore_index=True)
            for c, dtype in base.dtypes.items():
                if c in add.columns:
                    enrollments[c] = enrollments[c].astype(dtype)
    return programs, enrollments


def _flat(value, prefix: str, out: dict) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flat(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value, start=1):
            _flat(v, f"{prefix}[{i}]", out)
    else:
        out[prefix] = value


def diff_terms(before: Mapping, after: Mapping) -> pd.DataFrame:
    """Field-by-field differences between two sets of program-file terms.

    Parameters
    ----------
    before, after : mapping
        Program-file fields (as :func:`program_terms` returns them).

    Returns
    -------
    DataFrame
        ``field, before, after`` (values as JSON text; empty where a field is absent), one row
        per changed leaf field (``tiers[2].rate``), in the order of ``after`` then ``before``.

    Examples
    --------
    >>> diff_terms({"cap": 620.0, "tiers": [{"from": 0, "rate": 0.02}]},
    ...            {"cap": 700.0, "tiers": [{"from": 0, "rate": 0.02}]}).to_dict("records")
    [{'field': 'cap', 'before': '620.0', 'after': '700.0'}]
    """
    a: dict[str, object] = {}
    b: dict[str, object] = {}
    _flat(dict(before), "", a)
    _flat(dict(after), "", b)
    keys = list(dict.fromkeys([*b, *a]))
    rows = [
        {
            "field": k,
            "before": "" if k not in a else json.dumps(a[k]),
            "after": "" if k not in b else json.dumps(b[k]),
        }
        for k in keys
        if a.get(k, _MISSING) != b.get(k, _MISSING)
    ]
    return pd.DataFrame(rows, columns=["field", "before", "after"])


_MISSING = object()
