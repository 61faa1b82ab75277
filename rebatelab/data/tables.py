"""The data folder: locate, read and validate transactions, customers, products, enrollments.

A data folder holds CSV or Parquet files named by their table (``transactions.csv`` or
``transactions.parquet``; a folder ``transactions/`` of Parquet parts also works).
Validation names the file, the column, how many rows are bad and the first few bad values;
nothing is dropped or filled silently.

Dates written as text are read as ISO dates (``YYYY-MM-DD``, optionally followed by a time
and an offset: the date as written counts, the offset is not applied). Any other form is
refused unless the caller says which it is (``date_format``): ``05/03/2026`` is 5 March or
3 May depending on who wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rebatelab.errors import DataValidationError, ParameterError

__all__ = ["RebateData", "SCHEMAS", "ISO_DATE", "check_lines_frame", "date_formats"]


#: Required and optional columns of each table, with their kind.
SCHEMAS: dict[str, dict[str, dict[str, str]]] = {
    "transactions": {
        "required": {
            "invoice_id": "id",
            "date": "date",
            "customer_id": "id",
            "product_id": "id",
            "quantity": "number",
            "net_amount": "number",
        },
        "optional": {},
    },
    "customers": {"required": {"customer_id": "id"}, "optional": {"buying_group": "id?"}},
    "products": {"required": {"product_id": "id"}, "optional": {}},
    "enrollments": {
        "required": {"program_id": "id", "customer_id": "id"},
        "optional": {"enrolled_on": "date?", "baseline": "number?"},
    },
    "payments": {
        "required": {"program_id": "id", "customer_id": "id", "date": "date", "amount": "number"},
        "optional": {},
    },
}


OPTIONAL_TABLES = ("enrollments", "payments")


_SHOW = 5  # how many bad values a message shows

#: A date as text in ISO form, with an optional time and offset; group 1 is the date as
#: written (the day that counts). The same pattern is matched by DuckDB (RE2 syntax).
ISO_DATE = (
    r"^[ \t]*([0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]{1,9})?)?)?"
    r"[ \t]*(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?[ \t]*$"
)

_TIMES = ("", " %H:%M", " %H:%M:%S")

#: The forms ``date_format="dayfirst"`` / ``"monthfirst"`` read (besides ISO dates).
NAMED_DATE_FORMATS = {
    "dayfirst": tuple(f"%d{sep}%m{sep}%Y{t}" for sep in "/.-" for t in _TIMES),
    "monthfirst": tuple(f"%m{sep}%d{sep}%Y{t}" for sep in "/.-" for t in _TIMES),
}


def date_formats(date_format: str | None) -> tuple[str, ...]:
    """The strptime formats tried after ISO for ``date_format`` (none for None).

    Raises
    ------
    ParameterError
        For a format that is neither ``"dayfirst"``, ``"monthfirst"`` nor a strptime format
        with a ``%`` code, or one reading an offset (``%z``, ``%Z``: the date as written
        counts, so an offset has no reading).
    """
    if date_format is None:
        return ()
    if date_format in NAMED_DATE_FORMATS:
        return NAMED_DATE_FORMATS[date_format]
    if not isinstance(date_format, str) or "%" not in date_format:
        raise ParameterError(
            "date_format (--date-format): expected a strptime format such as '%d/%m/%Y', "
            f"or 'dayfirst' or 'monthfirst'; got {date_format!r}"
        )
    if "%z" in date_format or "%Z" in date_format:
        raise ParameterError(
            f"date_format (--date-format) {date_format!r}: offsets (%z, %Z) are not read; "
            "the date as written counts, so leave the offset out of the data or write ISO dates"
        )
    return (date_format,)


def _text_dates(s: pd.Series, formats: tuple[str, ...]) -> np.ndarray:
    """Dates written as text -> datetime64[ns] days (NaT where missing or not a date).

    Each distinct text is read once: ISO first (the date as written), then each format.
    """
    codes, uniques = pd.factorize(s.astype("string"))
    u = pd.Series(np.asarray(uniques, dtype=object), dtype="string")
    iso = u.str.extract(ISO_DATE, expand=False)
    parsed = pd.to_datetime(iso, format="%Y-%m-%d", errors="coerce")
    values = np.array(parsed.to_numpy(dtype="datetime64[ns]"))
    rest = iso.isna().to_numpy().copy()
    for fmt in formats:
        if not rest.any():
            break
        got = pd.to_datetime(u[rest].str.strip(" "), format=fmt, errors="coerce")
        values[rest] = got.dt.normalize().to_numpy(dtype="datetime64[ns]")
        rest &= np.isnat(values)
    out = np.full(len(s), np.datetime64("NaT"), dtype="datetime64[ns]")
    known = codes >= 0
    out[known] = values[codes[known]]
    return out


def _not_dates(date_format: str | None) -> str:
    if date_format is None:
        return (
            "are not dates of the form YYYY-MM-DD; for another form say which one: "
            "date_format='%d/%m/%Y' (or 'dayfirst', 'monthfirst'; --date-format on the "
            "command line)"
        )
    return f"are not dates of the form YYYY-MM-DD or {date_format!r}"


def _rows(mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask)


def _fail(where: str, column: str, what: str, rows: np.ndarray, values) -> DataValidationError:
    shown = ", ".join(repr(v) for v in list(values)[:_SHOW])
    rows_1 = ", ".join(str(r + 1) for r in rows[:_SHOW])
    more = " ..." if len(rows) > _SHOW else ""
    return DataValidationError(
        f"{where}: column {column!r}: {len(rows)} row(s) {what} "
        f"(data rows {rows_1}{more}; values {shown}{more})"
    )


def _to_id(s: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(s):
        whole = s.dropna()
        if len(whole) and np.all(np.mod(whole.to_numpy(), 1) == 0):
            s = s.astype("Int64")
    out = s.astype("string").str.strip()
    return out.astype(object).where(out.notna(), None).astype("string")


def _convert(
    df: pd.DataFrame, where: str, column: str, kind: str, date_format: str | None = None
) -> pd.Series:
    s = df[column]
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    missing = s.isna().to_numpy()
    if kind == "id":
        out = _to_id(s)
        missing = out.isna().to_numpy() | (out == "").fillna(False).to_numpy()
    elif kind == "number":
        out = pd.to_numeric(s, errors="coerce").astype(float)
        bad = out.isna().to_numpy() & ~missing
        if bad.any():
            raise _fail(where, column, "are not numbers", _rows(bad), s[bad])
        inf = np.isinf(out.to_numpy())
        if inf.any():
            raise _fail(where, column, "are infinite", _rows(inf), s[inf])
    else:  # date
        if pd.api.types.is_datetime64_any_dtype(s):  # typed (Parquet): no format to guess
            out = s
            if getattr(out.dt, "tz", None) is not None:  # an instant: its UTC date, as DuckDB
                out = out.dt.tz_convert("UTC").dt.tz_localize(None)
            out = out.dt.normalize().astype("datetime64[ns]")
        else:
            out = pd.Series(_text_dates(s, date_formats(date_format)), index=s.index)
        bad = out.isna().to_numpy() & ~missing
        if bad.any():
            raise _fail(where, column, _not_dates(date_format), _rows(bad), s[bad])
    if missing.any() and not optional:
        raise _fail(where, column, "are missing", _rows(missing), s[missing])
    return out


def _validate(
    df: pd.DataFrame, table: str, where: str, date_format: str | None = None
) -> pd.DataFrame:
    schema = SCHEMAS[table]
    absent = [c for c in schema["required"] if c not in df.columns]
    if absent:
        raise DataValidationError(
            f"{where}: missing required column(s) {absent}; found {list(df.columns)}"
        )
    df = df.copy()
    for column, kind in {**schema["required"], **schema["optional"]}.items():
        if column in df.columns:
            df[column] = _convert(df, where, column, kind, date_format)
    return df.reset_index(drop=True)


def _unique(df: pd.DataFrame, columns: list[str], where: str) -> None:
    dup = df.duplicated(subset=columns, keep="first").to_numpy()
    if dup.any():
        vals = df.loc[dup, columns].astype(str).agg("/".join, axis=1)
        raise _fail(where, "/".join(columns), "repeat an id already listed", _rows(dup), vals)


def _known(values: pd.Series, known: pd.Series, where: str, column: str, against: str) -> None:
    bad = ~values.isin(known).to_numpy()
    if bad.any():
        raise _fail(where, column, f"reference ids not in {against}", _rows(bad), values[bad])


@dataclass(frozen=True, eq=False)
class RebateData:
    """A validated data folder.

    Attributes
    ----------
    transactions : DataFrame
        One row per invoice line: ``invoice_id, date, customer_id, product_id, quantity,
        net_amount`` plus any further columns, carried along. ``date`` is datetime64 (day).
    customers, products : DataFrame
        One row per id, with attribute columns (``segment, region, rep, buying_group``...).
    enrollments : DataFrame
        ``program_id, customer_id`` and optional ``enrolled_on, baseline`` (may be empty).
    payments : DataFrame
        ``program_id, customer_id, date, amount`` (may be empty).
    source : str
        Where the data came from, for messages.
    unknown_ids : str
        ``"error"`` or ``"exclude"``: what loading did with lines whose customer or product is
        unknown (with ``"exclude"`` they stay and are reported as excluded by the reconciliation).
    lines_path : tuple of str, optional
        Set by ``load_data(folder, lines="lazy")``: the transactions stay in these Parquet
        files (validated by DuckDB, never loaded), ``transactions`` is then an empty frame
        with the columns, and only the ``"duckdb"`` and ``"dask"`` backends can reduce them.
    """

    transactions: pd.DataFrame
    customers: pd.DataFrame
    products: pd.DataFrame
    enrollments: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {"program_id": pd.Series(dtype="string"), "customer_id": pd.Series(dtype="string")}
        )
    )
    payments: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {
                "program_id": pd.Series(dtype="string"),
                "customer_id": pd.Series(dtype="string"),
                "date": pd.Series(dtype="datetime64[ns]"),
                "amount": pd.Series(dtype=float),
            }
        )
    )
    source: str = "<frames>"
    unknown_ids: str = "error"
    lines_path: tuple[str, ...] | None = None
    date_format: str | None = None
    #: Derived arrays (integer codes, sorted days) computed once per data object.
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_frames(
        cls,
        transactions: pd.DataFrame,
        customers: pd.DataFrame,
        products: pd.DataFrame,
        enrollments: pd.DataFrame | None = None,
        payments: pd.DataFrame | None = None,
        *,
        source: str = "<frames>",
        unknown_ids: str = "error",
        date_format: str | None = None,
    ) -> RebateData:
        """Validate in-memory frames exactly as :func:`load_data` validates files.

        ``date_format`` reads dates written as text in another form than ISO (see
        :func:`rebatelab.load_data`).
        """
        frames = {
            "transactions": transactions,
            "customers": customers,
            "products": products,
            "enrollments": enrollments,
            "payments": payments,
        }
        names = {k: f"{source}/{k}" for k in frames}
        return _validated(
            frames, names, source=source, unknown_ids=unknown_ids, date_format=date_format
        )

    @property
    def date_range(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last transaction date (of the files, for lines left in them)."""
        store = self.cache.get("line_store")
        if store is not None:
            return store.first_date, store.last_date
        d = self.transactions["date"]
        return d.min(), d.max()

    @property
    def n_lines(self) -> int:
        """Number of transaction lines (in memory or in the files)."""
        store = self.cache.get("line_store")
        return store.n_lines if store is not None else len(self.transactions)


def _validated(
    frames, names, *, source, unknown_ids, lines_path=None, check_lines=None, date_format=None
) -> RebateData:
    if unknown_ids not in ("error", "exclude"):
        raise DataValidationError(f"unknown_ids must be 'error' or 'exclude', got {unknown_ids!r}")
    date_formats(date_format)  # a bad format is refused before any table is checked
    out = {}
    for table, df in frames.items():
        if df is None:
            continue
        out[table] = _validate(df, table, names[table], date_format)
    tx, cu, pr = out["transactions"], out["customers"], out["products"]
    _unique(cu, ["customer_id"], names["customers"])
    _unique(pr, ["product_id"], names["products"])
    store = None
    if check_lines is not None:  # the lines stay in their files: the reader checks them there
        store = check_lines(cu, pr)
    else:
        check_lines_frame(tx, cu, pr, where=names["transactions"], unknown_ids=unknown_ids)
    if "enrollments" in out:
        en = out["enrollments"]
        _unique(en, ["program_id", "customer_id"], names["enrollments"])
        _known(
            en["customer_id"], cu["customer_id"], names["enrollments"], "customer_id", "customers"
        )
        if "baseline" not in en.columns:
            en["baseline"] = np.nan
        if "enrolled_on" not in en.columns:
            en["enrolled_on"] = pd.Series(pd.NaT, index=en.index, dtype="datetime64[ns]")
    if "payments" in out:
        pay = out["payments"]
        _known(pay["customer_id"], cu["customer_id"], names["payments"], "customer_id", "customers")
    if "buying_group" not in cu.columns:
        cu["buying_group"] = pd.Series(pd.NA, index=cu.index, dtype="string")
    data = RebateData(
        **out,
        source=source,
        unknown_ids=unknown_ids,
        lines_path=lines_path,
        date_format=date_format,
    )
    if store is not None:
        data.cache["line_store"] = store
    return data


def check_lines_frame(tx, customers, products, *, where: str, unknown_ids: str) -> None:
    """The checks of converted transaction lines: exact repeats, then unknown ids.

    Raises
    ------
    DataValidationError
        Naming the table, the column, the rows (1-based data rows) and the first values.
    """
    dup = tx.duplicated(keep="first").to_numpy()
    if dup.any():
        raise _fail(
            where,
            "(all columns)",
            "exactly repeat an earlier line (the same line loaded twice?)",
            _rows(dup),
            tx.loc[dup, "invoice_id"],
        )
    if unknown_ids == "error":
        _known(tx["customer_id"], customers["customer_id"], where, "customer_id", "customers")
        _known(tx["product_id"], products["product_id"], where, "product_id", "products")
