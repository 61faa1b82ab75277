"""Fast synthetic data for the benchmarks: millions of lines in seconds, plus a program file.

The simulator (:mod:`rebatelab.simulation.generator`) draws a customer base with a known
ground truth; that is what forecasting is scored on. The benchmarks only need volume with a
realistic shape (skewed customers and products, a season, returns, filters that select some
products and customers), at tens of millions of lines, so this module draws the lines
directly, vectorized, and writes a program file and enrollments.

As a command it writes one data folder per size, outside the repository::

    python benchmarks/generate.py --lines 5e6 --customers 20000 --programs 50
    python benchmarks/generate.py --lines 5e7 --customers 20000 --programs 50 --parts 25

The folder (default ``/tmp/rebatelab-bench/<lines>_<customers>_<programs>[_p<parts>]``)
holds ``transactions.parquet`` (or ``transactions/part-*.parquet``), ``customers``,
``products``, ``enrollments`` (Parquet), ``programs.yaml``, and ``analyst/``: the
memberships, eligible products, terms and tiers that the hand-written DuckDB SQL and pandas
code start from (:mod:`analyst`). An existing complete folder is reused.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

SEASON = (0.76, 0.70, 0.93, 0.69, 1.05, 0.97, 0.92, 0.99, 1.49, 1.56, 1.80, 0.94)
START, END = np.datetime64("2024-01-01"), np.datetime64("2025-12-31")
AS_OF = "2025-09-30"
#: Programs run over 2025; as of 2025-09-30 three quarters of the year have been measured.
YEAR = 2025
#: Default root of the generated folders (outside the repository).
ROOT = Path("/tmp/rebatelab-bench")
#: Bumped when the generated data changes, so that stale folders are rebuilt.
VERSION = 2


def _vocabulary():
    # the simulator's vocabulary, so benchmark data reads like the sample
    from rebatelab.simulation.params import BRANDS, CATEGORIES, REGIONS, SEGMENTS

    return BRANDS, CATEGORIES, REGIONS, SEGMENTS


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width))


def make_masters(n_customers: int, *, n_products: int = 2000, seed: int = 0):
    """Customers and products, plus the per-customer draws the lines need.

    Returns
    -------
    customers, products : DataFrame
    draws : dict
        ``cust_weight`` (purchase propensity), ``discount`` [fraction] per customer,
        ``prod_perm`` and ``prod_weight`` (Zipf-like popularity) per product.
    """
    brands, categories, regions, segments = _vocabulary()
    rng = np.random.default_rng(seed)
    cust_ids = _ids("C", n_customers, 7)
    customers = pd.DataFrame(
        {
            "customer_id": cust_ids,
            "segment": rng.choice(segments, n_customers, p=[0.35, 0.15, 0.25, 0.1, 0.15]),
            "region": rng.choice(regions, n_customers),
            "rep": np.char.add("Rep", rng.integers(1, 40, n_customers).astype(str)),
            "buying_group": np.where(
                rng.random(n_customers) < 0.2,
                np.char.add("G", rng.integers(1, 200, n_customers).astype(str)),
                None,
            ),
        }
    )
    prod_ids = _ids("P", n_products, 6)
    category = rng.integers(0, len(categories), n_products)
    products = pd.DataFrame(
        {
            "product_id": prod_ids,
            "category": np.asarray(categories)[category],
            "brand": rng.choice(brands, n_products),
            "list_price": np.round(np.exp(rng.normal(2.5, 0.8, n_products)), 2),
        }
    )
    cw = rng.gamma(0.6, size=n_customers)
    pw = 1.0 / np.arange(1, n_products + 1) ** 0.8
    draws = {
        "cust_weight": cw / cw.sum(),
        "discount": rng.uniform(0, 0.25, n_customers),
        "prod_perm": rng.permutation(n_products),
        "prod_weight": pw / pw.sum(),
    }
    for df, cols in (
        (customers, customers.columns),
        (products, ["product_id", "category", "brand"]),
    ):
        for c in cols:
            df[c] = df[c].astype("string")
    return customers, products, draws


def make_lines(n_lines: int, customers, products, draws, *, seed: int = 0, invoice_start: int = 0):
    """``n_lines`` invoice lines in date order (about 4% returns with negative amounts).

    Parameters
    ----------
    invoice_start : int
        First invoice number, so that chunks drawn separately do not share invoices.

    Returns
    -------
    DataFrame
        Column types as :func:`rebatelab.load_data` produces them (string ids, datetime64
        dates, float amounts).
    """
    rng = np.random.default_rng(seed)
    n_customers, n_products = len(customers), len(products)
    cust = rng.choice(n_customers, n_lines, p=draws["cust_weight"])
    prod = draws["prod_perm"][rng.choice(n_products, n_lines, p=draws["prod_weight"])]
    days = np.arange(START, END + 1)
    month = days.astype("datetime64[M]").astype(int) % 12
    weekday = (days.astype(int) + 3) % 7
    dw = np.asarray(SEASON)[month] * np.where(weekday < 5, 1.0, 0.1)
    day = np.sort(rng.choice(len(days), n_lines, p=dw / dw.sum()))
    qty = rng.geometric(0.15, n_lines).astype(float)
    ret = rng.random(n_lines) < 0.04
    qty = np.where(ret, -np.ceil(qty / 2), qty)
    price = products["list_price"].to_numpy()[prod] * (1 - draws["discount"])[cust]
    net = np.round(qty * price, 2)
    # invoices: consecutive lines share an invoice (about 6 lines)
    inv = invoice_start + np.cumsum(rng.random(n_lines) < 1 / 6)
    cust_ids = customers["customer_id"].to_numpy(dtype=object)
    prod_ids = products["product_id"].to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "invoice_id": pd.array(np.char.add("INV", inv.astype(str)), dtype="string"),
            "date": (START + day.astype("timedelta64[D]")).astype("datetime64[ns]"),
            "customer_id": pd.array(cust_ids[cust], dtype="string"),
            "product_id": pd.array(prod_ids[prod], dtype="string"),
            "line_no": np.arange(n_lines) % 1000,
            "quantity": qty,
            "net_amount": net,
        }
    )


def make_tables(n_lines: int, n_customers: int, *, n_products: int = 2000, seed: int = 0):
    """Transactions, customers and products (no enrollments) as validated-shaped frames.

    Returns
    -------
    transactions, customers, products : DataFrame
    """
    cu, pr, draws = make_masters(n_customers, n_products=n_products, seed=seed)
    tx = make_lines(n_lines, cu, pr, draws, seed=seed + 1000)
    return tx, cu, pr


def make_programs(
    customers: pd.DataFrame,
    products: pd.DataFrame,
    spend: pd.Series,
    n_programs: int,
    *,
    programs_per_customer: float = 4.0,
    categories: tuple[int, int] = (1, 3),
    automatic_share: float = 0.05,
    seed: int = 0,
) -> tuple[str, pd.DataFrame]:
    """A program file and enrollments: every feature, each customer in a handful of programs.

    Parameters
    ----------
    customers, products : DataFrame
    spend : Series
        Net sales per customer id over the year [currency], to size the tiers.
    n_programs : int
    programs_per_customer : float
        Average number of required-enrollment programs a customer is enrolled in.
    categories : (int, int)
        Fewest and most product categories a program covers.
    automatic_share : float
        Share of the programs with automatic enrollment (filter-based) [fraction].
    seed : int

    Returns
    -------
    yaml_text : str
    enrollments : DataFrame
        ``program_id, customer_id``.
    """
    _, all_categories, _, segments = _vocabulary()
    rng = np.random.default_rng(seed)
    n_c = len(customers)
    typical = float(np.quantile(spend[spend > 0], 0.6)) if (spend > 0).any() else 1000.0
    periods = [
        (f"{YEAR}-01-01", f"{YEAR}-12-31"),
        (f"{YEAR}-01-01", f"{YEAR}-06-30"),
        (f"{YEAR}-07-01", f"{YEAR}-12-31"),
        (f"{YEAR}-01-01", f"{YEAR}-03-31"),
        (f"{YEAR}-04-01", f"{YEAR}-06-30"),
        (f"{YEAR}-07-01", f"{YEAR}-09-30"),
    ]
    lines, enrolled = ["programs:"], []
    per_program = max(1, int(programs_per_customer * n_c / max(n_programs, 1)))
    seg = customers["segment"].to_numpy(dtype=object)
    cids = customers["customer_id"].to_numpy(dtype=object)
    for i in range(n_programs):
        pid = f"P{i:04d}"
        start, end = periods[rng.choice(len(periods), p=[0.6, 0.1, 0.1, 0.07, 0.07, 0.06])]
        share = {"12": 1.0, "06": 0.5, "03": 0.25, "09": 0.25}[end[5:7]]
        basis = "quantity" if rng.random() < 0.1 else "net_sales"
        growth = basis == "net_sales" and rng.random() < 0.1
        method = "incremental" if rng.random() < 0.3 and not growth else "retroactive"
        n_cat = int(rng.integers(categories[0], categories[1] + 1))
        cats = rng.choice(all_categories, n_cat, replace=False).tolist()
        scale = typical * share * len(cats) / len(all_categories)
        if basis == "quantity":
            scale /= 20.0
        if growth:
            tiers = [(0.05, 0.02), (0.15, 0.03), (0.30, 0.04)]
        else:
            k = int(rng.integers(2, 5))
            tiers = [
                (round(scale * f, 0), 0.01 * (j + 1)) for j, f in enumerate((0.5, 1, 2, 4)[:k])
            ]
        lines += [
            f"  - id: {pid}",
            f"    start: {start}",
            f"    end: {end}",
            f"    basis: {basis}",
            f"    method: {method}",
            "    tiers: [" + ", ".join(f"{{from: {f}, rate: {r}}}" for f, r in tiers) + "]",
            f"    products: {{category: [{', '.join(cats)}]}}",
        ]
        if growth:
            lines.append("    growth: {rebate_on: " + ("excess" if i % 2 else "total") + "}")
        if rng.random() < 0.3:
            lines.append("    exclude_products: {brand: [House]}")
        if rng.random() < 0.3:
            lines.append(f"    cap: {round(scale * 0.05, 0)}")
        if rng.random() < 0.3:
            lines.append("    min_payout: 50")
        if rng.random() < 0.1 and not growth:
            lines.append("    pool: buying_group")
        segs = None
        if rng.random() < 0.4:
            segs = rng.choice(segments, 2, replace=False).tolist()
            lines.append(f"    customers: {{segment: [{', '.join(segs)}]}}")
        if rng.random() < automatic_share and segs is not None:
            lines.append("    enrollment: automatic")
            lines.append(f"    customers: {{segment: [{segs[0]}], region: [North]}}")
            lines.pop(-3)
            continue
        ok = np.ones(n_c, bool) if segs is None else np.isin(seg, segs)
        pool = np.flatnonzero(ok)
        chosen = np.sort(rng.choice(pool, min(per_program, len(pool)), replace=False))
        enrolled.append(pd.DataFrame({"program_id": pid, "customer_id": cids[chosen]}))
    en = (
        pd.concat(enrolled, ignore_index=True)
        if enrolled
        else pd.DataFrame({"program_id": [], "customer_id": []})
    )
    en = en.astype("string")
    return "\n".join(lines) + "\n", en


def _spend(tx: pd.DataFrame, scale: float = 1.0) -> pd.Series:
    in_year = tx["date"].dt.year.to_numpy() == YEAR
    return tx.loc[in_year].groupby("customer_id")["net_amount"].sum() * scale


def make_data(n_lines, n_customers, n_programs, *, seed=0):
    """All tables and the program file of one configuration (the warm benchmarks' shape).

    Returns
    -------
    tx, customers, products, enrollments : DataFrame
    programs_yaml : str
    """
    tx, cu, pr = make_tables(n_lines, n_customers, seed=seed)
    yaml_text, en = make_programs(cu, pr, _spend(tx), n_programs, seed=seed + 1)
    return tx, cu, pr, en, yaml_text


def write(folder: Path, tx, cu, pr, en, yaml_text, *, parts: int = 1) -> Path:
    """Write a data folder; ``parts > 1`` writes transactions as a folder of Parquet parts."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if parts > 1:
        d = folder / "transactions"
        d.mkdir(exist_ok=True)
        for k, chunk in enumerate(np.array_split(np.arange(len(tx)), parts)):
            tx.iloc[chunk].to_parquet(d / f"part-{k:04d}.parquet", index=False)
    else:
        tx.to_parquet(folder / "transactions.parquet", index=False)
    cu.to_parquet(folder / "customers.parquet", index=False)
    pr.to_parquet(folder / "products.parquet", index=False)
    en.to_parquet(folder / "enrollments.parquet", index=False)
    (folder / "programs.yaml").write_text(yaml_text)
    return folder


def folder_name(n_lines: int, n_customers: int, n_programs: int, parts: int = 1) -> str:
    """Folder name of one configuration, e.g. ``5000000_20000_50`` or ``..._p25``."""
    return f"{n_lines}_{n_customers}_{n_programs}" + (f"_p{parts}" if parts > 1 else "")


def write_analyst_tables(folder: Path, programs_yaml: str, cu, pr, en) -> None:
    """The inputs of the hand-written SQL and pandas code, as Parquet under ``analyst/``.

    One row per (program, customer) membership with its pool, per (program, eligible
    product), per program (period, basis, method, growth, cap, minimum) and per tier. They
    are derived with rebatelab's own eligibility code (enrollment, customer filters, product
    filters, pools), which the competitors are not asked to re-implement: it is small
    tables and not where the time goes.
    """
    import competitors

    import rebatelab as rl
    from rebatelab.data.tables import RebateData

    en = en.assign(
        enrolled_on=pd.Series(pd.NaT, index=en.index, dtype="datetime64[ns]"), baseline=np.nan
    )
    tx0 = pd.DataFrame(
        {
            "invoice_id": pd.array([], dtype="string"),
            "date": pd.Series([], dtype="datetime64[ns]"),
            "customer_id": pd.array([], dtype="string"),
            "product_id": pd.array([], dtype="string"),
            "line_no": np.array([], dtype=np.int64),
            "quantity": np.array([], dtype=float),
            "net_amount": np.array([], dtype=float),
        }
    )
    data = RebateData(transactions=tx0, customers=cu, products=pr, enrollments=en)
    tables = competitors.analyst_tables(data, rl.load_programs(programs_yaml), AS_OF)
    out = folder / "analyst"
    out.mkdir(exist_ok=True)
    for name, df in zip(("membership", "elig", "terms", "tiers"), tables, strict=True):
        df.to_parquet(out / f"{name}.parquet", index=False)


def build(
    n_lines: int,
    n_customers: int,
    n_programs: int,
    *,
    parts: int = 1,
    root: Path = ROOT,
    programs_per_customer: float = 10.0,
    seed: int = 0,
    force: bool = False,
) -> Path:
    """Write (or reuse) the data folder of one configuration; return its path.

    The shape of issue 11: each customer enrolled in about ``programs_per_customer``
    required-enrollment programs, one product category per program. With ``parts > 1`` the
    lines are drawn and written part by part (memory bounded by a part, not the lines).
    """
    folder = Path(root) / folder_name(n_lines, n_customers, n_programs, parts)
    stamp = folder / "_complete.json"
    spec = dict(
        version=VERSION,
        lines=n_lines,
        customers=n_customers,
        programs=n_programs,
        parts=parts,
        programs_per_customer=programs_per_customer,
        seed=seed,
    )
    if not force and stamp.exists() and json.loads(stamp.read_text()).get("spec") == spec:
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    t = time.perf_counter()
    cu, pr, draws = make_masters(n_customers, seed=seed)
    sizes = np.diff(np.linspace(0, n_lines, max(parts, 1) + 1).round().astype(np.int64))
    if parts > 1:
        (folder / "transactions").mkdir()
    spend, inv = None, 0
    for k, n in enumerate(sizes):
        tx = make_lines(int(n), cu, pr, draws, seed=seed + 1000 + k, invoice_start=inv)
        inv += int(n)  # a part of n lines uses at most n invoice numbers
        if spend is None:  # tiers sized on the first part, scaled to the whole year
            spend = _spend(tx, scale=n_lines / max(int(n), 1))
        path = (
            folder / "transactions" / f"part-{k:04d}.parquet"
            if parts > 1
            else folder / "transactions.parquet"
        )
        tx.to_parquet(path, index=False)
        del tx
    yaml_text, en = make_programs(
        cu,
        pr,
        spend,
        n_programs,
        programs_per_customer=programs_per_customer,
        categories=(1, 1),
        automatic_share=0.0,
        seed=seed + 1,
    )
    cu.to_parquet(folder / "customers.parquet", index=False)
    pr.to_parquet(folder / "products.parquet", index=False)
    en.to_parquet(folder / "enrollments.parquet", index=False)
    (folder / "programs.yaml").write_text(yaml_text)
    write_analyst_tables(folder, yaml_text, cu, pr, en)
    disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    stamp.write_text(
        json.dumps({"spec": spec, "seconds": time.perf_counter() - t, "bytes": disk}, indent=1)
    )
    return folder


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="write a benchmark data folder")
    ap.add_argument("--lines", type=float, required=True, help="invoice lines, e.g. 5e6")
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--programs", type=int, default=50)
    ap.add_argument("--parts", type=int, default=1, help="Parquet parts (1 = one file)")
    ap.add_argument("--root", type=Path, default=ROOT, help=f"parent folder (default {ROOT})")
    ap.add_argument("--per-customer", type=float, default=10.0, help="programs per customer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="rebuild even if complete")
    a = ap.parse_args(argv)
    folder = build(
        int(a.lines),
        a.customers,
        a.programs,
        parts=a.parts,
        root=a.root,
        programs_per_customer=a.per_customer,
        seed=a.seed,
        force=a.force,
    )
    print(folder)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
