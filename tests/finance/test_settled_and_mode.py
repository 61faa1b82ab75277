"""Settled programs are certain; the most likely amount lies inside its own distribution."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebatelab.finance.distributions import sum_distribution
from rebatelab.finance.liability import liability_from, settle_forecast

FIGURES = ["expected", "most_likely", "p10", "p50", "p90", "constrained"]


@pytest.fixture(scope="module")
def sample_liability():
    from rebatelab.datasets import load_sample
    from rebatelab.engine.stage_one import reduce
    from rebatelab.finance.liability import liability

    data, programs = load_sample()
    red = reduce(data, programs, "2026-09-30")
    return red, liability(red)


@pytest.mark.slow
def test_ended_programs_have_a_certain_amount(sample_liability):
    # GOLD-2025 ended 2025-12-31 and was paid 12,523.39 (the sample's payments table);
    # UNITS-2026Q3 ends on the as-of day (0 days left). Before, their p10-p90 were
    # 12,440-12,600 and 560-700 (the total's grid step smeared them).
    red, L = sample_liability
    bp = L.by_program.set_index("program_id")
    paid = red.payments.groupby("program_id")["amount"].sum()
    assert round(float(paid["GOLD-2025"]), 2) == 12_523.39
    for pid, amount in (("GOLD-2025", 12_523.39), ("UNITS-2026Q3", 626.23)):
        row = bp.loc[pid]
        assert row["accrued"] == amount
        assert [row[c] for c in FIGURES] == [amount] * len(FIGURES), pid
        assert row["mean_adjustment"] == 0
    # the contracts of a settled program carry their accrued amount
    bc = L.by_customer[L.by_customer["program_id"] == "GOLD-2025"]
    assert (bc["expected"] == bc["accrued"]).all() and (bc["most_likely"] == bc["accrued"]).all()


@pytest.mark.slow
def test_most_likely_lies_inside_the_interval_on_the_sample(sample_liability):
    # before, the total's most likely (161,029.89, a sum of contract modes) lay below its own
    # p10 (161,061.66)
    _, L = sample_liability
    for _, row in pd.concat([L.by_program, L.total]).iterrows():
        assert row["p10"] <= row["most_likely"] <= row["p90"]


def test_settled_pool_collapses_to_its_amount_among_uncertain_ones():
    # two pools: P settled at 12.34 (the forecast still carries a spread: it is ignored), Q
    # uncertain, 0 or 100 with probability 1/2 each. Worked by hand: total = 12.34 or 112.34.
    acc = pd.DataFrame(
        {
            "program_id": ["P", "Q"],
            "customer_id": ["A", "B"],
            "pool_id": ["A", "B"],
            "earned": [12.34, 0.0],
            "days_left": [0, 40],
        }
    )
    fc = pd.DataFrame({"expected_rebate": [12.30, 50.0], "most_likely_rebate": [13.0, 0.0]})
    out = liability_from(
        acc, fc, rebate_values=[[10.0, 15.0], [0.0, 100.0]], rebate_probs=[[0.5, 0.5]] * 2
    )
    bp = out.by_program.set_index("program_id")
    assert [bp.loc["P", c] for c in FIGURES] == [12.34] * len(FIGURES)
    t = out.total.iloc[0]
    assert t["expected"] == 62.34
    assert (t["p10"], t["p90"]) == (12.34, 112.34)
    assert t["most_likely"] == 12.34  # ties go to the smaller amount


def test_settle_forecast_leaves_open_contracts_alone():
    acc = pd.DataFrame(
        {"earned": [5.0, 1.0], "payable": [5.0, 0.0], "pool_basis": [100.0, 20.0],
         "days_left": [0, 3]}
    )  # fmt: skip
    fc = pd.DataFrame(
        {"expected_rebate": [5.004, 2.0], "most_likely_rebate": [6.0, 1.0], "q_0.5": [110.0, 30.0]}
    )
    out = settle_forecast(acc, fc)
    assert out.iloc[0].tolist() == [5.0, 5.0, 100.0]
    assert out.iloc[1].tolist() == fc.iloc[1].tolist()
    no_days = acc.drop(columns="days_left")
    assert settle_forecast(no_days, fc) is fc


def test_central_mode_of_a_sum_is_its_hand_computed_mode():
    # three pools 0/100 with p = 0.3 each: the total is Binomial(3, 0.3) x 100, whose
    # mode is 100 (P = 0.441), while each pool's own mode is 0 (sum of modes: 0)
    d = sum_distribution([[0, 100]] * 3, [[0.7, 0.3]] * 3)
    assert d.central_mode(d.quantile(0.1), d.quantile(0.9)) == 100.0


@settings(max_examples=60, deadline=None)
@given(
    n_pools=st.integers(1, 25),
    n_programs=st.integers(1, 3),
    seed=st.integers(0, 2**31 - 1),
    settled_share=st.floats(0, 1),
)
def test_most_likely_within_p10_p90_for_the_total_and_each_program(
    n_pools, n_programs, seed, settled_share
):
    rng = np.random.default_rng(seed)
    m = 5
    values = np.sort(rng.choice([0.0, 25.0, 80.0, 133.33, 400.0], size=(n_pools, m)), axis=1)
    probs = rng.dirichlet(np.ones(m), size=n_pools)
    acc = pd.DataFrame(
        {
            "program_id": [f"P{i % n_programs}" for i in range(n_pools)],
            "customer_id": [f"C{i}" for i in range(n_pools)],
            "pool_id": [f"C{i}" for i in range(n_pools)],
            "earned": values[:, 0],
            "days_left": np.where(rng.random(n_pools) < settled_share, 0, 30),
        }
    )
    fc = pd.DataFrame(
        {"expected_rebate": (values * probs).sum(axis=1), "most_likely_rebate": values[:, 0]}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = liability_from(acc, fc, rebate_values=values, rebate_probs=probs)
    for _, row in pd.concat([out.by_program, out.total]).iterrows():
        assert row["p10"] <= row["most_likely"] <= row["p90"]
    settled = acc["days_left"].to_numpy() == 0
    bp = out.by_program.set_index("program_id")
    for pid, g in acc.groupby("program_id"):
        if settled[g.index].all():  # a fully settled program has no spread
            amount = round(float(g["earned"].sum()), 2)
            assert [bp.loc[pid, c] for c in FIGURES] == [amount] * len(FIGURES)


@pytest.mark.slow
def test_at_percentile_equals_a_fresh_computation(sample_liability):
    from rebatelab.finance.liability import LiabilityOptions, liability

    red, L = sample_liability
    fresh = liability(red, options=LiabilityOptions(percentile=0.9))
    again = L.at_percentile(0.9)
    pd.testing.assert_frame_equal(again.total, fresh.total)
    pd.testing.assert_frame_equal(again.by_program, fresh.by_program)
    pd.testing.assert_frame_equal(again.notes, fresh.notes)
    assert again.total.iloc[0]["constrained"] > L.total.iloc[0]["constrained"]
