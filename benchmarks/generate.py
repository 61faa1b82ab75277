"""Fast synthetic data for the benchmarks: millions of lines in seconds, plus a program file.

The simulator (:mod:`rebatelab.simulation.generator`) draws a customer base with a known
ground truth;
that is what forecasting is scored on. The benchmarks only need volume with realistic shape
(skewed customers and products, a season, returns, filters that select some products and
customers), at 10M lines, so this module draws the lines directly, vectorized, and writes a
program file and enrollments sized so that each customer is in a handful of programs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# the simulator's vocabulary, so benchmark data reads like the sample
from rebatelab.simulation.params import BRANDS, CATEGORIES, REGIONS, SEGMENTS

SEASON = (0.76, 0.70, 0.93, 0.69, 1.05, 0.97, 0.92, 0.99, 1.49, 1.56, 1.80, 0.94)
START, END = np.datetime64("2024-01-01"), np.datetime64("2025-12-31")
AS_OF = "2025-09-30"
#: Programs run over 2025; as of 2025-09-30 three quarters of the year have been measured.
YEAR = 2025


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str), width))


def make_tables(n_lines: int, n_customers: int, *, n_products: int = 2000, seed: int = 0):
    """Transactions, customers and products (no enrollments) as validated-shaped frames.

    Parameters
    ----------
    n_lines : int
        Number of invoice lines (about 4% are returns with negative amounts).
    n_customers : int
    n_products : int
    seed : int

    Returns
    -------
    transactions, customers, products : DataFrame
        Column types as :func:`rebatelab.load_data` produces them (string ids, datetime64
        dates, float amounts), so that they can be wrapped in a ``RebateData`` directly.
    """
    rng = np.random.default_rng(seed)
    cust_ids = _ids("C", n_customers, 7)
    customers = pd.DataFrame(
        {
            "customer_id": cust_ids,
            "segment": rng.choice(SEGMENTS, n_customers, p=[0.35, 0.15, 0.25, 0.1, 0.15]),
            "region": rng.choice(REGIONS, n_customers),
            "rep": np.char.add("Rep", rng.integers(1, 40, n_customers).astype(str)),
            "buying_group": np.where(
                rng.random(n_customers) < 0.2,
                np.char.add("G", rng.integers(1, 200, n_customers).astype(str)),
                None,
            ),
        }
    )
    prod_ids = _ids("P", n_products, 6)
    category = rng.integers(0, len(CATEGORIES), n_products)
    products = pd.DataFrame(
        {
            "product_id": prod_ids,
            "category": np.asarray(CATEGORIES)[category],
            "brand": rng.choice(BRANDS, n_products),
            "list_price": np.round(np.exp(rng.normal(2.5, 0.8, n_products)), 2),
        }
    )
    # skewed customers (gamma weights) and products (Zipf-like popularity)
    cw = rng.gamma(0.6, size=n_customers)
    cust = rng.choice(n_customers, n_lines, p=cw / cw.sum())
    pw = 1.0 / np.arange(1, n_products + 1) ** 0.8
    prod = rng.permutation(n_products)[rng.choice(n_products, n_lines, p=pw / pw.sum())]
    days = np.arange(START, END + 1)
    month = days.astype("datetime64[M]").astype(int) % 12
    weekday = (days.astype(int) + 3) % 7
    dw = np.asarray(SEASON)[month] * np.where(weekday < 5, 1.0, 0.1)
    day = np.sort(rng.choice(len(days), n_lines, p=dw / dw.sum()))
    qty = rng.geometric(0.15, n_lines).astype(float)
    ret = rng.random(n_lines) < 0.04
    qty = np.where(ret, -np.ceil(qty / 2), qty)
    price = products["list_price"].to_numpy()[prod] * (1 - rng.uniform(0, 0.25, n_customers))[cust]
    net = np.round(qty * price, 2)
    # invoices: consecutive lines of one customer and day share an invoice (about 6 lines)
    inv = np.cumsum(rng.random(n_lines) < 1 / 6)
    tx = pd.DataFrame(
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
    for df, cols in (
        (customers, customers.columns),
        (products, ["product_id", "category", "brand"]),
    ):
        for c in cols:
            df[c] = df[c].astype("string")
    return tx, customers, products


def make_programs(
    customers: pd.DataFrame,
    products: pd.DataFrame,
    spend: pd.Series,
    n_programs: int,
    *,
    programs_per_customer: float = 4.0,
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
    seed : int

    Returns
    -------
    yaml_text : str
    enrollments : DataFrame
        ``program_id, customer_id``.
    """
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
        cats = rng.choice(CATEGORIES, rng.integers(1, 4), replace=False).tolist()
        scale = typical * share * len(cats) / len(CATEGORIES)
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
            segs = rng.choice(SEGMENTS, 2, replace=False).tolist()
            lines.append(f"    customers: {{segment: [{', '.join(segs)}]}}")
        if rng.random() < 0.05 and segs is not None:
            lines.append("    enrollment: automatic")
            lines.append(f"    customers: {{segment: [{segs[0]}], region: [North]}}")
            lines.pop(-3)
            continue
        ok = np.ones(n_c, bool) if segs is None else np.isin(seg, segs)
        pool = np.flatnonzero(ok)
        chosen = rng.choice(pool, min(per_program, len(pool)), replace=False)
        enrolled.append(pd.DataFrame({"program_id": pid, "customer_id": cids[chosen]}))
    en = (
        pd.concat(enrolled, ignore_index=True)
        if enrolled
        else pd.DataFrame({"program_id": [], "customer_id": []})
    )
    en = en.astype("string")
    return "\n".join(lines) + "\n", en


def make_data(n_lines, n_customers, n_programs, *, seed=0):
    """All tables and the program file of one benchmark configuration.

    Returns
    -------
    tx, customers, products, enrollments : DataFrame
    programs_yaml : str
    """
    tx, cu, pr = make_tables(n_lines, n_customers, seed=seed)
    in_year = tx["date"].dt.year.to_numpy() == YEAR
    spend = tx.loc[in_year].groupby("customer_id")["net_amount"].sum()
    yaml_text, en = make_programs(cu, pr, spend, n_programs, seed=seed + 1)
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
