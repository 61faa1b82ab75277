"""Excel workbooks a finance user opens: number formats, column widths, frozen header, cover.

Every command that writes ``.xlsx`` goes through :func:`write_workbook`: amounts get an
accounting format with thousands separators (negatives in parentheses), fractions a percent
format, dates a date format; each column is as wide as its content; the header row is frozen
and filtered; a cover sheet records what the workbook is (as-of, method, data source,
generated at, rebatelab version).
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd

from rebatelab.errors import ParameterError

__all__ = ["write_workbook", "workbook_bytes", "column_format", "MONEY", "PERCENT", "cover_info"]


#: Accounting-style amounts [currency]: thousands separators, two decimals, (negatives).
MONEY = "#,##0.00_);(#,##0.00)"

#: Fractions shown as percentages.
PERCENT = "0.0%"

#: Quantities that are not money (basis in units, counts of days).
NUMBER = "#,##0.00"
INTEGER = "#,##0"
DATE = "yyyy-mm-dd"

# float columns that hold fractions, or numbers that are not amounts of money
_PERCENT_NAMES = {"percentile", "rate", "growth", "level", "cdf", "share", "gap_share"}
_NUMBER_NAMES = {"basis", "pool_basis", "baseline", "quantity", "common_shock", "basis_to_date"}


def column_format(name: str, values: pd.Series) -> str | None:
    """The Excel number format of a column, from its name and type (None: as it is).

    Examples
    --------
    >>> column_format("expected", pd.Series([1.5]))
    '#,##0.00_);(#,##0.00)'
    >>> column_format("p_next_tier", pd.Series([0.25])), column_format("tier", pd.Series([2]))
    ('0.0%', '#,##0')
    """
    n = str(name).lower()
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_datetime64_any_dtype(values):
        return DATE
    if values.dtype == object and len(values) and isinstance(values.iloc[0], dt.date):
        return DATE
    if not pd.api.types.is_numeric_dtype(values):
        return None
    if n in _PERCENT_NAMES or n.startswith(("p_", "share_")) or n.endswith(("_share", "_rate")):
        return PERCENT
    if pd.api.types.is_integer_dtype(values):
        return INTEGER
    if n in _NUMBER_NAMES or n.startswith(("q_", "projected_")) or "basis" in n:
        return NUMBER
    if n in ("days_left", "customers", "pools", "n_rows"):
        return INTEGER
    return MONEY


def cover_info(**items) -> dict[str, str]:
    """A cover sheet's rows: the items given, then ``generated at`` and ``rebatelab version``."""
    try:
        from importlib.metadata import version

        ver = version("rebatelab")
    except Exception:  # noqa: BLE001 - a source checkout without metadata
        ver = "unknown"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None).isoformat(sep=" ")
    out = {k.replace("_", " "): ("" if v is None else str(v)) for k, v in items.items()}
    out["generated at"] = f"{now} UTC"
    out["rebatelab version"] = ver
    return out


def _width(values: pd.Series, header: str, fmt: str | None) -> float:
    sample = values.head(2000)
    if fmt in (MONEY, NUMBER, INTEGER) and len(sample):
        biggest = float(np.nanmax(np.abs(pd.to_numeric(sample, errors="coerce")), initial=0.0))
        chars = len(f"{biggest:,.2f}") + 3
    else:
        chars = int(sample.astype(str).str.len().max()) if len(sample) else 0
    return float(min(max(chars, len(str(header)) + 2, 8), 60))


def _sheet(ws, df: pd.DataFrame) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    header_fill = PatternFill("solid", fgColor="DDE6F0")
    for j, col in enumerate(df.columns, start=1):
        cell = ws.cell(row=1, column=j)
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.alignment = Alignment(wrap_text=False)
        fmt = column_format(col, df[col])
        letter = get_column_letter(j)
        ws.column_dimensions[letter].width = _width(df[col], col, fmt)
        if fmt is not None:
            for (c,) in ws.iter_rows(min_row=2, max_row=len(df) + 1, min_col=j, max_col=j):
                c.number_format = fmt
    ws.freeze_panes = "A2"
    if len(df.columns):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(df.columns))}{len(df) + 1}"


def _cover(ws, cover: dict[str, str], title: str) -> None:
    from openpyxl.styles import Font

    ws["A1"] = title
    ws["A1"].font = Font(bold=True, size=14)
    for i, (k, v) in enumerate(cover.items(), start=3):
        ws.cell(row=i, column=1, value=k).font = Font(bold=True)
        ws.cell(row=i, column=2, value=v)
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = min(max([len(str(v)) for v in cover.values()] + [20]), 100)


def _write(sheets, target, *, cover, title, cover_last):
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise ParameterError(
            "writing .xlsx needs openpyxl: pip install 'rebatelab[xlsx]'"
        ) from None
    if not sheets:
        raise ParameterError("a workbook needs at least one sheet")
    names = [str(n)[:31] for n in sheets]
    if len(set(names)) != len(names) or "cover" in names:
        raise ParameterError(
            f"sheet names must be unique, at most 31 characters, not 'cover': {names}"
        )
    with pd.ExcelWriter(target, engine="openpyxl") as xw:
        if cover is not None and not cover_last:
            xw.book.create_sheet("cover")
        for name, df in zip(names, sheets.values(), strict=True):
            df.to_excel(xw, sheet_name=name, index=False)
            _sheet(xw.sheets[name], df)
        if cover is not None:
            if cover_last:
                xw.book.create_sheet("cover")
            _cover(xw.book["cover"], cover, title)
            xw.book.active = 0


def write_workbook(
    sheets: dict[str, pd.DataFrame],
    path,
    *,
    cover: dict | None = None,
    title: str = "rebatelab",
    cover_last: bool = False,
) -> Path:
    """Write tables to a formatted xlsx workbook, with a cover sheet.

    Parameters
    ----------
    sheets : dict of str to DataFrame
        The sheets in order (names at most 31 characters).
    path : str or Path
        The ``.xlsx`` file (its folder is created).
    cover : dict, optional
        The cover sheet's (item, value) rows, e.g. :func:`cover_info`; None: no cover.
    title : str
        The cover's title.
    cover_last : bool
        Put the cover after the tables (so that a reader taking the first sheet gets the data).

    Returns
    -------
    Path

    Raises
    ------
    ParameterError
        openpyxl missing, no sheets, or sheet names that collide.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(sheets, path, cover=cover, title=title, cover_last=cover_last)
    return path


def workbook_bytes(
    sheets: dict[str, pd.DataFrame], *, cover: dict | None = None, title: str = "rebatelab"
) -> bytes:
    """The workbook of :func:`write_workbook` as bytes (for a browser download)."""
    buf = io.BytesIO()
    _write(sheets, buf, cover=cover, title=title, cover_last=False)
    return buf.getvalue()
