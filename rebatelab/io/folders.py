"""Reading a data folder: locate the tables, read CSV or Parquet, validate into a RebateData."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rebatelab.data.tables import OPTIONAL_TABLES, SCHEMAS, RebateData, _validated
from rebatelab.errors import DataValidationError

__all__ = ["load_data", "read_table", "find_table"]


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
    folder, *, unknown_ids: str = "error", lines: str = "memory", memory_limit: str | None = None
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
        ``"memory"`` (default) reads the transactions into memory. ``"lazy"`` keeps them in
        their Parquet file or folder of parts (larger than memory): DuckDB checks them where
        they are, with the same rules and messages except that bad rows are counted and shown
        by value but not by row number, and only :func:`rebatelab.accrue` /
        :func:`rebatelab.period_sums` with ``backend="duckdb"`` or ``"dask"`` can use them.
        Needs ``duckdb``.
    memory_limit : str, optional
        DuckDB memory limit for checking lazy lines, e.g. ``"2GB"`` (DuckDB spills to disk
        beyond it); default DuckDB's (80% of RAM).

    Returns
    -------
    RebateData

    Raises
    ------
    DataValidationError
        Naming the file, the column, the number of bad rows and the first bad values, for:
        a missing file or column, unparseable dates or numbers, missing ids, unknown customer
        or product ids, duplicate ids in customers/products/enrollments, and transaction lines
        that exactly repeat an earlier line.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataValidationError(f"data folder not found: {folder}")
    if lines not in ("memory", "lazy"):
        raise DataValidationError(f"lines must be 'memory' or 'lazy', got {lines!r}")
    frames, names = {}, {}
    lines_path = None
    for table in SCHEMAS:
        path = find_table(folder, table)
        if table == "transactions" and lines == "lazy" and path is not None:
            lines_path = _parquet_parts(path)
            frames[table] = _empty_like_parquet(lines_path)
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
            from rebatelab.engine.backends.duckdb import validate_lines

            validate_lines(
                lines_path,
                customers,
                products,
                where=names["transactions"],
                unknown_ids=unknown_ids,
                memory_limit=memory_limit,
            )

    return _validated(
        frames,
        names,
        source=str(folder),
        unknown_ids=unknown_ids,
        lines_path=lines_path,
        check_lines=check_lines,
    )


def _parquet_parts(path: Path) -> tuple[str, ...]:
    """The Parquet files of a table given as a file or a folder of parts."""
    if path.is_dir():
        parts = sorted(str(p) for p in path.rglob("*.parquet"))
    elif path.suffix == ".parquet":
        parts = [str(path)]
    else:
        parts = []
    if not parts:
        raise DataValidationError(
            f"{path}: lines='lazy' needs the transactions as Parquet (a .parquet file or a "
            "folder of .parquet parts)"
        )
    return tuple(parts)


def _empty_like_parquet(parts: tuple[str, ...]) -> pd.DataFrame:
    """A zero-row frame with the columns (and types) of the first Parquet part."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(parts[0])
    except (OSError, ValueError) as exc:
        raise DataValidationError(f"{parts[0]}: cannot be read: {exc}") from None
    return schema.empty_table().to_pandas()
