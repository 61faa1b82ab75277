"""Each customer's purchase history over a window: the sums spend models are estimated from.

Stage one for the what-if (:mod:`rebatelab.simulation.whatif`): the order counts, spend,
first purchase and order values of every customer over a history window
(:func:`order_history`), and each customer's spend on the products of candidate programs
(:func:`window_sums`), so that the what-if base and its candidate layouts never read lines.
Arrays are indexed by customer code: row ``i`` is customer ``i`` of ``data.customers``;
lines of unknown customers are not counted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebatelab.data.tables import RebateData
from rebatelab.engine.eligibility import product_eligibility
from rebatelab.engine.lines import prepare_lines
from rebatelab.programs.terms import Program

__all__ = [
    "OrderHistory",
    "OrderValues",
    "order_history",
    "WindowSums",
    "window_sums",
    "with_enrollments_of",
]

#: ``OrderHistory.first_seen`` of a customer without lines.
NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class OrderValues:
    """Per-customer sums of invoice totals (invoices whose lines in the window sum above 0).

    Attributes
    ----------
    count : ndarray of int64
        Such invoices [orders].
    total, total_sq : ndarray of float
        Sum and sum of squares of their totals [currency, currency^2].
    """

    count: np.ndarray
    total: np.ndarray
    total_sq: np.ndarray


@dataclass(frozen=True)
class OrderHistory:
    """Per-customer order sums over the window ``[first_day, last_day]``.

    Attributes
    ----------
    first_day, last_day : int
        The window, days since 1970-01-01, both ends inclusive.
    n_orders : ndarray of float
        Distinct invoices with at least one positive line in the window [orders].
    net_amount : ndarray of float
        Sum of ``net_amount`` of the lines in the window [currency].
    first_seen : ndarray of int64
        Day of the customer's first line in the whole history (after the window too);
        :data:`NEVER` without lines.
    order_values : OrderValues or None
        The invoice totals' sums (for the order-value dispersion); None unless asked for.
    """

    first_day: int
    last_day: int
    n_orders: np.ndarray
    net_amount: np.ndarray
    first_seen: np.ndarray
    order_values: OrderValues | None = None


def last_line_day(data: RebateData) -> int:
    """Day (since 1970-01-01) of the last transaction line; 0 without lines."""
    lines = prepare_lines(data)
    return int(lines.day[-1]) if len(lines.day) else 0


def order_history(
    data: RebateData, *, first_day: int, last_day: int, order_values: bool = True
) -> OrderHistory:
    """Orders, spend and order values of every customer over a window of days.

    Parameters
    ----------
    data : RebateData
    first_day, last_day : int
        The window [days since 1970-01-01], both ends inclusive.
    order_values : bool
        Also sum the invoice totals and their squares (:class:`OrderValues`).

    Returns
    -------
    OrderHistory

    Examples
    --------
    >>> import rebatelab as rl
    >>> from rebatelab.engine.lines import to_day
    >>> data, _ = rl.load_sample()
    >>> h = order_history(data, first_day=to_day("2026-01-01"), last_day=to_day("2026-06-30"))
    >>> h.n_orders.shape == (len(data.customers),)
    True
    """
    lines = prepare_lines(data)
    n = lines.n_customers
    w = lines.window(first_day, last_day)
    cust = lines.customer[w]
    known = cust < n
    cust, inv, amt = cust[known], lines.invoice[w][known], lines.net_amount[w][known]
    pos = amt > 0
    # distinct (customer, invoice) pairs as one int64 key: a 1-D unique, not a 2-D one
    # (which sorts rows as records: ~1 s at 2M lines)
    width = np.int64(int(inv.max(initial=0)) + 1)
    keys = pd.unique(cust[pos].astype(np.int64) * width + inv[pos].astype(np.int64))
    x = np.bincount(keys // width, minlength=n).astype(float)
    net = np.bincount(cust, weights=amt, minlength=n)
    known_all = lines.customer < n
    first_seen = np.full(n, NEVER)
    np.minimum.at(first_seen, lines.customer[known_all], lines.day[known_all].astype(np.int64))
    out = OrderHistory(int(first_day), int(last_day), x, net, first_seen)
    if not order_values:
        return out
    inv_code = pd.factorize(inv)[0]
    inv_amt = np.bincount(inv_code, weights=amt, minlength=int(inv.max(initial=-1)) + 1)
    inv_cust = np.zeros(inv_amt.size, dtype=np.int64)
    inv_cust[inv_code] = cust
    ok = inv_amt > 0
    c, v = inv_cust[ok], inv_amt[ok]
    values = OrderValues(
        count=np.bincount(c, minlength=n),
        total=np.bincount(c, weights=v, minlength=n),
        total_sq=np.bincount(c, weights=v**2, minlength=n),
    )
    return dataclasses.replace(out, order_values=values)


@dataclass(frozen=True)
class WindowSums:
    """Per-customer spend over a window, in total and on each program's eligible products.

    Attributes
    ----------
    total : ndarray of float
        ``net_amount`` of all lines [currency], one per customer.
    eligible_net : ndarray of float
        Shape ``(n_programs, n_customers)``: ``net_amount`` of the lines of products eligible
        for each program [currency] (product filters only: membership does not apply).
    eligible_quantity : ndarray of float
        The same for ``quantity`` [units].
    """

    total: np.ndarray
    eligible_net: np.ndarray
    eligible_quantity: np.ndarray


def window_sums(
    data: RebateData, programs: Iterable[Program] = (), *, first_day: int, last_day: int
) -> WindowSums:
    """Each customer's spend over ``[first_day, last_day]``, and on each program's products.

    Parameters
    ----------
    data : RebateData
    programs : iterable of Program
        The programs whose product filters select the eligible lines (none: ``total`` only).
    first_day, last_day : int
        The window [days since 1970-01-01], both ends inclusive.

    Returns
    -------
    WindowSums

    Examples
    --------
    >>> import rebatelab as rl
    >>> from rebatelab.engine.lines import to_day
    >>> data, programs = rl.load_sample()
    >>> s = window_sums(data, [programs["GOLD-2026"]], first_day=to_day("2026-01-01"),
    ...                 last_day=to_day("2026-06-30"))
    >>> s.eligible_net.shape == (1, len(data.customers))
    True
    """
    lines = prepare_lines(data)
    n = lines.n_customers
    w = lines.window(first_day, last_day)
    cust, prod = lines.customer[w], lines.product[w]
    amt, qty = lines.net_amount[w], lines.quantity[w]
    known = cust < n
    total = np.bincount(cust[known], weights=amt[known], minlength=n + 1)[:n]
    net, units = [], []
    for p in programs:  # one bincount per program, over the window's lines
        ok = known & product_eligibility(data, p)[prod]
        net.append(np.bincount(cust[ok], weights=amt[ok], minlength=n + 1)[:n])
        units.append(np.bincount(cust[ok], weights=qty[ok], minlength=n + 1)[:n])
    shape = (len(net), n)
    return WindowSums(
        total=total,
        eligible_net=np.asarray(net, dtype=float).reshape(shape),
        eligible_quantity=np.asarray(units, dtype=float).reshape(shape),
    )


def with_enrollments_of(data: RebateData, program_ids: Iterable[str]) -> RebateData:
    """The data with only the enrollments of some programs, sharing the coded lines.

    Parameters
    ----------
    data : RebateData
    program_ids : iterable of str

    Returns
    -------
    RebateData
        A copy whose ``enrollments`` keep the rows of ``program_ids``; the lines are coded
        once (on ``data``) and shared, so reducing the copy does not code them again.
    """
    en = data.enrollments
    keep = en["program_id"].isin(list(program_ids)).to_numpy()
    cache = {"lines": prepare_lines(data)}
    return dataclasses.replace(data, enrollments=en[keep].reset_index(drop=True), cache=cache)
