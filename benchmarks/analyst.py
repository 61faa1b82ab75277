"""What an analyst writes instead of ``rebatelab accrue``: one DuckDB SQL statement, pandas.

Run as a whole process on a data folder written by ``generate.py``, writing a CSV::

    python benchmarks/analyst.py sql DIR --out acc.csv          # DuckDB SQL over the Parquet
    python benchmarks/analyst.py pandas DIR --out acc.csv       # read_parquet, merge, groupby
    python benchmarks/analyst.py lower-bound DIR --out sums.csv # one GROUP BY, two columns

This module imports neither rebatelab nor anything it does not need: its import time is the
competitor's. Both accruals start from what an analyst has at hand besides the invoice
lines: ``DIR/analyst/`` holds the (program, customer, pool) memberships, the (program,
eligible product) pairs, the program terms (one row per program, ``stop`` = the end of the
period or the as-of date, whichever is first) and the tiers. Both implement the accrual
(period filter, growth baseline over the same dates one year earlier, pools, retroactive /
incremental / lump-sum tiers, cap, minimum payout, pro-rata shares of a pool). The SQL
splits a pool's amount by the largest remainder in exact integers (weights in millionths),
ties to the earlier customer, as rebatelab does, so its ``earned`` agrees to the cent; the
pandas code rounds each share (what a spreadsheet does): a cent off per pooled member.

The SQL is tuned by hand: the eligibility test is a semi-join (``IN``) after the join to
the memberships; written as a third inner join, DuckDB's planner joined the lines to the
(program, eligible product) pairs first (about 18 rows per line) and was twice as slow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: Columns of the accrual that the competitors write (a subset of rebatelab's output).
COLUMNS = [
    "program_id",
    "customer_id",
    "pool_id",
    "basis",
    "baseline",
    "pool_basis",
    "tier",
    "rate",
    "earned",
    "payable",
]

ACCRUE_SQL = """
WITH lines AS (
    SELECT customer_id, product_id, CAST(date AS DATE) AS day, net_amount, quantity FROM tx
),
cur AS (
    SELECT m.program_id, m.customer_id,
           SUM(CASE WHEN p.basis = 'quantity' THEN l.quantity ELSE l.net_amount END) AS basis
    FROM lines l
    JOIN membership m ON l.customer_id = m.customer_id
    JOIN terms p ON p.program_id = m.program_id
    WHERE l.day BETWEEN CAST(p.start AS DATE) AND CAST(p.stop AS DATE)
      AND (m.program_id, l.product_id) IN (SELECT program_id, product_id FROM elig)
    GROUP BY ALL
),
prior AS (
    SELECT m.program_id, m.customer_id,
           SUM(CASE WHEN p.basis = 'quantity' THEN l.quantity ELSE l.net_amount END) AS basis
    FROM lines l
    JOIN membership m ON l.customer_id = m.customer_id
    JOIN terms p ON p.program_id = m.program_id AND p.growth
    WHERE (m.program_id, l.product_id) IN (SELECT program_id, product_id FROM elig)
      AND l.day BETWEEN CAST(p.start - INTERVAL 1 YEAR AS DATE)
                    AND CAST(p.stop - INTERVAL 1 YEAR AS DATE)
    GROUP BY ALL
),
member AS (
    SELECT m.program_id, m.customer_id, m.pool_id,
           round(coalesce(c.basis, 0), 6) AS basis,
           CASE WHEN p.growth THEN round(coalesce(b.basis, 0), 6) END AS baseline
    FROM membership m
    JOIN terms p USING (program_id)
    LEFT JOIN cur c USING (program_id, customer_id)
    LEFT JOIN prior b USING (program_id, customer_id)
),
pool AS (
    SELECT program_id, pool_id, round(SUM(basis), 6) AS pool_basis,
           round(SUM(baseline), 6) AS pool_baseline,
           SUM(greatest(basis, 0)) AS weight, count(*) AS n_members
    FROM member GROUP BY ALL
),
thr AS (  -- tier thresholds in basis units (growth: baseline x (1 + growth fraction))
    SELECT q.program_id, q.pool_id, q.pool_basis, q.pool_baseline, t.k, t.rate, t.amount,
           CASE WHEN p.growth THEN
                CASE WHEN q.pool_baseline > 0 THEN q.pool_baseline * (1 + t.from_) END
                ELSE t.from_ END AS lo,
           CASE WHEN p.growth THEN
                CASE WHEN q.pool_baseline > 0 THEN q.pool_baseline * (1 + t.upto) END
                ELSE t.upto END AS hi,
           p.method, p.excess
    FROM pool q JOIN terms p USING (program_id) JOIN tiers t USING (program_id)
),
pool_tier AS (
    SELECT program_id, pool_id,
           coalesce(max(CASE WHEN pool_basis >= lo THEN k END), 0) AS tier,
           coalesce(sum(CASE WHEN method = 'incremental' AND pool_basis > lo AND pool_basis > 0
                        THEN rate * (least(pool_basis, hi) - lo) END), 0) AS incremental
    FROM thr GROUP BY ALL
),
pool_earned AS (
    SELECT q.program_id, q.pool_id, q.pool_basis, q.weight, q.n_members, pt.tier,
           coalesce(t.rate, 0) AS rate,
           CASE WHEN q.pool_basis <= 0 OR pt.tier = 0 THEN 0
                WHEN p.method = 'incremental' THEN pt.incremental
                WHEN t.amount > 0 THEN t.amount
                WHEN p.excess THEN t.rate * greatest(q.pool_basis - q.pool_baseline, 0)
                ELSE t.rate * q.pool_basis END AS raw
    FROM pool q
    JOIN terms p USING (program_id)
    JOIN pool_tier pt USING (program_id, pool_id)
    LEFT JOIN tiers t ON t.program_id = q.program_id AND t.k = pt.tier
),
settled AS (  -- the pool's amount in integer cents, half away from zero
    SELECT e.*,
           CASE WHEN p.cap IS NOT NULL THEN least(e.raw, p.cap) ELSE e.raw END AS capped,
           CAST(sign(capped) * floor(abs(round(capped * 100, 6)) + 0.5) AS BIGINT) AS cents,
           p.min_payout
    FROM pool_earned e JOIN terms p USING (program_id)
),
share AS (  -- largest remainder in integers: weights in millionths, exact quotients
    SELECT m.program_id, m.customer_id, m.pool_id, m.basis, m.baseline, s.pool_basis, s.tier,
           s.rate, s.cents, s.min_payout, s.capped,
           CAST(round(greatest(m.basis, 0) * 1e6) AS HUGEINT) AS w0,
           sum(w0) OVER (PARTITION BY m.program_id, m.pool_id) AS wsum,
           CASE WHEN wsum > 0 THEN w0 ELSE 1 END AS w,
           CASE WHEN wsum > 0 THEN wsum ELSE s.n_members END AS wtot,
           abs(CAST(s.cents AS HUGEINT)) * w AS prod,
           prod // wtot AS quot,
           prod % wtot AS rest
    FROM member m JOIN settled s USING (program_id, pool_id)
),
ranked AS (  -- the cents left over go one each to the largest rests, ties to the earlier row
    SELECT *,
           abs(cents) - sum(quot) OVER (PARTITION BY program_id, pool_id) AS short,
           row_number() OVER (PARTITION BY program_id, pool_id
                              ORDER BY rest DESC, customer_id) AS rnk,
           sign(cents) * (quot + CASE WHEN rnk <= short THEN 1 ELSE 0 END) AS share_cents
    FROM share
)
SELECT program_id, customer_id, pool_id, basis, baseline, pool_basis, tier, rate,
       CAST(share_cents AS DOUBLE) / 100 AS earned,
       CASE WHEN min_payout IS NOT NULL AND capped < min_payout THEN 0
            ELSE CAST(share_cents AS DOUBLE) / 100 END AS payable
FROM ranked
ORDER BY program_id, customer_id
"""
LOWER_BOUND_SQL = "SELECT customer_id, SUM(net_amount) AS net_amount FROM tx GROUP BY ALL"


def transactions_path(folder: Path) -> str:
    """The Parquet file, or a glob over the folder of parts, holding the lines."""
    one = folder / "transactions.parquet"
    return str(one) if one.exists() else str(folder / "transactions" / "*.parquet")


def duckdb_views(con, folder: Path) -> None:
    """Views ``tx`` (the lines, read where they are) and the four analyst tables."""
    con.execute(f"CREATE VIEW tx AS SELECT * FROM read_parquet('{transactions_path(folder)}')")
    for name in ("membership", "elig", "terms", "tiers"):
        path = folder / "analyst" / f"{name}.parquet"
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")


def run_sql(folder: Path, out: Path, sql: str, *, threads: int | None = None) -> None:
    """Run one statement over the folder's Parquet files and COPY its result to a CSV."""
    import duckdb

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    duckdb_views(con, folder)
    con.execute(f"COPY ({sql}) TO '{out}' (HEADER, DELIMITER ',')")
    con.close()


def _tiers(basis, baseline, thresholds, rates, amounts, method, growth, excess, cap):
    """Tier, rate and earned of each pool, vectorized over the pools of one program."""
    import numpy as np

    th = np.asarray(thresholds, dtype=float)[None, :]
    if growth:
        ok = baseline > 0
        th = np.where(ok[:, None], baseline[:, None] * (1 + th), np.inf)
    else:
        th = np.broadcast_to(th, (len(basis), th.shape[1]))
    tier = (basis[:, None] >= th).sum(axis=1)
    rates, amounts = np.asarray(rates, dtype=float), np.asarray(amounts, dtype=float)
    idx = np.maximum(tier - 1, 0)
    rate = np.where(tier > 0, rates[idx], 0.0)
    if method == "incremental":
        hi = np.concatenate([th[:, 1:], np.full((len(basis), 1), np.inf)], axis=1)
        k = np.arange(th.shape[1])[None, :]
        part = rates[None, :] * (np.minimum(basis[:, None], hi) - th)
        earned = np.where(k < tier[:, None], part, 0.0).sum(axis=1)
    else:
        earned = np.where(
            amounts[idx] > 0,
            amounts[idx],
            rate * (np.maximum(basis - baseline, 0.0) if excess else basis),
        )
    if cap == cap:  # not NaN
        earned = np.minimum(earned, cap)
    off = (basis <= 0) | (tier == 0)
    return tier, np.where(off, 0.0, rate), np.round(np.where(off, 0.0, earned), 2)


def pandas_accrue(tx, membership, elig, terms, tiers):
    """The accrual as an analyst writes it in pandas.

    Per program: filter the lines by date and product, merge with the members, group by
    customer and pool, and the tiers on the pools' arrays.
    """
    import numpy as np
    import pandas as pd

    out = []
    tiers_by = {k: g for k, g in tiers.groupby("program_id")}
    mem_by = {k: g for k, g in membership.groupby("program_id")}
    elig_by = {k: g["product_id"] for k, g in elig.groupby("program_id")}
    for p in terms.itertuples():
        mem = mem_by.get(p.program_id)
        if mem is None:
            continue
        col = "quantity" if p.basis == "quantity" else "net_amount"
        prods = elig_by.get(p.program_id, [])

        def basis_between(start, stop, col=col, mem=mem, prods=prods):
            lines = tx[(tx["date"] >= start) & (tx["date"] <= stop)]
            lines = lines[lines["product_id"].isin(prods)]
            lines = lines.merge(mem[["customer_id"]], on="customer_id")
            return lines.groupby("customer_id")[col].sum()

        df = mem.copy()
        df["basis"] = df["customer_id"].map(basis_between(p.start, p.stop)).fillna(0.0).round(6)
        if p.growth:
            prior = basis_between(p.start - pd.DateOffset(years=1), p.stop - pd.DateOffset(years=1))
            df["baseline"] = df["customer_id"].map(prior).fillna(0.0).round(6)
        else:
            df["baseline"] = np.nan
        pool = df.groupby("pool_id").agg(pool_basis=("basis", "sum"), baseline=("baseline", "sum"))
        pool["pool_basis"] = pool["pool_basis"].round(6)
        t = tiers_by[p.program_id]
        tier, rate, earned = _tiers(
            pool["pool_basis"].to_numpy(),
            pool["baseline"].to_numpy(),
            t["from_"].to_numpy(),
            t["rate"].to_numpy(),
            t["amount"].to_numpy(),
            p.method,
            p.growth,
            p.excess,
            p.cap,
        )
        pool = pool.assign(tier=tier, rate=rate, pool_earned=earned)
        df = df.merge(pool[["pool_basis", "tier", "rate", "pool_earned"]], on="pool_id")
        weight = df["basis"].clip(lower=0).groupby(df["pool_id"]).transform("sum")
        count = df.groupby("pool_id")["basis"].transform("size")
        share = np.where(weight > 0, df["basis"].clip(lower=0) / weight, 1.0 / count)
        df["earned"] = (df["pool_earned"] * share).round(2)
        df["payable"] = df["earned"]
        if p.min_payout == p.min_payout:  # a minimum is set
            df.loc[df["pool_earned"] < p.min_payout, "payable"] = 0.0
        out.append(df)
    return pd.concat(out, ignore_index=True)


def run_pandas(folder: Path, out: Path) -> None:
    """Read the Parquet files with pandas, accrue, write the CSV."""
    import pandas as pd

    tx = pd.read_parquet(
        transactions_path(folder).replace("*.parquet", ""),
        columns=["date", "customer_id", "product_id", "quantity", "net_amount"],
    )
    tabs = [
        pd.read_parquet(folder / "analyst" / f"{n}.parquet")
        for n in ("membership", "elig", "terms", "tiers")
    ]
    acc = pandas_accrue(tx, *tabs)
    acc.sort_values(["program_id", "customer_id"])[COLUMNS].to_csv(out, index=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="the competitors of `rebatelab accrue`")
    ap.add_argument("method", choices=["sql", "pandas", "lower-bound"])
    ap.add_argument("folder", type=Path, help="data folder written by generate.py")
    ap.add_argument("--out", type=Path, required=True, help="CSV to write")
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads (default all)")
    a = ap.parse_args(argv)
    if a.method == "sql":
        run_sql(a.folder, a.out, ACCRUE_SQL, threads=a.threads)
    elif a.method == "lower-bound":
        run_sql(a.folder, a.out, LOWER_BOUND_SQL, threads=a.threads)
    else:
        run_pandas(a.folder, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
