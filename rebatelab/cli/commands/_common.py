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


def write_table(df, path: Path, *, sheet: str = "data") -> Path:
    """Write a table as CSV, Parquet or xlsx, chosen by the file extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df.to_csv(path, index=False)
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
