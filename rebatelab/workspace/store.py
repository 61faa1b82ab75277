"""The workspace file: a DuckDB database of closes, snapshots, payments and the roll-forward."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from rebatelab.errors import LedgerError, ParameterError

__all__ = ["default_workspace"]


WORKSPACE_NAME = "rebatelab.duckdb"


_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS closes (
        period VARCHAR PRIMARY KEY, as_of DATE NOT NULL, closed_at TIMESTAMP NOT NULL,
        method VARCHAR, book VARCHAR NOT NULL, data_source VARCHAR, programs_source VARCHAR,
        n_rows INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS snapshot (
        period VARCHAR NOT NULL, program_id VARCHAR NOT NULL, customer_id VARCHAR NOT NULL,
        pool_id VARCHAR, basis_type VARCHAR, basis DOUBLE, tier INTEGER,
        accrued DECIMAL(18, 2), expected DECIMAL(18, 2), most_likely DECIMAL(18, 2),
        booked DECIMAL(18, 2) NOT NULL, method VARCHAR,
        PRIMARY KEY (period, program_id, customer_id))""",
    """CREATE TABLE IF NOT EXISTS payments (
        period VARCHAR NOT NULL, program_id VARCHAR NOT NULL, customer_id VARCHAR NOT NULL,
        date DATE NOT NULL, amount DECIMAL(18, 2) NOT NULL, seq INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS rollforward (
        period VARCHAR NOT NULL, program_id VARCHAR NOT NULL,
        opening DECIMAL(18, 2) NOT NULL, expense DECIMAL(18, 2) NOT NULL,
        payments DECIMAL(18, 2) NOT NULL, closing DECIMAL(18, 2) NOT NULL,
        PRIMARY KEY (period, program_id))""",
]


_TABLES = ("closes", "snapshot", "payments", "rollforward")


def default_workspace(data) -> Path:
    """``rebatelab.duckdb`` beside the data folder (inside it)."""
    src = getattr(data, "source", "<frames>")
    if not src or src.startswith("<"):
        raise ParameterError(
            "the data was not loaded from a folder: pass workspace=PATH for the ledger file"
        )
    return Path(src) / WORKSPACE_NAME


def _connect(path: Path, *, read_only: bool = False):
    import duckdb

    path = Path(path)
    if read_only and not path.exists():
        raise LedgerError(f"no ledger workspace at {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise LedgerError(f"cannot open ledger workspace {path}: {exc}") from None
    if not read_only:
        for ddl in _SCHEMA:
            con.execute(ddl)
    return con


def _insert(con, table: str, df: pd.DataFrame, select: str) -> None:
    con.register("_frame", df)
    try:
        con.execute(f"INSERT INTO {table} SELECT {select} FROM _frame")
    finally:
        con.unregister("_frame")


def _dec(col: str) -> str:
    return f"CAST({col} AS DECIMAL(18, 0)) / 100"


def _write_snapshot(con, period, snap) -> None:
    _insert(
        con,
        "snapshot",
        snap,
        f"'{period}', program_id, customer_id, pool_id, basis_type, basis, tier, "
        f"{_dec('accrued_c')}, {_dec('expected_c')}, {_dec('most_likely_c')}, "
        f"{_dec('booked_c')}, method",
    )


def _write_payments(con, period, pay) -> None:
    if len(pay):
        _insert(
            con,
            "payments",
            pay,
            f"'{period}', program_id, customer_id, CAST(date AS DATE), {_dec('amount_c')}, seq",
        )


def _write_rollforward(con, period, rf) -> None:
    _insert(
        con,
        "rollforward",
        rf,
        f"'{period}', program_id, {_dec('opening_c')}, {_dec('expense_c')}, "
        f"{_dec('payments_c')}, {_dec('closing_c')}",
    )


def _write_close(con, period, as_of, info) -> None:
    con.execute(
        "INSERT INTO closes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            period,
            as_of,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
            info["method"],
            info["book"],
            info["data_source"],
            info["programs_source"],
            info["n_rows"],
        ],
    )


def _delete_period(con, period) -> None:
    for t in _TABLES:
        con.execute(f"DELETE FROM {t} WHERE period = ?", [period])


def _money(df: pd.DataFrame) -> pd.DataFrame:
    """``*_c`` integer-cent columns to currency columns."""
    out = df.copy()
    for c in [c for c in out.columns if c.endswith("_c")]:
        out[c[:-2]] = out.pop(c).to_numpy(dtype=np.int64) / 100.0
    return out
