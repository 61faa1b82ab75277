"""The workspace file: a DuckDB database of closes, snapshots, payments and the roll-forward.

The file knows itself: a ``rebatelab_meta`` table records the application, the schema version
and a workspace identity (a UUID drawn when the file is created). A file without it, with
another application's tables, with a ledger table missing, or that DuckDB cannot read
(truncated, damaged) is refused with a :class:`~rebatelab.errors.LedgerError`; tables are never
recreated in a file that already holds tables.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from rebatelab.errors import LedgerError, ParameterError

__all__ = ["default_workspace", "check_workspace", "SCHEMA_VERSION"]


WORKSPACE_NAME = "rebatelab.duckdb"

#: Schema version of the ledger tables (recorded in ``rebatelab_meta``). 1: closes, snapshot,
#: payments, rollforward, no meta; 2: + meta, payment identities and corrections, flags, audit.
SCHEMA_VERSION = 2

#: The application recorded in ``rebatelab_meta``.
APP = "rebatelab"

META = "rebatelab_meta"

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
        date DATE NOT NULL, amount DECIMAL(18, 2) NOT NULL, seq INTEGER NOT NULL,
        payment_id VARCHAR, corrects VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS rollforward (
        period VARCHAR NOT NULL, program_id VARCHAR NOT NULL,
        opening DECIMAL(18, 2) NOT NULL, expense DECIMAL(18, 2) NOT NULL,
        payments DECIMAL(18, 2) NOT NULL, closing DECIMAL(18, 2) NOT NULL,
        PRIMARY KEY (period, program_id))""",
    """CREATE TABLE IF NOT EXISTS flags (
        period VARCHAR NOT NULL, payment_id VARCHAR, program_id VARCHAR, customer_id VARCHAR,
        kind VARCHAR NOT NULL, amount DECIMAL(18, 2), message VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS audit (
        period VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR,
        PRIMARY KEY (period, key))""",
]

#: The ledger's tables: each must be present (a missing one is damage, never recreated).
_TABLES = ("closes", "snapshot", "payments", "rollforward", "flags", "audit")

#: Version 1's tables: such a ledger (no meta) is adopted when opened for writing.
_V1_TABLES = ("closes", "snapshot", "payments", "rollforward")

#: Tables of the same workspace kept by :mod:`rebatelab.workspace.changes`.
_OTHER_TABLES = ("change_requests", "change_decisions", "program_versions")


def default_workspace(data) -> Path:
    """``rebatelab.duckdb`` beside the data folder (inside it)."""
    src = getattr(data, "source", "<frames>")
    if not src or src.startswith("<"):
        raise ParameterError(
            "the data was not loaded from a folder: pass workspace=PATH for the ledger file"
        )
    return Path(src) / WORKSPACE_NAME


def _tables(con) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()
    return {r[0] for r in rows}


def _initialize(con, *, adopt: bool) -> None:
    """Create the meta table and the ledger's tables, in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE TABLE {META} (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
        for ddl in _SCHEMA:
            con.execute(ddl)
        if adopt:  # a version-1 ledger: its payments gain the identity columns
            for col in ("payment_id", "corrects"):
                con.execute(f"ALTER TABLE payments ADD COLUMN IF NOT EXISTS {col} VARCHAR")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        rows = {
            "app": APP,
            "schema_version": str(SCHEMA_VERSION),
            "workspace_id": str(uuid.uuid4()),
            "created_at": now,
            "adopted_from_version": "1" if adopt else "",
        }
        con.executemany(f"INSERT INTO {META} VALUES (?, ?)", list(rows.items()))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def check_workspace(con, path) -> dict[str, str]:
    """The workspace's identity (its meta rows), after checking that it is a sound ledger.

    Parameters
    ----------
    con : duckdb connection
    path : str or Path
        For the messages.

    Returns
    -------
    dict
        ``app, schema_version, workspace_id, created_at, adopted_from_version``.

    Raises
    ------
    LedgerError
        No meta table (a file of another application), another application or a newer
        schema recorded, or a ledger table missing (damage: restore from a backup).
    """
    tables = _tables(con)
    if META not in tables:
        raise LedgerError(
            f"{path} is not a rebatelab workspace (no {META} table; it holds "
            f"{sorted(tables)[:8]}): refusing to use it; name another file with --workspace"
        )
    meta = dict(con.execute(f"SELECT key, value FROM {META}").fetchall())
    if meta.get("app") != APP or not meta.get("workspace_id"):
        raise LedgerError(
            f"{path} is not a rebatelab workspace: its {META} names app {meta.get('app')!r}"
        )
    version = int(meta.get("schema_version") or 0)
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"{path} has schema version {version}, newer than this rebatelab's "
            f"{SCHEMA_VERSION}: upgrade rebatelab"
        )
    missing = [t for t in _TABLES if t not in tables]
    if missing:
        raise LedgerError(
            f"{path} is damaged: table(s) {missing} missing from workspace "
            f"{meta['workspace_id']}; restore the file from a backup (it is not recreated)"
        )
    return meta


def _connect(path: Path, *, read_only: bool = False):
    """Open the workspace file after checking its identity; a new (empty) file is initialized.

    A file with the meta table is checked (:func:`check_workspace`); a version-1 ledger (its
    four tables, and no others but the change tables) or a file holding only the change
    tables is adopted when opened for writing (read-only, a version-1 ledger is read as is);
    an empty file is initialized; anything else (another application's tables, a partial
    ledger, a truncated or unreadable file) is refused with a
    :class:`~rebatelab.errors.LedgerError`.
    """
    import duckdb

    path = Path(path)
    if read_only and not path.exists():
        raise LedgerError(f"no ledger workspace at {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise LedgerError(
            f"cannot open ledger workspace {path} (truncated, damaged or not a DuckDB file; "
            f"restore it from a backup): {exc}"
        ) from None
    try:
        tables = _tables(con)
        if META not in tables:
            legacy = set(_V1_TABLES) <= tables <= {*_V1_TABLES, *_OTHER_TABLES}
            changes_only = bool(tables) and tables <= set(_OTHER_TABLES)
            if read_only and legacy:
                return con
            if not read_only and (not tables or legacy or changes_only):
                _initialize(con, adopt=legacy)
        check_workspace(con, path)
    except LedgerError:
        con.close()
        raise
    except duckdb.Error as exc:
        con.close()
        raise LedgerError(
            f"ledger workspace {path} is damaged or truncated (restore it from a backup): {exc}"
        ) from None
    return con


def workspace_info(path) -> dict[str, str]:
    """The identity recorded in a workspace file (read-only)."""
    con = _connect(Path(path), read_only=True)
    try:
        if META not in _tables(con):
            return {"app": APP, "schema_version": "1", "workspace_id": ""}
        return check_workspace(con, path)
    finally:
        con.close()


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
            f"'{period}', program_id, customer_id, CAST(date AS DATE), {_dec('amount_c')}, seq, "
            "payment_id, corrects",
        )


def _write_flags(con, period, flags) -> None:
    if len(flags):
        _insert(
            con,
            "flags",
            flags,
            f"'{period}', payment_id, program_id, customer_id, kind, {_dec('amount_c')}, message",
        )


def _write_audit(con, period, audit: dict) -> None:
    con.executemany(
        "INSERT INTO audit VALUES (?, ?, ?)", [[period, k, str(v)] for k, v in audit.items()]
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
            info.get("closed_at") or dt.datetime.now(dt.UTC).replace(tzinfo=None),
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
