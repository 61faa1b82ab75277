"""Tests of designs side by side (rebatelab.simulation.compare), on a base whose scenarios are
set by hand so that every figure can be worked out on paper."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebatelab.errors import ParameterError
from rebatelab.programs.terms import ProgramSet
from rebatelab.simulation.compare import check_design, compare_designs, design_program
from rebatelab.simulation.generator import simulate_data
from rebatelab.simulation.whatif import whatif_base

PERIOD = {"start": "2027-01-01", "end": "2027-12-31"}
CURRENT = {
    "id": "GOLD", **PERIOD, "enrollment": "automatic", "method": "retroactive",
    "tiers": [{"from": 1000, "rate": 0.02}, {"from": 3000, "rate": 0.03}],
}  # fmt: skip

# three customers (rows) x two scenarios (columns) of eligible spend [currency]
SPEND = np.array([[500.0, 1500.0], [2500.0, 800.0], [4000.0, 4000.0]])


def hand_base(spend, u):
    """A three-customer base whose scenario draws are ``spend`` and responsiveness ``u``.

    Each customer orders once a day for 100 on average, so it can buy ahead 90 x 100 = 9,000;
    its holding cost is 1% of what it buys ahead.
    """
    sim = simulate_data(3, start="2026-01-01", end="2026-12-31", seed=4, programs=None)
    base = whatif_base(sim.to_rebate_data())
    base = dataclasses.replace(
        base, order_rate=np.ones(3), mean_order_value=np.full(3, 100.0),
        holding_cost=np.full(3, 0.01), cache={},
    )  # fmt: skip
    current = ProgramSet.from_programs([CURRENT])["GOLD"]
    lam = base.expected_orders(current.start, current.end)
    key = ("draws", str(current.start), str(current.end), spend.shape[1], 0)
    base.cache[key] = (lam, spend, u)
    return base, current


@pytest.fixture
def no_response():
    # u = 1 never falls below the response strength: nobody buys ahead
    return hand_base(SPEND, np.ones_like(SPEND))


def run(base, current, cands, **kw):
    return compare_designs(base, current, cands, n_scenarios=SPEND.shape[1], seed=0, **kw)


def test_figures_worked_by_hand_without_response(no_response):
    base, current = no_response
    cands = {
        "higher tier 1": {"tiers": [{"from": 1000, "rate": 0.025}, {"from": 3000, "rate": 0.03}]},
        "one tier": {"tiers": [{"from": 2000, "rate": 0.02}]},
    }
    df = run(base, current, cands, margin=0.3)
    assert list(df.index) == ["current", "higher tier 1", "one tier"]
    # current, scenario 1: 0 + 2% x 2,500 + 3% x 4,000 = 170; scenario 2: 30 + 0 + 120 = 150
    assert df.at["current", "payout"] == pytest.approx(160.0)
    assert df.at["current", "eligible_sales"] == pytest.approx((7000 + 6300) / 2)
    assert df.at["current", "cost_share"] == pytest.approx(160.0 / 6650.0)
    tiers = ["customers_tier_0", "customers_tier_1", "customers_tier_2"]
    assert df.loc["current", tiers].tolist() == [1.0, 1.0, 1.0]
    assert df.at["current", "provoked_revenue"] == 0.0
    assert df.at["current", "cost_per_provoked"] == np.inf
    assert df.at["current", "profit"] == pytest.approx(-160.0)
    # 2.5% on tier 1: scenario 1 62.5 + 120, scenario 2 37.5 + 120: mean 170
    assert df.at["higher tier 1", "payout"] == pytest.approx(170.0)
    assert df.at["higher tier 1", "payout_vs_current"] == pytest.approx(10.0)
    assert df.at["higher tier 1", "profit_vs_current"] == pytest.approx(-10.0)
    assert df.at["higher tier 1", "cost_per_provoked_vs_current"] == 0.0  # inf vs inf
    assert "no more provoked revenue" in df.at["higher tier 1", "findings"]
    # one tier from 2,000 at 2%: scenario 1 50 + 80, scenario 2 80: mean 105; in a tier 2 / 1
    assert df.at["one tier", "payout"] == pytest.approx(105.0)
    assert df.at["one tier", "payout_vs_current"] == pytest.approx(-55.0)
    assert np.isnan(df.at["one tier", "customers_tier_2"])
    assert df.at["one tier", "customers_in_tiers"] == pytest.approx(1.5)
    assert df.at["one tier", "customers_in_tiers_vs_current"] == pytest.approx(-0.5)
    assert df.at["one tier", "findings"] == ""
    assert df.at["current", "findings"] == ""


def test_response_provokes_revenue_worked_by_hand():
    # customer 1 ends at 2,900, 100 short of tier 2: reaching it pays 3% x 3,000 = 90
    # instead of 2% x 2,900 = 58, a gain of 32 >= 1% x 100, and it can buy 9,000 ahead;
    # u = 0 < strength, so it responds: basis 3,000, 30% of the 100 is new revenue
    spend = np.array([[2900.0], [500.0], [500.0]])
    u = np.array([[0.0], [1.0], [1.0]])
    base, current = hand_base(spend, u)
    df = compare_designs(base, current, {"same": {"tiers": CURRENT["tiers"]}},
                         n_scenarios=1, seed=0, margin=0.5)  # fmt: skip
    assert df.at["current", "payout"] == pytest.approx(90.0)
    assert df.at["current", "payout_without_response"] == pytest.approx(58.0)
    assert df.at["current", "eligible_sales"] == pytest.approx(3900.0 + 100.0)
    assert df.at["current", "provoked_revenue"] == pytest.approx(30.0)
    assert df.at["current", "cost_per_provoked"] == pytest.approx(3.0)
    assert df.at["current", "profit"] == pytest.approx(0.5 * 30.0 - 90.0)
    assert df.at["same", "payout_vs_current"] == 0.0
    # the same design as the current one: no difference at all, and no finding
    assert df.at["same", "findings"] == ""


def test_margin_is_optional_and_checked(no_response):
    base, current = no_response
    df = run(base, current, {"a": {"tiers": [{"from": 1500, "rate": 0.02}]}})
    assert "profit" not in df and "profit_vs_current" not in df
    with pytest.raises(ParameterError, match="margin"):
        run(base, current, {}, margin=30)


def test_cache_reruns_only_changed_designs(no_response, monkeypatch):
    import rebatelab.simulation.compare as compare

    base, current = no_response
    calls = []
    real = compare.simulate_program
    monkeypatch.setattr(compare, "simulate_program",
                        lambda *a, **k: calls.append(1) or real(*a, **k))  # fmt: skip
    cache = {}
    a = {"tiers": [{"from": 1500, "rate": 0.02}]}
    first = run(base, current, {"a": a}, cache=cache)
    assert len(calls) == 2
    again = run(base, current, {"a": a, "b": {"tiers": [{"from": 900, "rate": 0.01}]}},
                cache=cache)  # fmt: skip
    assert len(calls) == 3  # only "b" ran
    assert again.loc[["current", "a"], "payout"].tolist() == first["payout"].tolist()


def test_designs_as_a_list_of_programs_and_bad_names(no_response):
    base, current = no_response
    alt = ProgramSet.from_programs(
        [{**CURRENT, "id": "ALT", "tiers": [{"from": 10, "rate": 0.01}]}]
    )
    df = run(base, current, list(alt))
    assert list(df.index) == ["current", "ALT"]
    # from 10 at 1% retroactive: everyone pays 1% of spend: (7,000 + 6,300) / 2 x 1%
    assert df.at["ALT", "payout"] == pytest.approx(66.5)
    with pytest.raises(ParameterError, match="'current' names"):
        run(base, current, {"current": {"tiers": CURRENT["tiers"]}})


def test_a_design_that_cannot_run_is_refused_with_its_finding(no_response):
    base, current = no_response
    bad = {"tiers": [{"from": 2000, "rate": 0.02}, {"from": 1000, "rate": 0.03}]}
    with pytest.raises(ParameterError, match="design 'bad'.*thresholds must increase"):
        run(base, current, {"bad": bad})


def test_check_design_findings_in_words():
    current = ProgramSet.from_programs([CURRENT])["GOLD"]
    assert check_design({"tiers": CURRENT["tiers"]}, current=current) == []
    assert check_design({"tiers": []}) == ["the design has no tier"]
    found = check_design({"tiers": [{"from": 1000, "rate": 0.02}, {"from": 3000, "rate": 0}]})
    assert found == ["tier 2 pays nothing (0% and no lump sum)",
                     "tier 2 pays more for less: a customer just below its threshold (3,000) "
                     "earns 60.00, one at it 0.00"]  # fmt: skip
    # retroactive 3% then 1%: just under 2,000 earns ~60, at 2,000 earns 20
    more_for_less = check_design({"tiers": [{"from": 1000, "rate": 0.03},
                                            {"from": 2000, "rate": 0.01}]})  # fmt: skip
    assert len(more_for_less) == 1 and "tier 2 pays more for less" in more_for_less[0]
    # incremental, a lower marginal rate above a threshold still pays more in total
    assert (
        check_design(
            {
                "method": "incremental",
                "tiers": [{"from": 1000, "rate": 0.03}, {"from": 2000, "rate": 0.01}],
            }
        )
        == []
    )
    # a lump sum at the top makes a 0% tier pay
    assert (
        check_design(
            {"tiers": [{"from": 1000, "rate": 0.02}, {"from": 3000, "rate": 0.0, "amount": 100}]}
        )
        == []
    )
    assert "must be 0 or more" in check_design({"tiers": [{"from": -5, "rate": 0.02}]})[0]
    assert "must be numbers" in check_design({"tiers": [{"from": "x", "rate": 0.02}]})[0]


def test_design_program_keeps_the_current_terms():
    current = ProgramSet.from_programs([{**CURRENT, "cap": 500}])["GOLD"]
    p = design_program(current, {"id": "X", "tiers": [{"from": 10, "rate": 0.01}], "cap": 0})
    assert p.id == "GOLD" and p.cap is None and p.start == current.start
    assert p.enrollment == "automatic" and p.thresholds.tolist() == [10.0]


@settings(max_examples=25, deadline=None)
@given(
    r1=st.floats(0.0, 0.1),
    r2=st.floats(0.0, 0.1),
    scale=st.floats(0.0, 5.0),
    lo=st.floats(1.0, 3000.0),
)
def test_payout_is_linear_in_the_rates_without_cap_or_response(r1, r2, scale, lo):
    # retroactive, no cap, no minimum, nobody responds: payout(c x rates) = c x payout(rates)
    base, current = hand_base(SPEND, np.ones_like(SPEND))
    tiers = [{"from": lo, "rate": r1}, {"from": lo + 1000, "rate": r2}]
    scaled = [
        {"from": lo, "rate": min(1.0, r1 * scale)},
        {"from": lo + 1000, "rate": min(1.0, r2 * scale)},
    ]
    df = run(base, current, {"a": {"tiers": tiers}, "b": {"tiers": scaled}})
    if r1 * scale <= 1 and r2 * scale <= 1:
        assert df.at["b", "payout"] == pytest.approx(
            scale * df.at["a", "payout"], rel=1e-9, abs=1e-9
        )
    # eligible sales and tier counts do not depend on the rates
    assert (
        df.at["a", "eligible_sales"]
        == df.at["b", "eligible_sales"]
        == df.at["current", "eligible_sales"]
    )
    assert df.at["a", "customers_in_tiers"] == df.at["b", "customers_in_tiers"]
