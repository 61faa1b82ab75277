"""Governed changes (issue 14): propose, approve, reject, history; only approved terms accrue.

Amounts are checked against a brute-force sum of the sample's invoice lines and the tier
schedule written out by hand, not against the engine.
"""

from __future__ import annotations

import doctest
import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebatelab import accrue, load_data, load_programs
from rebatelab.cli.main import main
from rebatelab.errors import ParameterError, ProgramFileError
from rebatelab.programs import changes as pure
from rebatelab.programs.changes import (
    ChangeRequest,
    ChangeRequestError,
    Proposal,
    effective_terms,
    program_terms,
)
from rebatelab.programs.terms import ProgramSet
from rebatelab.workspace import changes as ws_changes
from rebatelab.workspace import requests as ws_requests
from rebatelab.workspace.changes import (
    apply_workspace,
    approve,
    diff,
    discover,
    history,
    propose,
    reject,
    versions,
)
from rebatelab.workspace.close import close, ledger
from tests.conftest import SAMPLE

AS_OF = "2026-09-30"
GOLD = "GOLD-2026"  # retroactive: 1,400 -> 2%, 3,600 -> 3%, 9,200 -> 4.5%, cap 620, min 8.4
JUNE = pd.Timestamp("2026-06-20 09:00")


@pytest.fixture(scope="module")
def sample():
    data = load_data(SAMPLE)
    return data, load_programs(SAMPLE / "programs.yaml")


def _candidates(data, programs, n=2):
    """Customers passing GOLD-2026's customer filter, not enrolled, not in a variant."""
    p = programs[GOLD]
    cu = data.customers
    ok = cu["segment"].isin(p.customers["segment"]).to_numpy()
    enrolled = set(data.enrollments.loc[data.enrollments["program_id"] == GOLD, "customer_id"])
    taken = {c for v in programs.variants_of(GOLD) for c in v.customers_only}
    ids = [c for c in cu.loc[ok, "customer_id"] if c not in enrolled and c not in taken]
    basis = {c: _gold_basis(data, c, "2026-07-01", AS_OF) for c in ids[:40]}
    return sorted(basis, key=basis.get, reverse=True)[:n]  # the biggest buyers


_LINES: dict = {}


def _gold_basis(data, customer, first, last) -> float:
    """Brute force: the customer's net sales of eligible products between two days."""
    key = id(data.transactions)
    if key not in _LINES:
        tx = data.transactions.merge(data.products, on="product_id")
        ok = tx["category"].isin(["Fasteners", "Tools", "Electrical"]) & (tx["brand"] != "House")
        _LINES[key] = (data.transactions, tx[ok])
    tx = _LINES[key][1]
    m = (
        (tx["customer_id"] == customer)
        & (tx["date"] >= pd.Timestamp(first))
        & (tx["date"] <= pd.Timestamp(last))
    )
    return float(tx.loc[m, "net_amount"].sum())


def _gold_earned(basis: float, cap: float = 620.0) -> float:
    """GOLD-2026's retroactive schedule written out by hand."""
    rate = 0.045 if basis >= 9200 else 0.03 if basis >= 3600 else 0.02 if basis >= 1400 else 0
    return round(min(rate * basis, cap), 2)


def _row(acc, program, customer):
    return acc[(acc["program_id"] == program) & (acc["customer_id"] == customer)]


def test_docstring_examples():
    assert doctest.testmod(pure, optionflags=doctest.ELLIPSIS).failed == 0


# ---------------------------------------------------------------------------------------------
# refusals
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tiers", "rule"),
    [
        ([{"from": 1400, "rate": 0.06}], "rate 0.06 breaks guardrail max_rate=0.05"),
        (
            [{"from": 1000, "rate": 0.02}],
            "tier 1 threshold 1000 is below guardrail min_from_ratio=0.8 x parent's 1400 = 1120",
        ),
    ],
)
def test_guardrail_refusal_names_the_rule_and_is_recorded(sample, tmp_path, tiers, rule):
    data, programs = sample
    ws = tmp_path / "ws.duckdb"
    prop = Proposal.variant(GOLD, ["C00002"], terms={"tiers": tiers}, reason="competitor")
    with pytest.raises(ProgramFileError, match=rule):
        propose(data, programs, prop, user="rita", workspace=ws, now=JUNE)
    h = history(ws)
    assert list(h["event"]) == ["proposed", "refused"]
    assert (h["status"] == "refused").all() and rule in h["check"].iloc[0]
    # a refused request never accrues
    d2, p2 = apply_workspace(data, programs, ws, AS_OF)
    assert d2 is data and p2 is programs


def test_self_approval_refused_and_approvers_enforced(sample, tmp_path):
    data, programs = sample
    raws = [program_terms(p) for p in programs]
    for r in raws:
        if r["id"] == GOLD:
            r["approval"] = {"approvers": ["max"]}
    governed = ProgramSet.from_programs(raws, source="governed.yaml")
    assert governed[GOLD].approval.approvers == ("max",)
    ws = tmp_path / "ws.duckdb"
    c = _candidates(data, programs, 1)[0]
    req = propose(
        data, governed, Proposal.enrollment(GOLD, c, reason="asked"), user="rita", workspace=ws
    )
    with pytest.raises(ChangeRequestError, match="cannot approve or reject their own request"):
        approve(ws, req.request_id, user="rita", reason="looks good to me")
    with pytest.raises(ChangeRequestError, match="their own request"):
        reject(ws, req.request_id, user=" Rita ", reason="same person, other spelling")
    with pytest.raises(ChangeRequestError, match=r"approvers are \['max'\]: ann may not"):
        approve(ws, req.request_id, user="ann", reason="fine")
    assert requests_status(ws) == ["pending"]
    done = approve(ws, req.request_id, user="max", reason="fine")
    assert (done.status, done.decided_by) == ("approved", "max")
    with pytest.raises(ChangeRequestError, match="already approved by max"):
        reject(ws, req.request_id, user="max", reason="changed my mind")


def requests_status(ws):
    return [r.status for r in ws_changes.requests(ws)]


def test_no_approval_required_is_approved_at_once(sample, tmp_path):
    data, programs = sample
    raws = [program_terms(p) for p in programs]
    for r in raws:
        if r["id"] == GOLD:
            r["approval"] = {"required": False}
    free = ProgramSet.from_programs(raws, source="free.yaml")
    ws = tmp_path / "ws.duckdb"
    c = _candidates(data, programs, 1)[0]
    req = propose(data, free, Proposal.enrollment(GOLD, c, reason="x"), user="rita", workspace=ws)
    assert (req.status, req.decided_by) == ("approved", ws_changes.SYSTEM)


@pytest.mark.parametrize(
    ("proposal", "message"),
    [
        (Proposal.enrollment("STEP-2026", "C00001", reason="x"), "enrollment: automatic"),
        (Proposal.enrollment(GOLD, "C00001", reason="x"), "already enrolled"),
        (Proposal.enrollment("GOLD-2025", "C00002", reason="x"), "ended on 2025-12-31"),
        (
            Proposal.enrollment(GOLD, "C00002", effective="2027-01-05", reason="x"),
            "outside program GOLD-2026's period",
        ),
        (
            Proposal.variant(GOLD, ["C00277"], terms={"cap": 600}, reason="x"),
            "already has variant GOLD-2026-C00277",
        ),
        (Proposal.change(GOLD, terms={"id": "X"}, effective="2026-07-01", reason="x"), "'id'"),
    ],
)
def test_workflow_refusals(sample, tmp_path, proposal, message):
    data, programs = sample
    with pytest.raises(ChangeRequestError, match=message):
        propose(data, programs, proposal, user="rita", workspace=tmp_path / "w.duckdb", now=JUNE)


def test_bad_input_is_not_recorded(sample, tmp_path):
    data, programs = sample
    ws = tmp_path / "w.duckdb"
    with pytest.raises(ChangeRequestError, match="unknown program 'NOPE'"):
        propose(
            data, programs, Proposal.enrollment("NOPE", "C1", reason="x"), user="a", workspace=ws
        )
    with pytest.raises(ParameterError, match="give a reason"):
        propose(data, programs, Proposal.enrollment(GOLD, "C00002"), user="a", workspace=ws)
    with pytest.raises(ChangeRequestError, match="kind must be one of"):
        Proposal("rename", GOLD)
    assert not ws.exists() or len(history(ws)) == 0


def test_customer_failing_the_filter_is_refused(sample, tmp_path):
    data, programs = sample
    inst = data.customers.loc[data.customers["segment"] == "Institutional", "customer_id"].iloc[0]
    with pytest.raises(ProgramFileError, match="fail the program's customer filter"):
        propose(
            data,
            programs,
            Proposal.enrollment(GOLD, inst, reason="x"),
            user="rita",
            workspace=tmp_path / "w.duckdb",
            now=JUNE,
        )


# ---------------------------------------------------------------------------------------------
# only approved terms accrue
# ---------------------------------------------------------------------------------------------
def test_pending_not_accrued_approved_accrued_from_its_effective_date(sample, tmp_path):
    data, programs = sample
    ws = tmp_path / "ws.duckdb"
    c1, c2 = _candidates(data, programs, 2)
    r1 = propose(
        data,
        programs,
        Proposal.enrollment(GOLD, c1, effective="2026-07-01", reason="QBR"),
        user="rita",
        workspace=ws,
        now=JUNE,
    )
    r2 = propose(
        data,
        programs,
        Proposal.enrollment(GOLD, c2, effective="2026-07-01", reason="QBR"),
        user="rita",
        workspace=ws,
        now=JUNE,
    )
    assert (r1.status, r2.status) == ("pending", "pending")
    d, p = apply_workspace(data, programs, ws, AS_OF)
    assert d is data and p is programs  # pending: nothing changes
    assert _row(accrue(d, p, AS_OF), GOLD, c1).empty
    approve(ws, r1.request_id, user="max", reason="fine", now=JUNE + pd.Timedelta(days=1))
    d, p = apply_workspace(data, programs, ws, AS_OF)
    acc = accrue(d, p, AS_OF)
    row = _row(acc, GOLD, c1)
    basis = _gold_basis(data, c1, "2026-07-01", AS_OF)  # lines from the effective date only
    assert basis != _gold_basis(data, c1, "2026-01-01", AS_OF)  # the date matters here
    assert len(row) == 1 and row["basis"].iloc[0] == pytest.approx(basis, abs=0.005)
    assert row["earned"].iloc[0] == pytest.approx(_gold_earned(basis), abs=0.005)
    assert _row(acc, GOLD, c2).empty  # still pending
    # before its effective date it is not in force at all
    d0, _ = apply_workspace(data, programs, ws, "2026-06-30")
    assert d0 is data
    # everyone else accrues exactly as before
    before = accrue(data, programs, AS_OF)
    others = acc[~((acc["program_id"] == GOLD) & (acc["customer_id"] == c1))]
    pd.testing.assert_frame_equal(
        others.reset_index(drop=True), before.reset_index(drop=True), check_dtype=False
    )


def test_overlapping_pending_variants_refused(sample, tmp_path):
    data, programs = sample
    ws = tmp_path / "ws.duckdb"
    c1, c2 = _candidates(data, programs, 2)
    terms = {"cap": 700}
    propose(
        data,
        programs,
        Proposal.variant(GOLD, [c1], terms=terms, reason="x"),
        user="a",
        workspace=ws,
    )
    with pytest.raises(ChangeRequestError, match=f"request 1 \\(variant of {GOLD} for {c1}\\)"):
        propose(
            data,
            programs,
            Proposal.variant(GOLD, [c2, c1], terms=terms, variant_id="V2", reason="x"),
            user="b",
            workspace=ws,
        )


def test_approved_variant_accrues_under_its_terms(sample, tmp_path):
    data, programs = sample
    ws = tmp_path / "ws.duckdb"
    (c,) = _candidates(data, programs, 1)
    tiers = [
        {"from": 1300, "rate": 0.025},
        {"from": 3300, "rate": 0.035},
        {"from": 8000, "rate": 0.05},
    ]
    req = propose(
        data,
        programs,
        Proposal.variant(GOLD, [c], terms={"tiers": tiers, "cap": 900}, reason="3-year deal"),
        user="rita",
        workspace=ws,
        now=JUNE,
    )
    vid = f"{GOLD}-{c}"
    assert req.proposal.variant_id == vid and req.status == "pending"
    approve(ws, req.request_id, user="max", reason="within guardrails", now=JUNE)
    d, p = apply_workspace(data, programs, ws, AS_OF)
    assert vid in p and p[vid].variant_of == GOLD
    acc = accrue(d, p, AS_OF)
    basis = _gold_basis(data, c, "2026-01-01", AS_OF)
    rate = 0.05 if basis >= 8000 else 0.035 if basis >= 3300 else 0.025 if basis >= 1300 else 0
    row = _row(acc, vid, c)
    assert row["basis"].iloc[0] == pytest.approx(basis, abs=0.005)
    assert row["earned"].iloc[0] == pytest.approx(round(min(rate * basis, 900), 2), abs=0.005)
    assert _row(acc, GOLD, c).empty
    v = versions(ws, vid)
    assert list(v["version"]) == [1]


# ---------------------------------------------------------------------------------------------
# versions
# ---------------------------------------------------------------------------------------------
def test_active_program_edited_in_place_refused_new_version_instead(sample, tmp_path):
    data, programs = sample
    ws = tmp_path / "ws.duckdb"
    with pytest.raises(ChangeRequestError, match="cannot be edited in place"):
        propose(
            data,
            programs,
            Proposal.change(GOLD, terms={"cap": 700}, reason="bigger cap"),
            user="rita",
            workspace=ws,
            now=JUNE,
        )
    req = propose(
        data,
        programs,
        Proposal.change(GOLD, terms={"cap": 700}, effective="2026-07-01", reason="bigger cap"),
        user="rita",
        workspace=ws,
        now=JUNE,
    )
    assert req.status == "pending"
    approve(ws, req.request_id, user="max", reason="ok", now=JUNE)
    _, p_june = apply_workspace(data, programs, ws, "2026-06-30")
    _, p_sep = apply_workspace(data, programs, ws, AS_OF)
    assert p_june is programs and programs[GOLD].cap == 620
    assert p_sep[GOLD].cap == 700 and p_sep[GOLD].tiers == programs[GOLD].tiers
    assert list(versions(ws, GOLD)["version"]) == [1, 2]
    d = diff(ws, GOLD)
    assert d[["from_version", "to_version", "field", "before", "after"]].to_dict("records") == [
        {"from_version": 1, "to_version": 2, "field": "cap", "before": "620.0", "after": "700.0"}
    ]
    # a second version stacks on the first
    req2 = propose(
        data,
        programs,
        Proposal.change(GOLD, terms={"min_payout": 10}, effective="2026-08-01", reason="min"),
        user="rita",
        workspace=ws,
        now=JUNE,
    )
    approve(ws, req2.request_id, user="max", reason="ok", now=JUNE)
    _, p_aug = apply_workspace(data, programs, ws, "2026-08-31")
    assert (p_aug[GOLD].cap, p_aug[GOLD].min_payout) == (700, 10)
    assert list(diff(ws, GOLD)["field"]) == ["cap", "min_payout"]
    assert list(diff(ws, GOLD)["to_version"]) == [2, 3]
    # versions take effect in order; one pending change per program at a time
    with pytest.raises(ChangeRequestError, match="version in force from 2026-08-01"):
        propose(
            data,
            programs,
            Proposal.change(GOLD, terms={"cap": 800}, effective="2026-07-15", reason="x"),
            user="rita",
            workspace=ws,
            now=JUNE,
        )
    later = Proposal.change(GOLD, terms={"cap": 800}, effective="2026-09-01", reason="x")
    propose(data, programs, later, user="rita", workspace=ws, now=JUNE)
    with pytest.raises(ChangeRequestError, match="is still pending"):
        propose(data, programs, later, user="sam", workspace=ws, now=JUNE)


def test_program_not_yet_active_edited_in_place():
    ps = ProgramSet.from_programs(
        [
            {
                "id": "Q4",
                "start": "2026-10-01",
                "end": "2026-12-31",
                "tiers": [{"from": 0, "rate": 0.01}],
            }
        ]
    )
    empty = pd.DataFrame({"program_id": [], "customer_id": []})
    checked = pure.check_proposal(
        ps, empty, Proposal.change("Q4", terms={"cap": 50}, reason="x"), today="2026-09-15"
    )
    assert checked.proposal.effective == pd.Timestamp("2026-10-01").date()
    assert checked.terms["cap"] == 50 and "cap" not in checked.base
    with pytest.raises(ChangeRequestError, match="cannot be edited in place"):
        pure.check_proposal(
            ps, empty, Proposal.change("Q4", terms={"cap": 50}, reason="x"), today="2026-10-01"
        )


def test_effective_terms_known_at_and_order():
    ps = ProgramSet.from_programs(
        [
            {
                "id": "P",
                "start": "2026-01-01",
                "end": "2026-12-31",
                "tiers": [{"from": 0, "rate": 0.01}],
            }
        ]
    )
    en = pd.DataFrame({"program_id": ["P"], "customer_id": ["A"]})

    def req(i, terms, eff, decided):
        return ChangeRequest(
            i,
            Proposal.change("P", terms=terms, effective=eff),
            "rita",
            pd.Timestamp("2026-01-01"),
            status="approved",
            decided_at=pd.Timestamp(decided).to_pydatetime(),
        )

    # decided in the opposite order of their effective dates: they stack by effective date
    rs = [
        req(1, {"cap": 5.0}, "2026-08-01", "2026-03-01"),
        req(2, {"cap": 7.0}, "2026-04-01", "2026-05-01"),
    ]
    assert effective_terms(ps, en, rs, "2026-03-31")[0] is ps
    assert effective_terms(ps, en, rs, "2026-05-31")[0]["P"].cap == 7.0
    assert effective_terms(ps, en, rs, "2026-09-30")[0]["P"].cap == 5.0
    # what was known on 2026-04-15: only request 1 had been decided
    assert effective_terms(ps, en, rs, "2026-09-30", known_at="2026-04-15")[0]["P"].cap == 5.0
    assert effective_terms(ps, en, rs, "2026-05-31", known_at="2026-04-15")[0] is ps
    rejected = [dataclass_replace(r, status="rejected") for r in rs]
    assert effective_terms(ps, en, rejected, None)[0] is ps


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C", "D"]),
            st.integers(0, 364),
            st.sampled_from(["approved", "pending", "rejected", "refused"]),
        ),
        max_size=8,
    ),
    st.integers(0, 364),
)
def test_effective_enrollments_property(reqs, as_of_day):
    """Added rows = approved, in force, not in the file; one per customer, the earliest."""
    ps = ProgramSet.from_programs(
        [
            {
                "id": "P",
                "start": "2026-01-01",
                "end": "2026-12-31",
                "tiers": [{"from": 0, "rate": 0.01}],
            }
        ]
    )
    en = pd.DataFrame(
        {
            "program_id": pd.array(["P"], dtype="string"),
            "customer_id": pd.array(["A"], dtype="string"),
            "enrolled_on": pd.to_datetime(["2026-01-01"]),
            "baseline": [np.nan],
        }
    )
    day0 = pd.Timestamp("2026-01-01")
    rs = [
        ChangeRequest(
            i,
            Proposal.enrollment("P", c, effective=day0 + pd.Timedelta(days=d)),
            "rita",
            day0.to_pydatetime(),
            status=status,
            decided_at=(day0 + pd.Timedelta(days=i)).to_pydatetime(),
        )
        for i, (c, d, status) in enumerate(reqs, start=1)
    ]
    as_of = day0 + pd.Timedelta(days=as_of_day)
    programs, out = effective_terms(ps, en, rs, as_of)
    assert programs is ps
    expect = {}
    for c, d, status in sorted(reqs, key=lambda x: x[1]):
        if status == "approved" and d <= as_of_day and c != "A":
            expect.setdefault(c, day0 + pd.Timedelta(days=d))
    got = dict(zip(out["customer_id"].iloc[1:], out["enrolled_on"].iloc[1:], strict=True))
    assert got == expect
    pd.testing.assert_frame_equal(out.iloc[:1], en)
    assert out["customer_id"].dtype == en["customer_id"].dtype


def dataclass_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)


# ---------------------------------------------------------------------------------------------
# history, close
# ---------------------------------------------------------------------------------------------
def test_history_lists_everything_in_order(sample, tmp_path):
    data, programs = sample
    ws = tmp_path / "ws.duckdb"
    c1, c2 = _candidates(data, programs, 2)
    t = [JUNE + pd.Timedelta(hours=h) for h in range(6)]
    a = propose(
        data,
        programs,
        Proposal.enrollment(GOLD, c1, reason="r1"),
        user="rita",
        workspace=ws,
        now=t[0],
    )
    b = propose(
        data,
        programs,
        Proposal.enrollment(GOLD, c2, reason="r2"),
        user="sam",
        workspace=ws,
        now=t[1],
    )
    with pytest.raises(ProgramFileError):
        propose(
            data,
            programs,
            Proposal.variant(GOLD, [c2], terms={"tiers": [{"from": 0, "rate": 0.2}]}, reason="r3"),
            user="sam",
            workspace=ws,
            now=t[2],
        )
    reject(ws, b.request_id, user="rita", reason="no", now=t[3])
    approve(ws, a.request_id, user="sam", reason="yes", now=t[4])
    h = history(ws)
    assert list(zip(h["request_id"], h["event"], h["user"], strict=True)) == [
        (1, "proposed", "rita"),
        (2, "proposed", "sam"),
        (3, "proposed", "sam"),
        (3, "refused", ws_changes.SYSTEM),
        (2, "rejected", "rita"),
        (1, "approved", "sam"),
    ]
    assert list(h["seq"]) == [1, 2, 3, 4, 5, 6]
    assert list(h["reason"])[:2] == ["r1", "r2"]
    assert list(history(ws, customer=c1)["event"]) == ["proposed", "approved"]
    assert len(history(ws, program="STEP-2026")) == 0
    assert set(history(ws, customer=c2)["request_id"]) == {2, 3}


def test_failed_write_leaves_the_workspace_unchanged(sample, tmp_path, monkeypatch):
    data, programs = sample
    ws = tmp_path / "ws.duckdb"
    req = propose(
        data,
        programs,
        Proposal.change(GOLD, terms={"cap": 650}, effective="2026-07-01", reason="x"),
        user="rita",
        workspace=ws,
        now=JUNE,
    )

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ws_requests, "_record_version", boom)
    with pytest.raises(RuntimeError):
        approve(ws, req.request_id, user="max", reason="ok")
    assert requests_status(ws) == ["pending"] and len(versions(ws)) == 0


def test_backdated_approval_is_a_catch_up_in_the_next_close(sample, tmp_path):
    src, programs = sample
    folder = tmp_path / "data"
    shutil.copytree(SAMPLE, folder)
    data = load_data(folder)
    ws = folder / "rebatelab.duckdb"
    (c,) = _candidates(data, programs, 1)
    req = propose(
        data,
        programs,
        Proposal.enrollment(GOLD, c, effective="2026-07-01", reason="late paperwork"),
        user="rita",
        workspace=ws,
        now=JUNE,
    )
    d, p = apply_workspace(data, programs, ws, "2026-08-31")
    close(d, p, "2026-08", workspace=ws, book="accrued")
    approve(ws, req.request_id, user="max", reason="back-dated to July")  # after the close
    d, p = apply_workspace(data, programs, ws, "2026-09-30")
    close(d, p, "2026-09", workspace=ws, book="accrued")
    view = ledger(ws)
    snap = view.snapshot
    aug = snap[snap["period"] == "2026-08"]
    sep = snap[snap["period"] == "2026-09"]
    assert _row(aug, GOLD, c).empty
    booked = _row(sep, GOLD, c)["booked"].iloc[0]
    assert booked == pytest.approx(_gold_earned(_gold_basis(data, c, "2026-07-01", AS_OF)))
    rf = view.rollforward.set_index(["period", "program_id"])
    gold_aug = aug.loc[aug["program_id"] == GOLD, "booked"].sum()
    gold_sep = sep.loc[sep["program_id"] == GOLD, "booked"].sum()
    assert rf.loc[("2026-09", GOLD), "expense"] == pytest.approx(gold_sep - gold_aug, abs=0.005)
    assert view.ties
    # the August close re-runs to the same figures with what was known when it was closed
    closed_at = view.closes.set_index("period").loc["2026-08", "closed_at"]
    d8, p8 = apply_workspace(data, programs, ws, "2026-08-31", known_at=closed_at)
    assert d8 is data
    assert len(ws_changes.in_force(ws, "2026-08-31", known_at=closed_at)) == 0
    assert list(ws_changes.in_force(ws, "2026-09-30")["request_id"]) == [req.request_id]
    again = accrue(d8, p8, "2026-08-31")
    key = ["program_id", "customer_id"]
    mine = aug[[*key, "accrued"]].sort_values(key).reset_index(drop=True)
    redo = again[[*key, "earned"]].rename(columns={"earned": "accrued"})
    redo = redo.astype({"program_id": object, "customer_id": object}).sort_values(key)
    np.testing.assert_allclose(mine["accrued"], redo["accrued"].to_numpy(), atol=0.005)
    assert list(mine["customer_id"]) == list(redo["customer_id"])


# ---------------------------------------------------------------------------------------------
# discovery
# ---------------------------------------------------------------------------------------------
def test_discover_enrolled_eligible_pending(sample, tmp_path):
    data, programs = sample
    ws = tmp_path / "ws.duckdb"
    c1, c2 = _candidates(data, programs, 2)
    propose(
        data,
        programs,
        Proposal.enrollment(GOLD, c2, reason="x"),
        user="rita",
        workspace=ws,
        now=JUNE,
    )
    # run_rate: the quick forecast (the statuses do not depend on the method)
    a = discover(data, programs, c1, AS_OF, workspace=ws, method="run_rate")
    b = discover(data, programs, c2, AS_OF, workspace=ws, method="run_rate")
    a, b = a.set_index("program_id"), b.set_index("program_id")
    assert a.loc[GOLD, "status"] == "eligible" and a.loc[GOLD, "expected_rebate"] > 0
    assert b.loc[GOLD, "status"] == "pending" and b.loc[GOLD, "request_id"] == 1
    assert "GOLD-2025" not in a.index  # ended
    assert (a.drop(index=GOLD)["status"] == "enrolled").all()
    fc_basis = _gold_basis(data, c1, "2026-01-01", AS_OF)
    assert a.loc[GOLD, "basis"] == pytest.approx(fc_basis, abs=0.005)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def test_cli_end_to_end(sample, tmp_path, capsys, monkeypatch):
    data, programs = sample
    folder = tmp_path / "data"
    shutil.copytree(SAMPLE, folder)
    monkeypatch.setenv("REBATELAB_USER", "rita")
    (c,) = _candidates(data, programs, 1)
    base = ["--data", str(folder)]
    rc = main(
        ["propose", *base, "--program", GOLD, "--enroll", c, "--effective", "2026-07-01",
         "--reason", "asked at the QBR", "--today", "2026-06-20"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0 and "request 1 pending" in out and f"enroll {c} in {GOLD}" in out
    rc = main(
        ["propose", *base, "--program", GOLD, "--variant", "C00002", "--tiers", "1400:0.06",
         "--reason", "match", "--today", "2026-06-20"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "breaks guardrail max_rate=0.05" in err and len(err.splitlines()) == 1
    rc = main(["approve", "1", *base, "--reason", "mine"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot approve or reject their own request" in err
    rc = main(["approve", "1", *base, "--reason", "fine", "--user", "max"])
    assert rc == 0 and "request 1 approved by max" in capsys.readouterr().out
    rc = main(
        ["propose", *base, "--program", GOLD, "--change", "--terms", "{cap: 700}",
         "--effective", "2026-07-01", "--reason", "cap", "--today", "2026-06-21"]
    )  # fmt: skip
    assert rc == 0
    assert main(["reject", "3", *base, "--reason", "no", "--user", "max"]) == 0
    capsys.readouterr()
    out_csv = tmp_path / "history.csv"
    assert main(["history", *base, "--out", str(out_csv)]) == 0
    printed = capsys.readouterr().out
    assert "3 request(s), 6 event(s)" in printed
    h = pd.read_csv(out_csv)
    assert list(h["event"]) == [
        "proposed",
        "proposed",
        "refused",
        "proposed",
        "approved",
        "rejected",
    ]
    assert main(["history", *base, "--customer", c]) == 0
    assert "1 request(s), 2 event(s)" in capsys.readouterr().out
    assert main(["history", *base, "--program", GOLD, "--diff"]) == 0
    assert "0 changed field(s)" in capsys.readouterr().out  # the change was rejected
    # bad input: one message, exit 2
    for argv, msg in [
        (["propose", *base, "--program", GOLD, "--variant", "C2", "--tiers", "x", "--reason", "r"],
         "--tiers: expected FROM:RATE"),
        (["approve", "9", *base, "--reason", "r", "--user", "max"], "no change request 9"),
        (["history", "--program", GOLD], "give --workspace FILE or --data DIR"),
        (["history", *base, "--diff"], "--diff needs --program"),
    ]:  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert msg in err and len(err.splitlines()) == 1, err
    monkeypatch.delenv("REBATELAB_USER")
    monkeypatch.delenv("USER", raising=False)
    assert main(["approve", "1", *base, "--reason", "r"]) == 2
    assert "no user name" in capsys.readouterr().err


def test_verbs_help_imports_no_pandas():
    import subprocess
    import sys

    from rebatelab.cli.commands import propose as propose_cmd
    from rebatelab.workspace.store import WORKSPACE_NAME

    assert propose_cmd.WORKSPACE_NAME == WORKSPACE_NAME
    code = (
        "import sys\n"
        "from rebatelab.cli.main import build_parser\n"
        "for verb in ('propose', 'approve', 'reject', 'history'):\n"
        "    build_parser([verb, '--help'])\n"
        "print('pandas' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"
