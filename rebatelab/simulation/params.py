"""The simulator's parameters, vocabulary and calendar (season, weekdays, period-end peaks)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebatelab.errors import ParameterError

__all__ = ["SimulationParams", "calendar_weights", "ONLINE_RETAIL_SEASON"]


#: Monthly season weights (Jan..Dec, mean 1) fitted so that the simulated monthly net sales
#: (with the default arrivals and dropout, which add a slight growth) follow the Online
#: Retail data's 2010-12 .. 2011-11 profile (``scripts/calibrate_simulator.py``).
ONLINE_RETAIL_SEASON = (0.75, 0.75, 0.92, 0.69, 1.0, 0.92, 0.85, 0.89, 1.28, 1.41, 1.65, 0.9)


SEGMENTS = ("Contractor", "Distributor", "Retailer", "OEM", "Institutional")


SEGMENT_SHARE = (0.35, 0.15, 0.25, 0.10, 0.15)


#: Multiplier on a segment's order values (a distributor's orders are twice a contractor's).
SEGMENT_VALUE = (1.0, 2.0, 0.8, 1.5, 0.7)


REGIONS = ("North", "South", "East", "West", "Central")


CATEGORIES = (
    "Fasteners",
    "Tools",
    "Electrical",
    "Plumbing",
    "Safety",
    "Adhesives",
    "Abrasives",
    "Storage",
)


#: Typical list price per unit [currency] of each category (log-normal around it).
CATEGORY_PRICE = (4.0, 35.0, 12.0, 18.0, 9.0, 7.0, 5.0, 60.0)


BRANDS = ("Apex", "Borealis", "Cobalt", "Dynamo", "Everline", "House")


FULL_RETURN_SHARE = 0.6  # share of returns that give back the whole line


PARTIAL_RETURN_RANGE = (0.1, 0.9)  # value fraction of a partial return, uniform


CREDIT_RANGE = (0.02, 0.10)  # value fraction of a price-adjustment credit note, uniform


@dataclass(frozen=True)
class SimulationParams:
    """Parameters of the customer-base simulator (defaults calibrated on Online Retail).

    Parameters
    ----------
    order_rate_mean : float
        Population mean order rate [orders/year] at the start of the window.
    order_rate_shape : float
        Shape ``r`` of the gamma heterogeneity of order rates (smaller = more unequal).
    order_value_mean : float
        Population mean of the customers' mean order value [currency], before the segment
        factor.
    order_value_p : float
        Shape ``p`` of the order values of one customer (larger = more regular orders).
    order_value_q : float
        Shape ``q`` of the gamma heterogeneity of ``nu`` (> 1; smaller = heavier tail of
        mean order values across customers).
    lifetime_mean_years : float
        Mean lifetime [years] before a customer stops buying (dropout), ``inf`` for none.
    lifetime_shape : float
        Shape ``s`` of the gamma heterogeneity of dropout rates.
    new_customer_share : float
        Fraction [0, 1] of customers who arrive during the window (uniformly in time).
    trend_sd : float
        Standard deviation of the per-customer trend ``g`` [log change per year].
    season : tuple of 12 floats
        Monthly weights Jan..Dec (rescaled to mean 1).
    weekday_weights : tuple of 7 floats
        Relative order intensity Monday..Sunday.
    month_end_peak, quarter_end_peak : float
        Intensity multiplier [>= 1] on the last ``peak_days`` business days of a month / of a
        quarter.
    peak_days : int
        Number of business days at the end of a month that peak.
    lines_per_order : float
        Mean number of lines per order (>= 1).
    return_prob : float
        Probability [0, 1] that an order line is (partly) returned.
    return_delay_days : float
        Mean delay [days] between an order and its return (geometric, >= 1).
    credit_note_prob : float
        Probability [0, 1] that an order gets a price-adjustment credit note.
    zero_price_prob : float
        Probability [0, 1] that an order carries a free-goods line (net amount 0).
    max_discount : float
        Customers' discount off list price is uniform in [0, max_discount] [fraction].
    category_concentration : float
        Dirichlet concentration of the customers' category mixes (small = specialised).
    buying_group_share : float
        Fraction [0, 1] of customers belonging to one of ``n_buying_groups`` buying groups.
    n_buying_groups, n_reps : int
        Number of buying groups and of sales reps.
    response_strength : float
        Probability [0, 1] that a customer responds to a reachable, worthwhile tier (0 = off).
    response_window_days : int
        The response purchase is dated within the last ``response_window_days`` of a period.
    pull_forward_days : float
        A customer can buy ahead at most its expected spend of this many days [days].
    holding_cost : float
        Median cost [fraction of value] to a customer of buying ahead; each customer's cost is
        log-normal around it (sigma 0.5). A customer responds only when the extra rebate is at
        least this cost times the purchase needed.
    incremental_share : float
        Fraction [0, 1] of a response purchase that is new demand; the rest is taken from the
        customer's orders of the ``pull_forward_days`` after the period end.
    """

    order_rate_mean: float = 3.2
    order_rate_shape: float = 0.6
    order_value_mean: float = 430.0
    order_value_p: float = 8.0
    order_value_q: float = 2.05
    lifetime_mean_years: float = 1.0
    lifetime_shape: float = 0.7
    new_customer_share: float = 0.5
    trend_sd: float = 0.15
    season: tuple = ONLINE_RETAIL_SEASON
    weekday_weights: tuple = (1.0, 1.0, 1.05, 1.15, 0.85, 0.05, 0.15)
    month_end_peak: float = 1.3
    quarter_end_peak: float = 1.6
    peak_days: int = 3
    lines_per_order: float = 16.0
    return_prob: float = 0.08
    return_delay_days: float = 14.0
    credit_note_prob: float = 0.02
    zero_price_prob: float = 0.002
    max_discount: float = 0.25
    category_concentration: float = 0.6
    buying_group_share: float = 0.2
    n_buying_groups: int = 6
    n_reps: int = 12
    response_strength: float = 0.5
    response_window_days: int = 45
    pull_forward_days: float = 90.0
    holding_cost: float = 0.01
    incremental_share: float = 0.3

    def __post_init__(self):
        _positive = (
            "order_rate_mean",
            "order_rate_shape",
            "order_value_mean",
            "order_value_p",
            "order_value_q",
            "lifetime_mean_years",
            "lifetime_shape",
            "return_delay_days",
            "category_concentration",
        )
        for name in _positive:
            _check(name, getattr(self, name), low=0.0, low_open=True)
        if self.order_value_q <= 1:
            raise ParameterError(
                f"order_value_q must be > 1 (the mean order value is finite only then); "
                f"got {self.order_value_q}"
            )
        for name in (
            "new_customer_share",
            "return_prob",
            "credit_note_prob",
            "zero_price_prob",
            "buying_group_share",
            "response_strength",
            "incremental_share",
            "max_discount",
        ):
            _check(name, getattr(self, name), low=0.0, high=1.0)
        _check("max_discount", self.max_discount, low=0.0, high=0.99)
        for name in ("trend_sd", "holding_cost", "pull_forward_days"):
            _check(name, getattr(self, name), low=0.0)
        for name in ("month_end_peak", "quarter_end_peak", "lines_per_order"):
            _check(name, getattr(self, name), low=1.0)
        for name in ("peak_days", "n_buying_groups", "n_reps", "response_window_days"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or v < 1:
                raise ParameterError(f"{name} must be a positive integer; got {v!r}")
        for name, n in (("season", 12), ("weekday_weights", 7)):
            v = np.asarray(getattr(self, name), dtype=float)
            if v.shape != (n,) or np.any(~np.isfinite(v)) or np.any(v < 0) or v.sum() <= 0:
                raise ParameterError(
                    f"{name} must be {n} non-negative finite weights, not all 0; got {v.tolist()}"
                )

    def replace(self, **changes) -> SimulationParams:
        """A copy with some parameters changed (validated again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ParameterError(f"unknown simulation parameter(s) {sorted(unknown)}")
        return dataclasses.replace(self, **changes)


def _check(name, value, *, low=None, high=None, low_open=False):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number; got {value!r}") from None
    too_low = low is not None and (v < low or (low_open and v == low))
    too_high = high is not None and v > high
    if np.isnan(v) or too_low or too_high:
        if low is not None and high is not None:
            raise ParameterError(f"{name} must be within [{low:g}, {high:g}]; got {value!r}")
        if high is not None:
            raise ParameterError(f"{name} must be <= {high:g}; got {value!r}")
        op = ">" if low_open else ">="
        raise ParameterError(f"{name} must be {op} {low:g}; got {value!r}")


def _as_date(value, name: str) -> np.datetime64:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a date (YYYY-MM-DD); got {value!r}") from None
    if pd.isna(ts):
        raise ParameterError(f"{name} must be a date (YYYY-MM-DD); got {value!r}")
    return np.datetime64(ts.date(), "D")


# --------------------------------------------------------------------------------------------
# calendar
# --------------------------------------------------------------------------------------------
def calendar_weights(days, *, params: SimulationParams | None = None) -> np.ndarray:
    """Relative order intensity of each day (season x weekday x month/quarter-end peak).

    Parameters
    ----------
    days : array_like of datetime64[D]
        The days.
    params : SimulationParams, optional
        Calendar parameters; defaults when None.

    Returns
    -------
    ndarray of float
        Weight of each day [dimensionless]. Within a calendar month the weekday and peak
        factors average 1, so a month's mean weight is its season weight (season mean 1):
        a full year averages 1 and ``lambda`` keeps its meaning of orders per year.

    Examples
    --------
    >>> w = calendar_weights(np.arange("2025-01", "2026-01", dtype="datetime64[D]"))
    >>> round(float(w.mean()), 2)
    1.0
    """
    p = params or SimulationParams()
    d = np.asarray(days, dtype="datetime64[D]")
    season = np.asarray(p.season, dtype=float)
    season = season / season.mean()
    month = d.astype("datetime64[M]")
    # normalise the weekday x peak factor within each calendar month over all its days
    m0, m1 = month.min(), month.max()
    full = np.arange(m0.astype("datetime64[D]"), (m1 + 1).astype("datetime64[D]"))
    code = (full.astype("datetime64[M]") - m0).astype(int)
    mean = np.bincount(code, weights=_raw_calendar(full, p)) / np.bincount(code)
    return season[month.astype(int) % 12] * _raw_calendar(d, p) / mean[(month - m0).astype(int)]


def _raw_calendar(d: np.ndarray, p: SimulationParams) -> np.ndarray:
    """Weekday weight x month/quarter-end peak of each day (not normalised)."""
    month = d.astype("datetime64[M]")
    wd = (d.astype(int) + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    # business days from d (inclusive) to the month's end
    left = np.busday_count(d, (month + 1).astype("datetime64[D]"))
    zone = np.is_busday(d) & (left <= p.peak_days)
    quarter_end = (month.astype(int) % 12) % 3 == 2
    peak = np.where(zone, np.where(quarter_end, p.quarter_end_peak, p.month_end_peak), 1.0)
    return np.asarray(p.weekday_weights, dtype=float)[wd] * peak


def _window(start, end) -> tuple[np.datetime64, np.datetime64]:
    s, e = _as_date(start, "start"), _as_date(end, "end")
    if e < s:
        raise ParameterError(f"end ({e}) is before start ({s})")
    return s, e
