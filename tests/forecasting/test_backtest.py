"""Backtest scores against hand computations; the backtest end to end; Online Retail."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_forecasting import PROGRAMS, make_data

from rebatelab.datasets import sample_path
from rebatelab.errors import ParameterError
from rebatelab.forecasting.backtest import backtest, calibration_table, score
from rebatelab.plotting.backtest import plot_reliability
from rebatelab.programs.terms import load_programs

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "online_retail.parquet"


def records():
    return pd.DataFrame(
        {
            "p_next_tier": [0.9, 0.2, 0.6, np.nan],
            "reached_next": [True, False, False, False],
            "end_basis": [100.0, 50.0, 80.0, 10.0],
            "projected_p10": [90.0, 20.0, 85.0, 10.0],
            "projected_p50": [100.0, 40.0, 90.0, 10.0],
            "projected_p90": [120.0, 45.0, 95.0, 10.0],
            "expected_rebate": [3.0, 1.0, 2.0, 0.0],
            "actual_rebate": [4.0, 0.0, 1.0, 0.0],
            "pool_basis_to_date": [50.0, 20.0, 60.0, 10.0],
            "p_no_more_orders": [0.2, 0.5, 0.3, 0.95],
        }
    )


def test_scores_by_hand():
    s = score(records(), n_bins=2)
    assert s["n_units"] == 4 and s["n_scored"] == 3
    assert s["brier"] == pytest.approx((0.1**2 + 0.2**2 + 0.6**2) / 3)
    assert s["log_loss"] == pytest.approx(-(np.log(0.9) + np.log(0.8) + np.log(0.4)) / 3)
    # bins [0, .5): {0.2 -> 0}, [.5, 1]: {0.9 -> 1, 0.6 -> 0}
    ece = 1 / 3 * abs(0 - 0.2) + 2 / 3 * abs(0.5 - 0.75)
    assert s["ece"] == pytest.approx(ece)
    # coverage: 100 in [90, 120], 50 not in [20, 45], 80 not in [85, 95], 10 in [10, 10]
    assert s["coverage"] == pytest.approx(0.5)
    # the last unit bought nothing more (P0 = 0.95): it counts (0.9 - 0.1) / 0.95
    assert s["coverage_pit"] == pytest.approx((1 + 0 + 0 + 0.8 / 0.95) / 4)
    # pinball per row, averaged over the 10/50/90% levels: under-forecast costs the level,
    # over-forecast costs 1 - level
    per_row = [
        (0.1 * 10 + 0 + 0.1 * 20) / 3,  # y = 100: q10 = 90, q50 = 100, q90 = 120
        (0.1 * 30 + 0.5 * 10 + 0.9 * 5) / 3,  # y = 50: 20, 40, 45
        (0.9 * 5 + 0.5 * 10 + 0.1 * 15) / 3,  # y = 80: 85, 90, 95
        0.0,
    ]
    pin = np.mean(per_row)
    assert s["pinball"] == pytest.approx(pin)
    assert s["rebate_error"] == pytest.approx(6.0 / 5.0 - 1)


def test_calibration_table_bins():
    t = calibration_table([0.05, 0.15, 0.95, 1.0], [0, 1, 1, 1], n_bins=10)
    assert t["n"].sum() == 4
    assert t.loc[9, "n"] == 2 and t.loc[9, "observed_rate"] == 1.0
    assert np.isnan(t.loc[5, "mean_predicted"])


@pytest.fixture(scope="module")
def result():
    data = make_data(n=120, seed=3)
    return backtest(data, load_programs(PROGRAMS), ["2025-05-25"])


def test_backtest_end_to_end(result):
    m = result.metrics.set_index("method")
    assert list(m.index) == ["hierarchical", "bgnbd", "run_rate", "learned"]
    assert m["n_scored"].gt(50).all()
    assert m["brier"].between(0, 0.25).all()  # no worse than always saying 0.5
    assert m["coverage"].between(0, 1).all()
    assert set(result.by_date["as_of"]) == {pd.Timestamp("2025-05-25")}
    assert len(result.calibration) == 40  # 10 bins x 4 methods
    assert m["seconds"].ge(0).all() and m["ece"].between(0, 1).all()
    # the total error is the relative gap between the sums of expected and earned rebates
    r = result.records
    for meth, rm in r.groupby("method"):
        tot = rm["actual_rebate"].sum()
        assert m.loc[meth, "rebate_error"] == pytest.approx(rm["expected_rebate"].sum() / tot - 1)
    assert result.records["reached_next"].dtype == bool


def test_plot_reliability_draws_one_line_per_method(result):
    ax = plot_reliability(result.calibration)
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert labels == ["perfect calibration", "hierarchical", "bgnbd", "run_rate", "learned"]
    assert ax.get_xlim() == (0.0, 1.0)


def test_backtest_errors():
    data = make_data(n=30, seed=1)
    with pytest.raises(ParameterError, match="methods"):
        backtest(data, load_programs(PROGRAMS), ["2025-05-01"], ["oracle"])
    with pytest.raises(ParameterError, match="no program period"):
        backtest(data, load_programs(PROGRAMS), ["2025-01-15"], ["run_rate"])


@pytest.mark.slow
@pytest.mark.realdata
def test_online_retail_backtest_runs():
    if not REAL.exists():
        pytest.skip(f"Online Retail not found at {REAL} (see ../shared/data/README.md)")
    from rebatelab.datasets.online_retail import (
        quarterly_programs,
        read_online_retail,
        to_rebate_data,
    )

    data, report = to_rebate_data(read_online_retail(REAL))
    assert report["lines_without_customer"] == 135_080  # as documented in the data README
    assert report["lines_kept"] == report["lines_in"] - report["lines_without_customer"]
    assert report["customers"] == 4_372
    res = backtest(data, quarterly_programs(quarters=(3,), quantity_tiers=None), ["2011-08-15"])
    m = res.metrics.set_index("method")
    assert m["n_scored"].gt(4000).all()
    assert m["brier"].between(0, 0.25).all()
    assert np.isfinite(m["rebate_error"]).all()


def test_cli_backtest_refuses_programs_that_have_not_ended(capsys):
    from rebatelab.cli.main import main

    sample = sample_path()
    with pytest.warns(UserWarning, match="not scored"):
        code = main(["backtest", "--data", str(sample), "--as-of", "2026-06-30"])
    assert code == 2
    assert "no program period" in capsys.readouterr().err
