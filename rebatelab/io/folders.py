"""Reading a data folder: locate the tables, read CSV or Parquet, validate into a RebateData."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rebatelab.data.tables import (
    OPTIONAL_TABLES,
    SCHEMAS,
    RebateData,
    _validate,
    _validated,
    check_lines_frame,
    date_formats,
)
from rebatelab.errors import DataValidationError

__all__ = ["load_data", "read_table", "find_table"]


#: On a problem in lazily read CSV lines up to this size [bytes], the file is re-read in
#: memory to give the in-memory loader's message (with data row numbers).
EXACT_MESSAGE_BYTES = 256 << 20


def find_table(folder: Path, name: str) -> Path | None:
    """Path of a table in a data folder, or None; two candidates is an error."""
    found = [
        p for p in (folder / f"{name}.csv", folder / f"{name}.parquet", folder / name) if p.exists()
    ]
    if len(found) > 1:
        raise DataValidationError(
            f"{folder}: table {name!r} is ambiguous: {[p.name for p in found]}; keep one"
        )
    return found[0] if found else None


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV (every column as text, empty cells as missing) or Parquet file/folder."""
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataValidationError(f"{path}: cannot be read: {exc}") from None


def load_data(
    folder,
    *,
    unknown_ids: str = "error",
    lines: str = "memory",
    memory_limit: str | None = None,
    date_format: str | None = None,
) -> RebateData:
    """Load and validate a data folder.

    Parameters
    ----------
    folder : str or Path
        Folder holding ``transactions``, ``customers``, ``products`` and optionally
        ``enrollments`` and ``payments``, each as ``.csv``, ``.parquet`` or a folder of
        Parquet parts.
    unknown_ids : {"error", "exclude"}
        Lines referencing a customer or product not in the master files are an error
        (default) or kept and reported as excluded by :func:`rebatelab.reconcile`.
    lines : {"memory", "lazy"}
        ``"memory"`` (default) reads the transactions into memory. ``"lazy"`` leaves them
        to DuckDB (CSV or Parquet, a file or a folder of parts): it reads them once into a
        table of integer codes (for Parquet over 1 GB, it reads the files at each query), and
        checks them there with the same rules and messages (Parquet rows are named by file
        and row; small CSV files are re-read on a problem for the data row numbers).
        :func:`rebatelab.reduce` then reduces them in SQL (see
        :mod:`rebatelab.engine.backends.sql_reduce`); ``accrue`` / ``period_sums`` with
        ``backend="duckdb"`` or ``"dask"`` also read them. Needs ``duckdb``.
    memory_limit : str, optional
        DuckDB memory limit for checking lazy lines, e.g. ``"2GB"`` (DuckDB spills to disk
        beyond it); default DuckDB's (80% of RAM).
    date_format : str, optional
        How dates written as text in another form than ISO are written, in every date column
        (``date`` of transactions and payments, ``enrolled_on``): a strptime format such as
        ``"%d/%m/%Y"``, or ``"dayfirst"`` / ``"monthfirst"`` (day, month and four-digit year
        separated by ``/``, ``.`` or ``-``, optionally followed by ``HH:MM[:SS]``). ISO dates
        (``YYYY-MM-DD``, optionally with a time and an offset) are always read, as written:
        the offset is not applied. Without it, a date in any other form is refused. Typed
        (Parquet) date columns need no format.

    Returns
    -------
    RebateData

    Raises
    ------
    DataValidationError
        Naming the file, the column, the number of bad rows and the first bad values, for:
        a missing file or column, unparseable dates or numbers, dates not in ISO form
        without ``date_format``, missing ids, unknown customer
        or product ids, duplicate ids in customers/products/enrollments, and transaction lines
        that exactly repeat an earlier line.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataValidationError(f"data folder not found: {folder}")
    if lines not in ("memory", "lazy"):
        raise DataValidationError(f"lines must be 'memory' or 'lazy', got {lines!r}")
    date_formats(date_format)  # a bad format is refused before any file is read
    frames, names = {}, {}
    lines_path = None
    for table in SCHEMAS:
        path = find_table(folder, table)
        if table == "transactions" and lines == "lazy" and path is not None:
            lines_path = _line_files(path)
            frames[table] = _empty_like(lines_path)
            names[table] = str(path)
            continue
        if path is None:
            if table in OPTIONAL_TABLES:
                frames[table] = None
                continue
            raise DataValidationError(
                f"{folder}: no {table}.csv or {table}.parquet (required table {table!r})"
            )
        frames[table] = read_table(path)
        names[table] = str(path)
    names.update({t: f"{folder}/{t}" for t in SCHEMAS if t not in names})
    check_lines = None
    if lines_path is not None:

        def check_lines(customers, products):
            from rebatelab.engine.backends.store import load_lines

            where = names["transactions"]

            def exact_message():  # small CSV: the in-memory loader's message, with rows
                if lines_path[0].endswith(".csv") and len(lines_path) == 1:
                    if Path(lines_path[0]).stat().st_size <= EXACT_MESSAGE_BYTES:
                        tx = _validate(
                            read_table(Path(lines_path[0])), "transactions", where, date_format
                        )
                        check_lines_frame(
                            tx, customers, products, where=where, unknown_ids=unknown_ids
                        )

            return load_lines(
                lines_path,
                customers,
                products,
                where=where,
                unknown_ids=unknown_ids,
                memory_limit=memory_limit,
                date_format=date_format,
                on_error=exact_message,
            )

    return _validated(
        frames,
        names,
        source=str(folder),
        unknown_ids=unknown_ids,
        lines_path=lines_path,
        check_lines=check_lines,
        date_format=date_format,
    )


def _line_files(path: Path) -> tuple[str, ...]:
    """The files of the lines: a CSV or Parquet file, or a folder of Parquet or CSV parts."""
    if path.is_dir():
        parts = sorted(str(p) for p in path.rglob("*.parquet"))
        if not parts:
            parts = sorted(str(p) for p in path.rglob("*.csv"))
    elif path.suffix in (".parquet", ".csv"):
        parts = [str(path)]
    else:
        parts = []
    if not parts:
        raise DataValidationError(
            f"{path}: lines='lazy' needs the transactions as CSV or Parquet (a file, or a "
            "folder of .parquet or .csv parts)"
        )
    return tuple(parts)


def _empty_like(parts: tuple[str, ...]) -> pd.DataFrame:
    """A zero-row frame with the columns (and, for Parquet, types) of the first part."""
    if parts[0].endswith(".csv"):
        try:
            return pd.read_csv(parts[0], dtype=str, nrows=0)
        except (OSError, ValueError) as exc:
            raise DataValidationError(f"{parts[0]}: cannot be read: {exc}") from None
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(parts[0])
    except (OSError, ValueError) as exc:
        raise DataValidationError(f"{parts[0]}: cannot be read: {exc}") from None
    return schema.empty_table().to_pandas()
