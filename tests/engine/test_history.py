"""Per-customer history sums (rebatelab.engine.history) against pandas group-bys."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from rebatelab import RebateData, load_programs
from rebatelab.engine.history import NEVER, order_history, window_sums, with_enrollments_of
from rebatelab.engine.lines import prepare_lines, to_day

YAML = (
    "programs:\n"
    "  - id: A\n    start: 2025-01-01\n    end: 2025-12-31\n"
    "    tiers: [{from: 0, rate: 0.01}]\n    products: {category: [a, b]}\n"
    "    enrollment: automatic\n"
    "  - id: B\n    start: 2025-01-01\n    end: 2025-12-31\n"
    "    tiers: [{from: 0, rate: 0.01}]\n    exclude_products: {category: [a]}\n"
    "    enrollment: automatic\n"
)


def random_data(seed, *, n_c=7, n_p=5, n=160):
    """Random lines: invoices of several lines (some returns), a customer without lines."""
    rng = np.random.default_rng(seed)
    cu = pd.DataFrame({"customer_id": [f"C{i}" for i in range(n_c)]})
    pr = pd.DataFrame(
        {"product_id": [f"P{i}" for i in range(n_p)], "category": rng.choice(["a", "b", "c"], n_p)}
    )
    n_inv = n // 3
    inv_cust = cu["customer_id"].to_numpy()[rng.integers(0, n_c - 1, n_inv)]  # C{n_c-1}: none
    days = pd.date_range("2024-06-01", "2026-03-31")
    inv_day = days[rng.integers(0, len(days), n_inv)]
    inv = rng.integers(0, n_inv, n)
    tx = pd.DataFrame(
        {
            "invoice_id": [f"I{i}" for i in inv],
            "line_no": np.arange(n),
            "date": inv_day[inv],
            "customer_id": inv_cust[inv],
            "product_id": pr["product_id"].to_numpy()[rng.integers(0, n_p, n)],
            "quantity": rng.integers(-2, 20, n).astype(float),
            "net_amount": np.round(rng.normal(60, 90, n), 2),
        }
    )
    return tx, cu, pr


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    first=st.dates(pd.Timestamp("2024-05-01").date(), pd.Timestamp("2025-12-31").date()),
    days=st.integers(1, 500),
)
def test_order_history_equals_pandas_group_bys(seed, first, days):
    tx, cu, pr = random_data(seed)
    data = RebateData.from_frames(tx, cu, pr)
    f = to_day(first)
    h = order_history(data, first_day=f, last_day=f + days - 1)
    ids = cu["customer_id"]
    d = tx["date"]
    win = tx[(d >= pd.Timestamp(first)) & (d <= pd.Timestamp(first) + pd.Timedelta(days=days - 1))]
    orders = win[win["net_amount"] > 0].groupby("customer_id")["invoice_id"].nunique()
    np.testing.assert_array_equal(h.n_orders, orders.reindex(ids, fill_value=0).to_numpy())
    net = win.groupby("customer_id")["net_amount"].sum().reindex(ids, fill_value=0.0)
    np.testing.assert_allclose(h.net_amount, net.to_numpy(), atol=1e-9)  # float summation order
    seen = tx.groupby("customer_id")["date"].min().reindex(ids)
    want_seen = np.full(len(ids), NEVER)
    ok = seen.notna().to_numpy()
    want_seen[ok] = (seen[ok] - pd.Timestamp("1970-01-01")).dt.days
    np.testing.assert_array_equal(h.first_seen, want_seen)
    totals = win.groupby(["customer_id", "invoice_id"])["net_amount"].sum()
    totals = totals[totals > 0].groupby(level="customer_id")
    v = h.order_values
    np.testing.assert_array_equal(v.count, totals.size().reindex(ids, fill_value=0).to_numpy())
    np.testing.assert_allclose(
        v.total, totals.sum().reindex(ids, fill_value=0.0).to_numpy(), atol=1e-9
    )
    sq = totals.apply(lambda s: float((s**2).sum())).reindex(ids, fill_value=0.0)
    np.testing.assert_allclose(v.total_sq, sq.to_numpy(), rtol=1e-12, atol=1e-6)
    assert (
        order_history(data, first_day=f, last_day=f + days - 1, order_values=False).order_values
        is None
    )


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    first=st.dates(pd.Timestamp("2024-05-01").date(), pd.Timestamp("2025-12-31").date()),
    days=st.integers(1, 500),
)
def test_window_sums_equal_pandas_group_bys(seed, first, days):
    tx, cu, pr = random_data(seed)
    data = RebateData.from_frames(tx, cu, pr)
    programs = load_programs(YAML)
    f = to_day(first)
    s = window_sums(data, programs, first_day=f, last_day=f + days - 1)
    ids = cu["customer_id"]
    d = tx["date"]
    win = tx[(d >= pd.Timestamp(first)) & (d <= pd.Timestamp(first) + pd.Timedelta(days=days - 1))]
    win = win.merge(pr, on="product_id")
    total = win.groupby("customer_id")["net_amount"].sum().reindex(ids, fill_value=0.0)
    np.testing.assert_allclose(s.total, total.to_numpy(), atol=1e-9)
    assert s.eligible_net.shape == s.eligible_quantity.shape == (2, len(cu))
    masks = [win["category"].isin(["a", "b"]), ~win["category"].isin(["a"])]
    for i, m in enumerate(masks):
        g = win[m].groupby("customer_id")
        net = g["net_amount"].sum().reindex(ids, fill_value=0.0).to_numpy()
        qty = g["quantity"].sum().reindex(ids, fill_value=0.0).to_numpy()
        np.testing.assert_allclose(s.eligible_net[i], net, atol=1e-9)
        np.testing.assert_allclose(s.eligible_quantity[i], qty, atol=1e-9)
    # without programs: the total only
    alone = window_sums(data, first_day=f, last_day=f + days - 1)
    np.testing.assert_array_equal(alone.total, s.total)
    assert alone.eligible_net.shape == (0, len(cu))


def test_with_enrollments_of_keeps_those_rows_and_shares_the_coded_lines():
    tx, cu, pr = random_data(5)
    en = pd.DataFrame({"program_id": ["A", "B", "A"], "customer_id": ["C0", "C1", "C2"]})
    data = RebateData.from_frames(tx, cu, pr, en)
    only = with_enrollments_of(data, ["A"])
    assert only.enrollments["customer_id"].tolist() == ["C0", "C2"]
    assert prepare_lines(only) is prepare_lines(data)
    assert len(data.enrollments) == 3  # the input is not modified
