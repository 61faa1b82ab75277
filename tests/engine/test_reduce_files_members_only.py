"""Stage one from the files (DuckDB, lines never loaded) equals the in-memory stage one.

The forecast CLI reduces through :func:`rebatelab.engine.backends.sql_reduce.reduce_files`
with ``members_only``; its sums must be those of :func:`rebatelab.engine.stage_one.reduce`
to the bit, since the forecast's fits amplify differences in the last bits.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rebatelab as rl
from rebatelab.engine.eligibility import product_eligibility
from rebatelab.engine.reduction import MICRO, daily_sums, from_micro, to_micro
from rebatelab.engine.stage_one import reduce

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
AS_OF = "2026-09-30"
FIELDS = ("members", "period", "baseline", "prior", "daily")


def _awkward_folder(tmp_path: Path) -> Path:
    """The sample with amounts that floats sum differently in different orders.

    Sub-cent amounts (up to 6 decimals), returns (negative lines) and many small lines:
    the order of a float sum changes its last bits, an integer sum of millionths not.
    """
    folder = tmp_path / "awkward"
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("truth"))
    tx = pd.read_parquet(folder / "transactions.parquet")
    rng = np.random.default_rng(11)
    net = tx["net_amount"].to_numpy().copy()
    k = rng.random(len(net))
    net = np.where(k < 0.3, np.round(net * 1.000137, 6), net)  # six decimals
    net = np.where((k >= 0.3) & (k < 0.4), -np.round(net * 0.1, 3), net)  # returns
    net = np.where(k >= 0.95, np.round(rng.random(len(net)) * 0.3, 6), net)  # tiny lines
    tx["net_amount"] = net
    tx.to_parquet(folder / "transactions.parquet", index=False)
    return folder


def _both(folder: Path):
    pytest.importorskip("duckdb")
    from rebatelab.engine.backends.sql_reduce import reduce_files

    programs = rl.load_programs(folder / "programs.yaml")
    eager = reduce(rl.load_data(folder), programs, AS_OF, members_only=True)
    lazy = reduce_files(rl.load_data(folder, lines="lazy"), programs, AS_OF, members_only=True)
    return eager, lazy


@pytest.mark.parametrize("awkward", [False, True], ids=["sample", "awkward-amounts"])
def test_files_reduction_equals_in_memory_to_the_bit(tmp_path, awkward):
    folder = _awkward_folder(tmp_path) if awkward else SAMPLE
    eager, lazy = _both(folder)
    for name in FIELDS:
        a = getattr(eager, name).reset_index(drop=True)
        b = getattr(lazy, name).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_exact=True, check_dtype=False, obj=name)
    # members only: no review tables
    for name in ("candidates", "candidate_daily", "customer_daily"):
        assert getattr(lazy, name) is None, name


def test_daily_sums_are_exact_millionths(tmp_path):
    """Each daily sum is the integer sum of its lines' millionths, whatever their order."""
    folder = _awkward_folder(tmp_path)
    data = rl.load_data(folder)
    programs = rl.load_programs(folder / "programs.yaml")
    d = daily_sums(data, programs, as_of=AS_OF)
    forward = d["net_amount"].to_numpy()
    assert np.array_equal(from_micro(to_micro(forward)), forward)
    # brute force: one member's days from its own lines, summed in reverse order in integers
    p = list(programs)[0]
    row = d[d["program_id"] == p.id].iloc[0]
    tx = data.transactions
    elig = product_eligibility(data, p)
    prods = data.products["product_id"].astype(str).to_numpy()[elig[:-1]]  # last: unknown
    same = tx[
        (tx["customer_id"].astype(str) == row["customer_id"])
        & (tx["date"] == row["date"])
        & tx["product_id"].astype(str).isin(prods)
    ]
    assert len(same) > 0
    micro = np.rint(same["net_amount"].to_numpy()[::-1] * MICRO).astype(np.int64)
    assert row["net_amount"] == micro.sum() / MICRO


def test_forecast_cli_equals_in_memory_forecast(tmp_path):
    pytest.importorskip("duckdb")
    from rebatelab.cli.main import main
    from rebatelab.forecasting.projection import forecast

    out = tmp_path / "fc.csv"
    rc = main(["forecast", "--data", str(SAMPLE), "--as-of", AS_OF, "--out", str(out)])
    assert rc == 0
    got = pd.read_csv(out)
    programs = rl.load_programs(SAMPLE / "programs.yaml")
    want = forecast(rl.load_data(SAMPLE), programs, AS_OF)
    assert len(got) == len(want)
    for c in ("expected_rebate", "p_next_tier", "q_0.5", "projected_mean"):
        np.testing.assert_array_equal(got[c].to_numpy(), want[c].to_numpy(dtype=float), err_msg=c)
