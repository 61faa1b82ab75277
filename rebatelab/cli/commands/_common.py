"""Arguments and output helpers shared by the CLI commands."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

from rebatelab.errors import ParameterError

__all__ = [
    "add_data_arguments",
    "check_memory_limit",
    "check_output",
    "parse_date",
    "write_table",
]

#: The table formats ``write_table`` writes, by extension.
TABLE_SUFFIXES = (".csv", ".parquet", ".xlsx")


def parse_date(text: str) -> dt.date:
    """Parse an ISO date (YYYY-MM-DD) for argparse."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ParameterError(f"not a date (YYYY-MM-DD): {text!r}") from None


def add_data_arguments(parser, *, as_of: bool = True) -> None:
    """``--data``, ``--programs`` and (optionally) ``--as-of``."""
    parser.add_argument("--data", required=True, type=Path, help="data folder")
    parser.add_argument(
        "--programs",
        type=Path,
        default=None,
        help="program file (YAML); default: programs.yaml in the data folder",
    )
    parser.add_argument(
        "--date-format",
        default=None,
        help="how dates not in ISO form (YYYY-MM-DD) are written in the data: a strptime "
        "format such as %%d/%%m/%%Y, or dayfirst / monthfirst (default: ISO only; any other "
        "form is refused)",
    )
    if as_of:
        parser.add_argument("--as-of", required=True, type=str, help="as-of date, YYYY-MM-DD")


def check_output(path, *, option: str, suffixes=TABLE_SUFFIXES, folder: bool = False) -> Path:
    """Refuse an output path that cannot be written, before any work is done.

    Parameters
    ----------
    path : str or Path
        The file (or, with ``folder=True``, the folder) to be written.
    option : str
        The option that named it (``--out``), for the message.
    suffixes : sequence of str
        The accepted extensions (lower case, with the dot); ignored for a folder.
    folder : bool
        ``path`` is a folder to write files in (it may exist, as a folder).

    Returns
    -------
    Path

    Raises
    ------
    ParameterError
        Naming the option and the path: a wrong extension, an existing folder where a file
        is to be written (or a file where a folder is), a path below a regular file, or a
        folder without write permission (a check the root user passes).
    """
    path = Path(path)
    if path.is_dir() and not folder:
        raise ParameterError(f"{option}: {path} is a folder; give a file name")
    if not folder and path.suffix.lower() not in suffixes:
        choices = " or ".join(
            [", ".join(suffixes[:-1]), suffixes[-1]] if suffixes[:-1] else suffixes
        )
        raise ParameterError(
            f"{option}: unknown extension {path.suffix.lower() or '(none)'!r} of {path}; "
            f"use {choices}"
        )
    if path.exists() and not path.is_dir() and folder:
        raise ParameterError(f"{option}: {path} is a file; give a folder")
    parent = path if folder and path.is_dir() else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ParameterError(f"{option}: {path} is below {parent}, which is a file, not a folder")
    target = path if path.exists() else parent
    if not os.access(target, os.W_OK) or not os.access(parent, os.W_OK | os.X_OK):
        raise ParameterError(
            f"{option}: {path} cannot be written (no write permission on {target})"
        )
    return path


_MEMORY = re.compile(r"^\s*[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.I)


def check_memory_limit(text: str | None, *, option: str = "--memory-limit") -> str | None:
    """Refuse a memory limit DuckDB would not read (``4GB``, ``512MB``, ``2GiB``)."""
    if text is not None and not _MEMORY.match(text):
        raise ParameterError(
            f"{option}: not a memory size: {text!r}; give a number and a unit, e.g. 4GB or 512MB"
        )
    return text


def programs_path(args) -> Path:
    """The program file: ``--programs`` or ``<data>/programs.yaml``."""
    return args.programs if args.programs is not None else args.data / "programs.yaml"


#: Tables of at least this many rows are written to CSV by DuckDB when it is installed (the
#: same text as pandas' ``to_csv``, several times faster); smaller ones by pandas, which
#: saves importing DuckDB.
_DUCKDB_CSV_ROWS = 20_000


def _csv_select(df) -> str | None:
    """The DuckDB query whose CSV is ``df.to_csv(index=False)``'s text, or None.

    None for a table whose text DuckDB would write differently or that it cannot read
    as is: any column other than int64/int32, float64, bool or text (a string column, or
    an object column of str and missing values only), non-text or repeated column names,
    or a platform whose line ending is not a newline. DuckDB writes float64 as pandas does
    (shortest round trip, ``1e-05``, ``1e+16``, ``inf``, NaN as an empty field) and quotes
    text in the same cases; an empty string, which pandas writes unquoted, is turned into
    a missing value, and a bool into ``True`` / ``False``.
    """
    import pandas as pd

    cols = list(df.columns)
    if (
        os.linesep != "\n"
        or not all(isinstance(c, str) for c in cols)
        or len(set(cols)) < len(cols)
    ):
        return None
    out = []
    for c in cols:
        dtype = df[c].dtype
        name = '"' + c.replace('"', '""') + '"'
        if dtype in ("int64", "int32", "float64"):
            out.append(name)
        elif dtype == "bool":
            out.append(f"CASE WHEN {name} THEN 'True' ELSE 'False' END AS {name}")
        elif isinstance(dtype, pd.StringDtype) or (
            pd.api.types.is_object_dtype(dtype)
            and pd.api.types.infer_dtype(df[c], skipna=True) in ("string", "empty")
        ):
            out.append(f"nullif({name}, '') AS {name}")
        else:
            return None
    return "SELECT " + ", ".join(out) + " FROM rl_out" if out else None


def _write_csv(df, path: Path) -> None:
    """``df.to_csv(path, index=False)``, by DuckDB for a large table it writes alike."""
    select = _csv_select(df) if len(df) >= _DUCKDB_CSV_ROWS else None
    if select is not None:
        try:
            import duckdb
        except ImportError:
            select = None
    if select is None:
        df.to_csv(path, index=False)
        return
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("rl_out", df)
        target = str(path).replace("'", "''")
        con.execute(f"COPY ({select}) TO '{target}' (FORMAT CSV, HEADER)")
    finally:
        con.close()


def write_table(df, path: Path, *, sheet: str = "data") -> Path:
    """Write a table as CSV, Parquet or xlsx, chosen by the file extension.

    A CSV is the text of ``df.to_csv(path, index=False)`` (written by DuckDB for a large
    table of plain columns, see :func:`_csv_select`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        _write_csv(df, path)
    elif suffix == ".parquet":
        df.to_parquet(path, index=False)
    elif suffix == ".xlsx":
        try:
            import openpyxl  # noqa: F401
        except ImportError:
            raise ParameterError(
                "writing .xlsx needs openpyxl: pip install 'rebatelab[xlsx]'"
            ) from None
        from rebatelab.report.xlsx import cover_info, write_workbook  # formats, widths, cover

        write_workbook({sheet: df}, path, cover=cover_info(table=sheet), cover_last=True)
    else:
        raise ParameterError(f"--out: unknown extension {suffix!r}; use .csv, .parquet or .xlsx")
    return path
