"""The fast paths of the forecast give the same numbers as the plain ones.

- stage one's daily sums against a pandas group-by of the eligible lines (brute force);
- the forecast's own reduction (``members_only``, no review tables) against a full one.
"""

import numpy as np
import pandas as pd
import pytest

from rebatelab.datasets import load_sample
from rebatelab.engine.eligibility import members, product_eligibility
from rebatelab.engine.reduction import daily_sums
from rebatelab.engine.stage_one import reduce
from rebatelab.forecasting.projection import forecast

AS_OF = "2026-09-30"


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def test_daily_sums_equal_a_group_by_of_the_eligible_lines(sample):
    data, programs = sample
    got = daily_sums(data, programs, as_of=AS_OF)
    tx = data.transactions
    tx = tx[tx["date"] <= pd.Timestamp(AS_OF)]
    mem = members(data, programs)
    parts = []
    for pi, p in enumerate(programs):  # brute force: one program at a time
        mine = mem[mem["program_idx"] == pi]
        ok = product_eligibility(data, p)[
            pd.Index(data.products["product_id"]).get_indexer(tx["product_id"])
        ]
        lines = tx[ok & tx["customer_id"].isin(mine["customer_id"]).to_numpy()]
        g = lines.groupby(["customer_id", lines["date"].dt.normalize()], sort=True)
        sums = g.agg(
            net_amount=("net_amount", "sum"),
            quantity=("quantity", "sum"),
            n_lines=("net_amount", "size"),
            n_invoices=("invoice_id", "nunique"),
        ).reset_index()
        row = pd.Series(mine.index.to_numpy(), index=mine["customer_id"].to_numpy())
        sums["member"] = row[sums["customer_id"].to_numpy()].to_numpy()
        parts.append(sums)
    want = pd.concat(parts).sort_values(["member", "date"]).reset_index(drop=True)
    assert len(got) == len(want) > 1000
    np.testing.assert_array_equal(got["member"], want["member"])
    np.testing.assert_array_equal(got["date"].to_numpy(), want["date"].to_numpy())
    np.testing.assert_array_equal(got["customer_id"].astype(str), want["customer_id"].astype(str))
    for c in ("n_lines", "n_invoices"):
        np.testing.assert_array_equal(got[c], want[c])
    for c in ("net_amount", "quantity"):  # sums in another order: rounding only
        np.testing.assert_allclose(got[c], want[c], rtol=1e-12, atol=1e-9)


def test_members_only_reduction_forecasts_the_same_to_the_last_digit(sample):
    data, programs = sample
    full = reduce(data, programs, AS_OF)
    lean = reduce(data, programs, AS_OF, members_only=True)
    assert lean.candidates is None and lean.candidate_daily is None
    assert lean.customer_daily is None
    pd.testing.assert_frame_equal(lean.daily, full.daily)
    pd.testing.assert_frame_equal(lean.period, full.period)
    pd.testing.assert_frame_equal(forecast(full), forecast(data, programs, AS_OF))
    sub = lean.subset(programs.ids[:2])
    assert sub.candidates is None and set(sub.members["program_id"]) <= set(programs.ids[:2])


def _bisect_quantiles(levels, counts, sev_kw, hi):
    """Quantiles by 200 bisection steps on the CDF (slow, plain, independent of the search)."""
    from rebatelab.forecasting.compound import compound_cdf

    lo = np.zeros((counts.n_rows, len(levels)))
    up = np.repeat(hi[:, None], len(levels), axis=1)
    for _ in range(200):  # bisection steps
        mid = 0.5 * (lo + up)
        below = compound_cdf(mid, counts, **sev_kw) < np.asarray(levels)[None, :]
        lo, up = np.where(below, mid, lo), np.where(below, up, mid)
    return up


@pytest.mark.parametrize("mixed", [True, False])
def test_quantile_search_matches_bisection(mixed):
    from rebatelab.forecasting.compound import compound_quantile
    from rebatelab.forecasting.spend_models import dropout_counts

    rng = np.random.default_rng(7)
    n = 300
    counts = dropout_counts(
        rng.uniform(5, 120, n),
        lam_shape=rng.uniform(0.5, 20, n),
        lam_rate=rng.uniform(5, 200, n),
        drop_a=1.0,
        drop_b=rng.uniform(1, 30, n),
        alive=rng.uniform(0.3, 1.0, n),
    )
    k = rng.uniform(0.7, 3.0, n)
    if mixed:
        q = rng.uniform(2.5, 300, n)
        sev = dict(shape=k, mix_shape=q, mix_rate=rng.uniform(50, 5e4, n) * (q - 1) / k)
    else:
        sev = dict(shape=k, scale=rng.uniform(10, 1e4, n))
    levels = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]
    got = compound_quantile(levels, counts, **sev)
    mean = counts.mean * (
        k * sev["mix_rate"] / (sev["mix_shape"] - 1) if mixed else k * sev["scale"]
    )
    want = _bisect_quantiles(levels, counts, sev, 40.0 * mean + 1.0)
    # the search's precision (rtol 1e-7), with margin; bisection ends within 2^-200 of it
    np.testing.assert_allclose(got, want, rtol=3e-7, atol=1e-9 * mean.max())
