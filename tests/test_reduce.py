"""Reduction and reconciliation: counted + excluded = input, to the cent; against brute force."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebatelab import RebateData, accrue, daily_sums, exclusions, load_programs, reconcile
from rebatelab.money import cents
from tests.conftest import SAMPLE


def test_exclusion_reasons_on_small_data(small_data, small_programs):
    exc = exclusions(small_data, small_programs, as_of="2025-12-31")
    tools = exc[exc["program_id"] == "TOOLS"].set_index("invoice_id")["reason"].astype(str)
    assert tools.to_dict() == {
        "I3": "product_not_eligible",  # House brand
        "I4": "product_not_eligible",  # Paint
        "I7": "customer_not_eligible",  # Retail
        "I8": "customer_not_enrolled",  # a Contractor, not enrolled
        "I9": "customer_not_eligible",
    }
    rec = reconcile(small_data, small_programs, as_of="2025-12-31").set_index(
        ["program_id", "reason"]
    )
    assert rec.loc[("TOOLS", "counted"), "lines"] == 4
    assert rec.loc[("TOOLS", "counted"), "net_amount"] == pytest.approx(12_000 + 3_000 - 300 + 100)
    assert rec.loc[("TOOLS", "in_period"), "lines"] == 9  # 4 counted + 5 excluded


def test_sample_reconciles_to_the_cent():
    from rebatelab import load_data

    data = load_data(SAMPLE)
    programs = load_programs(SAMPLE / "programs.yaml")
    as_of = data.date_range[1]
    rec = reconcile(data, programs, as_of=as_of)
    inp = rec[rec["reason"] == "in_period"].set_index("program_id")
    rest = rec[rec["reason"] != "in_period"].groupby("program_id")[["lines", "net_amount"]].sum()
    rest = rest.reindex(inp.index)
    assert (inp["lines"] == rest["lines"]).all()
    assert (cents(inp["net_amount"]) == cents(rest["net_amount"])).all()
    acc = accrue(data, programs, as_of)
    counted = rec[rec["reason"] == "counted"].set_index("program_id")["net_amount"]
    net = acc[acc["basis_type"] == "net_sales"].groupby("program_id")["basis"].sum()
    assert (cents(counted.reindex(net.index)) == cents(net)).all()


def brute_force_basis(tx, cu, pr, en, program, as_of):
    """The counting rule, line by line, in plain Python: an independent implementation."""
    as_of = pd.Timestamp(as_of)
    seg = dict(zip(cu["customer_id"], cu["segment"], strict=True))
    cat = dict(zip(pr["product_id"], pr["category"], strict=True))
    enrolled = set(en.loc[en["program_id"] == program["id"], "customer_id"])
    total = {}
    for line in tx.itertuples():
        d = pd.Timestamp(line.date)
        if not (pd.Timestamp(program["start"]) <= d <= min(pd.Timestamp(program["end"]), as_of)):
            continue
        if cat[line.product_id] not in program["categories"]:
            continue
        if program["enrollment"] == "automatic":
            if seg[line.customer_id] not in program["segments"]:
                continue
        elif line.customer_id not in enrolled:
            continue
        total[line.customer_id] = total.get(line.customer_id, 0.0) + line.net_amount
    return total


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    enrollment=st.sampled_from(["required", "automatic"]),
    as_of=st.dates(pd.Timestamp("2025-01-01").date(), pd.Timestamp("2026-02-01").date()),
)
def test_counted_plus_excluded_is_input_and_matches_brute_force(seed, enrollment, as_of):
    rng = np.random.default_rng(seed)
    n_c, n_p, n = 8, 6, 200
    cu = pd.DataFrame(
        {"customer_id": [f"C{i}" for i in range(n_c)], "segment": rng.choice(["X", "Y"], n_c)}
    )
    pr = pd.DataFrame(
        {"product_id": [f"P{i}" for i in range(n_p)], "category": rng.choice(["a", "b", "c"], n_p)}
    )
    days = pd.date_range("2024-10-01", "2026-03-31")
    tx = pd.DataFrame(
        {
            "invoice_id": [f"I{i}" for i in range(n)],
            "date": days[rng.integers(0, len(days), n)],
            "customer_id": cu["customer_id"].to_numpy()[rng.integers(0, n_c, n)],
            "product_id": pr["product_id"].to_numpy()[rng.integers(0, n_p, n)],
            "quantity": rng.integers(-2, 20, n).astype(float),
            "net_amount": np.round(rng.normal(100, 80, n), 2),
        }
    )
    eligible_customers = cu.loc[cu["segment"] == "X", "customer_id"]
    en = pd.DataFrame({"program_id": "P", "customer_id": eligible_customers.iloc[::2]})
    program = {
        "id": "P",
        "start": "2025-01-01",
        "end": "2025-12-31",
        "categories": ["a", "b"],
        "segments": ["X"],
        "enrollment": enrollment,
    }
    yaml_text = (
        "programs:\n  - id: P\n    start: 2025-01-01\n    end: 2025-12-31\n"
        "    tiers: [{from: 0, rate: 0.01}]\n    products: {category: [a, b]}\n"
        f"    customers: {{segment: [X]}}\n    enrollment: {enrollment}\n"
    )
    data = RebateData.from_frames(tx, cu, pr, en)
    programs = load_programs(yaml_text)
    acc = accrue(data, programs, as_of).set_index("customer_id")
    want = brute_force_basis(tx, cu, pr, en, program, as_of)
    for cid, amount in want.items():
        assert cents(acc.loc[cid, "basis"]) == cents(amount)
    rec = reconcile(data, programs, as_of=as_of)  # raises if the identity fails
    in_period = tx[
        (tx["date"] >= "2025-01-01")
        & (tx["date"] <= min(pd.Timestamp(as_of), pd.Timestamp("2025-12-31")))
    ]
    total = rec[rec["reason"] != "in_period"]["net_amount"].sum()
    assert cents(total) == cents(in_period["net_amount"].sum())
    assert rec[rec["reason"] != "in_period"]["lines"].sum() == len(in_period)


def test_daily_sums_cover_whole_history(small_data, small_programs):
    daily = daily_sums(small_data, small_programs, as_of="2025-12-31")
    tools_a = daily[(daily["program_id"] == "TOOLS") & (daily["customer_id"] == "A")]
    # history before the period counts too (2024-03-01); House brand / Paint never do
    assert tools_a["date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-03-01",
        "2025-01-15",
        "2025-12-31",
    ]
    assert tools_a["net_amount"].tolist() == [1_000, 12_000, 100]
    pool = daily[daily["program_id"] == "POOL"]
    assert set(pool["pool_id"]) == {"G1"}
    a_day = pool[(pool["customer_id"] == "A") & (pool["date"] == "2025-01-15")].iloc[0]
    assert (a_day["n_lines"], a_day["n_invoices"], a_day["net_amount"]) == (2, 1, 12_800)


def test_sample_loads_quickly_enough_to_be_small():
    size = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert size < 5 * 2**20  # committed sample stays small (a few MB at most)
