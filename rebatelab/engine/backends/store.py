"""Stage one in DuckDB over the files of a data folder: load, validate, reduce, reconcile.

The transaction lines of a data folder (CSV or Parquet; one file or a folder of parts) are
read once by DuckDB into one table of integer codes (customer and product codes from the
master tables, days since 1970-01-01, amounts), held by a :class:`LineStore` that the
:class:`~rebatelab.data.tables.RebateData` keeps. Everything stage one produces is then a
grouped sum over that table, joined only to small tables (members, product classes):

- validation: one aggregate over per-line problem bits and a hash per line (exact
  duplicates), with the messages of the in-memory loader;
- per (member, day) sums of eligible lines: the lines joined on (customer, product class)
  to the members whose program accepts the class, grouped; the period, baseline and prior
  sums are filtered sums of these;
- per (customer, day) sums; the reconciliation per (program, reason) from them and from
  per-day totals, so no (line, program) pair is ever built;
- the excluded lines, only when asked, streamed to a file by ``COPY``.

Peak memory is the table of codes (about 60 bytes a line) plus the results; the lines are
never in Python.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rebatelab.data.tables import ISO_DATE, SCHEMAS, date_formats
from rebatelab.errors import DataValidationError, ParameterError

__all__ = ["LineStore", "load_lines", "line_store"]


#: Lines table of a store.
TABLE = "rl_lines"

#: Parquet lines up to this size [bytes] are read once into a DuckDB table; larger ones are
#: read from the files at each query.
MATERIALIZE_BYTES = 1 << 30

_SHOW = 5

#: Problem bits of a line, in the order the in-memory loader checks them (its message wins).
_BITS = [
    ("invoice_id", "are missing"),
    ("date", "are not dates of the form YYYY-MM-DD (or date_format's / --date-format's)"),
    ("date", "are missing"),
    ("customer_id", "are missing"),
    ("product_id", "are missing"),
    ("quantity", "are not numbers"),
    ("quantity", "are infinite"),
    ("quantity", "are missing"),
    ("net_amount", "are not numbers"),
    ("net_amount", "are infinite"),
    ("net_amount", "are missing"),
]


def _duckdb():
    try:
        import duckdb
    except ImportError:  # pragma: no cover - depends on the environment
        raise ParameterError(
            "reading the lines with DuckDB needs the duckdb package: pip install duckdb"
        ) from None
    return duckdb


def _quote(path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def source_sql(paths, *, numbered: bool = False) -> str:
    """A DuckDB table function reading the line files (CSV as text, Parquet as typed)."""
    files = ", ".join(_quote(p) for p in paths)
    if str(paths[0]).endswith(".csv"):
        extra = ", filename = true" if numbered else ""
        return (
            f"read_csv([{files}], header = true, all_varchar = true, union_by_name = true{extra})"
        )
    extra = ", filename = true, file_row_number = true" if numbered else ""
    return f"read_parquet([{files}], union_by_name = true{extra})"


def _types(con, source: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    return {r[0]: r[1].upper() for r in rows}


def id_expr(col: str, typ: str) -> str:
    """An id column as trimmed text (NULL when empty), as ``load_data`` reads it."""
    q = f'"{col}"'
    if typ.startswith(("FLOAT", "DOUBLE", "DECIMAL")):
        return (
            f"CASE WHEN {q} = floor({q}) THEN CAST(CAST({q} AS BIGINT) AS VARCHAR) "
            f"ELSE CAST({q} AS VARCHAR) END"
        )
    return f"nullif(trim(CAST({q} AS VARCHAR)), '')"


def date_expr(col: str, typ: str, date_format: str | None = None) -> str:
    """A date column as DATE (NULL when it does not parse), as ``load_data`` reads it.

    Text: an ISO date (:data:`rebatelab.data.tables.ISO_DATE`, the date as written), else
    the forms of ``date_format`` (:func:`rebatelab.data.tables.date_formats`), else NULL.
    """
    q = f'"{col}"'
    if typ.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"CAST(timezone('UTC', {q}) AS DATE)"
    if typ.startswith(("TIMESTAMP", "DATE")):
        return f"CAST({q} AS DATE)"
    text = f"CAST({q} AS VARCHAR)"
    # a bare YYYY-MM-DD first: the common case, matched by a cheaper pattern
    plain = f"regexp_full_match({text}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')"
    iso = f"TRY_CAST(regexp_extract({text}, '{ISO_DATE}', 1) AS DATE)"
    cases = (
        f"CASE WHEN {plain} THEN TRY_CAST({text} AS DATE) "
        f"WHEN regexp_full_match({text}, '{ISO_DATE}') THEN {iso}"
    )
    formats = date_formats(date_format)
    if not formats:
        return f"{cases} END"
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in formats)
    return f"{cases} ELSE CAST(try_strptime(trim({text}), [{listed}]) AS DATE) END"


def number_expr(col: str, typ: str) -> str:
    q = f'"{col}"'
    if typ.startswith(("FLOAT", "DOUBLE", "DECIMAL", "INT", "BIGINT", "SMALLINT", "TINYINT")):
        return f"CAST({q} AS DOUBLE)"
    if typ.startswith(("HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT")):
        return f"CAST({q} AS DOUBLE)"
    return f"TRY_CAST(trim(CAST({q} AS VARCHAR)) AS DOUBLE)"


def connect(*, memory_limit=None, threads=None, temp_directory=None):
    """A DuckDB connection (see :func:`rebatelab.engine.backends.duckdb.connect`)."""
    con = _duckdb().connect(":memory:")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if temp_directory is not None:
        con.execute(f"SET temp_directory = '{temp_directory}'")
    return con


@dataclass(eq=False)
class LineStore:
    """The lines of a data folder as a DuckDB table of codes.

    Columns of :data:`TABLE`: ``row`` (line number over the files, from 0), ``inv``
    (invoice id text), ``day`` (days since 1970-01-01), ``cust`` / ``prod`` (codes into the
    customers / products tables; NULL for an unknown id), ``cid`` / ``pid`` (the id text,
    kept only when unknown), ``net`` [currency] and ``qty`` [units].
    """

    con: Any  # a duckdb.DuckDBPyConnection (duckdb is an optional dependency)
    paths: tuple[str, ...]
    where: str
    n_lines: int
    first_day: int | None
    last_day: int | None
    n_customers: int
    n_products: int
    customer_ids: np.ndarray
    product_ids: np.ndarray
    #: SQL expressions of the normalised columns over :func:`source_sql` of ``paths``.
    exprs: dict

    def numbered(self) -> str:
        """SQL of the lines as text columns with ``row`` (0-based over the files) and codes.

        Columns ``row, invoice_id, date, customer_id, product_id, quantity, net_amount``
        (as ``load_data`` reads them), ``day``, ``cust`` and ``prod``. Reads the files.
        """
        e = self.exprs
        if str(self.paths[0]).endswith(".csv"):  # read in order (insertion order kept)
            src = source_sql(self.paths)
            row = "CAST(row_number() OVER () - 1 AS BIGINT)"
        else:
            files = ", ".join(_quote(p) for p in self.paths)
            src = (
                f"{source_sql(self.paths, numbered=True)} s JOIN (SELECT file_name AS filename, "
                "sum(num_rows) OVER (ORDER BY file_name) - num_rows AS offset "
                f"FROM parquet_file_metadata([{files}])) o USING (filename)"
            )
            row = "CAST(o.offset + file_row_number AS BIGINT)"
        return f"""
            SELECT r.row, r.invoice_id, r.date, r.customer_id, r.product_id, r.quantity,
                   r.net_amount, CAST(r.date - DATE '1970-01-01' AS INTEGER) AS day,
                   c.code AS cust, p.code AS prod
            FROM (SELECT {row} AS row, {e["inv"]} AS invoice_id, {e["date"]} AS date,
                         {e["cid"]} AS customer_id, {e["pid"]} AS product_id,
                         {e["qty"]} AS quantity, {e["net"]} AS net_amount
                  FROM {src}) r
            LEFT JOIN rl_cust_codes c ON c.id = r.customer_id
            LEFT JOIN rl_prod_codes p ON p.id = r.product_id
        """

    def invoice_lines(self, invoice_id: str) -> pd.DataFrame:
        """The lines of one invoice, with their ``row`` (a scan of the files)."""
        sql = f"SELECT * EXCLUDE (day, cust, prod) FROM ({self.numbered()}) WHERE invoice_id = ?"
        out = self.con.execute(sql, [str(invoice_id)]).fetchdf()
        out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
        for c in ("invoice_id", "customer_id", "product_id"):
            out[c] = out[c].astype("string")
        return out.sort_values("row", kind="stable").reset_index(drop=True)

    @property
    def first_date(self) -> pd.Timestamp:
        """First line date (NaT without lines)."""
        return _date(self.first_day)

    @property
    def last_date(self) -> pd.Timestamp:
        """Last line date (NaT without lines)."""
        return _date(self.last_day)

    def query(self, sql: str, params=None):
        """Run SQL on the store's connection (the lines are table :data:`TABLE`)."""
        return self.con.execute(sql, params or [])

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """Make a (small) frame a view of the connection."""
        self.con.register(name, frame)


def _date(day) -> pd.Timestamp:
    if day is None:
        return pd.NaT
    return pd.Timestamp(np.datetime64("1970-01-01") + np.timedelta64(int(day), "D"))


def load_lines(paths, customers, products, *, where: str, **options) -> LineStore:
    """Read and check the line files into a :class:`LineStore` (see :func:`_load_lines`).

    A file DuckDB cannot read (not CSV or Parquet, corrupt, unreadable) is a
    :class:`~rebatelab.errors.DataValidationError` naming it, not a DuckDB error.
    """
    duckdb = _duckdb()
    try:
        return _load_lines(paths, customers, products, where=where, **options)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataValidationError(f"{where}: cannot be read: {first}") from None


def _load_lines(
    paths,
    customers: pd.DataFrame,
    products: pd.DataFrame,
    *,
    where: str,
    unknown_ids: str = "error",
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory=None,
    on_error=None,
    materialize: bool | None = None,
    date_format: str | None = None,
) -> LineStore:
    """Read and check the line files into a :class:`LineStore`.

    Parameters
    ----------
    paths : sequence of str
        CSV files or Parquet files (one table in parts).
    customers, products : DataFrame
        The validated master tables (their row order gives the codes).
    where : str
        The table's name in messages (the file or folder).
    unknown_ids : {"error", "exclude"}
    memory_limit, threads, temp_directory
        DuckDB settings.
    on_error : callable, optional
        Called (without arguments) when a check fails, before the message is built here:
        e.g. re-reading small files with the in-memory loader to give its exact message
        with row numbers. If it returns, the message built here is raised.
    materialize : bool, optional
        Hold the coded lines in a DuckDB table (read the files once), or keep a view that
        reads the files at each query (memory bounded whatever their size). Default: a
        table for CSV and for Parquet files up to :data:`MATERIALIZE_BYTES`.
    date_format : str, optional
        Dates written as text in another form than ISO (``load_data``'s ``date_format``).

    Raises
    ------
    DataValidationError
        Missing columns, missing values, numbers or dates that do not parse, infinite
        numbers, unknown customer or product ids (unless ``unknown_ids="exclude"``), lines
        that exactly repeat an earlier line; naming the table, the column, the number of
        rows and the first values (and file rows for Parquet).
    """
    paths = tuple(str(p) for p in paths)
    con = connect(memory_limit=memory_limit, threads=threads, temp_directory=temp_directory)
    source = source_sql(paths)
    typ = _types(con, source)
    found = [c for c in typ if c != "filename"]
    required = SCHEMAS["transactions"]["required"]
    absent = [c for c in required if c not in typ]
    if absent:
        con.close()
        raise DataValidationError(f"{where}: missing required column(s) {absent}; found {found}")
    e = {
        "inv": id_expr("invoice_id", typ["invoice_id"]),
        "date": date_expr("date", typ["date"], date_format),
        "cid": id_expr("customer_id", typ["customer_id"]),
        "pid": id_expr("product_id", typ["product_id"]),
        "qty": number_expr("quantity", typ["quantity"]),
        "net": number_expr("net_amount", typ["net_amount"]),
    }
    raw = {c: f'"{c}"' for c in required}
    bits = [
        f"{e['inv']} IS NULL",
        f"{raw['date']} IS NOT NULL AND {e['date']} IS NULL",
        f"{raw['date']} IS NULL",
        f"{e['cid']} IS NULL",
        f"{e['pid']} IS NULL",
        f"{raw['quantity']} IS NOT NULL AND {e['qty']} IS NULL",
        f"isinf({e['qty']})",
        f"{raw['quantity']} IS NULL",
        f"{raw['net_amount']} IS NOT NULL AND {e['net']} IS NULL",
        f"isinf({e['net']})",
        f"{raw['net_amount']} IS NULL",
    ]

    # the table: ids matched as written first, trimmed only when that fails (trimming every
    # line costs more than the rest of the read); invoice ids are kept as written
    def raw_id(col):
        return f'"{col}"' if typ[col] == "VARCHAR" else id_expr(col, typ[col])

    inv = f"nullif({raw_id('invoice_id')}, '')"
    fast = [f"{inv} IS NULL", *bits[1:3], "false", "false", *bits[5:]]
    bad = " | ".join(f"(CASE WHEN {b} THEN {1 << k} ELSE 0 END)" for k, b in enumerate(fast))
    extra = [c for c in found if c not in required]
    for name, table, col in (("rl_cust_codes", customers, "customer_id"),
                             ("rl_prod_codes", products, "product_id")):  # fmt: skip
        codes = pd.DataFrame(
            {"id": table[col].astype(object), "code": np.arange(len(table), dtype=np.int32)}
        )
        con.register(name, codes)
    if materialize is None:
        size = sum(os.path.getsize(p) for p in paths)
        materialize = str(paths[0]).endswith(".csv") or size <= MATERIALIZE_BYTES
    kind = "TABLE" if materialize else "VIEW"
    code = {"c": "coalesce(c.code, c2.code)", "p": "coalesce(p.code, p2.code)"}
    text = {k: f"CASE WHEN {code[k]} IS NULL THEN nullif(trim(r.{k}_raw), '') END" for k in code}
    missing = " | ".join(
        f"(CASE WHEN {code[k]} IS NULL AND {text[k]} IS NULL THEN {1 << bit} ELSE 0 END)"
        for k, bit in (("c", 3), ("p", 4))
    )
    hashed = ", ".join(
        ["r.inv", "r.day", f"coalesce({code['c']}, -1)", f"coalesce({text['c']}, '')"]
        + [f"coalesce({code['p']}, -1)", f"coalesce({text['p']}, '')", "r.qty", "r.net"]
        + [f'r."{c}"' for c in extra]
    )
    con.execute(
        f"""
        CREATE TEMP {kind} {TABLE} AS
        WITH r AS (
            SELECT {inv} AS inv,
                   CAST({e["date"]} - DATE '1970-01-01' AS INTEGER) AS day,
                   {raw_id("customer_id")} AS c_raw, {raw_id("product_id")} AS p_raw,
                   {e["qty"]} AS qty, {e["net"]} AS net,
                   CAST({bad} AS SMALLINT) AS bad{"".join(f', "{c}"' for c in extra)}
            FROM {source}
        )
        SELECT hash(r.inv) AS inv, r.day, {code["c"]} AS cust, {code["p"]} AS prod,
               {text["c"]} AS cid, {text["p"]} AS pid, r.net, r.qty,
               CAST(r.bad | {missing} AS SMALLINT) AS bad, hash({hashed}) AS h
        FROM r
        LEFT JOIN rl_cust_codes c ON c.id = r.c_raw
        LEFT JOIN rl_cust_codes c2
               ON c2.id = CASE WHEN c.code IS NULL THEN nullif(trim(r.c_raw), '') END
        LEFT JOIN rl_prod_codes p ON p.id = r.p_raw
        LEFT JOIN rl_prod_codes p2
               ON p2.id = CASE WHEN p.code IS NULL THEN nullif(trim(r.p_raw), '') END
        """
    )
    n, any_bad, first, last, unknown_c, unknown_p = con.execute(
        f"""SELECT count(*), bit_or(bad), min(day), max(day),
                   count(*) FILTER (WHERE cust IS NULL AND cid IS NOT NULL),
                   count(*) FILTER (WHERE prod IS NULL AND pid IS NOT NULL)
            FROM {TABLE}"""
    ).fetchone()
    any_bad = int(any_bad or 0)
    dup = 0
    if not any_bad and _hashes_repeat(con):  # equal hashes: count the exact repeats
        dup = _exact_repeats(con, source, found)
    unknown = unknown_ids == "error" and (unknown_c or unknown_p)
    if any_bad or dup or unknown:
        try:
            if on_error is not None:
                on_error()
            _raise_problem(con, paths, where, e, any_bad, bits, dup, found, unknown)
        finally:
            con.close()
    return LineStore(
        con=con,
        paths=paths,
        where=where,
        n_lines=int(n),
        first_day=None if first is None else int(first),
        last_day=None if last is None else int(last),
        n_customers=len(customers),
        n_products=len(products),
        customer_ids=customers["customer_id"].to_numpy(dtype=object),
        product_ids=products["product_id"].to_numpy(dtype=object),
        exprs=e,
    )


def _hashes_repeat(con) -> bool:
    """Whether two lines have the same hash of all their columns (sorted in numpy)."""
    h = con.execute(f"SELECT h FROM {TABLE}").fetchnumpy()["h"]
    h = np.asarray(h, dtype=np.uint64)
    h.sort()
    return bool(len(h) > 1 and (h[1:] == h[:-1]).any())


def _exact_repeats(con, source: str, found: list[str]) -> int:
    cols = ", ".join(f'"{c}"' for c in found)
    return con.execute(
        f"SELECT coalesce(sum(k - 1), 0) FROM (SELECT count(*) AS k FROM {source} "
        f"GROUP BY {cols}) WHERE k > 1"
    ).fetchone()[0]


def _raise_problem(con, paths, where, e, any_bad, bits, dup, found, unknown):
    """The message of the first problem, in the in-memory loader's order of checks."""
    numbered = source_sql(paths, numbered=True)
    parquet = not str(paths[0]).endswith(".csv")
    for k, (column, what) in enumerate(_BITS):
        if any_bad >> k & 1:
            _fail_sql(con, where, column, what, numbered, bits[k], parquet)
    if dup:
        cols = ", ".join(f'"{c}"' for c in found)
        sample = con.execute(
            f"SELECT CAST(invoice_id AS VARCHAR) FROM {source_sql(paths)} GROUP BY {cols} "
            f"HAVING count(*) > 1 LIMIT {_SHOW}"
        ).fetchall()
        vals = ", ".join(repr(v[0]) for v in sample)
        raise DataValidationError(
            f"{where}: column '(all columns)': {int(dup)} row(s) exactly repeat an "
            f"earlier line (the same line loaded twice?) (invoices {vals})"
        )
    if unknown:
        for col, table, name in (
            ("customer_id", "rl_cust_codes", "customers"),
            ("product_id", "rl_prod_codes", "products"),
        ):
            expr = e["cid"] if col == "customer_id" else e["pid"]
            cond = f"{expr} IS NOT NULL AND {expr} NOT IN (SELECT id FROM {table})"
            _fail_sql(con, where, col, f"reference ids not in {name}", numbered, cond, parquet)


def _fail_sql(con, where, column, what, numbered, cond, parquet) -> None:
    n = con.execute(f"SELECT count(*) FROM {numbered} WHERE {cond}").fetchone()[0]
    if not n:
        return
    order = "filename, file_row_number" if parquet else "filename"
    rownum = "file_row_number" if parquet else "NULL"
    sample = con.execute(
        f'SELECT filename, {rownum}, CAST("{column}" AS VARCHAR) FROM {numbered} '
        f"WHERE {cond} ORDER BY {order} LIMIT {_SHOW}"
    ).fetchall()
    more = " ..." if n > _SHOW else ""
    vals = ", ".join(repr(v) for *_, v in sample)
    if parquet:
        at = ", ".join(f"{os.path.basename(f)} row {r + 1}" for f, r, _ in sample)
        at = f"at {at}{more}; "
    else:
        at = ""
    raise DataValidationError(
        f"{where}: column {column!r}: {n} row(s) {what} ({at}values {vals}{more})"
    )


def line_store(data, **options) -> LineStore:
    """The :class:`LineStore` of lazily loaded data (read now if the loader did not keep one).

    ``options`` (``memory_limit``, ``threads``, ``temp_directory``) apply to a store opened
    here.
    """
    store = data.cache.get("line_store")
    if store is not None:
        return store
    if getattr(data, "lines_path", None) is None:
        raise ParameterError(f"{data.source}: the lines are in memory, not in files")
    store = load_lines(
        data.lines_path,
        data.customers,
        data.products,
        where=data.source,
        unknown_ids=data.unknown_ids,
        date_format=getattr(data, "date_format", None),
        **options,
    )
    data.cache["line_store"] = store
    return store
