"""The competitors in process: the analyst's inputs derived from rebatelab's eligibility.

The SQL statement and the pandas code themselves are in :mod:`analyst` (which runs them as
whole processes on files); this module builds their inputs (memberships, eligible products,
terms, tiers) from a ``RebateData`` and runs the SQL on DataFrames for the warm,
in-process table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from analyst import ACCRUE_SQL, pandas_accrue  # noqa: F401  (re-exported)

import rebatelab as rl
from rebatelab.engine.eligibility import members, product_eligibility


def analyst_tables(data, programs, as_of):
    """The inputs the competitors start from: memberships, eligible products, terms, tiers."""
    programs = rl.load_programs(programs)
    mem = members(data, programs)
    membership = pd.DataFrame(
        {
            "program_id": mem["program_id"].astype(str).to_numpy(dtype=object),
            "customer_id": mem["customer_id"].astype(str).to_numpy(dtype=object),
            "pool_id": mem["pool_id"].astype(str).to_numpy(dtype=object),
        }
    )
    pid, prod = [], []
    prod_ids = data.products["product_id"].astype(str).to_numpy(dtype=object)
    for p in programs:
        ok = np.flatnonzero(product_eligibility(data, p)[:-1])
        pid.append(np.full(len(ok), p.id, dtype=object))
        prod.append(prod_ids[ok])
    elig = pd.DataFrame({"program_id": np.concatenate(pid), "product_id": np.concatenate(prod)})
    as_of = pd.Timestamp(as_of)
    terms = pd.DataFrame(
        {
            "program_id": [p.id for p in programs],
            "start": [pd.Timestamp(p.start) for p in programs],
            "stop": [min(pd.Timestamp(p.end), as_of) for p in programs],
            "basis": [p.basis for p in programs],
            "method": [p.method for p in programs],
            "growth": [p.is_growth for p in programs],
            "excess": [p.is_growth and p.growth.rebate_on == "excess" for p in programs],
            "cap": [np.nan if p.cap is None else p.cap for p in programs],
            "min_payout": [np.nan if p.min_payout is None else p.min_payout for p in programs],
        }
    )
    tiers = pd.DataFrame(
        [
            (p.id, k + 1, t.from_, t.rate, t.amount or 0.0)
            for p in programs
            for k, t in enumerate(p.tiers)
        ],
        columns=["program_id", "k", "from_", "rate", "amount"],
    )
    nxt = tiers.groupby("program_id")["from_"].shift(-1)
    tiers["upto"] = nxt.fillna(np.inf)
    return membership, elig, terms, tiers


def duckdb_load(con, tx, membership, elig, terms, tiers, *, native: bool = True) -> None:
    """Make the frames DuckDB tables (``native``, with statistics) or register them as views."""
    for name, df in (
        ("tx", tx),
        ("membership", membership),
        ("elig", elig),
        ("terms", terms),
        ("tiers", tiers),
    ):
        if native:
            con.register(f"{name}_frame", df)
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_frame")
            con.unregister(f"{name}_frame")
        else:
            con.register(name, df)


def duckdb_accrue(con) -> pd.DataFrame:
    """The accrual as one DuckDB SQL statement over the loaded tables (see duckdb_load)."""
    return con.execute(ACCRUE_SQL).df()
