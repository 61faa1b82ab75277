"""The reduction backends (numpy segment grid, numpy per program, DuckDB, Dask) agree to the cent.

Every path sums the same lines and rounds the sums to 1e-6 (``SUM_DECIMALS``), so the sums
are compared to the cent and within 1e-6 (the rounding step: two float sums of the same
cent amounts in a different order differ by ~1e-12, far inside it); accrual frames, which
only depend on the sums, must then be equal exactly.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rebatelab as rl
from rebatelab.data.tables import RebateData
from rebatelab.engine import reduction as rd
from rebatelab.engine import sums as engine_sums
from rebatelab.errors import DataValidationError, ParameterError
from rebatelab.money import cents
from tests.conftest import SAMPLE
from tests.engine.test_reference import _frames as reference_frames
from tests.engine.test_reference import cases as reference_cases

SAMPLE_AS_OF = ["2026-03-15", "2026-06-30", "2026-12-31"]

RANDOM_PROGRAMS = """
programs:
  - id: YEAR
    start: 2025-01-01
    end: 2025-12-31
    tiers: [{from: 500, rate: 0.01}, {from: 2000, rate: 0.03}]
    products: {category: [a, b]}
    exclude_products: {brand: [house]}
    cap: 150
    min_payout: 20
  - id: YEAR-C3
    variant_of: YEAR
    customers_only: [C3]
    tiers: [{from: 400, rate: 0.015}, {from: 1800, rate: 0.03}]
  - id: Q2
    start: 2025-04-01
    end: 2025-06-30
    method: incremental
    tiers: [{from: 0, rate: 0.01}, {from: 800, rate: 0.02}]
    enrollment: automatic
    customers: {segment: [X]}
  - id: POOL
    start: 2025-01-01
    end: 2025-12-31
    tiers: [{from: 1000, rate: 0.02}, {from: 5000, rate: 0.04}]
    pool: buying_group
    products: {category: [c]}
  - id: GROW
    start: 2025-01-01
    end: 2025-12-31
    tiers: [{from: 0.05, rate: 0.02}, {from: 0.5, rate: 0.05}]
    growth: {rebate_on: excess}
  - id: UNITS
    start: 2025-07-01
    end: 2025-12-31
    basis: quantity
    tiers: [{from: 20, amount: 50}, {from: 60, amount: 150}]
    enrollment: automatic
"""


def random_frames(seed: int, n_lines: int = 400):
    """Random customers, products, lines over 2024-2025, enrollments with dates and baselines."""
    rng = np.random.default_rng(seed)
    n_c, n_p = 12, 9
    cu = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n_c)],
            "segment": rng.choice(["X", "Y"], n_c),
            "buying_group": rng.choice(["G1", "G2", None], n_c),
        }
    )
    pr = pd.DataFrame(
        {
            "product_id": [f"P{i}" for i in range(n_p)],
            "category": rng.choice(["a", "b", "c"], n_p),
            "brand": rng.choice(["acme", "house"], n_p),
        }
    )
    days = pd.date_range("2024-01-01", "2025-12-31")
    tx = pd.DataFrame(
        {
            "invoice_id": [f"I{i}" for i in range(n_lines)],
            "date": days[rng.integers(0, len(days), n_lines)],
            "customer_id": cu["customer_id"].to_numpy()[rng.integers(0, n_c, n_lines)],
            "product_id": pr["product_id"].to_numpy()[rng.integers(0, n_p, n_lines)],
            "quantity": rng.integers(-2, 12, n_lines).astype(float),
            "net_amount": np.round(rng.normal(120, 90, n_lines), 2),
        }
    )
    rows = []
    for pid in ("YEAR", "POOL", "GROW"):
        for c in cu["customer_id"]:
            if c != "C3" and rng.random() < 0.7:
                late = rng.random() < 0.3
                on = pd.Timestamp("2025-01-01") + pd.Timedelta(days=int(rng.integers(0, 300)))
                base = float(np.round(rng.uniform(500, 3000), 2)) if rng.random() < 0.3 else None
                rows.append((pid, c, on if late else None, base if pid == "GROW" else None))
    rows.append(("YEAR-C3", "C3", None, None))
    en = pd.DataFrame(rows, columns=["program_id", "customer_id", "enrolled_on", "baseline"])
    en["enrolled_on"] = pd.to_datetime(en["enrolled_on"])
    return tx, cu, pr, en


def assert_same_sums(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(
        a.drop(columns=list(engine_sums.SUM_COLUMNS)), b.drop(columns=list(engine_sums.SUM_COLUMNS))
    )
    np.testing.assert_array_equal(a["n_lines"].to_numpy(), b["n_lines"].to_numpy())
    for c in ("net_amount", "quantity"):
        np.testing.assert_array_equal(cents(a[c]), cents(b[c]))
        np.testing.assert_allclose(a[c], b[c], rtol=0, atol=1e-6)  # the rounding step


@pytest.fixture(scope="module")
def sample():
    return rl.load_data(SAMPLE), rl.load_programs(SAMPLE / "programs.yaml")


# ------------------------------------------------------------------ numpy: grid vs per program
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_segment_grid_equals_per_program_pass(seed, monkeypatch):
    tx, cu, pr, en = random_frames(seed)
    programs = rl.load_programs(RANDOM_PROGRAMS)
    for as_of in ("2025-05-15", "2025-12-31"):
        for shift in (0, 1):
            grid = rd.period_sums(
                RebateData.from_frames(tx, cu, pr, en), programs, as_of=as_of, shift_years=shift
            )
            with monkeypatch.context() as m:
                m.setattr(engine_sums, "GRID_MAX_CELLS", 0)  # forces one pass per program
                per_program = rd.period_sums(
                    RebateData.from_frames(tx, cu, pr, en),
                    programs,
                    as_of=as_of,
                    shift_years=shift,
                )
            assert_same_sums(grid, per_program)


def test_enrolled_on_counts_only_later_lines():
    tx, cu, pr, en = random_frames(5)
    programs = rl.load_programs(RANDOM_PROGRAMS)
    data = RebateData.from_frames(tx, cu, pr, en)
    sums = rd.period_sums(data, programs, as_of="2025-12-31")
    late = sums[sums["enrolled_on"].notna() & (sums["program_id"] == "YEAR")]
    assert len(late)
    elig = set(pr.loc[pr["category"].isin(["a", "b"]) & (pr["brand"] != "house"), "product_id"])
    for r in late.itertuples():  # brute force, line by line
        lines = tx[
            (tx["customer_id"] == r.customer_id)
            & tx["product_id"].isin(elig)
            & (tx["date"] >= max(pd.Timestamp("2025-01-01"), r.enrolled_on))
            & (tx["date"] <= "2025-12-31")
        ]
        assert cents(r.net_amount) == cents(lines["net_amount"].sum())
        assert r.n_lines == len(lines)


def test_unknown_backend_and_options_are_errors(sample):
    data, programs = sample
    with pytest.raises(ParameterError, match="backend must be one of"):
        rl.accrue(data, programs, "2026-06-30", backend="spark")
    with pytest.raises(ParameterError, match="numpy backend takes no options"):
        rd.period_sums(data, programs, as_of="2026-06-30", memory_limit="1GB")


# ------------------------------------------------------------------ DuckDB
@pytest.mark.parametrize("as_of", SAMPLE_AS_OF)
def test_duckdb_equals_numpy_on_sample(sample, as_of):
    pytest.importorskip("duckdb")
    data, programs = sample
    for shift in (0, 1):
        assert_same_sums(
            rd.period_sums(data, programs, as_of=as_of, shift_years=shift),
            rd.period_sums(data, programs, as_of=as_of, shift_years=shift, backend="duckdb"),
        )
    pd.testing.assert_frame_equal(
        rl.accrue(data, programs, as_of), rl.accrue(data, programs, as_of, backend="duckdb")
    )


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_duckdb_equals_numpy_on_random_data(seed):
    pytest.importorskip("duckdb")
    tx, cu, pr, en = random_frames(seed)
    data = RebateData.from_frames(tx, cu, pr, en)
    programs = rl.load_programs(RANDOM_PROGRAMS)
    for as_of in ("2025-02-10", "2025-08-31", "2026-01-31"):
        pd.testing.assert_frame_equal(
            rl.accrue(data, programs, as_of),
            rl.accrue(data, programs, as_of, backend="duckdb", memory_limit="256MB", threads=1),
        )


def _write_parts(folder, tx, cu, pr, en, parts=4):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "transactions").mkdir()
    for k, idx in enumerate(np.array_split(np.arange(len(tx)), parts)):
        tx.iloc[idx].to_parquet(folder / "transactions" / f"part-{k}.parquet", index=False)
    cu.to_parquet(folder / "customers.parquet", index=False)
    pr.to_parquet(folder / "products.parquet", index=False)
    en.to_parquet(folder / "enrollments.parquet", index=False)
    return folder


def test_lazy_lines_duckdb_equals_in_memory(tmp_path):
    pytest.importorskip("duckdb")
    tx, cu, pr, en = random_frames(20, n_lines=600)
    folder = _write_parts(tmp_path / "d", tx, cu, pr, en)
    programs = rl.load_programs(RANDOM_PROGRAMS)
    lazy = rl.load_data(folder, lines="lazy", memory_limit="256MB")
    eager = rl.load_data(folder)
    assert lazy.lines_path is not None and len(lazy.transactions) == 0
    pd.testing.assert_frame_equal(
        rl.accrue(eager, programs, "2025-10-31"),
        rl.accrue(lazy, programs, "2025-10-31", backend="duckdb", memory_limit="256MB"),
    )
    with pytest.raises(ParameterError, match="loaded lazily"):
        rl.accrue(lazy, programs, "2025-10-31")


def test_lazy_numeric_ids_read_like_load_data(tmp_path):
    """Ids stored as numbers (as in the UCI file) match the text ids load_data makes."""
    pytest.importorskip("duckdb")
    tx, cu, pr, en = random_frames(21)
    num = {f"C{i}": 1000.0 + i for i in range(len(cu))}  # floats, as pandas writes NaN-able ids
    tx = tx.assign(customer_id=tx["customer_id"].map(num))
    cu = cu.assign(customer_id=cu["customer_id"].map(num))
    en = en.assign(customer_id=en["customer_id"].map(num))
    programs = rl.load_programs(RANDOM_PROGRAMS.replace("[C3]", "[1003]"))
    folder = _write_parts(tmp_path / "n", tx, cu, pr, en)
    eager = rl.load_data(folder)
    lazy = rl.load_data(folder, lines="lazy")
    pd.testing.assert_frame_equal(
        rl.accrue(eager, programs, "2025-12-31"),
        rl.accrue(lazy, programs, "2025-12-31", backend="duckdb"),
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda tx: tx.drop(columns=["quantity"]), r"missing required column\(s\) \['quantity'\]"),
        (
            lambda tx: tx.assign(customer_id=tx["customer_id"].where(tx.index != 7, "ZZ")),
            r"column 'customer_id': 1 row\(s\) reference ids not in customers .*'ZZ'",
        ),
        (
            lambda tx: tx.assign(net_amount=tx["net_amount"].astype(str).where(tx.index != 3, "x")),
            r"column 'net_amount': 1 row\(s\) are not numbers .*part-0.parquet row 4.*'x'",
        ),
        (
            lambda tx: pd.concat([tx, tx.iloc[[5, 9]]], ignore_index=True),
            r"2 row\(s\) exactly repeat an earlier line",
        ),
        (
            lambda tx: tx.assign(date=tx["date"].astype(str).where(tx.index != 2, "2025-13-45")),
            r"column 'date': 1 row\(s\) are not dates",
        ),
    ],
)
def test_lazy_validation_messages(tmp_path, change, message):
    pytest.importorskip("duckdb")
    tx, cu, pr, en = random_frames(22, n_lines=60)
    folder = _write_parts(tmp_path / "v", change(tx), cu, pr, en, parts=1)
    with pytest.raises(DataValidationError, match=message):
        rl.load_data(folder, lines="lazy")


# ------------------------------------------------------------------ Dask
def test_dask_threads_equals_numpy_on_random_data():
    pytest.importorskip("dask.dataframe")
    tx, cu, pr, en = random_frames(30)
    data = RebateData.from_frames(tx, cu, pr, en)
    programs = rl.load_programs(RANDOM_PROGRAMS)
    for shift in (0, 1):
        assert_same_sums(
            rd.period_sums(data, programs, as_of="2025-09-30", shift_years=shift),
            rd.period_sums(
                data, programs, as_of="2025-09-30", shift_years=shift, backend="dask",
                npartitions=4, split_every=2,
            ),
        )  # fmt: skip


@pytest.mark.slow
def test_dask_local_cluster_equals_numpy(sample, tmp_path):
    """Two worker processes: the sample in memory, and random lazy Parquet parts."""
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    data, programs = sample
    tx, cu, pr, en = random_frames(31, n_lines=800)
    folder = _write_parts(tmp_path / "k", tx, cu, pr, en, parts=5)
    random_programs = rl.load_programs(RANDOM_PROGRAMS)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        got = rl.accrue(data, programs, "2026-06-30", backend="dask", client=client)
        pd.testing.assert_frame_equal(rl.accrue(data, programs, "2026-06-30"), got)
        lazy = rl.load_data(folder, lines="lazy")
        got = rl.accrue(lazy, random_programs, "2025-12-31", backend="dask", client=client)
        want = rl.accrue(rl.load_data(folder), random_programs, "2025-12-31")
        pd.testing.assert_frame_equal(want, got)


# ------------------------------------------------------------------ line store (CLI default)
def _with_unknown_ids(tx: pd.DataFrame, rng) -> pd.DataFrame:
    """A few lines naming customers or products that are not in the master tables."""
    tx = tx.copy()
    k = len(tx)
    tx.loc[rng.choice(k, 5, replace=False), "customer_id"] = "ZZ"
    tx.loc[rng.choice(k, 4, replace=False), "product_id"] = "PX"
    tx.loc[rng.choice(k, 3, replace=False), "customer_id"] = "AA"
    return tx


def _write_folder(folder, tx, cu, pr, en, fmt):
    if fmt == "parts":
        return _write_parts(folder, tx, cu, pr, en, parts=3)
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in (("transactions", tx), ("customers", cu), ("products", pr),
                     ("enrollments", en)):  # fmt: skip
        if fmt == "csv":
            df.to_csv(folder / f"{name}.csv", index=False)
        else:
            df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def assert_same_reduction(a, b) -> None:
    """Two reductions equal: keys exactly, sums to the cent and within the 1e-6 rounding."""
    for name in ("members", "period", "baseline", "prior", "candidates"):
        x, y = getattr(a, name), getattr(b, name)
        if "n_lines" in x:
            assert_same_sums(x, y)
        else:
            pd.testing.assert_frame_equal(x, y)
    for name in ("daily", "candidate_daily", "customer_daily"):
        x, y = getattr(a, name), getattr(b, name)
        keys = [c for c in x.columns if c not in ("net_amount", "quantity")]
        pd.testing.assert_frame_equal(x[keys], y[keys], obj=name)
        np.testing.assert_array_equal(cents(x["net_amount"]), cents(y["net_amount"]))
        np.testing.assert_allclose(x["quantity"], y["quantity"], rtol=0, atol=1e-6)
    x, y = a.reconciliation, b.reconciliation
    pd.testing.assert_frame_equal(x.drop(columns="quantity"), y.drop(columns="quantity"))
    np.testing.assert_allclose(x["quantity"], y["quantity"], rtol=0, atol=1e-6)
    assert (a.first_date, a.last_date) == (b.first_date, b.last_date)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "parts"])
@pytest.mark.parametrize("seed", [40, 41])
def test_line_store_reduction_equals_in_memory(tmp_path, fmt, seed):
    """Files reduced by DuckDB = the same folder loaded in memory, every field of the handoff."""
    pytest.importorskip("duckdb")
    from rebatelab.engine.backends.sql_reduce import export_exclusions
    from rebatelab.engine.reconciliation import exclusions, explain

    rng = np.random.default_rng(seed)
    tx, cu, pr, en = random_frames(seed, n_lines=700)
    tx = _with_unknown_ids(tx, rng)
    folder = _write_folder(tmp_path / fmt, tx, cu, pr, en, fmt)
    programs = rl.load_programs(RANDOM_PROGRAMS)
    lazy = rl.load_data(folder, lines="lazy", unknown_ids="exclude")
    eager = rl.load_data(folder, unknown_ids="exclude")
    assert lazy.n_lines == eager.n_lines == len(tx)
    assert lazy.date_range == eager.date_range
    for as_of in ("2025-03-31", "2025-10-31", "2026-01-15"):
        a, b = rl.reduce(lazy, programs, as_of), rl.reduce(eager, programs, as_of)
        assert_same_reduction(a, b)
        pd.testing.assert_frame_equal(rl.accrue(a), rl.accrue(eager, programs, as_of))
        # the streamed exclusions are the in-memory list, pair for pair
        out = tmp_path / f"exc-{fmt}-{as_of}.csv"
        export_exclusions(lazy, programs, as_of, out)
        got = pd.read_csv(out, dtype={"customer_id": str, "product_id": str})
        want = exclusions(eager, programs, as_of=as_of)
        key = ["program_id", "row"]
        got = got.sort_values(key).reset_index(drop=True)
        want = want.sort_values(key).reset_index(drop=True)
        assert got["row"].tolist() == want["row"].tolist()
        assert got["program_id"].tolist() == want["program_id"].astype(str).tolist()
        assert got["reason"].tolist() == want["reason"].astype(str).tolist()
        assert (cents(got["net_amount"]) == cents(want["net_amount"])).all()
    # explaining an invoice: the same reasons from the files and from memory
    for inv in tx["invoice_id"].iloc[[0, 5, 123]]:
        pd.testing.assert_frame_equal(
            explain(lazy, programs, "2025-10-31", invoice_id=inv),
            explain(eager, programs, "2025-10-31", invoice_id=inv),
        )


def test_explain_agrees_with_exclusions_on_sample(sample):
    from rebatelab.engine.reconciliation import exclusions, explain

    data, programs = sample
    as_of = "2026-06-30"
    exc = exclusions(data, programs, as_of=as_of)
    tx = data.transactions
    for inv in tx["invoice_id"].iloc[[10, 2000, 5000]]:
        e = explain(data, programs, as_of, invoice_id=inv)
        assert len(e) == len(programs) * (tx["invoice_id"] == inv).sum()
        mine = exc[exc["invoice_id"] == inv]
        want = mine.set_index(["program_id", "row"])["reason"].astype(str).to_dict()
        got = e[~e["counted"] & (e["reason"] != "outside_period")]
        assert got.set_index(["program_id", "row"])["reason"].to_dict() == want
        assert e["why"].str.len().min() > 10
    one = explain(data, programs, as_of, invoice_id=tx["invoice_id"].iloc[10],
                  program_id=programs.ids[0])  # fmt: skip
    assert set(one["program_id"]) == {programs.ids[0]}
    with pytest.raises(ParameterError, match="no line has invoice_id"):
        explain(data, programs, as_of, invoice_id="NOT-AN-INVOICE")


def test_explain_names_each_reason(small_data, small_programs):
    from rebatelab.engine.reconciliation import explain

    e = explain(small_data, small_programs, "2025-12-31", invoice_id="I3", program_id="TOOLS")
    assert e.set_index("product_id")["reason"].to_dict() == {
        "P1": "counted",
        "P2": "product_not_eligible",  # House brand
    }
    e = explain(small_data, small_programs, "2025-12-31", invoice_id="I1", program_id="TOOLS")
    assert e["reason"].tolist() == ["outside_period"]  # 2024-03-01
    e = explain(small_data, small_programs, "2025-12-31", invoice_id="I8", program_id="TOOLS")
    assert e["reason"].tolist() == ["customer_not_enrolled"]
    assert "not enrolled" in e["why"].iloc[0]


# as_of before every window of the generated programs starts (they start in 2026) and after
# every window has ended (they end by 2026-12-31), beside the generator's own dates
_EDGE_AS_OF = [None, dt.date(2025, 12, 31), dt.date(2026, 1, 1), dt.date(2027, 3, 31)]


def _cents_frame(acc: pd.DataFrame) -> pd.DataFrame:
    keyed = acc.set_index(["program_id", "customer_id"]).sort_index()
    money = ["basis", "earned", "payable"]
    out = pd.DataFrame(
        {c: np.round(keyed[c].to_numpy(dtype=float) * 100).astype(np.int64) for c in money},
        index=keyed.index,
    )
    out["tier"] = keyed["tier"].to_numpy()
    return out


@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=reference_cases(), as_of=st.sampled_from(_EDGE_AS_OF))
def test_duckdb_and_dask_accrue_equal_in_memory_to_the_cent(case, as_of):
    pytest.importorskip("duckdb")
    pytest.importorskip("dask.dataframe")
    import dask

    tx, cu, pr, en, programs, drawn_as_of = case
    as_of = drawn_as_of if as_of is None else as_of
    data = reference_frames(tx, cu, pr, en)
    terms = rl.load_programs(yaml.safe_dump({"programs": programs}, sort_keys=False))
    expected = _cents_frame(rl.accrue(data, terms, as_of))
    got_duckdb = _cents_frame(rl.accrue(data, terms, as_of, backend="duckdb", threads=1))
    with dask.config.set(scheduler="synchronous"):
        got_dask = _cents_frame(rl.accrue(data, terms, as_of, backend="dask"))
    pd.testing.assert_frame_equal(got_duckdb, expected)
    pd.testing.assert_frame_equal(got_dask, expected)
