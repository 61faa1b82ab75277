"""Tests of the synthetic data generator (rebatelab.simulation.generator) and its CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rebatelab.errors import ParameterError
from rebatelab.simulation.generator import read_truth, simulate_data, write_data_folder
from rebatelab.simulation.params import (
    SEGMENT_SHARE,
    SEGMENT_VALUE,
    SimulationParams,
    calendar_weights,
)
from rebatelab.simulation.truth import expected_orders, expected_spend


@pytest.fixture(scope="module")
def sample():
    """A small two-year base with the default programs and response."""
    return simulate_data(300, start="2024-10-01", end="2026-09-30", seed=7,
                         lifetime_mean_years=3.0, lines_per_order=6.0)  # fmt: skip


def test_same_seed_gives_identical_files(tmp_path):
    a = write_data_folder(simulate_data(80, seed=11, lines_per_order=4.0), tmp_path / "a")
    b = write_data_folder(simulate_data(80, seed=11, lines_per_order=4.0), tmp_path / "b")
    c = write_data_folder(simulate_data(80, seed=12, lines_per_order=4.0), tmp_path / "c")
    names = [
        "transactions.parquet",
        "customers.parquet",
        "products.parquet",
        "enrollments.parquet",
        "programs.yaml",
        "truth/customers_truth.parquet",
        "truth/simulation.json",
    ]
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "transactions.parquet").read_bytes() != (c / "transactions.parquet").read_bytes()
    ta = pd.read_parquet(a / "transactions.parquet")
    tc = pd.read_parquet(c / "transactions.parquet")
    assert not ta.equals(tc)


def test_csv_format_is_identical_for_the_same_seed(tmp_path):
    a = write_data_folder(simulate_data(30, seed=1, programs=None), tmp_path / "a", fmt="csv")
    b = write_data_folder(simulate_data(30, seed=1, programs=None), tmp_path / "b", fmt="csv")
    assert (a / "transactions.csv").read_text() == (b / "transactions.csv").read_text()


def test_output_loads_with_the_engine_and_accrues(tmp_path, sample):
    from rebatelab import accrue, load_data, load_programs

    folder = write_data_folder(sample, tmp_path / "sim")
    data = load_data(folder)
    programs = load_programs(folder / "programs.yaml")
    assert len(data.transactions) == len(sample.transactions)
    assert set(data.customers["customer_id"]) == set(sample.customers["customer_id"])
    acc = accrue(data, programs, "2026-09-30")
    # every program of the default set has members, and several reach a tier
    assert set(acc["program_id"]) == set(programs.ids)
    reached = acc[acc["tier"] > 0].groupby("program_id").size()
    assert (reached.reindex(programs.ids).fillna(0) > 0).sum() >= len(programs.ids) - 1
    # the CSV flavour loads too
    csv = write_data_folder(sample, tmp_path / "csv", fmt="csv")
    assert len(load_data(csv).transactions) == len(sample.transactions)


def test_default_programs_use_every_feature(sample):
    from rebatelab import load_programs

    progs = list(load_programs(sample.programs_yaml))
    assert any(p.method == "retroactive" and p.growth is None for p in progs)
    assert any(p.method == "incremental" for p in progs)
    assert any(any(t.amount for t in p.tiers) for p in progs)
    assert {p.growth.rebate_on for p in progs if p.growth} == {"total", "excess"}
    assert any(p.pool == "buying_group" for p in progs)
    assert any(p.cap is not None for p in progs)
    assert any(p.min_payout is not None for p in progs)
    assert any(p.variant_of for p in progs) and any(p.guardrails for p in progs)
    assert any(p.basis == "quantity" for p in progs)
    assert any(p.products for p in progs) and any(p.exclude_products for p in progs)
    assert any(p.customers for p in progs)
    assert {p.enrollment for p in progs} == {"required", "automatic"}
    en = sample.enrollments
    assert en["baseline"].notna().any() and en["enrolled_on"].notna().all()


def test_tables_look_like_invoice_data(sample):
    tx = sample.transactions
    assert (tx["net_amount"] < 0).any() and (tx["net_amount"] == 0).any()
    assert tx["invoice_id"].str.startswith("CN").any()
    assert not tx.duplicated().any()
    assert tx["date"].min() >= pd.Timestamp("2024-10-01")
    assert tx["date"].max() <= pd.Timestamp("2026-09-30")
    lines = tx[tx["invoice_id"].str.startswith("INV")].groupby("invoice_id").size()
    assert lines.max() > 1
    cu = sample.customers
    assert {"segment", "region", "rep", "buying_group"} <= set(cu.columns)
    assert cu["buying_group"].notna().any() and cu["buying_group"].isna().any()
    assert {"category", "brand"} <= set(sample.products.columns)


def test_calendar_weights_average_one_over_a_year_and_peak_at_quarter_end():
    days = np.arange("2025-01-01", "2026-01-01", dtype="datetime64[D]")
    w = calendar_weights(days)
    assert w.mean() == pytest.approx(1.0, abs=0.01)  # months differ in length: < 1% effect
    s = pd.Series(w, index=pd.DatetimeIndex(days))
    # the last business day of March weighs more than an ordinary mid-March Wednesday
    assert s["2025-03-31"] > s["2025-03-12"]
    # within a month the weekday and peak factors average exactly 1 (the season weight stays)
    p = SimulationParams()
    season = np.asarray(p.season) / np.mean(p.season)
    by_month = s.groupby(s.index.month).mean().to_numpy()
    np.testing.assert_allclose(by_month, season, rtol=1e-12)


@pytest.mark.slow
def test_generated_moments_match_the_parameters():
    # finite-variance settings (q > 2) so that sample means settle at the 1/sqrt(n) rate
    p = dict(
        order_rate_mean=6.0, order_rate_shape=1.5, order_value_mean=300.0,
        order_value_p=4.0, order_value_q=6.0, lifetime_mean_years=2.0, trend_sd=0.1,
    )  # fmt: skip
    n = 20_000
    sim = simulate_data(n, start="2025-01-01", end="2025-12-31", seed=5, programs=None, **p)
    truth = sim.truth
    # gamma order rates: mean = order_rate_mean, sd = mean / sqrt(shape); tolerance 4 SE
    lam = truth["order_rate"].to_numpy()
    se = p["order_rate_mean"] / np.sqrt(p["order_rate_shape"]) / np.sqrt(n)
    assert abs(lam.mean() - p["order_rate_mean"]) < 4 * se
    assert lam.var() == pytest.approx(p["order_rate_mean"] ** 2 / p["order_rate_shape"], rel=0.1)
    # mean order values: E[p / nu] x E[segment factor]; nu ~ Gamma(q): sd of 1/nu = mean/sqrt(q-2)
    seg_factor = float(np.dot(SEGMENT_SHARE, SEGMENT_VALUE))
    mv = truth["mean_order_value"].to_numpy()
    assert mv.mean() == pytest.approx(p["order_value_mean"] * seg_factor, rel=0.03)
    # realised orders against the true expectation: Poisson given the parameters, 4 SE
    inv = sim.transactions[sim.transactions["invoice_id"].str.startswith("INV")]
    n_orders = inv["invoice_id"].nunique()
    exp_orders = expected_orders(truth, sim.start, sim.end, params=sim.params, origin=sim.start)
    assert abs(n_orders - exp_orders.sum()) < 4 * np.sqrt(exp_orders.sum())
    # realised net spend of a window against expected_spend: compound Poisson-gamma variance
    # sum_i Lambda_i v_i^2 (1 + 1/p); 4 SE, plus 0.3% for cent rounding and returns' spread
    win = ("2025-04-01", "2025-09-30")
    tx = sim.transactions
    in_win = tx["date"].between(*win)
    real = tx.loc[in_win, "net_amount"].sum()
    exp = expected_spend(truth, *win, params=sim.params, origin=sim.start)
    lam_w = expected_orders(truth, *win, params=sim.params, origin=sim.start).to_numpy()
    sd = np.sqrt(np.sum(lam_w * mv**2 * (1 + 1 / p["order_value_p"])))
    assert abs(real - exp.sum()) < 4 * sd + 0.003 * exp.sum()
    # returns and credit notes: the expected share of gross value, within 10% (line-level noise)
    pos = tx.loc[tx["net_amount"] > 0, "net_amount"].sum()
    neg = -tx.loc[tx["net_amount"] < 0, "net_amount"].sum()
    expected_share = sim.params.return_prob * 0.8 + sim.params.credit_note_prob * 0.06
    assert neg / pos == pytest.approx(expected_share, rel=0.1)


def test_expected_spend_of_a_small_base_by_monte_carlo():
    # the same truth, many independent order draws: average realised spend -> expected spend
    base = simulate_data(40, start="2025-01-01", end="2025-06-30", seed=3, programs=None,
                         order_value_q=6.0)  # fmt: skip
    from rebatelab.simulation.generator import _draw_orders

    days = np.arange(base.start, base.end + 1, dtype="datetime64[D]")
    rng = np.random.default_rng(0)
    totals = []
    for _ in range(200):  # loop over repetitions of a test, not over customers
        cust, day, value = _draw_orders(base.truth, days, base.params, rng)
        totals.append(np.bincount(cust, weights=value, minlength=40))
    mc = np.mean(totals, axis=0)
    exp = expected_spend(base.truth, base.start, base.end, params=base.params,
                         origin=base.start, net=False).to_numpy()  # fmt: skip
    # theoretical Monte Carlo SE of a compound Poisson-gamma mean: Lambda v^2 (1 + 1/p) / reps
    lam = expected_orders(base.truth, base.start, base.end, params=base.params,
                          origin=base.start).to_numpy()  # fmt: skip
    v = base.truth["mean_order_value"].to_numpy()
    sd = np.sqrt(lam * v**2 * (1 + 1 / base.params.order_value_p) / 200)
    # per customer within 4.5 SE (40 customers: a 4.5 SE miss anywhere has p ~ 3e-4)
    ok = np.abs(mc - exp) <= 4.5 * sd + 1e-9
    assert ok.all(), np.c_[mc, exp, sd][~ok]


def test_response_strength_zero_leaves_the_data_untouched():
    off = simulate_data(150, seed=4, response_strength=0.0)
    none = simulate_data(150, seed=4, programs=None)
    pd.testing.assert_frame_equal(off.transactions, none.transactions)
    assert len(off.response) == 0


def test_responders_reach_a_tier():
    from rebatelab import accrue, load_programs

    sim = simulate_data(400, seed=2, response_strength=1.0, lifetime_mean_years=3.0,
                        lines_per_order=4.0)  # fmt: skip
    assert len(sim.response) > 0
    data = sim.to_rebate_data()
    progs = load_programs(sim.programs_yaml)
    for pid, rows in sim.response.groupby("program_id"):
        p = progs[pid]
        acc = accrue(data, progs, p.end)
        acc = acc[acc["program_id"] == pid].set_index("customer_id")
        got = acc.loc[rows["customer_id"].to_numpy()]
        assert (got["tier"] >= 1).all(), (pid, got[["basis", "tier"]])
    # one response line each, dated in the last response_window_days of its program
    rsp = sim.transactions[sim.transactions["invoice_id"].str.startswith("RSP")]
    assert len(rsp) == len(sim.response)
    for pid, rows in sim.response.groupby("program_id"):
        end = pd.Timestamp(progs[pid].end)
        days_before = (end - pd.to_datetime(rows["date"])).dt.days
        assert days_before.between(0, sim.params.response_window_days - 1).all()
    # pull-forward: what GOLD-2025's responders bought ahead is taken from their next 90 days
    none = simulate_data(400, seed=2, programs=None, lifetime_mean_years=3.0,
                         lines_per_order=4.0)  # fmt: skip
    gold = sim.response[sim.response["program_id"] == "GOLD-2025"]
    assert len(gold) > 0 and (gold["taken_from_later"] > 0).any()
    who = set(gold["customer_id"])

    def later(tx):
        pick = (tx["customer_id"].isin(who) & tx["date"].between("2026-01-01", "2026-03-31")
                & (tx["net_amount"] > 0) & ~tx["invoice_id"].str.startswith("RSP"))  # fmt: skip
        return tx.loc[pick, "net_amount"].sum(), int(pick.sum())

    before, n_lines = later(none.transactions)
    after, _ = later(sim.transactions)
    # equal up to the cent rounding of each scaled line
    assert before - after == pytest.approx(gold["taken_from_later"].sum(), abs=0.005 * n_lines)
    taken_share = gold["taken_from_later"].sum() / gold["purchase_value"].sum()
    assert taken_share <= 1 - sim.params.incremental_share + 1e-9


def test_truth_round_trips(tmp_path):
    sim = simulate_data(25, seed=9, programs=None)
    folder = write_data_folder(sim, tmp_path / "f")
    truth, products, params, start = read_truth(folder)
    assert params == sim.params
    assert start == sim.start
    pd.testing.assert_frame_equal(truth, sim.truth)
    pd.testing.assert_frame_equal(products, sim.product_truth)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(n_customers=-5), "n_customers"),
        (dict(n_customers=0), "n_customers"),
        (dict(n_products=3), "n_products"),
        (dict(start="2025-01-01", end="2024-12-31"), "before start"),
        (dict(start="not a date"), "start"),
        (dict(return_prob=1.5), "return_prob"),
        (dict(new_customer_share=-0.1), "new_customer_share"),
        (dict(response_strength=2.0), "response_strength"),
        (dict(incremental_share=1.01), "incremental_share"),
        (dict(order_rate_mean=-1.0), "order_rate_mean"),
        (dict(order_value_q=0.5), "order_value_q"),
        (dict(season=(1.0,) * 11), "season"),
        (dict(n_reps=0), "n_reps"),
        (dict(seed=-1), "seed"),
        (dict(bogus=1), "bogus"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs, name):
    kwargs = {"n_customers": 10, **kwargs}
    n = kwargs.pop("n_customers")
    with pytest.raises(ParameterError, match=name):
        simulate_data(n, programs=None, **kwargs)


def test_probability_message_states_the_range():
    with pytest.raises(ParameterError, match=r"return_prob must be within \[0, 1\]"):
        SimulationParams(return_prob=1.2)


def test_cli_writes_a_folder_and_rejects_bad_input(tmp_path, capsys):
    from rebatelab.cli.main import main

    out = tmp_path / "cli"
    rc = main(["simulate", "--customers", "40", "--seed", "3", "--start", "2025-01-01",
               "--end", "2025-12-31", "--out", str(out), "--set", "lines_per_order=3"])  # fmt: skip
    assert rc == 0
    assert (out / "transactions.parquet").exists() and (out / "programs.yaml").exists()
    assert (out / "truth" / "customers_truth.parquet").exists()
    assert main(["simulate", "--customers", "-1", "--out", str(tmp_path / "x")]) == 2
    assert "n_customers" in capsys.readouterr().err
    assert main(["simulate", "--start", "2025-02-01", "--end", "2025-01-01",
                 "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "before start" in capsys.readouterr().err
    assert main(["simulate", "--response-strength", "1.5", "--out", str(tmp_path / "x")]) == 2
    assert "response_strength" in capsys.readouterr().err
    assert main(["simulate", "--set", "nope=1", "--out", str(tmp_path / "x")]) == 2


@pytest.mark.slow
@pytest.mark.realdata
def test_defaults_look_like_online_retail():
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    real_path = root.parent / "shared" / "data" / "online_retail.parquet"
    if not real_path.exists():
        pytest.skip(f"Online Retail data not found at {real_path}; comparison skipped")
    sys.path.insert(0, str(root / "scripts"))
    try:
        import calibrate_simulator as cal
    finally:
        sys.path.pop(0)
    real = cal.statistics(cal.real_lines(real_path))
    sim = cal.statistics(cal.sim_lines(8800, 1))
    # tolerances: the documented side-by-side table (docs/simulation.md) with room for the
    # seed-to-seed spread of a single simulated year
    assert sim["share of net spend, top 20% of customers"] == pytest.approx(
        real["share of net spend, top 20% of customers"], abs=0.05
    )
    assert sim["order value, 50th percentile"] == pytest.approx(
        real["order value, 50th percentile"], rel=0.2
    )
    assert sim["order value, mean"] == pytest.approx(real["order value, mean"], rel=0.1)
    assert sim["days between orders, 50th percentile"] == pytest.approx(
        real["days between orders, 50th percentile"], rel=0.3
    )
    assert sim["share of one-order customers"] == pytest.approx(
        real["share of one-order customers"], abs=0.05
    )
    assert sim["returns and credits, share of gross sales"] == pytest.approx(
        real["returns and credits, share of gross sales"], abs=0.02
    )
    months = [k for k in real if k.startswith("monthly")]
    diff = np.array([sim[k] - real[k] for k in months])
    assert np.abs(diff).max() < 0.25 and np.sqrt(np.mean(diff**2)) < 0.12


def test_eligible_share_gives_the_expected_spend_on_a_product_set():
    from rebatelab.simulation.truth import eligible_share

    p = dict(order_value_q=6.0, lines_per_order=4.0, lifetime_mean_years=3.0)
    sim = simulate_data(3000, start="2025-01-01", end="2025-12-31", seed=13, programs=None, **p)
    prods = sim.products
    chosen = prods["category"].isin(["Fasteners", "Tools"]) & (prods["brand"] != "House")
    share = eligible_share(sim.truth, sim.product_truth, prods["product_id"][chosen])
    tx = sim.transactions
    eligible = tx["product_id"].isin(prods["product_id"][chosen]).to_numpy()
    real = tx.loc[eligible, "net_amount"].sum()
    # given each customer's realised spend, a line is eligible with probability share_c:
    # expected eligible spend sum_lines amount x share_c, variance
    # sum_lines amount^2 share_c (1 - share_c); 4 SD (a line's product is drawn independently)
    s_line = share.reindex(tx["customer_id"]).to_numpy()
    amount = tx["net_amount"].to_numpy()
    want = np.sum(amount * s_line)
    sd = np.sqrt(np.sum(amount**2 * s_line * (1 - s_line)))
    assert abs(real - want) < 4 * sd
    # and the unconditional expectation: share x expected_spend, within the (looser)
    # compound Poisson-gamma spread of the whole spend
    exp = expected_spend(sim.truth, sim.start, sim.end, params=sim.params, origin=sim.start)
    lam = expected_orders(sim.truth, sim.start, sim.end, params=sim.params, origin=sim.start)
    v = sim.truth["mean_order_value"].to_numpy()
    sd_all = np.sqrt(np.sum(lam.to_numpy() * v**2 * (1 + 1 / sim.params.order_value_p)))
    assert abs(real - float((share * exp).sum())) < 4 * sd_all
    # a boolean mask gives the same, and all products give 1
    np.testing.assert_allclose(eligible_share(sim.truth, sim.product_truth, chosen.to_numpy()),
                               share)  # fmt: skip
    all_share = eligible_share(sim.truth, sim.product_truth, prods["product_id"])
    np.testing.assert_allclose(all_share, 1.0)
    with pytest.raises(ParameterError, match="products"):
        eligible_share(sim.truth, sim.product_truth, np.ones(3, bool))


def test_truth_expected_spend_shortcut(tmp_path):
    from rebatelab.simulation.truth import eligible_share

    sim = simulate_data(30, seed=5, programs=None)
    folder = write_data_folder(sim, tmp_path / "f")
    truth = read_truth(folder)
    got = truth.expected_spend("2025-01-01", "2025-03-31", products=["P0001", "P0002"])
    direct = expected_spend(sim.truth, "2025-01-01", "2025-03-31", params=sim.params,
                            origin=sim.start)  # fmt: skip
    share = eligible_share(sim.truth, sim.product_truth, ["P0001", "P0002"])
    pd.testing.assert_series_equal(got, direct * share.to_numpy())
    pd.testing.assert_series_equal(
        sim.ground_truth().expected_spend("2025-01-01", "2025-03-31"), direct
    )


def test_a_draw_without_orders_gives_empty_valid_tables(tmp_path):
    # 5 customers over one month: seed 1 places no order (the docstring example of issue 10)
    from rebatelab.io.folders import load_data
    from rebatelab.io.simulated import load_simulated

    sim = simulate_data(5, start="2025-01-01", end="2025-01-31", seed=1, programs=None)
    assert len(sim.transactions) == 0
    with_orders = simulate_data(5, start="2025-01-01", end="2025-01-31", seed=0, programs=None)
    assert len(with_orders.transactions) > 0
    # the same columns and dtypes as a draw with orders
    assert list(sim.transactions.columns) == list(with_orders.transactions.columns)
    assert sim.transactions.dtypes.to_dict() == with_orders.transactions.dtypes.to_dict()
    data = sim.to_rebate_data()
    assert len(data.transactions) == 0 and len(data.customers) == 5
    # with the default programs and the response, written and read back
    full = simulate_data(5, start="2025-01-01", end="2025-01-31", seed=1)
    assert len(full.transactions) == 0 and len(full.response) == 0
    folder = write_data_folder(full, tmp_path / "empty")
    assert len(load_data(folder).transactions) == 0
    loaded, truth = load_simulated(folder)
    assert len(loaded.customers) == 5 and len(truth.customers) == 5
