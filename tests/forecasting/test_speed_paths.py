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
