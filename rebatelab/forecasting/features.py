"""Features of the learned forecast: what each unit's history says at a cut-off day.

A *unit* is what tiers are measured on (a customer, or a buying group for pooled
programs), as in :mod:`rebatelab.forecasting.projection`. Its history is the per
(unit, day) sum of stage one's daily sums (:attr:`rebatelab.engine.stage_one.Reduction.daily`):
no invoice line is read here. :class:`UnitHistory` holds cumulative sums of that history so
that the sum over any window of days, for any number of (unit, cut-off) queries, is two
binary searches (no loop over units or days).

:func:`unit_features` gives the features of (unit, cut-off) pairs that do not depend on the
threshold; :func:`gap_features` adds those that depend on the gap to it. Every gap feature
is monotone in the gap, in the direction given by :data:`GAP_MONOTONE`, so that a model
constrained to be monotone in each of them is monotone in the gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rebatelab.forecasting import spend_models as sm

__all__ = [
    "UnitHistory",
    "unit_history",
    "unit_features",
    "gap_features",
    "UNIT_FEATURES",
    "GAP_FEATURES",
    "GAP_MONOTONE",
    "PopulationFit",
    "fit_population",
]


#: Names of the threshold-free features (columns of :func:`unit_features`).
UNIT_FEATURES = (
    "log_basis_to_date",
    "days_left",
    "share_elapsed",
    "log_spend_30",
    "log_spend_90",
    "log_spend_180",
    "orders_30",
    "orders_90",
    "orders_180",
    "log_spend_last_R",
    "orders_last_R",
    "orders_total",
    "log_gross_total",
    "tenure",
    "recency",
    "returns_share",
    "log_last_period",
    "p_alive",
    "expected_orders",
    "log_expected_spend",
    "is_quantity",
)

#: Names of the gap features (columns of :func:`gap_features`).
GAP_FEATURES = (
    "log_gap",
    "relative_gap",
    "log_gap_over_last_R",
    "log_gap_over_run_rate",
    "log_expected_over_gap",
    "log_last_period_over_threshold",
)

#: Direction of P(reach) in each gap feature: -1 the feature grows with the gap, +1 it shrinks.
GAP_MONOTONE = (-1, -1, -1, -1, 1, 1)


def _slog(x):
    """Signed ``log(1 + |x|)``: keeps the sign of net sums (returns make them negative)."""
    x = np.asarray(x, dtype=float)
    return np.sign(x) * np.log1p(np.abs(x))


@dataclass(frozen=True)
class UnitHistory:
    """Cumulative sums of per (unit, day) basis sums, sorted by unit then day.

    Attributes
    ----------
    unit, day, value : ndarray
        The (unit, day) sums [basis unit]; ``day`` in days since 1970-01-01.
    n_units : int
    first_day : int
        First day of the whole history (the earliest day any unit could have bought).
    """

    unit: np.ndarray
    day: np.ndarray
    value: np.ndarray
    n_units: int
    first_day: int

    @property
    def _span(self) -> int:
        return int(self.day.max(initial=self.first_day)) - self.first_day + 3

    def _rel(self, day):
        return np.clip(np.asarray(day, dtype=np.int64) - self.first_day + 1, 0, self._span - 1)

    def _keys(self, unit, day):
        return np.asarray(unit, dtype=np.int64) * self._span + self._rel(day)

    def _cum(self):
        cache = self.__dict__.get("_cache")
        if cache is None:
            key = self._keys(self.unit, self.day)
            pos = self.value > 0
            cache = {
                "key": key,
                "net": np.concatenate([[0.0], np.cumsum(self.value)]),
                "gross": np.concatenate([[0.0], np.cumsum(np.where(pos, self.value, 0.0))]),
                "orders": np.concatenate([[0], np.cumsum(pos)]),
                "pkey": key[pos],
                "punit": self.unit[pos],
                "pday": self.day[pos],
            }
            object.__setattr__(self, "_cache", cache)
        return cache

    def upto(self, unit, day, what: str = "net") -> np.ndarray:
        """Sum of ``what`` (net, gross or orders) over the unit's days ``<= day``."""
        c = self._cum()
        i = np.searchsorted(c["key"], self._keys(unit, day), side="right")
        first = np.searchsorted(c["key"], np.asarray(unit, dtype=np.int64) * self._span)
        return c[what][i] - c[what][first]

    def window(self, unit, lo, hi, what: str = "net") -> np.ndarray:
        """Sum of ``what`` over the unit's days in ``(lo, hi]``."""
        c = self._cum()
        i_hi = np.searchsorted(c["key"], self._keys(unit, hi), side="right")
        i_lo = np.searchsorted(c["key"], self._keys(unit, lo), side="right")
        return c[what][i_hi] - c[what][np.minimum(i_lo, i_hi)]

    def orders_span(self, unit, day):
        """First and last order day (positive basis) ``<= day``; -1 when none."""
        c = self._cum()
        unit = np.asarray(unit, dtype=np.int64)
        if not len(c["pkey"]):
            return np.full(unit.size, -1), np.full(unit.size, -1)
        i = np.searchsorted(c["pkey"], self._keys(unit, day), side="right") - 1
        ok = (i >= 0) & (c["punit"][np.maximum(i, 0)] == unit)
        last = np.where(ok, c["pday"][np.maximum(i, 0)], -1)
        j = np.minimum(np.searchsorted(c["pkey"], unit * self._span), len(c["pkey"]) - 1)
        first = np.where(ok, c["pday"][j], -1)
        return first, last


def unit_history(unit_of_row, member_days, values, days, n_units: int, first_day: int):
    """Sum member days into unit days: a :class:`UnitHistory`.

    Parameters
    ----------
    unit_of_row : ndarray of int
        Unit of each member (accrual) row.
    member_days : ndarray of int
        Member row of each daily sum.
    values, days : ndarray
        The daily sums [basis unit] and their days [days since 1970-01-01].
    n_units : int
    first_day : int
    """
    u = np.asarray(unit_of_row, dtype=np.int64)[np.asarray(member_days, dtype=np.int64)]
    d = np.asarray(days, dtype=np.int64)
    span = int(d.max(initial=first_day)) - first_day + 1
    key = u * span + (d - first_day)
    uk, inv = np.unique(key, return_inverse=True)
    val = np.bincount(inv, weights=values, minlength=uk.size)
    return UnitHistory(uk // span, uk % span + first_day, val, n_units, first_day)


@dataclass(frozen=True)
class PopulationFit:
    """BG/NBD and Gamma-Gamma population parameters per basis (net sales, quantity)."""

    bgnbd: dict
    gamma_gamma: dict


def _summ(h: UnitHistory, unit, cut):
    n_orders = h.upto(unit, cut, "orders").astype(float)
    gross = h.upto(unit, cut, "gross")
    first, last = h.orders_span(unit, cut)
    x = np.maximum(n_orders - 1, 0)
    T = np.where(n_orders > 0, cut - first + 1.0, 0.0)
    t_x = np.where(n_orders > 0, last - first + 0.0, 0.0)
    return n_orders, gross, first, last, x, t_x, T


def fit_population(h: UnitHistory, unit, cut, is_qty, *, max_units: int = 4000) -> PopulationFit:
    """Fit BG/NBD and Gamma-Gamma once per basis on units' histories up to ``cut``.

    At most ``max_units`` units with orders per basis, drawn with a fixed seed.
    """
    bg, gg = {}, {}
    rng = np.random.default_rng(0)
    for q in (False, True):  # the two bases
        sel = np.flatnonzero(np.asarray(is_qty) == q)
        if sel.size == 0:
            continue
        n, gross, _, _, x, t_x, T = _summ(h, unit[sel], cut[sel])
        ok = np.flatnonzero(n >= 1)
        if ok.size > max_units:
            ok = np.sort(rng.choice(ok, max_units, replace=False))
        if ok.size < 10:
            continue
        bg[q] = sm.fit_bgnbd(x[ok], t_x[ok], T[ok])
        gg[q] = sm.fit_gamma_gamma(n[ok], gross[ok] / n[ok])
    return PopulationFit(bg, gg)


def unit_features(
    h: UnitHistory, unit, cut, start, length, days_left, is_qty, pop: PopulationFit, *, b0=None
):
    """Threshold-free features of (unit, cut-off) pairs, shape (n, len(UNIT_FEATURES)).

    Parameters
    ----------
    h : UnitHistory
    unit, cut, start, length, days_left : ndarray of int, shape (n,)
        Unit, cut-off day (history up to and including it), first day of the (pseudo-)period,
        its length [days], and the days of it left after the cut.
    is_qty : ndarray of bool
        Whether the unit's program is measured in quantity.
    pop : PopulationFit
    b0 : ndarray, optional
        Basis to date [basis unit]; by default the history's sum over ``[start, cut]``.

    Returns
    -------
    X : ndarray of float, shape (n, 21)
    extra : dict
        ``b0``, ``spend_R`` (spend in the last ``days_left`` days), ``run_rate`` (spend of
        the last 180 days scaled to ``days_left``), ``expected_spend``, ``last_period``
        (basis of the previous period of the same length, NaN when the history does not
        cover it) [basis unit] and ``n_orders``.
    """
    unit = np.asarray(unit, dtype=np.int64)
    cut = np.asarray(cut, dtype=np.int64)
    start = np.asarray(start, dtype=np.int64)
    length = np.asarray(length, dtype=np.int64)
    R = np.asarray(days_left, dtype=np.int64)
    if b0 is None:
        b0 = h.window(unit, start - 1, cut)
    b0 = np.asarray(b0, dtype=float)
    cols = {}
    cols["log_basis_to_date"] = _slog(b0)
    cols["days_left"] = R.astype(float)
    cols["share_elapsed"] = (cut - start + 1) / np.maximum(length, 1)
    for w in (30, 90, 180):
        cols[f"log_spend_{w}"] = _slog(h.window(unit, cut - w, cut))
        cols[f"orders_{w}"] = h.window(unit, cut - w, cut, "orders").astype(float)
    spend_r = h.window(unit, cut - R, cut)
    cols["log_spend_last_R"] = _slog(spend_r)
    cols["orders_last_R"] = h.window(unit, cut - R, cut, "orders").astype(float)
    n, gross, first, last, x, t_x, T = _summ(h, unit, cut)
    net_total = h.upto(unit, cut)
    cols["orders_total"] = n
    cols["log_gross_total"] = np.log1p(gross)
    has = n > 0
    cols["tenure"] = np.where(has, cut - first + 1.0, np.nan)
    cols["recency"] = np.where(has, cut - last + 0.0, np.nan)
    safe = np.where(gross > 0, gross, 1.0)
    cols["returns_share"] = np.where(gross > 0, np.clip((gross - net_total) / safe, 0, 1), np.nan)
    covered = start - length >= h.first_day
    last_p = np.where(covered, h.window(unit, start - length - 1, start - 1), np.nan)
    cols["log_last_period"] = _slog(last_p)
    p_alive = np.full(len(unit), np.nan)
    e_orders = np.zeros(len(unit))
    e_value = np.zeros(len(unit))
    for q in (False, True):  # the two bases
        sel = (np.asarray(is_qty) == q) & has
        if q not in pop.bgnbd or not sel.any():
            continue
        bg, gg = pop.bgnbd[q], pop.gamma_gamma[q]
        p_alive[sel] = sm.bgnbd_p_alive(x[sel], t_x[sel], T[sel], params=bg)
        # alive x posterior rate x days left (defined for every BG/NBD fit, unlike the
        # closed-form expectation, which needs a > 1)
        e_orders[sel] = p_alive[sel] * (bg.r + x[sel]) / (bg.alpha + T[sel]) * R[sel]
        if gg.q > 1:
            e_value[sel] = sm.gamma_gamma_expected_value(n[sel], gross[sel] / n[sel], params=gg)
        else:
            e_value[sel] = gross[sel] / n[sel]
    keep = np.where(gross > 0, np.clip(net_total / safe, 0, 1), 1.0)
    e_spend = e_orders * e_value * keep
    cols["p_alive"] = p_alive
    cols["expected_orders"] = e_orders
    cols["log_expected_spend"] = np.log1p(np.maximum(e_spend, 0.0))
    cols["is_quantity"] = np.asarray(is_qty, dtype=float)
    # -1 for "not defined" (no order yet, history shorter than a period): every feature is
    # >= 0 where defined, and a column with no defined value stays usable
    X = np.nan_to_num(np.column_stack([cols[c] for c in UNIT_FEATURES]), nan=-1.0)
    X = X.astype(np.float32)
    run_rate = h.window(unit, cut - 180, cut) * R / 180.0
    extra = dict(
        b0=b0,
        spend_R=spend_r,
        run_rate=run_rate,
        expected_spend=e_spend,
        last_period=last_p,
        n_orders=n,
    )
    return X, extra


def gap_features(extra: dict, rows, gap) -> np.ndarray:
    """Gap features of (pair row, gap) pairs, shape (m, len(GAP_FEATURES)).

    Parameters
    ----------
    extra : dict
        :func:`unit_features`' second output.
    rows : ndarray of int, shape (m,)
        Row of :func:`unit_features` of each pair.
    gap : ndarray, shape (m,)
        Threshold minus basis to date [basis unit], > 0.

    Each column is monotone in the gap in the direction of :data:`GAP_MONOTONE`.
    """
    g = np.maximum(np.asarray(gap, dtype=float), 1e-9)
    b0p = np.maximum(extra["b0"][rows], 0.0)
    lg = np.log(g)
    out = np.column_stack(
        [
            lg,
            g / (b0p + g),
            lg - np.log1p(np.maximum(extra["spend_R"][rows], 0.0)),
            lg - np.log1p(np.maximum(extra["run_rate"][rows], 0.0)),
            np.log1p(np.maximum(extra["expected_spend"][rows], 0.0)) - lg,
            _slog(extra["last_period"][rows]) - np.log(b0p + g),
        ]
    )
    # no last period in the history: a constant, below any defined value (still monotone)
    return np.nan_to_num(out, nan=-50.0).astype(np.float32)
