"""The learned forecast: no leakage, monotone in the gap, honest fallback, calibration."""

import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_forecasting import PROGRAMS, make_data

from rebatelab.data.tables import RebateData
from rebatelab.engine.settlement import schedule
from rebatelab.engine.stage_one import reduce
from rebatelab.errors import ParameterError
from rebatelab.forecasting.expected_settlement import _settlement
from rebatelab.forecasting.features import gap_features, unit_features
from rebatelab.forecasting.learned import GapDistribution, _fitted
from rebatelab.forecasting.projection import forecast
from rebatelab.programs.terms import load_programs

pytest.importorskip("sklearn")

AS_OF = "2025-05-10"


@pytest.fixture(scope="module")
def data():
    return make_data(n=400, seed=3)


@pytest.fixture(scope="module")
def programs():
    return load_programs(PROGRAMS)


@pytest.fixture(scope="module")
def red(data, programs):
    return reduce(data, programs, AS_OF)


@pytest.fixture(scope="module")
def fc(red):
    return forecast(red, method="learned")


def test_rows_align_with_the_default_forecast_and_say_how_they_were_made(red, fc):
    ref = forecast(red)
    assert list(fc.columns) == [*ref.columns, "method_used"]
    pd.testing.assert_frame_equal(
        fc[["program_id", "customer_id", "pool_id", "basis_to_date", "days_left"]],
        ref[["program_id", "customer_id", "pool_id", "basis_to_date", "days_left"]],
    )
    used = fc["method_used"].astype(str)
    assert used.str.startswith("learned").any()
    assert (fc["method"] == "learned").all()
    # one distribution: tier probabilities add up, the next tier's is among them, the
    # quantiles are ordered and inside the support
    tiers = fc.filter(regex=r"^p_tier_").to_numpy()
    np.testing.assert_allclose(tiers.sum(axis=1), 1.0, atol=1e-9)
    q = fc.filter(regex=r"^q_").to_numpy()
    assert np.all(np.diff(q, axis=1) >= -1e-9)
    assert np.all(q[:, 0] >= fc["pool_basis_to_date"].to_numpy() - 1e-9)
    assert np.all(fc["expected_rebate"] >= 0)


def test_lines_after_as_of_change_nothing(data, programs, fc):
    """No leakage: deleting every line after as_of, or doubling its amounts, leaves the
    learned forecast unchanged to the last digit."""
    tx = data.transactions
    later = tx["date"] > pd.Timestamp(AS_OF)
    assert later.any()
    assert (fc["method_used"] == "learned").any()
    cut = RebateData.from_frames(tx[~later], data.customers, data.products)
    pd.testing.assert_frame_equal(
        forecast(cut, programs, AS_OF, method="learned"), fc, check_exact=True
    )
    doubled = tx.assign(
        net_amount=np.where(later, 2 * tx["net_amount"], tx["net_amount"]),
        quantity=np.where(later, 2 * tx["quantity"], tx["quantity"]),
    )
    changed = RebateData.from_frames(doubled, data.customers, data.products)
    pd.testing.assert_frame_equal(
        forecast(changed, programs, AS_OF, method="learned"), fc, check_exact=True
    )


@pytest.fixture(scope="module")
def fitted(red, fc):
    setup, info, why, trained = _fitted(red, min_periods=8, seed=0)
    units = np.flatnonzero(~np.isin(setup["unit_prog"], list(why)))
    up = setup["unit_prog"][units]
    A = setup["as_of_day"]
    X, extra = unit_features(
        setup["hist"],
        units,
        np.full(units.size, A),
        A - np.array([info[p][1] for p in up]),
        np.array([info[p][0] for p in up]),
        np.array([info[p][2] for p in up]),
        setup["is_qty"][units],
        setup["pop"],
        b0=setup["b0"][units],
    )
    return trained, X, extra


@settings(max_examples=60, deadline=None)
@given(
    row=st.integers(0, 10_000),
    g1=st.floats(0.01, 1e5),
    ratio=st.floats(1.0, 50.0),
)
def test_larger_gap_never_more_likely(fitted, row, g1, ratio):
    """P(spend to come >= gap) never increases with the gap (monotone constraints on every
    gap feature, then an increasing recalibration)."""
    trained, X, extra = fitted
    r = np.array([row % len(X)] * 2)
    g = np.array([g1, g1 * ratio])
    d = np.concatenate([X[r], gap_features(extra, r, g)], axis=1)
    p = trained["iso"].predict(trained["model"].predict_proba(d)[:, 1])
    assert p[1] <= p[0] + 1e-12


def test_too_little_history_falls_back_and_says_so(programs):
    short = make_data(n=200, seed=1, start="2025-01-01")  # 6 weekly cuts before as_of
    fc = forecast(short, programs, AS_OF, method="learned")
    used = fc["method_used"].astype(str)
    assert used.str.startswith("hierarchical: 6 earlier periods").all()
    ref = forecast(short, programs, AS_OF)
    cols = [c for c in ref.columns if c != "method"]
    pd.testing.assert_frame_equal(fc[cols], ref[cols])


def test_a_worked_example_of_the_distribution():
    """b0 = 100; P(R >= 10) = 0.5, P(R >= 50) = 0.2: an atom of 0.5 at R = 0, 0.3 uniform on
    (10, 50], 0.2 uniform on (50, 150] (the tail reaches 3 x the last knot). By hand:
    E[R] = 0.3 x 30 + 0.2 x 100 = 29; the 65% quantile is 10 + 40 x 0.15 / 0.3 = 30;
    P(B >= 120) = P(R >= 20) = 0.5 - 0.3 x 10 / 40 = 0.425; a 10% retroactive tier from
    120 earns 0.1 x (0.225 x 135 + 0.2 x 200) = 7.0375."""
    d = GapDistribution([100.0], [[10.0, 50.0]], [[0.5, 0.2]])
    assert d.mean()[0] == pytest.approx(129.0)
    assert d.p_nothing_more()[0] == pytest.approx(0.5)
    np.testing.assert_allclose(d.quantiles([0.4, 0.65])[0], [100.0, 130.0])
    assert d.sf(np.array([120.0]))[0] == pytest.approx(0.425)
    progs = load_programs(
        "programs:\n  - id: P\n    start: 2025-01-01\n    end: 2025-12-31\n"
        "    tiers: [{from: 120, rate: 0.1}]\n    enrollment: automatic\n"
    )
    earned, by_tier = _settlement(d, schedule(progs, [0]), ("earned",))["earned"]
    assert earned[0] == pytest.approx(7.0375)
    assert by_tier[0, 1] == pytest.approx(7.0375)


def test_without_scikit_learn_the_error_names_the_extra(red, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)
    with pytest.raises(ParameterError, match=r"rebatelab\[learn\]"):
        forecast(red, method="learned")


def _simulated(n, seed):
    from rebatelab.simulation.generator import simulate_data

    sim = simulate_data(
        n, start="2023-10-01", end="2025-12-31", seed=seed, programs=None, response_strength=0
    )
    data = RebateData.from_frames(sim.transactions, sim.customers, sim.products)
    yaml = ["programs:"]
    for q in (2, 3, 4):
        s = pd.Timestamp(year=2025, month=3 * (q - 1) + 1, day=1)
        e = s + pd.offsets.QuarterEnd(0)
        yaml += [
            f"  - id: SIM-Q{q}",
            f"    start: {s.date()}",
            f"    end: {e.date()}",
            "    tiers: [{from: 700, rate: 0.01}, {from: 1500, rate: 0.02},"
            " {from: 3500, rate: 0.03}]",
            "    enrollment: automatic",
        ]
    return data, load_programs("\n".join(yaml) + "\n")


def _calibration(n, seed, dates):
    from rebatelab.forecasting.backtest import backtest

    data, programs = _simulated(n, seed)
    res = backtest(data, programs, dates, ["learned"])
    return res.metrics.iloc[0]


def test_calibrated_on_simulated_data_with_ground_truth():
    """On simulated buyers (seeded, known to follow a stationary model), the probability of
    the next tier is calibrated: ECE below 0.05 on ~1,000 scored forecasts (the sampling
    error of a 10-bin ECE at this size is about 0.02)."""
    m = _calibration(1500, 2, ["2025-05-16", "2025-08-15"])
    assert m["n_scored"] > 1000
    assert m["ece"] < 0.05


@pytest.mark.slow
def test_calibrated_on_a_larger_simulated_base():
    """The same with four times the customers: the ECE's sampling error halves."""
    m = _calibration(4000, 5, ["2025-05-31", "2025-08-30"])
    assert m["ece"] < 0.03
