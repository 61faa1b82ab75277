"""Forecasts: alignment with accrue, exact settlement expectations, properties, errors."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebatelab.data.tables import RebateData
from rebatelab.datasets import sample_path
from rebatelab.engine.accrual import accrue
from rebatelab.engine.settlement import evaluate, schedule
from rebatelab.engine.stage_one import reduce
from rebatelab.errors import DataValidationError, ParameterError
from rebatelab.forecasting.compound import poisson_counts
from rebatelab.forecasting.expected_settlement import expected_settlement, tier_probabilities
from rebatelab.forecasting.projection import (
    DEFAULT_LEVELS,
    basis_quantiles,
    forecast,
    forecast_units,
)
from rebatelab.forecasting.quantiles import quantile_columns
from rebatelab.forecasting.spend_forecast import SpendForecast
from rebatelab.programs.terms import load_programs

PROGRAMS = """
programs:
  - id: RETRO
    start: 2025-04-01
    end: 2025-06-30
    tiers: [{from: 2000, rate: 0.02}, {from: 6000, rate: 0.04, amount: 50}]
    cap: 400
    min_payout: 60
    enrollment: automatic
  - id: STEP
    start: 2025-04-01
    end: 2025-06-30
    method: incremental
    tiers: [{from: 0, rate: 0.01}, {from: 3000, rate: 0.03}]
    products: {category: [A]}
    enrollment: automatic
  - id: POOLED
    start: 2025-04-01
    end: 2025-06-30
    pool: buying_group
    tiers: [{from: 10000, rate: 0.03}]
    enrollment: automatic
  - id: UNITS
    start: 2025-04-01
    end: 2025-06-30
    basis: quantity
    tiers: [{from: 40, rate: 0.01}, {from: 120, rate: 0.02}]
    enrollment: automatic
  - id: GROW
    start: 2025-04-01
    end: 2025-06-30
    growth: {rebate_on: excess}
    tiers: [{from: 0.05, rate: 0.03}]
    enrollment: automatic
"""


def make_data(n=150, seed=0, start="2024-01-01", end="2025-06-30"):
    """Gamma-Poisson buyers with dropout, gamma order values, some returns, two pools."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, end, freq="D")
    lam = rng.gamma(0.8, 1 / 20.0, n)  # orders per day
    death = rng.integers(100, 3 * len(days), n)  # some stop buying inside the window
    birth = rng.integers(0, len(days) // 2, n)
    counts = rng.poisson(lam * np.clip(np.minimum(death, len(days)) - birth, 0, None))
    cust = np.repeat(np.arange(n), counts)
    day = birth[cust] + (rng.random(cust.size) * (np.minimum(death, len(days)) - birth)[cust])
    day = day.astype(int)
    value = rng.gamma(2.0, rng.gamma(3.0, 150.0, n)[cust] / 2.0)
    prod = rng.integers(0, 2, cust.size)
    qty = np.maximum(np.round(value / 40), 1)
    ret = rng.random(cust.size) < 0.05
    tx = pd.DataFrame(
        {
            "invoice_id": [f"I{i}" for i in range(cust.size)],
            "date": days[day],
            "customer_id": [f"C{c:04d}" for c in cust],
            "product_id": np.where(prod == 0, "PA", "PB"),
            "quantity": np.where(ret, -qty, qty),
            "net_amount": np.round(np.where(ret, -value, value), 2),
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": [f"C{c:04d}" for c in range(n)],
            "buying_group": [f"G{c % 3}" if c % 5 == 0 else None for c in range(n)],
        }
    )
    products = pd.DataFrame({"product_id": ["PA", "PB"], "category": ["A", "B"]})
    return RebateData.from_frames(tx, customers, products)


@pytest.fixture(scope="module")
def data():
    return make_data()


@pytest.fixture(scope="module")
def programs():
    return load_programs(PROGRAMS)


@pytest.fixture(scope="module")
def fc(data, programs):
    return forecast(data, programs, "2025-05-10")


def test_rows_align_with_accrue_and_are_consistent(data, programs, fc):
    acc = accrue(data, programs, "2025-05-10")
    assert fc["program_id"].tolist() == acc["program_id"].tolist()
    assert fc["customer_id"].tolist() == acc["customer_id"].tolist()
    np.testing.assert_allclose(fc["basis_to_date"], acc["basis"])
    for c in (
        "projected_mean",
        "projected_p10",
        "projected_p50",
        "projected_p90",
        "p_next_tier",
        "expected_rebate",
        "most_likely_rebate",
        "method",
        "p_tier_0",
    ):
        assert c in fc.columns
    p = fc.filter(like="p_tier_").to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-7)
    assert (fc["projected_p10"] <= fc["projected_p50"] + 1e-9).all()
    assert (fc["projected_p50"] <= fc["projected_p90"] + 1e-9).all()
    # future spend is net of returns but never negative in this model
    assert (fc["projected_p10"] >= fc["pool_basis_to_date"] - 1e-6).all()
    assert (fc["expected_rebate"] >= 0).all()
    assert fc.attrs["truncation_bound"] <= 1e-8
    q = basis_quantiles(fc)
    assert q.shape == (len(fc), 7) and np.all(np.diff(q, axis=1) >= -1e-9)


def test_top_tier_has_no_next_tier(data, programs, fc):
    acc = accrue(data, programs, "2025-05-10")
    top = (acc["tier"] == 2) & (acc["program_id"] == "RETRO")
    assert top.any()
    assert fc.loc[top, "p_next_tier"].isna().all()
    np.testing.assert_allclose(fc.loc[top, "p_tier_2"], 1.0)


def test_past_the_top_tier_the_rebate_is_the_top_rate_on_the_expected_basis(data, programs, fc):
    """At the top tier (no cap, no lump sum) the tier is certain and earned is linear."""
    acc = accrue(data, programs, "2025-05-10")
    top = ((acc["tier"] == 2) & (acc["program_id"] == "UNITS")).to_numpy()
    assert top.any()
    assert fc.loc[top, "p_next_tier"].isna().all()
    np.testing.assert_allclose(
        fc.loc[top, "expected_rebate"], 0.02 * fc.loc[top, "projected_mean"], rtol=1e-7
    )
    np.testing.assert_allclose(
        fc.loc[top, "most_likely_rebate"], fc.loc[top, "expected_rebate"], rtol=1e-7
    )


def test_pool_members_share_the_pool_forecast(fc):
    pooled = fc[fc["program_id"] == "POOLED"]
    grp = pooled.groupby("pool_id")
    assert (grp["p_next_tier"].nunique(dropna=False) == 1).all()
    assert (grp["projected_mean"].nunique() == 1).all()
    multi = grp.size()[grp.size() > 1].index
    assert len(multi) >= 2


def test_a_period_that_has_ended_has_no_uncertainty(data, programs):
    fc = forecast(data, programs, "2025-06-30")
    acc = accrue(data, programs, "2025-06-30")
    np.testing.assert_allclose(fc["projected_p10"], fc["pool_basis_to_date"])
    np.testing.assert_allclose(fc["projected_p90"], fc["pool_basis_to_date"])
    assert ((fc["p_next_tier"] == 0) | fc["p_next_tier"].isna()).all()
    # the expected rebate is the earned amount (accrue rounds pool shares to cents)
    np.testing.assert_allclose(fc["expected_rebate"], acc["earned"], atol=0.011)


def test_more_spend_to_date_never_lowers_the_probability_of_the_next_tier(data, programs):
    _, _, sf, _ = forecast_units(data, programs, "2025-05-10")
    base = sf.sf(np.full(sf.b0.size, 5000.0))
    richer = SpendForecast(
        sf.counts,
        sf.shape,
        sf.scale,
        sf.mix_shape,
        sf.mix_rate,
        sf.b0 + 500.0,
        sf.factor,
        sf.method,
    )
    assert np.all(richer.sf(np.full(sf.b0.size, 5000.0)) >= base - 1e-12)
    assert np.all(sf.sf(np.full(sf.b0.size, 5500.0)) <= base + 1e-12)


@settings(max_examples=30, deadline=None)
@given(
    b0=st.floats(-500, 8000), extra=st.floats(0, 3000), t1=st.floats(0, 9000), dt=st.floats(0, 3000)
)
def test_tail_probability_monotone_in_basis_and_threshold(b0, extra, t1, dt):
    c = poisson_counts([2.5])
    sf = SpendForecast(
        c, np.array([1.5]), np.array([400.0]), None, None, np.array([b0]), np.array([0.97]), "test"
    )
    more = SpendForecast(
        c,
        np.array([1.5]),
        np.array([400.0]),
        None,
        None,
        np.array([b0 + extra]),
        np.array([0.97]),
        "test",
    )
    p = sf.sf(np.array([t1]))[0]
    assert more.sf(np.array([t1]))[0] >= p - 1e-12
    assert sf.sf(np.array([t1 + dt]))[0] <= p + 1e-12


def _draw(sf: SpendForecast, rng, n):
    """Monte Carlo draws of the end basis of each unit (independent check)."""
    pmf = sf.counts.pmf_matrix(400)
    cdf = np.cumsum(pmf, axis=1)
    u = rng.random((sf.b0.size, n))
    cnt = np.array([np.searchsorted(cdf[i], u[i]) for i in range(sf.b0.size)])
    if sf.mix_shape is not None:
        rate = rng.gamma(sf.mix_shape[:, None], 1.0 / sf.mix_rate[:, None], (sf.b0.size, n))
    else:
        rate = np.broadcast_to(1.0 / sf.scale[:, None], cnt.shape)
    s = np.where(cnt > 0, rng.gamma(np.maximum(cnt * sf.shape[:, None], 1e-300), 1.0 / rate), 0)
    return sf.b0[:, None] + sf.factor[:, None] * s


@pytest.mark.parametrize("pid", ["RETRO", "STEP", "GROW"])
def test_expected_settlement_matches_monte_carlo(pid, programs):
    """Cap, lump sums, incremental tiers and growth excess, against brute-force draws."""
    n_units = 6
    b0 = np.array([0.0, 1500.0, 1990.0, 3000.0, 5800.0, 9000.0])
    sf = SpendForecast(
        poisson_counts(np.array([0.5, 2.0, 1.0, 4.0, 1.5, 3.0])),
        np.full(n_units, 1.3),
        None,
        np.full(n_units, 6.0),
        np.full(n_units, 2500.0),
        b0,
        np.full(n_units, 0.95),
        "test",
    )
    idx = programs.ids.index(pid)
    baseline = np.full(n_units, 3000.0) if pid == "GROW" else None
    sched = schedule(programs, np.full(n_units, idx), baseline=baseline)
    exact, by_tier = expected_settlement(sf, sched)
    np.testing.assert_allclose(by_tier.sum(axis=1), exact, rtol=1e-10)
    rng = np.random.default_rng(99)
    draws = _draw(sf, rng, 100_000)
    g = evaluate(sched, draws)["earned"]
    mc, se = g.mean(axis=1), g.std(axis=1) / np.sqrt(draws.shape[1])
    # 5 standard errors of the Monte Carlo mean (plus a cent)
    assert np.all(np.abs(mc - exact) <= 5 * se + 0.01), (mc, exact)
    pay_exact, _ = expected_settlement(sf, sched, payable=True)
    pay = evaluate(sched, draws)["payable"]
    pay_mc, pay_se = pay.mean(axis=1), pay.std(axis=1) / np.sqrt(draws.shape[1])
    assert np.all(np.abs(pay_mc - pay_exact) <= 5 * pay_se + 0.01), (pay_mc, pay_exact)
    # tier probabilities against the same draws
    tiers_mc = evaluate(sched, draws)["tier"]
    p = tier_probabilities(sf, sched.thresholds)
    for k in range(p.shape[1]):
        emp = (tiers_mc == k).mean(axis=1)
        assert np.all(np.abs(emp - p[:, k]) <= 5 * np.sqrt(0.25 / draws.shape[1]))


def test_quantity_programs_forecast_units(fc):
    u = fc[fc["program_id"] == "UNITS"]
    assert (u["projected_mean"] >= u["pool_basis_to_date"]).all()
    assert u["projected_mean"].max() < 1e5  # units, not currency


def test_sparse_new_customer_is_shrunk(data, programs):
    """Two big orders a week apart must not be extrapolated at face value."""
    tx = data.transactions
    new = pd.DataFrame(
        {
            "invoice_id": ["NEW1", "NEW2"],
            "date": pd.to_datetime(["2025-05-02", "2025-05-09"]),
            "customer_id": ["CNEW", "CNEW"],
            "product_id": ["PA", "PA"],
            "quantity": [100.0, 100.0],
            "net_amount": [4000.0, 4000.0],
        }
    )
    cu = pd.concat([data.customers, pd.DataFrame({"customer_id": ["CNEW"]})], ignore_index=True)
    d2 = RebateData.from_frames(pd.concat([tx, new], ignore_index=True), cu, data.products)
    h = forecast(d2, programs, "2025-05-10")
    sel = (h["customer_id"] == "CNEW") & (h["program_id"] == "RETRO")
    to_come = float((h.loc[sel, "projected_mean"] - h.loc[sel, "pool_basis_to_date"]).iloc[0])
    # face value: 2 orders in 9 days of life, 4,000 each, over the 51 days left
    face = 2 / 9 * 51 * 4000.0
    assert 0 < to_come < 0.5 * face
    # and the population's typical customer is far below this one: shrinkage, not dismissal
    typical = h[h["program_id"] == "RETRO"]
    typical = (typical["projected_mean"] - typical["pool_basis_to_date"]).median()
    assert to_come > typical


@pytest.mark.parametrize("method", ["bgnbd", "run_rate"])
def test_comparator_methods_run(data, programs, method):
    f = forecast(data, programs, "2025-05-10", method=method)
    assert (f["method"] == method).all()
    assert f["p_next_tier"].dropna().between(0, 1).all()


def test_clear_errors(data, programs):
    with pytest.raises(ParameterError, match="outside the data"):
        forecast(data, programs, "2030-01-01")
    with pytest.raises(ParameterError, match="method"):
        forecast(data, programs, "2025-05-10", method="magic")
    nothing = load_programs(
        "programs:\n  - id: EMPTY\n    start: 2025-04-01\n    end: 2025-06-30\n"
        "    tiers: [{from: 100, rate: 0.01}]\n    products: {category: [Z]}\n"
        "    enrollment: automatic\n"
    )
    with pytest.raises(DataValidationError, match="EMPTY: not enough purchase history"):
        forecast(data, nothing, "2025-05-10")


@pytest.mark.slow
def test_cli_forecast_on_sample_and_bad_input(tmp_path, capsys):
    from rebatelab.cli.main import main

    sample = sample_path()
    out = tmp_path / "fc.csv"
    code = main(["forecast", "--data", str(sample), "--as-of", "2026-06-30", "--out", str(out)])
    assert code == 0
    fc = pd.read_csv(out)
    assert {"p_next_tier", "expected_rebate", "projected_p90"} <= set(fc.columns)
    assert "expected rebate" in capsys.readouterr().out
    code = main(["forecast", "--data", str(sample), "--as-of", "2040-01-01", "--out", str(out)])
    assert code == 2
    assert "outside the data" in capsys.readouterr().err


def test_programs_sharing_members_and_products_share_one_model(data, programs, monkeypatch):
    """Copies of programs (same members, products, basis, period; other tiers) are forecast
    from one shared unit model: the result equals the one computed program by program.

    Both paths evaluate the same series with the same inputs, so the values agree to the
    last bits (1e-12 relative allows for a different vectorization of the same operations).
    """
    import rebatelab.forecasting.projection as fcm

    raw = [p.model_dump(by_alias=True, exclude_none=True) for p in programs]
    extra = []
    for d in raw:
        if d["id"] in ("RETRO", "POOLED", "UNITS"):
            same = dict(d, id=d["id"] + "_COPY")
            scaled = dict(d, id=d["id"] + "_X2")
            scaled["tiers"] = [dict(t, **{"from": 2 * t["from"]}) for t in d["tiers"]]
            extra += [same, scaled]
    many = load_programs(raw + extra)
    shared = forecast(data, many, "2025-05-10")
    monkeypatch.setattr(fcm, "_DEDUPE", False)
    separate = forecast(data, many, "2025-05-10")
    pd.testing.assert_frame_equal(shared, separate, rtol=1e-12, atol=1e-9)
    # an identical copy gives identical rows (but for the program id)
    for pid in ("RETRO", "POOLED", "UNITS"):
        a = shared[shared["program_id"] == pid].drop(columns="program_id")
        b = shared[shared["program_id"] == pid + "_COPY"].drop(columns="program_id")
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    # the scaled copy shares the basis distribution, not the tier probabilities
    a = shared[shared["program_id"] == "RETRO"].reset_index(drop=True)
    b = shared[shared["program_id"] == "RETRO_X2"].reset_index(drop=True)
    np.testing.assert_array_equal(a["projected_p50"], b["projected_p50"])
    assert not np.array_equal(a["p_tier_1"], b["p_tier_1"])


def test_enrolled_programs_share_models_only_with_the_same_members(data, monkeypatch):
    """Enrollment-based programs: a copy with the same enrolled customers shares the model
    (its enrollments stay valid while the copy is not reduced separately); one with other
    customers does not. Same result as program by program (tolerance as above).
    """
    import rebatelab.forecasting.projection as fcm

    ids = [f"C{c:04d}" for c in range(80)]
    en = pd.DataFrame(
        {
            "program_id": ["REQ"] * 80 + ["REQ_COPY"] * 80 + ["REQ_OTHER"] * 60,
            "customer_id": ids + ids + ids[:60],
        }
    )
    d2 = RebateData.from_frames(data.transactions, data.customers, data.products, enrollments=en)
    progs = load_programs(
        """
programs:
  - {id: REQ, start: 2025-04-01, end: 2025-06-30, tiers: [{from: 2000, rate: 0.02}]}
  - {id: REQ_COPY, start: 2025-04-01, end: 2025-06-30, tiers: [{from: 3000, rate: 0.02}]}
  - {id: REQ_OTHER, start: 2025-04-01, end: 2025-06-30, tiers: [{from: 2000, rate: 0.02}]}
"""
    )
    _, _, _, _, rep = fcm._forecast_units(d2, progs, "2025-05-10", method="hierarchical", tol=1e-8)
    assert len(np.unique(rep)) == 80 + 60  # REQ_COPY shares REQ's models, REQ_OTHER does not
    shared = forecast(d2, progs, "2025-05-10")
    monkeypatch.setattr(fcm, "_DEDUPE", False)
    separate = forecast(d2, progs, "2025-05-10")
    pd.testing.assert_frame_equal(shared, separate, rtol=1e-12, atol=1e-9)


def test_forecast_takes_stage_ones_reduction(data, programs, fc):
    """Reduced once and handed over, the forecast is the one computed from the data."""
    red = reduce(data, programs, "2025-05-10")
    pd.testing.assert_frame_equal(forecast(red), fc, check_exact=True)
    acc, unit, sf, _ = forecast_units(red)
    assert len(acc) == len(fc) and sf.b0.size == unit.max() + 1
    with pytest.raises(ParameterError, match="differs from the reduction"):
        forecast(red, as_of="2025-05-11")
    with pytest.raises(ParameterError, match="method"):
        forecast(red, method="magic")


def test_lines_after_as_of_change_nothing(data, programs, fc):
    """No leakage: deleting every line after as_of, or doubling its amounts, leaves the
    forecast unchanged to the last digit."""
    tx = data.transactions
    later = tx["date"] > pd.Timestamp("2025-05-10")
    assert later.any()
    cut = RebateData.from_frames(tx[~later], data.customers, data.products)
    pd.testing.assert_frame_equal(forecast(cut, programs, "2025-05-10"), fc, check_exact=True)
    doubled = tx.assign(
        net_amount=np.where(later, 2 * tx["net_amount"], tx["net_amount"]),
        quantity=np.where(later, 2 * tx["quantity"], tx["quantity"]),
    )
    changed = RebateData.from_frames(doubled, data.customers, data.products)
    pd.testing.assert_frame_equal(forecast(changed, programs, "2025-05-10"), fc, check_exact=True)


def test_quantile_columns_are_parsed_in_one_place(fc):
    levels, values = quantile_columns(fc)
    assert levels.tolist() == sorted(DEFAULT_LEVELS)
    np.testing.assert_array_equal(values, basis_quantiles(fc))
    cols = [f"q_{lev:g}" for lev in DEFAULT_LEVELS]
    np.testing.assert_array_equal(values, fc[cols].to_numpy())
    # column order does not matter; other q_ names are not quantiles
    shuffled = fc[cols[::-1]].assign(q_total=1.0)
    lv2, v2 = quantile_columns(shuffled)
    np.testing.assert_array_equal(lv2, levels)
    np.testing.assert_array_equal(v2, values)
    np.testing.assert_array_equal(basis_quantiles(fc, [0.9, 0.1]), fc[["q_0.9", "q_0.1"]])
    empty_levels, empty = quantile_columns(fc[["program_id"]])
    assert empty_levels.size == 0 and empty.shape == (len(fc), 0)
    with pytest.raises(ParameterError, match="same level"):
        quantile_columns(pd.DataFrame({"q_0.5": [1.0], "q_0.50": [2.0]}))
    with pytest.raises(ParameterError, match="not among"):
        basis_quantiles(fc, [0.33])


def test_cli_lists_the_forecast_methods():
    """The CLI spells the methods out (its --help imports no numpy); they must agree."""
    from rebatelab.cli.commands import forecast as cli_forecast
    from rebatelab.forecasting.projection import METHODS

    assert cli_forecast.METHODS == METHODS


def test_a_period_that_has_ended_forecasts_its_accrued_amount():
    # GOLD-2025 ended on 2025-12-31: as of 2026-09-30 its rebate is certain. Before, each
    # row's expected rebate was its unrounded share (208.905 against 208.91 accrued), so
    # `rebatelab forecast` said 166,750.62 where the liability said 166,750.61.
    from rebatelab.datasets import load_sample
    from rebatelab.finance.liability import liability
    from rebatelab.forecasting.projection import forecast
    from rebatelab.money import cents

    data, programs = load_sample()
    red = reduce(data, programs, "2026-09-30")
    acc, fc = accrue(red), forecast(red)
    ended = (acc["days_left"] == 0).to_numpy()
    assert ended.any()
    np.testing.assert_array_equal(cents(fc["expected_rebate"][ended]), cents(acc["earned"][ended]))
    np.testing.assert_array_equal(
        cents(fc["most_likely_rebate"][ended]), cents(acc["earned"][ended])
    )
    assert round(fc["expected_rebate"].sum(), 2) == liability(red).total.iloc[0]["expected"]
