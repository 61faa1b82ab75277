"""DuckDB backend: invoice lines to per (program, customer) sums in SQL, out of core.

The lines are read where they are: the in-memory transactions frame, or the Parquet file or
folder of parts of a data folder loaded with ``load_data(folder, lines="lazy")``. DuckDB
streams them through one join and one grouped sum; what it holds in memory is the members
table, the (program, eligible product) pairs and one running sum per member, so the peak
memory is bounded by the size of the result, not of the lines. With ``memory_limit`` set,
DuckDB spills to ``temp_directory`` rather than exceed it.

Only the reduction runs here; the members (enrollment, eligibility, variants, pools) and
each program's eligible products come from the same functions as the in-memory path
(:func:`rebatelab.reduce.sum_plan`), so both paths count exactly the same lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebatelab.data.tables import RebateData
from rebatelab.engine.backends.store import _types, date_expr, id_expr, number_expr
from rebatelab.engine.sums import SUM_COLUMNS, finish_sums, sum_plan
from rebatelab.errors import ParameterError

__all__ = ["connect", "period_sums", "lines_relation"]


def _duckdb():
    try:
        import duckdb
    except ImportError:  # pragma: no cover - depends on the environment
        raise ParameterError(
            "backend='duckdb' needs the duckdb package: pip install 'rebatelab[scale]'"
        ) from None
    return duckdb


def connect(*, memory_limit: str | None = None, threads: int | None = None, temp_directory=None):
    """A DuckDB connection set up for streaming reductions.

    Parameters
    ----------
    memory_limit : str, optional
        E.g. ``"1GB"``: DuckDB spills to ``temp_directory`` rather than use more.
    threads : int, optional
        Worker threads (default: DuckDB's, one per core).
    temp_directory : str or Path, optional
        Where to spill (default: DuckDB's ``.tmp`` next to the working directory).
    """
    con = _duckdb().connect(":memory:")
    con.execute("SET preserve_insertion_order = false")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if temp_directory is not None:
        con.execute(f"SET temp_directory = '{temp_directory}'")
    return con


def lines_relation(con, data: RebateData) -> str:
    """SQL selecting the lines with normalised columns, from memory or lazy Parquet files.

    The columns are ``customer_id, product_id`` (text), ``day`` (days since 1970-01-01),
    ``net_amount`` and ``quantity``.
    """
    if data.lines_path is not None:
        from rebatelab.engine.backends.store import source_sql

        source = source_sql(data.lines_path)
    else:
        cols = ["date", "customer_id", "product_id", "quantity", "net_amount"]
        con.register("rl_transactions", data.transactions[cols])
        source = "rl_transactions"
    typ = _types(con, source)
    return (
        f"SELECT {id_expr('customer_id', typ['customer_id'])} AS customer_id, "
        f"{id_expr('product_id', typ['product_id'])} AS product_id, "
        f"({date_expr('date', typ['date'], data.date_format)} - DATE '1970-01-01') AS day, "
        f"{number_expr('net_amount', typ['net_amount'])} AS net_amount, "
        f"{number_expr('quantity', typ['quantity'])} AS quantity FROM {source}"
    )


def period_sums(
    data: RebateData,
    programs,
    *,
    as_of,
    shift_years: int = 0,
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory=None,
    connection=None,
) -> pd.DataFrame:
    """:func:`rebatelab.period_sums` computed by DuckDB SQL.

    Parameters
    ----------
    data : RebateData
        In memory, or loaded with ``lines="lazy"`` (the lines stay in their Parquet files).
    programs : ProgramSet or path
    as_of : date-like
    shift_years : int
        See :func:`rebatelab.period_sums`.
    memory_limit, threads, temp_directory
        DuckDB settings (see :func:`connect`), for a connection opened for this call.
    connection : duckdb.DuckDBPyConnection, optional
        Use this connection instead (its settings apply).

    Returns
    -------
    DataFrame
        The same as :func:`rebatelab.period_sums`: members with ``net_amount`` [currency],
        ``quantity`` [units], ``n_lines``, rounded to 1e-6.

    Notes
    -----
    One statement: the lines joined to their product's eligibility (a bit string over the
    programs) and to the members on the customer (a customer in ``k`` programs meets ``k``
    member rows), kept when the member's program accepts the product and the line is dated
    in the member's window ``[max(start, enrolled_on), min(end, as_of)]``, summed by member.
    Both joined tables are small (products, members); the lines stream through.
    """
    plan = sum_plan(data, programs, as_of=as_of, shift_years=shift_years)
    m = len(plan.members)
    sums = {c: np.zeros(m) for c in SUM_COLUMNS}
    win = np.asarray(plan.windows, dtype=np.int64).reshape(-1, 2)
    first = win[plan.program_idx, 0]
    last = win[plan.program_idx, 1]
    live = last >= first
    if not live.any():  # no member's window has started by as_of: every sum is zero
        return finish_sums(plan, sums)
    members = pd.DataFrame(
        {
            "member": np.flatnonzero(live),
            "customer_id": np.asarray(plan.customer_ids, dtype=object)[plan.customer_code[live]],
            "program_idx": plan.program_idx[live],
            "first_day": np.maximum(first, plan.from_day)[live],
            "last_day": last[live],
        }
    )
    # one bit string per product: bit k set when program k accepts it (a lookup, not a join
    # that the planner could expand to members x eligible products)
    bits = np.where(plan.eligibility[:, :-1].T, "1", "0")  # the last slot: unknown product
    elig = pd.DataFrame(
        {
            "product_id": np.asarray(plan.product_ids, dtype=object),
            "programs": ["".join(row) for row in bits] if len(bits) else [],
        }
    )
    con = connection or connect(
        memory_limit=memory_limit, threads=threads, temp_directory=temp_directory
    )
    try:
        con.register("rl_members", members)
        con.register("rl_elig_text", elig)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE rl_elig AS "
            "SELECT product_id, CAST(programs AS BIT) AS programs FROM rl_elig_text"
        )
        lo, hi = int(members["first_day"].min()), int(members["last_day"].max())
        sql = f"""
            WITH lines AS ({lines_relation(con, data)})
            SELECT m.member,
                   SUM(t.net_amount) AS net_amount,
                   SUM(t.quantity) AS quantity,
                   COUNT(*) AS n_lines
            FROM lines t
            JOIN rl_elig e ON e.product_id = t.product_id
            JOIN rl_members m ON t.customer_id = m.customer_id
            WHERE t.day BETWEEN {lo} AND {hi}
              AND t.day BETWEEN m.first_day AND m.last_day
              AND get_bit(e.programs, CAST(m.program_idx AS INTEGER)) = 1
            GROUP BY m.member
        """
        res = con.execute(sql).fetchnumpy()
    finally:
        con.execute("DROP TABLE IF EXISTS rl_elig")
        for name in ("rl_members", "rl_elig_text", "rl_transactions"):
            try:
                con.unregister(name)
            except Exception:  # noqa: BLE001 - a view that was never registered
                pass
        if connection is None:
            con.close()
    rows = np.asarray(res["member"], dtype=np.int64)
    for c in SUM_COLUMNS:
        sums[c][rows] = np.asarray(res[c], dtype=float)
    return finish_sums(plan, sums)
