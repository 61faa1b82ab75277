"""Compare the simulator's statistics with the real Online Retail data, side by side.

Usage::

    .venv/bin/python scripts/calibrate_simulator.py [--out docs/simulation_calibration.md]
        [--customers 4000] [--seed 1] [--set order_rate_mean=8 ...]

Reads ``<project root>/../shared/data/online_retail.parquet`` (exits with a message when it is
absent), simulates a customer base over the same dates with the default parameters (or
``--set`` overrides) and no threshold response, and prints a markdown table of the
statistics the issue asks for: spend concentration, inter-order times, order values, share of
returns, lines per order, orders per customer and the monthly profile. Only aggregate
statistics are printed; no row of the real data is written anywhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "online_retail.parquet"
START, END = "2010-12-01", "2011-12-09"


def real_lines(path: Path = REAL) -> pd.DataFrame:
    """Online Retail lines with a customer, as ``customer_id, invoice_id, date, net_amount``."""
    df = pd.read_parquet(path)
    df = df[df["CustomerID"].notna()]
    return pd.DataFrame(
        {
            "customer_id": df["CustomerID"].astype(np.int64).astype(str).to_numpy(),
            "invoice_id": df["InvoiceNo"].astype(str).to_numpy(),
            "date": pd.to_datetime(df["InvoiceDate"]).dt.normalize().to_numpy(),
            "net_amount": (df["Quantity"] * df["UnitPrice"]).to_numpy(dtype=float),
            "zero_price": (df["UnitPrice"] == 0).to_numpy(),
        }
    )


def sim_lines(n_customers: int, seed: int, **overrides) -> pd.DataFrame:
    """Simulated lines over the Online Retail dates, without threshold response."""
    from rebatelab.simulation.generator import simulate_data

    sim = simulate_data(n_customers, start=START, end=END, seed=seed, programs=None, **overrides)
    tx = sim.transactions
    return pd.DataFrame(
        {
            "customer_id": tx["customer_id"].astype(str).to_numpy(),
            "invoice_id": tx["invoice_id"].astype(str).to_numpy(),
            "date": tx["date"].to_numpy(dtype="datetime64[ns]"),
            "net_amount": tx["net_amount"].to_numpy(dtype=float),
            "zero_price": (tx["net_amount"] == 0).to_numpy(),
        }
    )


def statistics(lines: pd.DataFrame) -> dict[str, float]:
    """The compared statistics of one set of invoice lines (vectorized, no loop over rows)."""
    amt = lines["net_amount"].to_numpy()
    pos = amt > 0
    out: dict[str, float] = {}
    spend = lines.groupby("customer_id")["net_amount"].sum()
    spend = spend[spend > 0].sort_values(ascending=False)
    k = int(np.ceil(0.2 * len(spend)))
    out["customers with a purchase"] = float(len(spend))
    out["share of net spend, top 20% of customers"] = spend.iloc[:k].sum() / spend.sum()
    out["share of net spend, top 1% of customers"] = (
        spend.iloc[: int(np.ceil(0.01 * len(spend)))].sum() / spend.sum()
    )
    orders = (
        lines[pos]
        .groupby(["customer_id", "invoice_id"], sort=False)
        .agg(value=("net_amount", "sum"), date=("date", "min"), n=("net_amount", "size"))
        .reset_index()
    )
    for q in (0.1, 0.25, 0.5, 0.75, 0.9, 0.99):
        out[f"order value, {round(q * 100)}th percentile"] = orders["value"].quantile(q)
    out["order value, mean"] = orders["value"].mean()
    out["lines per order, median"] = orders["n"].median()
    days = orders[["customer_id", "date"]].drop_duplicates().sort_values(["customer_id", "date"])
    gap = days.groupby("customer_id")["date"].diff().dt.days.dropna()
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        out[f"days between orders, {round(q * 100)}th percentile"] = gap.quantile(q)
    out["days between orders, mean"] = gap.mean()
    per_cust = orders.groupby("customer_id").size()
    out["orders per customer, median"] = per_cust.median()
    out["orders per customer, mean"] = per_cust.mean()
    out["orders per customer, 90th percentile"] = per_cust.quantile(0.9)
    out["share of one-order customers"] = (per_cust == 1).mean()
    out["returns and credits, share of gross sales"] = -amt[amt < 0].sum() / amt[pos].sum()
    out["negative lines, share of lines"] = (amt < 0).mean()
    out["zero-price lines, share of lines"] = lines["zero_price"].mean()
    month = lines["date"].dt.to_period("M")
    monthly = lines.groupby(month)["net_amount"].sum()
    full = monthly.iloc[:-1] if len(monthly) > 12 else monthly  # the last month is partial
    for per, v in (full / full.mean()).items():
        out[f"monthly net sales / mean, {per.strftime('%b')}"] = v
    return out


def table(real: dict, sim: dict) -> str:
    """Markdown table of the two sets of statistics."""
    rows = ["| statistic | Online Retail | simulator |", "|---|---:|---:|"]
    for key, r in real.items():
        s = sim.get(key, np.nan)
        fmt = "{:.0f}" if abs(r) >= 100 else "{:.2f}" if abs(r) >= 0.1 else "{:.2g}"
        rows.append(f"| {key} | {fmt.format(r)} | {fmt.format(s)} |")
    return "\n".join(rows) + "\n"


def _overrides(items) -> dict:
    out = {}
    for item in items or []:
        key, _, value = item.partition("=")
        out[key] = float(value) if "." in value or "e" in value else int(value)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # about half the simulated customers buy within the 12 months (the rest are slow buyers
    # or arrive late), so 8,800 gives about as many buyers as Online Retail's 4,372
    parser.add_argument("--customers", type=int, default=8800)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    parser.add_argument("--set", nargs="*", metavar="NAME=VALUE", help="parameter overrides")
    args = parser.parse_args(argv)
    if not REAL.exists():
        print(f"Online Retail data not found at {REAL}; nothing to compare.", file=sys.stderr)
        return 0
    real = statistics(real_lines())
    sim = statistics(sim_lines(args.customers, args.seed, **_overrides(args.set)))
    text = table(real, sim)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
