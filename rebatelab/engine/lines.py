"""Invoice lines as integer codes and day numbers, the form stage one reduces."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import overload

import numpy as np
import pandas as pd

from rebatelab.data.tables import RebateData
from rebatelab.errors import ParameterError

__all__ = ["Lines", "prepare_lines", "lines_from_frame", "to_day"]


_EPOCH = np.datetime64("1970-01-01", "D")


@overload
def to_day(x: dt.date | str | np.datetime64) -> int: ...
@overload
def to_day(x: np.ndarray | pd.Series | pd.Index | list) -> np.ndarray: ...
def to_day(x):
    """Dates to integer days since 1970-01-01: a date gives an int, an array an int64 array.

    Examples
    --------
    >>> to_day("1970-01-11"), to_day(["1970-01-01", "1971-01-01"]).tolist()
    (10, [0, 365])
    """
    if isinstance(x, dt.date | pd.Timestamp | str | np.datetime64):
        # a datetime64[D] as an integer is its day number since the epoch
        return int(np.datetime64(pd.Timestamp(x).date(), "D").astype(np.int64))
    return (np.asarray(x, dtype="datetime64[D]") - _EPOCH).astype(np.int64)


@dataclass(frozen=True)
class Lines:
    """Invoice lines as integer-coded arrays sorted by day.

    ``customer`` and ``product`` are codes into the customers / products tables, with
    ``n_customers`` / ``n_products`` standing for an unknown id. ``row`` maps back to the
    transactions table's row number. ``invoice`` (integer invoice codes) is computed on first
    use: accrual does not need it.
    """

    day: np.ndarray
    customer: np.ndarray
    product: np.ndarray
    net_amount: np.ndarray
    quantity: np.ndarray
    row: np.ndarray
    n_customers: int
    n_products: int
    invoice_ids: pd.Series | None = None

    @functools.cached_property
    def invoice(self) -> np.ndarray:
        """Invoice code of each line (order of first appearance in the transactions)."""
        codes = pd.factorize(self.invoice_ids)[0].astype(np.int64, copy=False)
        return codes[self.row]

    def window(self, first_day: int, last_day: int) -> slice:
        """Slice of the lines dated within [first_day, last_day]."""
        lo, hi = np.searchsorted(self.day, [first_day, last_day + 1])
        return slice(int(lo), int(hi))


def _codes(values: pd.Series, index: pd.Index) -> np.ndarray:
    """Positions of ``values`` in ``index`` (``len(index)`` when absent), via distinct values."""
    codes, uniques = pd.factorize(values)
    pos = index.get_indexer(uniques)
    pos = np.where(pos < 0, len(index), pos)
    return np.append(pos, len(index))[codes]  # a missing value (code -1) is unknown too


def prepare_lines(data: RebateData) -> Lines:
    """Integer-code and sort the transaction lines once per data object (cached)."""
    if "lines" in data.cache:
        return data.cache["lines"]
    if getattr(data, "lines_path", None) is not None:
        raise ParameterError(
            f"{data.source}: the transactions were loaded lazily (load_data(lines='lazy')) and "
            "are not in memory; use backend='duckdb' or backend='dask', or load them eagerly"
        )
    lines = lines_from_frame(
        data.transactions,
        pd.Index(data.customers["customer_id"]),
        pd.Index(data.products["product_id"]),
    )
    data.cache["lines"] = lines
    return lines


def lines_from_frame(tx: pd.DataFrame, cust_index: pd.Index, prod_index: pd.Index) -> Lines:
    """:class:`Lines` of a transactions frame (or a part of one) against master id indexes."""
    cust = _codes(tx["customer_id"], cust_index)
    prod = _codes(tx["product_id"], prod_index)
    day = to_day(tx["date"].to_numpy())
    net = tx["net_amount"].to_numpy(dtype=float)
    qty = tx["quantity"].to_numpy(dtype=float)
    if len(day) and np.all(day[1:] >= day[:-1]):  # already in date order: no copies
        order = np.arange(len(day), dtype=np.int64)
        pick: slice | np.ndarray = slice(None)
    else:
        order = np.argsort(day, kind="stable").astype(np.int64)
        pick = order
    lines = Lines(
        day=day[pick],
        customer=cust[pick].astype(np.int64, copy=False),
        product=prod[pick].astype(np.int64, copy=False),
        net_amount=net[pick],
        quantity=qty[pick],
        row=order,
        n_customers=len(cust_index),
        n_products=len(prod_index),
        invoice_ids=tx["invoice_id"] if "invoice_id" in tx.columns else None,
    )
    return lines
