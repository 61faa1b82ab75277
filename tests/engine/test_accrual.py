"""Accrual on a hand-built data set: every figure below was worked out by hand (see comments)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebatelab import RebateData, accrue, load_programs
from rebatelab.errors import ProgramFileError
from rebatelab.money import cents, largest_remainder, round_cents
from tests.conftest import PROGRAMS_YAML, make_frames


def row(acc, program, customer):
    r = acc[(acc["program_id"] == program) & (acc["customer_id"] == customer)]
    assert len(r) == 1, (program, customer)
    return r.iloc[0]


@pytest.fixture
def acc(small_data, small_programs):
    return accrue(small_data, small_programs, "2025-12-31")


def test_one_row_per_program_member(acc):
    assert acc.groupby("program_id").size().to_dict() == {
        "ALL": 5,
        "GROW": 2,
        "POOL": 3,
        "TOOLS": 2,
    }
    assert not acc.duplicated(["program_id", "customer_id"]).any()


def test_retroactive_with_filters_and_cap(acc):
    # A: P1 12,000 + P3 100 (P2 is House brand, P4 is Paint) -> 12,100 at 3% = 363, capped 300
    a = row(acc, "TOOLS", "A")
    assert a["basis"] == pytest.approx(12_100)
    assert (a["tier"], a["rate"], a["earned"], a["payable"]) == (2, 0.03, 300.0, 300.0)
    assert "capped" in a["flags"]
    assert np.isnan(a["next_threshold"]) and np.isnan(a["gap_to_next"])
    # B: 3,000 - 300 credit note = 2,700 at 1% = 27; 7,300 short of 10,000 (300 there, capped)
    b = row(acc, "TOOLS", "B")
    assert (b["basis"], b["tier"], b["earned"]) == (2_700, 1, 27.0)
    assert (b["next_threshold"], b["gap_to_next"], b["earned_at_next"]) == (10_000, 7_300, 300.0)
    assert b["days_left"] == 0 and "period_ended" in b["flags"]


def test_pool_incremental_shares(acc):
    # pool G1 = A 12,950 + B 2,700 + E 4,000 = 19,650; incremental 10,000 x 1% + 9,650 x 2% = 293
    rows = acc[acc["program_id"] == "POOL"].set_index("customer_id")
    assert set(rows["pool_id"]) == {"G1"}
    assert rows["pool_basis"].iloc[0] == pytest.approx(19_650)
    assert rows["pool_earned"].iloc[0] == 293.0
    # pro rata 193.1018 / 40.2595 / 59.6438 -> cents by largest remainder: B takes the extra cent
    assert rows["earned"].to_dict() == {"A": 193.10, "B": 40.26, "E": 59.64}
    assert rows["earned"].sum() == pytest.approx(293.0, abs=1e-9)


def test_growth_total(acc):
    # baseline = same dates a year earlier: A 1,000, B 500; growth 11.95 and 4.4 -> 5% tier
    a, b = row(acc, "GROW", "A"), row(acc, "GROW", "B")
    assert (a["baseline"], a["basis"], a["tier"], a["earned"]) == (1_000, 12_950, 2, 647.5)
    assert b["growth"] == pytest.approx(4.4)
    assert b["earned"] == 135.0


def test_quantity_lump_sum_and_minimum(acc):
    # A: 112 units -> 250 lump sum; E: 60 units -> 100, below the 150 minimum -> payable 0
    a, e = row(acc, "ALL", "A"), row(acc, "ALL", "E")
    assert (a["basis_type"], a["basis"], a["earned"], a["payable"]) == ("quantity", 112, 250, 250)
    assert (e["tier"], e["earned"], e["payable"]) == (1, 100.0, 0.0)
    assert "below_min_payout" in e["flags"]
    c = row(acc, "ALL", "C")
    assert (c["tier"], c["earned"], c["next_threshold"], c["gap_to_next"]) == (0, 0, 50, 43)
    assert c["earned_at_next"] == 100.0


def test_as_of_cuts_lines_and_counts_days(small_data, small_programs):
    acc = accrue(small_data, small_programs, "2025-03-01")
    b = row(acc, "TOOLS", "B")
    assert b["basis"] == 3_000  # the credit note of 03-05 is after as_of
    assert b["days_left"] == 305  # 2025-03-02 .. 2025-12-31
    before = accrue(small_data, small_programs, "2024-12-31")
    assert (before["basis"] == 0).all() and before["flags"].str.contains("not_started").all()
    assert (before["days_left"] == 365).all()


def test_growth_baseline_from_enrollments_and_missing_baseline():
    tx, cu, pr, en = make_frames()
    en = pd.concat(
        [en, pd.DataFrame({"program_id": ["GROW"], "customer_id": ["D"]})], ignore_index=True
    )
    en["baseline"] = np.where(
        en["customer_id"].eq("A") & en["program_id"].eq("GROW"), 12_000, np.nan
    )
    data = RebateData.from_frames(tx, cu, pr, en)
    acc = accrue(data, load_programs(PROGRAMS_YAML), "2025-12-31")
    a = row(acc, "GROW", "A")  # 12,950 / 12,000 - 1 = 7.9%: below the +10% tier
    assert a["baseline"] == 12_000 and a["tier"] == 0
    assert a["next_threshold"] == pytest.approx(13_200)
    d = row(acc, "GROW", "D")  # no purchases a year earlier: no usable baseline
    assert d["tier"] == 0 and d["earned"] == 0 and "no_baseline" in d["flags"]
    assert np.isnan(d["next_threshold"])


def test_growth_excess_earned_at_next_below_baseline():
    from rebatelab.engine.settlement import evaluate, schedule

    ps = load_programs(PROGRAMS_YAML.replace("{rebate_on: total}", "{rebate_on: excess}"))
    sched = schedule(ps, [2, 2], baseline=[1_000.0, 1_000.0])
    ev = evaluate(sched, np.array([500.0, 1_050.0]))
    # next tier at +10% = 1,100; the excess there is 100, paid at 2% = 2 (from either basis)
    assert ev["next_threshold"].tolist() == [1_100.0, 1_100.0]
    assert ev["earned_at_next"] == pytest.approx([2.0, 2.0])
    assert ev["gap_to_next"] == pytest.approx([600.0, 50.0])


def test_enrolled_on_excludes_earlier_lines():
    tx, cu, pr, en = make_frames()
    en["enrolled_on"] = np.where(
        en["program_id"].eq("TOOLS") & en["customer_id"].eq("B"), "2025-03-03", None
    )
    data = RebateData.from_frames(tx, cu, pr, en)
    acc = accrue(data, load_programs(PROGRAMS_YAML), "2025-12-31")
    assert row(acc, "TOOLS", "B")["basis"] == -300  # only the credit note is after enrolment
    assert row(acc, "TOOLS", "B")["earned"] == 0


VARIANT = PROGRAMS_YAML.replace(
    "    cap: 300\n",
    "    cap: 300\n    guardrails: {max_rate: 0.05, min_from_ratio: 0.5}\n"
    "  - id: TOOLS-A\n    variant_of: TOOLS\n    customers_only: [A]\n"
    "    tiers: [{from: 800, rate: 0.015}, {from: 9000, rate: 0.04}]\n    cap: 1000\n",
)


def test_variant_accrues_instead_of_parent(small_data):
    programs = load_programs(VARIANT)
    acc = accrue(small_data, programs, "2025-12-31")
    assert "A" not in set(acc.loc[acc["program_id"] == "TOOLS", "customer_id"])
    a = row(acc, "TOOLS-A", "A")  # inherits filters: 12,100 at 4% = 484 under its own cap
    assert (a["basis"], a["earned"]) == (12_100, 484.0)


def test_enrolling_a_customer_failing_the_filter_is_an_error():
    tx, cu, pr, en = make_frames()
    en = pd.concat(
        [en, pd.DataFrame({"program_id": ["TOOLS"], "customer_id": ["C"]})], ignore_index=True
    )
    data = RebateData.from_frames(tx, cu, pr, en)
    with pytest.raises(ProgramFileError, match=r"program TOOLS.*fail.*customer filter.*'C'"):
        accrue(data, load_programs(PROGRAMS_YAML), "2025-12-31")


def test_enrollment_of_unknown_program():
    tx, cu, pr, en = make_frames()
    en.loc[0, "program_id"] = "NOPE"
    data = RebateData.from_frames(tx, cu, pr, en)
    with pytest.raises(ProgramFileError, match=r"enrollments: 1 row\(s\).*\['NOPE'\]"):
        accrue(data, load_programs(PROGRAMS_YAML), "2025-12-31")


def test_a_subset_of_the_file_accepts_enrollments_of_the_others(small_data, small_programs):
    full = accrue(small_data, small_programs, "2025-12-31")
    sub = accrue(small_data, small_programs.subset(["POOL"]), "2025-12-31")
    want = full[full["program_id"] == "POOL"].reset_index(drop=True)
    pd.testing.assert_frame_equal(sub, want)


def test_unknown_filter_attribute():
    from rebatelab.errors import DataValidationError

    bad = PROGRAMS_YAML.replace("{segment: [Contractor]}", "{tier_level: [Gold]}")
    tx, cu, pr, en = make_frames()
    with pytest.raises(DataValidationError, match="program TOOLS.*'tier_level'"):
        accrue(RebateData.from_frames(tx, cu, pr, en), load_programs(bad), "2025-12-31")


def test_inputs_not_modified(small_data, small_programs):
    before = small_data.transactions.copy()
    accrue(small_data, small_programs, "2025-12-31")
    pd.testing.assert_frame_equal(small_data.transactions, before)


# -- money: cents and pool shares -----------------------------------------------------------------
def test_round_half_away_from_zero():
    assert round_cents(np.array([2.675, -2.675, 0.005, 1.004999])).tolist() == [
        2.68,
        -2.68,
        0.01,
        1.0,
    ]
    assert round_cents(2.675) == 2.68


@settings(max_examples=200, deadline=None)
@given(
    # weights are basis sums, which stage one rounds to 6 decimals
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 10**12).map(lambda k: k / 1e6)),
        min_size=1,
        max_size=40,
    ),
    st.lists(st.integers(0, 10**9), min_size=5, max_size=5),
)
def test_pool_shares_sum_to_the_pool(members, totals):
    groups = np.array([g for g, _ in members])
    _, groups = np.unique(groups, return_inverse=True)
    weights = np.array([w for _, w in members])
    total = np.array(totals)[groups]
    shares = largest_remainder(total, weights, groups)
    got = np.bincount(groups, weights=shares)
    want = np.bincount(groups, weights=total) / np.bincount(groups)
    assert np.array_equal(got.round(), want.round())
    # each share is within one cent of its exact pro-rata value
    wsum = np.bincount(groups, weights=weights)[groups]
    exact = np.where(
        wsum > 0, total * weights / np.where(wsum > 0, wsum, 1), total / np.bincount(groups)[groups]
    )
    assert np.all(np.abs(shares - exact) <= 1 + 1e-6)


def test_cents_are_exact_integers():
    assert cents([0.1 + 0.2]).tolist() == [30]


def test_pool_share_ties_go_to_the_earlier_row():
    """15 / 16 / 21 sharing 0.78 (1.5% of 52): exact 22.5, 24, 31.5 cents; the spare cent goes
    to the earlier of the two tied halves (the float computation gave it to the later one)."""
    shares = largest_remainder(np.array([78] * 3), np.array([15.0, 16.0, 21.0]), np.zeros(3, int))
    assert shares.tolist() == [23, 24, 31]
    # the same through the accrual of a pooled program
    tx = pd.DataFrame(
        {
            "invoice_id": ["I1", "I2", "I3"],
            "date": ["2025-03-01"] * 3,
            "customer_id": ["A", "B", "C"],
            "product_id": ["P"] * 3,
            "quantity": [1, 1, 1],
            "net_amount": [15.0, 16.0, 21.0],
        }
    )
    cu = pd.DataFrame({"customer_id": ["A", "B", "C"], "buying_group": ["G"] * 3})
    pr = pd.DataFrame({"product_id": ["P"]})
    data = RebateData.from_frames(tx, cu, pr)
    programs = load_programs(
        "programs:\n  - id: POOL\n    start: 2025-01-01\n    end: 2025-12-31\n"
        "    pool: buying_group\n    enrollment: automatic\n"
        "    tiers: [{from: 0, rate: 0.015}]\n"
    )
    acc = accrue(data, programs, "2025-12-31").set_index("customer_id")
    assert acc.loc[["A", "B", "C"], "earned"].tolist() == [0.23, 0.24, 0.31]


def test_pool_shares_of_large_pools_are_exact():
    """Totals and weights whose product exceeds int64 are shared with exact integers."""
    shares = largest_remainder(np.array([10**12] * 3), np.array([1e9, 2e9, 3e9]), np.zeros(3, int))
    assert shares.tolist() == [166_666_666_667, 333_333_333_333, 500_000_000_000]
    assert shares.sum() == 10**12


def _one_customer(lines, enrollments=None):
    """One customer X, one product P, the given (date, amount) lines."""
    tx = pd.DataFrame(
        {
            "invoice_id": [f"I{i}" for i in range(len(lines))],
            "date": [d for d, _ in lines],
            "customer_id": "X",
            "product_id": "P",
            "quantity": 1,
            "net_amount": [a for _, a in lines],
        }
    )
    cu = pd.DataFrame({"customer_id": ["X"]})
    pr = pd.DataFrame({"product_id": ["P"]})
    return RebateData.from_frames(tx, cu, pr, enrollments)


def test_growth_tier_reached_at_exactly_the_threshold():
    # issue 12 item 1: baseline 3,819.40 x 1.05 = 4,010.37 exactly: tier 1, 2% of 4,010.37
    en = pd.DataFrame({"program_id": ["G"], "customer_id": ["X"], "baseline": [3_819.40]})
    data = _one_customer([("2026-03-01", 4_010.37)], en)
    programs = load_programs(
        "programs:\n  - {id: G, start: 2026-01-01, end: 2026-12-31, "
        "tiers: [{from: 0.05, rate: 0.02}], growth: {rebate_on: total}}\n"
    )
    r = row(accrue(data, programs, "2026-12-31"), "G", "X")
    assert (r["tier"], r["earned"], r["payable"]) == (1, 80.21, 80.21)
    # one cent short of the threshold reaches nothing
    data = _one_customer([("2026-03-01", 4_010.36)], en)
    assert row(accrue(data, programs, "2026-12-31"), "G", "X")["tier"] == 0


def test_growth_threshold_measured_baseline_at_exactly_the_threshold():
    # the baseline measured last year (3,819.40) and the basis 4,010.37 = baseline x 1.05
    data = _one_customer([("2025-03-01", 3_819.40), ("2026-03-01", 4_010.37)])
    programs = load_programs(
        "programs:\n  - {id: G, start: 2026-01-01, end: 2026-12-31, enrollment: automatic, "
        "tiers: [{from: 0.05, rate: 0.02}], growth: {rebate_on: excess}}\n"
    )
    r = row(accrue(data, programs, "2026-12-31"), "G", "X")
    # excess 4,010.37 - 3,819.40 = 190.97 at 2% = 3.8194 -> 3.82
    assert (r["tier"], r["earned"]) == (1, 3.82)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    baseline_cents=st.integers(1, 10**11),
    from_k=st.integers(0, 30_000),
    k=st.integers(0, 4),
    offset=st.integers(-2, 2),
)
def test_growth_threshold_is_exact_in_cents(baseline_cents, from_k, k, offset):
    from rebatelab.programs.tiers import growth_thresholds, tier_reached

    scale = 10**k
    frm = from_k / scale  # a fraction with at most k decimals
    # the exact threshold in cents, with Python integers, then a basis around it
    exact = -((-baseline_cents * (scale + from_k)) // scale)
    basis_cents = exact + offset
    thr = growth_thresholds([baseline_cents / 100], fractions=[frm])
    got = int(tier_reached(np.array([basis_cents / 100]), thresholds=thr)[0])
    assert got == int(basis_cents * scale >= baseline_cents * (scale + from_k))


def test_min_payout_compared_after_rounding_to_cents():
    # issue 12 item 5: 2% of 1,413.70 = 28.274 -> 28.27 >= min_payout 28.27: paid
    data = _one_customer([("2026-03-01", 1_413.70)])
    programs = load_programs(
        "programs:\n  - {id: M, start: 2026-01-01, end: 2026-12-31, enrollment: automatic, "
        "tiers: [{from: 0, rate: 0.02}], min_payout: 28.27}\n"
    )
    r = row(accrue(data, programs, "2026-12-31"), "M", "X")
    assert (r["earned"], r["payable"]) == (28.27, 28.27)
    assert "below_min_payout" not in r["flags"]
    # 2% of 1,413.20 = 28.264 -> 28.26 < 28.27: not paid
    data = _one_customer([("2026-03-01", 1_413.20)])
    r = row(accrue(data, programs, "2026-12-31"), "M", "X")
    assert (r["earned"], r["payable"]) == (28.26, 0.0)
    assert "below_min_payout" in r["flags"]
