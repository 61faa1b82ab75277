"""Tier math: DOMAIN.md worked examples, boundary convention, properties, type in = type out."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebatelab.errors import ParameterError
from rebatelab.programs import tiers


# -- worked examples of ../shared/DOMAIN.md, exactly -------------------------------------------
def test_example_1_from_zero():
    kw = dict(thresholds=[0, 1_000], rates=[0.10, 0.25])
    assert tiers.earned(2_000, method="incremental", **kw) == pytest.approx(350, abs=1e-9)
    assert tiers.earned(2_000, method="retroactive", **kw) == pytest.approx(500, abs=1e-9)


def test_example_2_nothing_below_first():
    kw = dict(thresholds=[100_000, 200_000], rates=[0.01, 0.02])
    assert tiers.earned(250_000, method="incremental", **kw) == pytest.approx(2_000, abs=1e-9)
    assert tiers.earned(250_000, method="retroactive", **kw) == pytest.approx(5_000, abs=1e-9)
    assert tiers.earned(99_999.99, **kw) == 0.0


def test_example_3_growth_total_and_excess():
    baseline, actual = 2_000_000.0, 2_350_000.0
    growth_thr = np.array([0.10, 0.15, 0.20])
    thr = baseline * (1 + growth_thr)
    rates = [0.02, 0.03, 0.04]
    assert tiers.tier_reached(actual, thresholds=thr) == 2  # the 3% tier
    assert tiers.earned(actual, thresholds=thr, rates=rates) == pytest.approx(70_500, abs=1e-6)
    excess = tiers.earned(actual, thresholds=thr, rates=rates, rebate_base=actual - baseline)
    assert excess == pytest.approx(10_500, abs=1e-6)


# -- the boundary convention: lower bounds are inclusive -----------------------------------------
def test_boundary_is_inclusive():
    thr = [100.0, 200.0]
    assert tiers.tier_reached(100.0, thresholds=thr) == 1
    assert tiers.tier_reached(np.nextafter(100.0, 0), thresholds=thr) == 0
    assert tiers.tier_reached(200.0, thresholds=thr) == 2
    assert np.isnan(tiers.next_threshold(200.0, thresholds=thr))
    assert tiers.gap_to_next(150.0, thresholds=thr) == 50.0


def test_nonpositive_basis_earns_nothing():
    kw = dict(thresholds=[0, 10], rates=[0.1, 0.2])
    for method in ("retroactive", "incremental"):
        assert tiers.earned(-50.0, method=method, **kw) == 0.0
        assert tiers.earned(0.0, method=method, **kw) == 0.0


def test_lump_sum():
    kw = dict(thresholds=[50, 100], rates=[0, 0], amounts=[100, 250])
    assert tiers.earned([49, 50, 99, 100, 1e6], **kw).tolist() == [0, 100, 100, 250, 250]


def test_earned_at_next_and_top_tier():
    kw = dict(thresholds=[100_000, 200_000], rates=[0.01, 0.02])
    assert tiers.earned_at_next(150_000, **kw) == pytest.approx(4_000)
    assert tiers.earned_at_next(50_000, method="incremental", **kw) == pytest.approx(0)
    assert np.isnan(tiers.earned_at_next(250_000, **kw))


def test_earned_at_next_from_a_negative_basis():
    # b + (t - b) can round below t; the schedule must be evaluated at t itself
    kw = dict(thresholds=[1000, 3000], rates=[0.02, 0.04])
    assert tiers.earned_at_next(-123.4567891, **kw) == pytest.approx(20.0)


def test_cap_and_payable():
    assert tiers.apply_cap(np.array([10.0, 500.0]), cap=300).tolist() == [10.0, 300.0]
    assert tiers.payable(np.array([99.99, 100.0]), min_payout=100).tolist() == [0.0, 100.0]
    assert tiers.payable(np.array([1.0]), min_payout=np.nan).tolist() == [1.0]


def test_per_row_schedules_match_one_by_one():
    thr = np.array([[0, 10, np.inf], [5, 20, 40]], dtype=float)
    rates = np.array([[0.1, 0.2, 0.0], [0.01, 0.02, 0.03]])
    basis = np.array([15.0, 45.0])
    method = np.array(["incremental", "retroactive"])
    out = tiers.earned(basis, thresholds=thr, rates=rates, method=method)
    assert out[0] == pytest.approx(
        tiers.earned(15.0, thresholds=[0, 10], rates=[0.1, 0.2], method="incremental")
    )
    assert out[1] == pytest.approx(45 * 0.03)


# -- same type out as in; inputs untouched --------------------------------------------------------
def test_types_and_inputs_not_modified():
    kw = dict(thresholds=[0, 1_000], rates=[0.10, 0.25])
    s = pd.Series([500.0, 2_000.0], index=["x", "y"], name="basis")
    before = s.copy()
    out = tiers.earned(s, **kw)
    assert isinstance(out, pd.Series) and list(out.index) == ["x", "y"]
    pd.testing.assert_series_equal(s, before)
    assert isinstance(tiers.earned(np.array([500.0]), **kw), np.ndarray)
    assert isinstance(tiers.earned(500.0, **kw), float)
    assert isinstance(tiers.tier_reached(500.0, thresholds=[0, 1000]), int)
    t = tiers.tier_reached(s, thresholds=[0, 1000])
    assert t.tolist() == [1, 2] and list(t.index) == ["x", "y"]


def test_bad_method():
    with pytest.raises(ParameterError, match="method must be one of"):
        tiers.earned(1.0, thresholds=[0], rates=[0.1], method="stepwise")


# -- properties -----------------------------------------------------------------------------------
@st.composite
def schedules(draw):
    k = draw(st.integers(1, 5))
    gaps = draw(st.lists(st.floats(1, 1e5), min_size=k, max_size=k))
    start = draw(st.sampled_from([0.0, 100.0, 5000.0]))
    thr = start + np.concatenate([[0], np.cumsum(gaps[:-1])])
    rates = np.sort(draw(st.lists(st.floats(0, 1), min_size=k, max_size=k)))
    return thr, rates


@settings(max_examples=150, deadline=None)
@given(schedules(), st.lists(st.floats(-1e4, 1e6), min_size=2, max_size=30))
def test_properties(sched, basis):
    thr, rates = sched
    b = np.sort(np.array(basis))
    retro = tiers.earned(b, thresholds=thr, rates=rates)
    incr = tiers.earned(b, thresholds=thr, rates=rates, method="incremental")
    # non-decreasing in basis (rates ascending for retroactive; always for incremental)
    assert np.all(np.diff(incr) >= -1e-9)
    assert np.all(np.diff(retro) >= -1e-9)
    # retroactive >= incremental when rates ascend
    assert np.all(retro >= incr - 1e-9)
    # nothing below the first threshold
    assert np.all(retro[b < thr[0]] == 0) and np.all(incr[b < thr[0]] == 0)
    # bounded by the top rate times the basis
    assert np.all(retro <= rates[-1] * np.maximum(b, 0) + 1e-6)


@settings(max_examples=100, deadline=None)
@given(schedules(), st.floats(0, 1e6))
def test_incremental_is_continuous(sched, x):
    thr, rates = sched
    eps = 1e-6
    kw = dict(thresholds=thr, rates=rates, method="incremental")
    for at in [x, *thr]:
        lo, hi = tiers.earned(at - eps, **kw), tiers.earned(at + eps, **kw)
        assert abs(hi - lo) <= 2 * eps * max(rates.max(), 1e-12) + 1e-9


@settings(max_examples=100, deadline=None)
@given(schedules(), st.lists(st.floats(0, 1e6), min_size=1, max_size=20), st.floats(0, 1e4))
def test_cap_holds(sched, basis, cap):
    thr, rates = sched
    e = tiers.apply_cap(tiers.earned(np.array(basis), thresholds=thr, rates=rates), cap=cap)
    assert np.all(e <= cap + 1e-12)


def test_brute_force_incremental():
    """Incremental = the integral of the marginal rate, summed dollar by dollar."""
    thr, rates = [0, 100, 250], [0.01, 0.05, 0.10]
    for b in [0, 1, 99, 100, 101, 249, 250, 251, 1000]:
        brute = sum(rates[np.searchsorted(thr, d, side="right") - 1] for d in range(b))
        assert tiers.earned(float(b), thresholds=thr, rates=rates, method="incremental") == (
            pytest.approx(brute, abs=1e-9)
        )


# -- 2-D bases (pools x scenarios) and the settlement engine on them -------------------------
def test_excess_over_is_worked_example_3():
    # DOMAIN.md example 3: 3% of the excess of 2,350,000 over a baseline of 2,000,000
    assert tiers.excess_over(2_350_000.0, baseline=2_000_000.0) == 350_000.0
    assert 0.03 * tiers.excess_over(2_350_000.0, baseline=2_000_000.0) == pytest.approx(10_500)
    np.testing.assert_array_equal(
        tiers.excess_over(np.array([1.0, 5.0]), baseline=np.array([3.0, 3.0])), [0.0, 2.0]
    )


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(1, 10),
    m=st.integers(1, 6),
    incremental=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_2d_basis_equals_the_same_values_one_by_one(k, m, incremental, seed):
    # a (n, m) basis against (n, K) schedules equals the flattened basis against the rows
    # repeated m times, bit for bit (the accrual's and the what-if's numbers are the same)
    rng = np.random.default_rng(seed)
    n = 12
    thr = np.sort(rng.uniform(0, 5_000, (n, k)), axis=1)
    thr[:2, -1] = np.inf  # padded rows
    rates = rng.uniform(0, 0.1, (n, k))
    amounts = np.zeros((n, k)) if incremental else rng.uniform(0, 50, (n, k))
    method = (
        np.where(rng.random(n) < 0.5, "incremental", "retroactive")
        if incremental
        else ("retroactive")
    )
    b = rng.gamma(1.0, 3_000.0, (n, m)) - 300
    b[0, 0] = thr[0, 0]  # exactly on a threshold
    b[1, 0] = np.nan
    kw = dict(thresholds=thr, rates=rates, amounts=amounts, method=method)
    flat_kw = dict(
        thresholds=np.repeat(thr, m, axis=0),
        rates=np.repeat(rates, m, axis=0),
        amounts=np.repeat(amounts, m, axis=0),
        method=np.repeat(np.broadcast_to(method, (n,)), m),
    )
    flat = b.reshape(-1)
    got = tiers.tier_figures(b, **kw)
    np.testing.assert_array_equal(got["tier"], tiers.tier_reached(flat, thresholds=flat_kw[
        "thresholds"]).reshape(n, m))  # fmt: skip
    np.testing.assert_array_equal(got["earned"], tiers.earned(flat, **flat_kw).reshape(n, m))
    np.testing.assert_array_equal(got["earned"], tiers.earned(b, **kw))
    np.testing.assert_array_equal(
        got["rate"], tiers.tier_rate(flat, thresholds=flat_kw["thresholds"],
                                     rates=flat_kw["rates"]).reshape(n, m)
    )  # fmt: skip
    np.testing.assert_array_equal(
        got["next_threshold"],
        tiers.next_threshold(flat, thresholds=flat_kw["thresholds"]).reshape(n, m),
    )
    cap = rng.uniform(10, 200, (n, 1))
    cap[0] = np.nan
    np.testing.assert_array_equal(
        tiers.apply_cap(got["earned"], cap=cap),
        tiers.apply_cap(got["earned"].reshape(-1), cap=np.repeat(cap[:, 0], m)).reshape(n, m),
    )


def _two_programs():
    from rebatelab.programs.terms import ProgramSet

    period = {"start": "2025-01-01", "end": "2025-12-31"}
    return ProgramSet.from_programs(
        [
            {"id": "ONE", **period, "tiers": [{"from": 1_000, "rate": 0.02}], "cap": 30},
            {"id": "THREE", **period, "method": "incremental", "min_payout": 5,
             "tiers": [{"from": 0, "rate": 0.01}, {"from": 2_000, "rate": 0.02},
                       {"from": 5_000, "rate": 0.03}]},
        ]
    )  # fmt: skip


def test_settlement_of_a_2d_basis_is_the_settlement_of_each_column():
    from rebatelab.engine.settlement import evaluate, schedule

    programs = _two_programs()
    sched = schedule(programs, [0, 1, 1, 0])
    b = np.array([[500.0, 1_000.0, 3_000.0], [2_500.0, 6_000.0, -10.0],
                  [1_999.0, 2_000.0, 0.0], [1_600.0, 0.0, 2_000.0]])  # fmt: skip
    got = evaluate(sched, b)
    for j in range(b.shape[1]):
        col = evaluate(sched, b[:, j])
        for key, v in col.items():
            np.testing.assert_array_equal(got[key][:, j], v, err_msg=key)
    # by hand: ONE at 3,000 earns 60 capped to 30; THREE at 2,500: 20 + 10 = 30, next tier
    # at 5,000 pays 20 + 60 = 80; THREE at 1,999 earns 19.99; 0 earns 0 (under the minimum)
    assert got["earned"][0, 2] == pytest.approx(30.0) and got["capped"][0, 2]
    assert got["earned"][1, 0] == pytest.approx(30.0)
    assert got["payable_at_next"][1, 0] == pytest.approx(80.0)
    assert got["earned"][2, 0] == pytest.approx(19.99)
    assert got["payable"][2, 2] == 0.0
    assert np.isnan(got["payable_at_next"][1, 1])  # top tier
    with pytest.raises(ParameterError, match="shape"):
        evaluate(sched, np.zeros(3))


def test_schedule_take_and_trimmed_change_no_figure():
    from rebatelab.engine.settlement import evaluate, schedule

    programs = _two_programs()
    sched = schedule(programs, [0, 1, 0, 1])
    b = np.array([800.0, 2_500.0, 1_200.0, 6_000.0])
    whole = evaluate(sched, b)
    ones = sched.take([0, 2])
    assert ones.thresholds.shape == (2, 3)
    trimmed = ones.trimmed()
    assert trimmed.thresholds.shape == (2, 1)  # padding of ONE's single tier dropped
    assert sched.trimmed() is sched
    for s in (ones, trimmed):
        part = evaluate(s, b[[0, 2]])
        for key, v in part.items():
            np.testing.assert_array_equal(v, whole[key][[0, 2]], err_msg=key)
