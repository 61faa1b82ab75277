"""Arguments and output helpers shared by the CLI commands."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rebatelab.errors import ParameterError

__all__ = ["add_data_arguments", "parse_date", "write_table"]


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
    if as_of:
        parser.add_argument("--as-of", required=True, type=str, help="as-of date, YYYY-MM-DD")


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
        df.to_excel(path, index=False, sheet_name=sheet)
    else:
        raise ParameterError(f"--out: unknown extension {suffix!r}; use .csv, .parquet or .xlsx")
    return path
