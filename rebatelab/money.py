"""Money in exact terms: integer cents, rounding half away from zero, shares that add up."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rebatelab._arrays import as_float_array, restore_type

__all__ = [
    "round_cents",
    "cents",
    "largest_remainder",
    "money",
    "percent",
    "format_money",
    "currency_symbol",
    "data_currency",
    "DEFAULT_CURRENCY",
]

#: The currency assumed when the data records none (ISO 4217 code).
DEFAULT_CURRENCY = "USD"

# symbols written before the number; other codes are written after it ("1,234.56 CHF")
_SYMBOLS = {"USD": "$", "EUR": "\u20ac", "GBP": "\u00a3", "JPY": "\u00a5", "CAD": "CA$",
            "AUD": "A$", "INR": "\u20b9", "CNY": "CN\u00a5"}  # fmt: skip
# currencies without minor units
_NO_CENTS = {"JPY", "KRW", "ISK", "CLP", "VND"}


def cents(x) -> np.ndarray:
    """Amounts [currency] to integer cents, rounding half away from zero.

    Notes
    -----
    ``x * 100`` is first rounded to 6 decimals so that binary noise such as
    ``2.675 * 100 = 267.49999999999997`` rounds as the decimal number it stands for.
    """
    v = np.round(np.asarray(x, dtype=float) * 100.0, 6)
    return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)


def round_cents(x):
    """Round amounts [currency] to cents, half away from zero; same type out as in."""
    arr = as_float_array(x)
    out = cents(arr) / 100.0
    return restore_type(out, x)


def largest_remainder(
    total_cents: np.ndarray, weights: np.ndarray, groups: np.ndarray
) -> np.ndarray:
    """Split each group's total (integer cents) pro rata to weights, shares summing exactly.

    Parameters
    ----------
    total_cents : ndarray of int, shape (n,)
        The group's total [cents], repeated on every member row.
    weights : ndarray of float, shape (n,)
        Non-negative weights of the members (e.g. their basis [currency]); negative weights
        count as 0. They are compared in integer millionths (stage one's sums carry six
        decimals), so that equal weights tie exactly. A group whose weights are all zero is
        split equally.
    groups : ndarray of int, shape (n,)
        Group code of each row, in ``0 .. n_groups - 1``.

    Returns
    -------
    ndarray of int
        Each member's share [cents]; per group the shares add up to the total exactly
        (Hamilton's largest-remainder method). The exact share ``total x w / W`` is computed
        in integers: each member first gets its share rounded toward zero, then the cents
        left over go one each to the largest remainders, ties to the earlier row.

    Examples
    --------
    A pool of 15, 16 and 21 sharing 0.78: exact shares 22.5, 24 and 31.5 cents; the cent
    left over goes to the earlier of the two tied halves.

    >>> largest_remainder(np.array([78, 78, 78]), np.array([15.0, 16.0, 21.0]), np.zeros(3, int))
    array([23, 24, 31])
    """
    total = np.asarray(total_cents, dtype=np.int64)
    groups = np.asarray(groups, dtype=np.int64)
    n = len(groups)
    n_groups = int(groups.max()) + 1 if n else 0
    # weights in integer millionths: stage one's sums carry 6 decimals, so this is exact
    w = np.round(np.clip(np.asarray(weights, dtype=float), 0.0, None) * 1e6).astype(np.int64)
    count = np.bincount(groups, minlength=n_groups)
    wsum = np.bincount(groups, weights=w, minlength=n_groups).round().astype(np.int64)
    zero = wsum[groups] <= 0
    w = np.where(zero, 1, w)  # all-zero groups: equal weights
    wsum = np.where(wsum > 0, wsum, count)
    W = wsum[groups]
    mag = np.abs(total)
    # |total| x w may overflow int64 for very large pools: exact Python integers then
    if n and int(mag.max()) * int(w.max()) >= 2**62:
        mag, w, W = (x.astype(object) for x in (mag, w, W))
    prod = mag * w
    quot, rem = prod // W, prod % W
    quot = quot.astype(np.int64)
    group_total = np.zeros(n_groups, dtype=np.int64)
    group_total[groups] = mag.astype(np.int64)
    short = group_total - np.bincount(groups, weights=quot, minlength=n_groups).round().astype(
        np.int64
    )
    # within a group all rows share W, so the remainders compare as the integers rem
    if rem.dtype == object:
        rank_key = -np.unique(rem, return_inverse=True)[1].ravel().astype(np.int64)
    else:
        rank_key = -rem.astype(np.int64)
    order = np.lexsort((np.arange(n), rank_key, groups))
    g_sorted = groups[order]
    start = np.searchsorted(g_sorted, g_sorted, side="left")
    rank = np.arange(n) - start
    extra = np.zeros(n, dtype=np.int64)
    extra[order] = (rank < short[g_sorted]).astype(np.int64)
    return np.sign(total) * (quot + extra)


# --------------------------------------------------------------------------------------------
# Words and numbers
# --------------------------------------------------------------------------------------------
def money(x, *, currency: str = "$", code: str = "", up: bool = False, missing: str = "-") -> str:
    """An amount in whole units: ``$12,400``, or ``12,400 USD`` with a currency code.

    Parameters
    ----------
    x : float or None
        The amount [currency].
    currency : str
        Symbol written before the number (``""`` for none).
    code : str
        Currency code written after the number, e.g. ``"USD"`` (``""`` for none).
    up : bool
        Round up (for amounts to reach) instead of to the nearest unit (halves up).
    missing : str
        Text for a missing amount (None or NaN).

    Examples
    --------
    >>> money(12_399.2, up=True), money(9_800.4), money(-2.6)
    ('$12,400', '$9,800', '-$3')
    >>> money(12_345.6, currency="", code="USD"), money(None, missing="\u2013")
    ('12,346 USD', '\u2013')
    """
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return missing
    x = float(x)
    v = math.ceil(x - 1e-9) if up else math.floor(x + 0.5)
    text = f"{'-' if v < 0 else ''}{currency}{abs(v):,}"
    return f"{text} {code}" if code else text


def percent(rate: float) -> str:
    """A fraction as a short percentage: ``0.04 -> '4%'``, ``0.025 -> '2.5%'``.

    Examples
    --------
    >>> percent(0.04), percent(0.025), percent(0.0125)
    ('4%', '2.5%', '1.25%')
    """
    return f"{round(100 * rate, 2):g}%"


def currency_symbol(currency: str = DEFAULT_CURRENCY) -> str:
    """The symbol written before amounts of ``currency``: ``"USD" -> "$"``.

    An ISO code without a common symbol gives ``""`` (its amounts carry the code after the
    number); a text that is not a three-letter code (e.g. ``"$"``) is taken as the symbol.

    Examples
    --------
    >>> currency_symbol("USD"), currency_symbol("EUR"), currency_symbol("CHF"), currency_symbol("$")
    ('$', '€', '', '$')
    """
    code = str(currency or "").strip()
    if code.upper() in _SYMBOLS:
        return _SYMBOLS[code.upper()]
    if len(code) == 3 and code.isalpha():
        return ""
    return code


def format_money(x, *, currency: str = DEFAULT_CURRENCY, decimals: int | None = None,
                 missing: str = "\u2013") -> str:  # fmt: skip
    """An amount with its currency and thousands separators: ``"$1,234.56"``.

    Parameters
    ----------
    x : float or None
        The amount [currency].
    currency : str
        ISO 4217 code (``"USD"``, ``"EUR"``, ``"CHF"``...) or a symbol such as ``"$"``.
        Codes with a common symbol write it before the number; other codes after it.
    decimals : int, optional
        Digits after the point; default 2 (0 for currencies without minor units such as
        JPY). Rounding is half away from zero, on the decimal value (:func:`cents`).
    missing : str
        Text for a missing amount (None or NaN).

    Examples
    --------
    >>> format_money(1234.565), format_money(-0.5, decimals=0), format_money(1e6, currency="EUR")
    ('$1,234.57', '-$1', '€1,000,000.00')
    >>> format_money(1234.5, currency="CHF"), format_money(1234.5, currency="JPY")
    ('1,234.50 CHF', '¥1,235')
    >>> format_money(float("nan"))
    '–'
    """
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return missing
    code = str(currency or "").strip()
    if decimals is None:
        decimals = 0 if code.upper() in _NO_CENTS else 2
    scaled = np.round(float(x) * 10**decimals, 6)
    v = int(math.copysign(math.floor(abs(scaled) + 0.5), scaled))
    whole, frac = divmod(abs(v), 10**decimals)
    text = f"{whole:,}" + (f".{frac:0{decimals}d}" if decimals else "")
    sym = currency_symbol(code)
    sign = "-" if v < 0 else ""
    if sym:
        return f"{sign}{sym}{text}"
    return f"{sign}{text} {code.upper()}" if code else f"{sign}{text}"


def data_currency(data) -> str:
    """The currency of a data folder's amounts: its single ``currency`` code, else USD.

    The code is read from a ``currency`` column of the invoice lines (or of the customers
    table) when it holds one value; several values, or none recorded, give
    :data:`DEFAULT_CURRENCY`. A Reduction records no lines: its ``currency`` attribute if
    it has one, else the default.

    Examples
    --------
    >>> data_currency(None)
    'USD'
    """
    for table in ("transactions", "customers"):
        frame = getattr(data, table, None)
        col = None if frame is None or not hasattr(frame, "columns") else frame.get("currency")
        if col is not None:
            values = pd.unique(col.dropna().astype(str))
            if len(values) == 1:
                return str(values[0]).upper()
    return str(getattr(data, "currency", None) or DEFAULT_CURRENCY)
