"""Tests of what-if runs (rebatelab.simulation.whatif) and their plots."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebatelab.engine.settlement import evaluate, schedule
from rebatelab.errors import ParameterError
from rebatelab.programs.terms import ProgramSet, load_programs
from rebatelab.simulation.generator import simulate_data
from rebatelab.simulation.response import threshold_response
from rebatelab.simulation.whatif import (
    METRICS,
    _gamma_poisson_rates,
    simulate_program,
    whatif_base,
)

PERIOD = {"start": "2027-01-01", "end": "2027-12-31"}


def prog(pid, tiers, **kw):
    return {"id": pid, **PERIOD, "enrollment": "automatic", "tiers": tiers, **kw}


@pytest.fixture(scope="module")
def sim():
    return simulate_data(250, start="2025-01-01", end="2026-12-31", seed=21,
                         lifetime_mean_years=3.0, lines_per_order=4.0)  # fmt: skip


@pytest.fixture(scope="module")
def base(sim):
    return whatif_base(sim.to_rebate_data())


@pytest.fixture(scope="module")
def true_base(sim):
    return whatif_base(sim)


TWO_TIERS = [{"from": 1500, "rate": 0.02}, {"from": 4000, "rate": 0.03}]


# ---- the what-if's scenario evaluation (the engine on pools x scenarios) ----------------
ENGINE_CASES = [
    prog("R", [{"from": 1000, "rate": 0.02}, {"from": 3000, "rate": 0.04}]),
    prog("I", [{"from": 0, "rate": 0.01}, {"from": 2000, "rate": 0.03}], method="incremental"),
    prog("L", [{"from": 500, "rate": 0.0, "amount": 50}, {"from": 2500, "rate": 0.01,
                                                           "amount": 200}]),
    prog("C", [{"from": 1000, "rate": 0.05}, {"from": 3000, "rate": 0.08}], cap=150,
         min_payout=60),
    prog("GT", [{"from": 0.05, "rate": 0.01}, {"from": 0.2, "rate": 0.03}],
         growth={"rebate_on": "total"}),
    prog("GX", [{"from": 0.0, "rate": 0.05}, {"from": 0.15, "rate": 0.08}],
         growth={"rebate_on": "excess"}),
]  # fmt: skip


@pytest.mark.parametrize("raw", ENGINE_CASES, ids=lambda r: r["id"])
def test_scenario_evaluation_matches_the_engine_row_by_row(raw):
    # the what-if evaluates a (pools x scenarios) basis in one call; the reference is the
    # engine on one scenario (a 1-D basis) at a time, and Program.earned pool by pool
    programs = load_programs([raw])
    p = list(programs)[0]
    rng = np.random.default_rng(1)
    n_pools, n_scen = 40, 30
    b = rng.gamma(1.0, 2000.0, (n_pools, n_scen)) - 200  # some negative bases too
    b[0, :3] = p.thresholds[0] if not p.is_growth else b[0, :3]  # exactly on a threshold
    baseline = rng.uniform(500, 4000, n_pools)
    baseline[:3] = [np.nan, 0.0, -5.0]  # unusable baselines
    sched = schedule(programs, np.zeros(n_pools, dtype=int), baseline=baseline)
    got = evaluate(sched, b)
    cols = [evaluate(sched, b[:, j]) for j in range(n_scen)]
    ref = {k: np.stack([c[k] for c in cols], axis=1) for k in cols[0]}
    np.testing.assert_array_equal(got["tier"], ref["tier"])
    np.testing.assert_allclose(got["earned"], ref["earned"], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got["payable"], ref["payable"], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got["next_threshold"], ref["next_threshold"], rtol=1e-12)
    np.testing.assert_allclose(got["gap_to_next"], ref["gap_to_next"], rtol=1e-12, atol=1e-9)
    # payable if the basis rose to the next threshold: the engine evaluated at that threshold
    # (not a basis plus the gap, which can land a rounding error below the threshold)
    top = np.isnan(ref["next_threshold"])
    at = evaluate(sched, np.where(top, b, ref["next_threshold"]))
    ref_pay_next = np.where(top, 0.0, at["payable"])
    got_pay_next = np.where(top, 0.0, got["payable_at_next"])
    np.testing.assert_allclose(got_pay_next, ref_pay_next, rtol=1e-12, atol=1e-9)
    assert np.isnan(got["payable_at_next"][top]).all()
    # the program's own terms (tiers.earned then the cap), pool by pool
    usable = np.isfinite(baseline) & (baseline > 0)
    for i in range(n_pools):
        if p.is_growth and not usable[i]:
            np.testing.assert_array_equal(got["earned"][i], 0.0)  # no tier can be reached
            continue
        own = np.asarray(p.earned(b[i], baseline=baseline[i] if p.is_growth else None), dtype=float)
        np.testing.assert_allclose(got["earned"][i], own, rtol=1e-12, atol=1e-9)


# ---- the response rule ------------------------------------------------------------------
def test_threshold_response_rule():
    gap = np.array([10.0, 10.0, 10.0, 10.0, np.nan, 0.0])
    out = threshold_response(
        np.zeros(6),
        gap=gap,
        gain=np.array([5.0, 5.0, 0.1, 5.0, 5.0, 5.0]),
        capacity=np.array([20.0, 5.0, 20.0, 20.0, 20.0, 20.0]),
        holding_cost=0.02,
        u=np.array([0.1, 0.1, 0.1, 0.9, 0.1, 0.1]),
        strength=0.5,
    )
    # responds / too far / not worth it / not responsive / top tier / already there
    np.testing.assert_array_equal(out, [10.0, 0, 0, 0, 0, 0])
    with pytest.raises(ParameterError, match="strength"):
        threshold_response([1.0], gap=[1.0], gain=[1.0], capacity=[1.0], holding_cost=[0.0],
                           u=[0.0], strength=1.5)  # fmt: skip


# ---- what-if runs -----------------------------------------------------------------------
def test_result_shapes_and_tier_counts(base):
    res = simulate_program(base, [prog("A", TWO_TIERS)], n_scenarios=200, seed=1)
    m = res.metrics["A"]
    assert set(m) == set(METRICS)
    for v in m.values():
        assert v.shape == (200,)
    counts = res.tier_counts["A"]
    assert counts.shape == (200, 3)
    # automatic, no filter: every customer is a member and ends in exactly one tier
    np.testing.assert_array_equal(counts.sum(axis=1), base.n_customers)
    np.testing.assert_allclose(m["payout_share"], m["total_payout"] / m["eligible_sales"])
    table = res.summary()
    assert ("total_payout", "mean") in table.columns and list(table.index) == ["A"]
    assert len(res.scenarios()) == 200


def test_response_strength_zero_gives_no_uplift(base):
    res = simulate_program(base, [prog("A", TWO_TIERS)], n_scenarios=300, seed=2,
                           response_strength=0.0)  # fmt: skip
    m = res.metrics["A"]
    np.testing.assert_array_equal(m["uplift"], 0.0)
    np.testing.assert_array_equal(m["incremental_revenue"], 0.0)
    np.testing.assert_array_equal(m["total_payout"], m["payout_without_response"])
    assert np.isinf(m["cost_per_incremental"]).all()


def test_eligible_sales_match_the_spend_model_without_response(true_base):
    # mean over scenarios of total spend = sum_i Lambda_i v_i (compound Poisson-gamma mean);
    # tolerance 4 SE of the mean over scenarios, SE from the compound variance
    n_scen = 2000
    res = simulate_program(true_base, [prog("A", TWO_TIERS)], n_scenarios=n_scen, seed=3,
                           response_strength=0.0)  # fmt: skip
    lam = true_base.expected_orders(PERIOD["start"], PERIOD["end"])
    v = true_base.mean_order_value
    mean = np.sum(lam * v)
    var = np.sum(lam * v**2 * (1 + 1 / true_base.value_shape))
    sales = res.metrics["A"]["eligible_sales"]
    assert abs(sales.mean() - mean) < 4 * np.sqrt(var / n_scen)
    assert sales.var() == pytest.approx(var, rel=0.15)  # 2000 draws of a skewed sum


def test_response_adds_revenue_and_payout(base):
    on = simulate_program(base, [prog("A", TWO_TIERS)], n_scenarios=300, seed=4,
                          response_strength=1.0)  # fmt: skip
    m = on.metrics["A"]
    assert m["uplift"].mean() > 0
    np.testing.assert_allclose(m["incremental_revenue"], 0.3 * m["uplift"])
    assert (m["total_payout"] >= m["payout_without_response"] - 1e-9).all()
    # a responder ends exactly on a threshold: more customers in tier >= 1 than without
    off = simulate_program(base, [prog("A", TWO_TIERS)], n_scenarios=300, seed=4,
                           response_strength=0.0)  # fmt: skip
    assert (on.tier_counts["A"][:, 0] <= off.tier_counts["A"][:, 0]).all()


def test_common_random_numbers_across_candidates(base):
    a = prog("A", TWO_TIERS)
    b = prog("B", [{"from": 1000, "rate": 0.03}])
    alone = simulate_program(base, [a], n_scenarios=100, seed=5)
    both = simulate_program(base, [b, a], n_scenarios=100, seed=5)
    for k in METRICS:
        np.testing.assert_array_equal(alone.metrics["A"][k], both.metrics["A"][k])
    other = simulate_program(base, [a], n_scenarios=100, seed=6)
    assert not np.array_equal(alone.metrics["A"]["total_payout"],
                              other.metrics["A"]["total_payout"])  # fmt: skip


@settings(max_examples=15, deadline=None)
@given(
    r1=st.floats(0.0, 0.05),
    r2=st.floats(0.0, 0.05),
    scale=st.floats(1.0, 3.0),
    strength=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_richer_program_never_costs_less(base, r1, r2, scale, strength):
    # every rate multiplied by scale >= 1: the gain of reaching a tier scales too, so the
    # responders of the poorer program respond to the richer one as well, and each pays more
    poor = prog("POOR", [{"from": 1500, "rate": r1}, {"from": 4000, "rate": r1 + r2}])
    rich = prog("RICH", [{"from": 1500, "rate": min(1.0, r1 * scale)},
                         {"from": 4000, "rate": min(1.0, (r1 + r2) * scale)}])  # fmt: skip
    res = simulate_program(base, [poor, rich], n_scenarios=100, seed=8,
                           response_strength=strength)  # fmt: skip
    assert (res.metrics["RICH"]["total_payout"] >= res.metrics["POOR"]["total_payout"] - 1e-9).all()


def test_lower_thresholds_cost_more_without_response(base):
    hard = prog("HARD", [{"from": 3000, "rate": 0.02}, {"from": 8000, "rate": 0.03}])
    easy = prog("EASY", [{"from": 2000, "rate": 0.02}, {"from": 6000, "rate": 0.03}])
    res = simulate_program(base, [hard, easy], n_scenarios=200, seed=9, response_strength=0.0)
    assert (res.metrics["EASY"]["total_payout"] >= res.metrics["HARD"]["total_payout"]).all()


def test_pooled_growth_quantity_and_filtered_programs_run(sim, base):
    groups = sorted(sim.customers["buying_group"].dropna().unique())
    cands = ProgramSet.from_programs(
        [
            prog("POOL", [{"from": 20000, "rate": 0.02}], pool="buying_group",
                 customers={"buying_group": groups}),
            prog("GROW", [{"from": 0.05, "rate": 0.02}], growth={"rebate_on": "excess"}),
            prog("UNITS", [{"from": 500, "rate": 0.02}], basis="quantity",
                 products={"category": ["Fasteners"]}),
            prog("SEG", [{"from": 1000, "rate": 0.02}], customers={"segment": ["Retailer"]},
                 exclude_products={"brand": ["House"]}, cap=100, min_payout=25),
        ]
    )  # fmt: skip
    res = simulate_program(base, cands, n_scenarios=100, seed=10)
    n_group = sim.customers["buying_group"].notna().sum()
    assert res.tier_counts["POOL"].sum(axis=1)[0] == n_group
    n_retail = (sim.customers["segment"] == "Retailer").sum()
    assert res.tier_counts["SEG"].sum(axis=1)[0] == n_retail
    for pid in cands.ids:
        assert np.isfinite(res.metrics[pid]["total_payout"]).all()
    # cap 100 per customer bounds the payout
    assert (res.metrics["SEG"]["total_payout"] <= 100 * n_retail + 1e-9).all()


def test_runs_on_a_folder_read_by_io(tmp_path, sim):
    from rebatelab.io.folders import load_data
    from rebatelab.io.simulated import load_simulated
    from rebatelab.simulation.generator import write_data_folder

    folder = write_data_folder(sim, tmp_path / "f")
    data, truth = load_simulated(folder)
    res = simulate_program(whatif_base(data, truth=truth), [prog("A", TWO_TIERS)],
                           n_scenarios=20, seed=1)  # fmt: skip
    assert res.metrics["A"]["total_payout"].shape == (20,)
    # the folder's truth gives the base the simulated data gives in memory
    from_folder, in_memory = whatif_base(data, truth=truth), whatif_base(sim)
    np.testing.assert_array_equal(from_folder.order_rate, in_memory.order_rate)
    np.testing.assert_array_equal(from_folder.holding_cost, in_memory.holding_cost)
    np.testing.assert_allclose(from_folder.mean_order_value, in_memory.mean_order_value)
    # an ordinary folder has no truth; whatif_base itself reads no files
    plain = write_data_folder(sim, tmp_path / "plain")
    (plain / "truth" / "simulation.json").unlink()
    assert load_simulated(plain, require_truth=False).truth is None
    with pytest.raises(ParameterError, match="no ground truth"):
        load_simulated(plain)
    estimated = whatif_base(load_data(plain))
    assert estimated.truth is None
    with pytest.raises(ParameterError, match="loaded data"):
        whatif_base(folder)
    with pytest.raises(ParameterError, match="loaded data"):
        simulate_program(folder, [prog("A", TWO_TIERS)], n_scenarios=20, seed=1)


def test_gamma_poisson_rates_shrink_toward_the_population():
    rng = np.random.default_rng(0)
    r, alpha, t = 2.0, 100.0, 365.0  # mean rate 0.02/day
    lam = rng.gamma(r, 1 / alpha, 50_000)
    x = rng.poisson(lam * t).astype(float)
    est = _gamma_poisson_rates(x, np.full(x.size, t))
    # posterior means average to the prior mean (tower rule); 1% = a few SE at n = 50,000
    assert est.mean() == pytest.approx(r / alpha, rel=0.01)
    # and beat the raw rates x / t in mean squared error
    assert np.mean((est - lam) ** 2) < np.mean((x / t - lam) ** 2)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(n_scenarios=0), "n_scenarios"),
        (dict(response_strength=1.5), "response_strength"),
        (dict(response_strength=-0.1), "response_strength"),
        (dict(incremental_share=2.0), "incremental_share"),
        (dict(pull_forward_days=-1.0), "pull_forward_days"),
    ],
)
def test_bad_parameters_name_the_parameter(base, kwargs, name):
    with pytest.raises(ParameterError, match=name):
        simulate_program(base, [prog("A", TWO_TIERS)], **kwargs)


def test_candidates_must_share_a_period(base):
    other = {**prog("B", TWO_TIERS), "start": "2027-01-01", "end": "2027-06-30"}
    with pytest.raises(ParameterError, match="one measurement period"):
        simulate_program(base, [prog("A", TWO_TIERS), other])


def test_plots_draw_on_the_given_axes(base):
    from matplotlib.figure import Figure

    from rebatelab.plotting.whatif import plot_tier_participation, plot_whatif

    res = simulate_program(base, [prog("A", TWO_TIERS), prog("B", [{"from": 1000, "rate": 0.03}])],
                           n_scenarios=50, seed=1)  # fmt: skip
    ax = Figure().add_subplot()
    assert plot_whatif(res, metric="payout_share", ax=ax) is ax
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B"]
    means = ax.get_lines()[-1].get_ydata()
    np.testing.assert_allclose(means, [res.metrics[p]["payout_share"].mean() for p in ("A", "B")])
    ax2 = plot_tier_participation(res)
    assert len(ax2.patches) == 2 * 2  # two candidates x tiers 1..2 (B has 1 tier: 0 height)
    with pytest.raises(ParameterError, match="metric"):
        plot_whatif(res, metric="nope")


def test_cached_draws_give_the_same_results_as_fresh_ones(sim):
    cands = [prog("A", TWO_TIERS)]
    fresh = whatif_base(sim.to_rebate_data())
    first = simulate_program(fresh, cands, n_scenarios=50, seed=12)
    again = simulate_program(fresh, cands, n_scenarios=50, seed=12)  # from the cache
    other = simulate_program(whatif_base(sim.to_rebate_data()), cands, n_scenarios=50, seed=12)
    for k in METRICS:
        np.testing.assert_array_equal(first.metrics["A"][k], again.metrics["A"][k])
        np.testing.assert_array_equal(first.metrics["A"][k], other.metrics["A"][k])


def test_a_variant_alone_runs_on_its_own_customers(sim, base):
    from rebatelab import load_programs as lp

    progs = lp(sim.programs_yaml)
    variant = next(p for p in progs if p.variant_of)
    parent = progs[variant.variant_of]
    moved = {**variant.model_dump(by_alias=True, exclude_none=True), "start": "2027-01-01",
             "end": "2027-12-31"}  # fmt: skip
    moved["tiers"] = [t.model_dump(by_alias=True, exclude_none=True) for t in variant.tiers]
    moved_parent = {**parent.model_dump(by_alias=True, exclude_none=True),
                    "start": "2027-01-01", "end": "2027-12-31"}  # fmt: skip
    moved_parent["tiers"] = [t.model_dump(by_alias=True, exclude_none=True) for t in parent.tiers]
    pset = ProgramSet.from_programs([moved_parent, moved])
    alone = simulate_program(base, [pset[variant.id]], n_scenarios=30, seed=1)
    assert alone.tier_counts[variant.id].sum(axis=1)[0] == len(variant.customers_only)
    together = simulate_program(base, pset, n_scenarios=30, seed=1)
    np.testing.assert_array_equal(
        together.metrics[variant.id]["total_payout"], alone.metrics[variant.id]["total_payout"]
    )


def test_renamed_required_enrollment_candidate_is_refused_clearly(sim, base):
    # issue 12 item 7: a renamed copy of a required-enrollment program has no enrollments
    gold = load_programs([{"id": "GOLD", **PERIOD, "tiers": TWO_TIERS}])["GOLD"]
    alt = gold.model_copy(update={"id": "GOLD-ALT"})
    with pytest.raises(ParameterError, match="GOLD-ALT.*no enrollments"):
        simulate_program(base, [alt], n_scenarios=10, seed=1)
