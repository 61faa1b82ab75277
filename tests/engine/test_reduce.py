"""Reduction and reconciliation: counted + excluded = input, to the cent; against brute force."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebatelab import RebateData, accrue, load_programs, reconcile
from rebatelab.engine import exclusions
from rebatelab.engine.reduction import daily_sums
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


# --------------------------------------------------------------------------------------------
# The handoff: reduce once, hand the Reduction to stage two
# --------------------------------------------------------------------------------------------
def _sample():
    from rebatelab import load_data

    return load_data(SAMPLE), load_programs(SAMPLE / "programs.yaml")


@pytest.mark.parametrize("as_of", ["2025-01-15", "2025-06-30", "2026-03-31", "2026-09-30"])
def test_accrue_of_a_reduction_equals_accrue_to_the_cent(as_of):
    from rebatelab import reduce

    data, programs = _sample()
    red = reduce(data, programs, as_of)
    pd.testing.assert_frame_equal(accrue(red), accrue(data, programs, as_of))
    assert red.as_of == pd.Timestamp(as_of)
    assert red.programs is programs


def _random_frames(seed):
    """Random lines over the conftest customers/products (with a credit note or two)."""
    from tests.conftest import make_frames

    _, cu, pr, en = make_frames()
    rng = np.random.default_rng(seed)
    n = 300
    days = pd.date_range("2024-01-01", "2026-02-28")
    tx = pd.DataFrame(
        {
            "invoice_id": [f"I{i}" for i in rng.integers(0, 120, n)],
            "date": days[rng.integers(0, len(days), n)],
            "customer_id": cu["customer_id"].to_numpy()[rng.integers(0, len(cu), n)],
            "product_id": pr["product_id"].to_numpy()[rng.integers(0, len(pr), n)],
            "quantity": rng.integers(-3, 40, n).astype(float),
            "net_amount": np.round(rng.normal(400, 500, n), 2),
        }
    ).drop_duplicates()
    return RebateData.from_frames(tx, cu, pr, en)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    as_of=st.dates(pd.Timestamp("2025-01-01").date(), pd.Timestamp("2026-01-31").date()),
)
def test_reduction_on_random_frames_equals_the_direct_functions(seed, as_of):
    from rebatelab import reduce
    from rebatelab.engine.eligibility import members
    from rebatelab.engine.reduction import period_sums
    from tests.conftest import PROGRAMS_YAML

    data = _random_frames(seed)
    programs = load_programs(PROGRAMS_YAML)
    red = reduce(data, programs, as_of)
    pd.testing.assert_frame_equal(accrue(red), accrue(data, programs, as_of))
    pd.testing.assert_frame_equal(red.members, members(data, programs))
    base = period_sums(data, programs, as_of=as_of, shift_years=1)
    pd.testing.assert_frame_equal(red.baseline, base)
    # reconciliation by aggregation = grouping the full list of excluded pairs
    exc = exclusions(data, programs, as_of=as_of)
    pd.testing.assert_frame_equal(
        red.reconciliation, reconcile(data, programs, as_of=as_of, excluded=exc)
    )
    # customer_daily: a plain groupby of the lines up to as_of
    tx = data.transactions[data.transactions["date"] <= pd.Timestamp(as_of)]
    want = tx.groupby(["customer_id", "date"]).agg(
        net_amount=("net_amount", "sum"),
        quantity=("quantity", "sum"),
        n_lines=("net_amount", "size"),
        n_invoices=("invoice_id", "nunique"),
    )
    got = red.customer_daily.set_index(["customer_id", "date"]).sort_index()
    assert got.index.equals(want.index)
    assert (cents(got["net_amount"]) == cents(want["net_amount"])).all()
    assert np.allclose(got["quantity"], want["quantity"])
    assert (got["n_lines"].to_numpy() == want["n_lines"].to_numpy()).all()
    assert (got["n_invoices"].to_numpy() == want["n_invoices"].to_numpy()).all()


def test_prior_is_each_whole_previous_year_period(small_data, small_programs):
    from rebatelab import reduce

    red = reduce(small_data, small_programs, "2025-03-31")
    prior = red.prior.set_index(["program_id", "customer_id"])
    # 2024: A bought 1,000 of Tools (P1) on 2024-03-01, B 500 of Fasteners (P3) on 2024-06-01
    assert prior.loc[("TOOLS", "A"), "net_amount"] == 1_000
    assert prior.loc[("TOOLS", "B"), "net_amount"] == 500
    assert prior.loc[("GROW", "A"), "net_amount"] == 1_000
    # the baseline stops at as_of minus a year: B's June line is not in it
    base = red.baseline.set_index(["program_id", "customer_id"])
    assert base.loc[("TOOLS", "B"), "net_amount"] == 0
    assert base.loc[("TOOLS", "A"), "net_amount"] == 1_000


def test_candidates_are_eligible_customers_not_enrolled(small_data, small_programs):
    from rebatelab import reduce

    red = reduce(small_data, small_programs, "2025-12-31")
    got = set(zip(red.candidates["program_id"], red.candidates["customer_id"], strict=True))
    # TOOLS requires enrollment and Contractors: D is one, not enrolled (C, E are Retail);
    # POOL and GROW take everyone: C and D (POOL), C, D, E (GROW)
    assert got == {("TOOLS", "D"), ("POOL", "C"), ("POOL", "D")} | {("GROW", c) for c in "CDE"}
    d = red.candidates.set_index(["program_id", "customer_id"])
    assert d.loc[("TOOLS", "D"), "net_amount"] == 2_000  # I8, as if enrolled
    cd = red.candidate_daily
    assert set(cd["member"]) <= set(range(len(red.candidates)))
    row = red.candidates.index[
        (red.candidates["program_id"] == "TOOLS") & (red.candidates["customer_id"] == "D")
    ][0]
    assert cd.loc[cd["member"] == row, "net_amount"].sum() == 2_000


def test_subset_equals_reducing_the_subset():
    from rebatelab import reduce

    data, programs = _sample()
    as_of = "2025-09-30"
    red = reduce(data, programs, as_of)
    ids = [p.id for p in programs if p.variant_of is None][::2]
    ids += [p.id for p in programs if p.variant_of in ids]
    sub = red.subset(ids)
    direct = reduce(data, programs.subset(ids), as_of)
    assert sub.programs.ids == direct.programs.ids
    for name in ("members", "period", "baseline", "prior", "daily", "reconciliation"):
        pd.testing.assert_frame_equal(getattr(sub, name), getattr(direct, name), obj=name)
    pd.testing.assert_frame_equal(sub.candidates, direct.candidates)
    pd.testing.assert_frame_equal(sub.candidate_daily, direct.candidate_daily)
    pd.testing.assert_frame_equal(accrue(sub), accrue(direct))


def test_accrue_of_a_reduction_refuses_other_programs_or_dates(small_data, small_programs):
    from rebatelab import reduce
    from rebatelab.errors import ParameterError

    red = reduce(small_data, small_programs, "2025-12-31")
    accrue(red, small_programs, "2025-12-31")  # the same: fine
    with pytest.raises(ParameterError, match="as_of"):
        accrue(red, None, "2025-06-30")
    with pytest.raises(ParameterError, match="programs"):
        accrue(red, load_programs(SAMPLE / "programs.yaml"))
