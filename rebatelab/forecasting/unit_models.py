"""Spend models of the forecast units: the order counts and order values still to come.

End-of-period basis = basis to date + spend still to come. The spend to come of a forecast
*unit* (a customer, or a buying group for pooled programs) is modelled as

``B_end = b0 + f * S``,  ``S = X_1 + ... + X_N``,

where ``b0`` is the unit's basis to date, ``N`` the number of future order days, ``X_i`` their
gross values (currency, or units for quantity programs) and ``f`` the share kept after
returns. This module fits, per program, the models of ``N`` and ``X_i`` from each unit's
daily history (:func:`unit_models`), and returns them as one
:class:`~rebatelab.forecasting.spend_forecast.SpendForecast`; the distribution of ``S`` is
exact (:mod:`rebatelab.forecasting.compound`).

Methods
-------
``hierarchical`` (default)
    Empirical-Bayes buy-till-you-die model fitted per program on the whole history of its
    members (before and inside the period):

    - purchase rates are gamma across units; each unit's posterior uses its repeat orders
      *discounted* with age (weight ``exp(-age / tau)``), so that recent behaviour counts
      more; the population shape, rate and ``tau`` are fitted by maximizing the
      *predictive* likelihood of the counts observed in the last window of the same length
      as the forecast horizon (a pseudo-forecast made from the history alone);
    - dropout as in BG/NBD (beta-geometric after each purchase; ``P(alive)`` from a BG/NBD
      fit), including dropout during the horizon;
    - units without any order so far get a negative-binomial count fitted to how often such
      units started buying in that calibration window;
    - order values: Gamma-Gamma with each unit's posterior (sparse units shrink toward the
      population); the uncertainty of the unit's mean value is kept (beta-prime sums);
    - returns: the share of gross purchases kept, shrunk toward the population's;
    - seasonality: when the history covers the same dates one year earlier, the horizon's
      exposure is multiplied by last year's ratio of the order rate in the horizon to the
      order rate over the preceding 91 days.

``bgnbd``
    The reference: BG/NBD counts and Gamma-Gamma values, fitted per program by maximum
    likelihood, exact conditional count distribution. Units without orders get none.
    Returns are ignored (textbook model).

``run_rate``
    The naive baseline: Poisson number of orders at the unit's order rate so far in the
    period, exponential order values of its mean order value in the period, net of the
    period's returns.

References
----------
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005a). "Counting your customers" the easy
way: An alternative to the Pareto/NBD model. *Marketing Science* 24(2), 275-284.
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005b). RFM and CLV: Using iso-value curves
for customer base analysis. *Journal of Marketing Research* 42(4), 415-430.
West, M. and Harrison, J. (1997). *Bayesian Forecasting and Dynamic Models*, 2nd ed.,
Springer, ch. 10 (discount factors for Poisson-gamma rates).
Gneiting, T. and Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and
estimation. *JASA* 102(477), 359-378.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from rebatelab.errors import DataValidationError
from rebatelab.forecasting import spend_models as sm
from rebatelab.forecasting.counts import CountDistribution, negbin_counts, poisson_counts
from rebatelab.forecasting.spend_forecast import SpendForecast

__all__ = ["METHODS", "UnitDays", "unit_models", "expand_days"]


#: The spend models (see the module notes); ``hierarchical`` is the default.
METHODS = ("hierarchical", "bgnbd", "run_rate")


_SEASON_REF_DAYS = 91


#: Fewest units with orders a program needs to fit its own population.
_MIN_UNITS = 10


# --------------------------------------------------------------------------------------------
# History summaries per unit (vectorized over the (unit, day) table)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UnitDays:
    """Per (unit, day) basis sums [basis unit], sorted by unit then day.

    ``day`` counts days since 1970-01-01; ``n_units`` is the number of units (some may have
    no day).
    """

    unit: np.ndarray
    day: np.ndarray
    value: np.ndarray
    n_units: int


def _date(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def _ascending(a: np.ndarray, *, strict: bool = False) -> bool:
    return bool(np.all(a[1:] > a[:-1])) if strict else bool(np.all(a[1:] >= a[:-1]))


def _positions_in(keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions of the elements of ascending ``keys`` equal to one of ascending ``rows``.

    ``np.flatnonzero(np.isin(keys, rows))`` by binary search (each row's elements are one
    run of ``keys``), in the same increasing order.
    """
    lo = np.searchsorted(keys, rows, side="left")
    width = np.searchsorted(keys, rows, side="right") - lo
    return np.repeat(lo - np.cumsum(width) + width, width) + np.arange(width.sum())


def _summaries(d: UnitDays, cutoff: int) -> dict[str, np.ndarray]:
    """Orders (days with positive basis) and returns per unit, from days <= cutoff."""
    keep = d.day <= cutoff
    u, day, v = d.unit[keep], d.day[keep], d.value[keep]
    n = d.n_units
    pos = v > 0
    n_orders = np.bincount(u[pos], minlength=n).astype(float)
    gross = np.bincount(u[pos], weights=v[pos], minlength=n)
    ret = -np.bincount(u[~pos], weights=v[~pos], minlength=n)
    first = np.full(n, cutoff, dtype=np.int64)
    last_tmp = np.full(n, np.iinfo(np.int64).min)
    up, dp = u[pos], day[pos]
    # sorted by unit then day (as UnitDays are): a unit's first and last order end its run
    ordered = _ascending(up) and bool(np.all(np.where(np.diff(up) == 0, np.diff(dp), 0) >= 0))
    if ordered:
        run = np.flatnonzero(np.diff(up)) + 1
        starts, ends = np.r_[0, run], np.r_[run - 1, up.size - 1]
        if up.size:
            first[up[starts]] = np.minimum(first[up[starts]], dp[starts])
            last_tmp[up[ends]] = dp[ends]
    else:
        np.minimum.at(first, up, dp)
        np.maximum.at(last_tmp, up, dp)
    last = np.where(n_orders > 0, last_tmp, first)
    x = np.maximum(n_orders - 1, 0)
    T = np.where(n_orders > 0, cutoff - first + 1.0, 0.0)
    t_x = np.where(n_orders > 0, last - first + 0.0, 0.0)
    return dict(
        n_orders=n_orders,
        gross=gross,
        returns=ret,
        first=first,
        last=last,
        x=x,
        t_x=t_x,
        T=T,
        order_unit=up,
        order_day=dp,
        order_value=v[pos],
        ordered=ordered,
    )


def _discounted(s: dict, cutoff: int, tau: float, n: int):
    """Discounted repeat count and exposure (weights exp(-age / tau))."""
    u, day = s["order_unit"], s["order_day"]
    repeat = day > s["first"][u]
    w = np.exp(-(cutoff - day[repeat]) / tau)
    xw = np.bincount(u[repeat], weights=w, minlength=n)
    age = np.where(s["n_orders"] > 0, cutoff - s["first"] + 1.0, 0.0)
    tw = tau * -np.expm1(-age / tau)
    return xw, tw


def _discounter(s: dict, cutoff: int, units: np.ndarray):
    """:func:`_discounted` restricted to ``units`` (units with orders), as a function of tau.

    The parts that do not depend on ``tau`` (repeat orders, their ages, the units' ages) are
    computed once, and the sums run over the orders of ``units`` only; the values are those
    of ``_discounted(s, cutoff, tau, n)`` at ``units``, to the last bit (the same sums in
    the same order).
    """
    u, day = s["order_unit"], s["order_day"]
    where = np.full(s["n_orders"].size, -1, dtype=np.int64)
    where[units] = np.arange(units.size)
    if s.get("ordered") and _ascending(units, strict=True):
        # the units' orders only (runs of the sorted orders), in the same order
        mine = _positions_in(u, units)
        u, day = u[mine], day[mine]
        repeat = day > s["first"][u]
    else:
        repeat = (day > s["first"][u]) & (where[u] >= 0)
    pos = where[u[repeat]]
    neg_age = -(cutoff - day[repeat])
    neg_life = -np.where(s["n_orders"] > 0, cutoff - s["first"] + 1.0, 0.0)[units]

    def at(tau: float):
        xw = np.bincount(pos, weights=np.exp(neg_age / tau), minlength=units.size)
        tw = tau * -np.expm1(neg_life / tau)
        return xw, tw

    return at


def _seasonal_factor(d: UnitDays, units, *, cutoff: int, horizon: int, first_day: int) -> float:
    """Last year's order rate in the horizon over its average rate in the year before.

    The unit rates are averages over the units' history, so the factor compares the
    horizon a year earlier with the (up to) 365 days before that date. It is measured on the
    panel of units that bought both in the first half of that reference window and after the
    horizon, so that customers arriving or leaving do not pass for season. Needs at least 91
    days of reference; 1 otherwise.
    """
    ly = cutoff - 365
    ref = min(365, ly - first_day)
    if horizon <= 0 or ref < _SEASON_REF_DAYS:
        return 1.0
    pos = (d.value > 0) & (d.day <= cutoff)
    if units is not None:  # None: d holds the panel's units only
        pos &= np.isin(d.unit, units)
    u, day = d.unit[pos], d.day[pos]
    early = np.zeros(d.n_units, dtype=bool)
    late = np.zeros(d.n_units, dtype=bool)
    early[u[(day > ly - ref) & (day <= ly - ref // 2)]] = True
    late[u[day > ly + horizon]] = True
    panel = (early & late)[u]
    day = day[panel]
    ahead = np.sum((day > ly) & (day <= ly + horizon)) / horizon
    before = np.sum((day > ly - ref) & (day <= ly)) / ref
    if before <= 0 or ahead <= 0 or panel.sum() < 50:
        return 1.0
    return float(np.clip(ahead / before, 0.2, 5.0))


# --------------------------------------------------------------------------------------------
# Per-method unit models
# --------------------------------------------------------------------------------------------
def _fit_values(s: dict, rows: np.ndarray):
    """Gamma-Gamma fit on the units with orders among ``rows`` (all orders count)."""
    ok = rows[s["n_orders"][rows] >= 1]
    if ok.size < 5:
        return sm.GammaGammaParams(
            1.0,
            3.0,
            2.0
            * max(
                float(np.mean(s["gross"][ok] / np.maximum(s["n_orders"][ok], 1)))
                if ok.size
                else 1.0,
                1e-9,
            ),
        )
    m = s["gross"][ok] / s["n_orders"][ok]
    gg = sm.fit_gamma_gamma(s["n_orders"][ok], m)
    if gg.q <= 2.0:
        # keep a finite variance of the order-value rate, and the population mean order value
        # (the data's mean when the fitted one is infinite, q <= 1)
        q2 = 2.0 + 1e-6
        pop = gg.p * gg.gamma / (gg.q - 1) if gg.q > 1 else float(np.average(m, weights=None))
        gg = sm.GammaGammaParams(gg.p, q2, pop * (q2 - 1) / gg.p, gg.loglik)
    return gg


def _fit_bgnbd(s: dict, rows: np.ndarray) -> sm.BGNBDParams | None:
    ok = rows[s["n_orders"][rows] >= 1]
    if ok.size < _MIN_UNITS:
        return None
    return sm.fit_bgnbd(s["x"][ok], s["t_x"][ok], s["T"][ok])


def _predictive_fit(
    cal: dict, y: np.ndarray, rows: np.ndarray, bg: sm.BGNBDParams, cutoff: int, t: float, n: int
) -> float:
    """Fit the discount time ``tau`` [days] by the likelihood of the counts seen after the cutoff.

    The population prior of the rates stays the BG/NBD maximum-likelihood one (r, alpha), so
    that units with little history are shrunk toward the population.
    """
    ok = rows[cal["n_orders"][rows] >= 1]
    x, tx, T = cal["x"][ok], cal["t_x"][ok], cal["T"][ok]
    alive = sm.bgnbd_p_alive(x, tx, T, params=bg)
    yy = y[ok]
    discounted = _discounter(cal, cutoff, ok)
    # sm.dropout_pmf(yy, t, lam_shape=.., lam_rate=.., drop_a=bg.a, drop_b=bg.b + x, alive=alive)
    pmf = sm._dropout_pmf_of_rates(yy, t, drop_a=bg.a, drop_b=bg.b + x, alive=alive)

    def nll(z):
        tau = float(np.exp(z))
        xw, tw = discounted(tau)
        p = pmf(bg.r + xw, bg.alpha + tw)
        v = -np.mean(np.log(np.maximum(p, 1e-300)))
        return v if np.isfinite(v) else 1e100

    res = optimize.minimize_scalar(
        nll, bounds=(np.log(7.0), np.log(1e5)), method="bounded", options={"xatol": 1e-3}
    )
    return float(np.exp(res.x))


def _newcomer_fit(cal: dict, y: np.ndarray, rows: np.ndarray):
    """Negative binomial (mean, shape) of counts after the cutoff of units with no order yet."""
    none = rows[cal["n_orders"][rows] == 0]
    if none.size == 0:
        return 0.0, 1.0
    yy = y[none]
    m = float(yy.mean())
    v = float(yy.var())
    shape = m * m / (v - m) if v > m * (1 + 1e-9) else 1e6
    return m, float(max(shape, 1e-3))


def _concat(parts: list[tuple[np.ndarray, CountDistribution]], n: int) -> CountDistribution:
    """The parts' distributions as one, terms grouped by row (each row's terms in order).

    Grouped once here, the compound series need not sort the terms at each evaluation
    (:func:`rebatelab.forecasting.compound._sorted_terms`); a stable sort keeps the order of
    every row's terms, so all sums over them are unchanged.
    """
    rows, cnt, prob = [], [], []
    mean = np.zeros(n)
    for idx, c in parts:  # loop over parts (programs and newcomers)
        rows.append(idx[c.row])
        cnt.append(c.count)
        prob.append(c.prob)
        mean[idx] = c.mean
    row, count, pr = np.concatenate(rows), np.concatenate(cnt), np.concatenate(prob)
    if row.size and np.any(row[1:] < row[:-1]):
        order = np.argsort(row, kind="stable")
        row, count, pr = row[order], count[order], pr[order]
    return CountDistribution(row, count, pr, n, mean)


def _history_key(d: UnitDays, rows: np.ndarray, h: float, method: str) -> tuple:
    """Content key of the units' histories (positions within ``rows``, days, values)."""
    if _ascending(rows, strict=True) and _ascending(d.unit):
        sel = _positions_in(d.unit, rows)
    else:
        sel = np.flatnonzero(np.isin(d.unit, rows))
    rel = np.searchsorted(rows, d.unit[sel])
    digest = hash((rel.tobytes(), d.day[sel].tobytes(), d.value[sel].tobytes(), rows.size))
    return digest, h, method


def _population_fit(
    d: UnitDays, s: dict, fit_rows, as_of_day: int, h: float, first_day: int, method: str, n: int
) -> dict:
    """Population parameters of one program (BG/NBD, Gamma-Gamma, and more by default).

    For the default method also the predictive discount, the seasonal factors and the
    newcomer count model.
    """
    out = {"bg": _fit_bgnbd(s, fit_rows), "gg": _fit_values(s, fit_rows)}
    if method != "hierarchical" or out["bg"] is None:
        return out
    # calibration window: the horizon's length, but leave as much history before it
    hc = int(max(min(h, (as_of_day - first_day) // 2), 7))
    cutoff = as_of_day - hc
    # the fitting units' days only (per-unit summaries are the same; other programs' copies of
    # the same histories would only slow the discount fit down)
    mine = np.zeros(n, dtype=bool)
    mine[fit_rows] = True
    keep = mine[d.unit]
    d = UnitDays(d.unit[keep], d.day[keep], d.value[keep], n)  # the fitting units' days
    cal = _summaries(d, cutoff)
    after = (d.day > cutoff) & (d.day <= as_of_day) & (d.value > 0)
    y = np.bincount(d.unit[after], minlength=n).astype(float)
    bg_cal = _fit_bgnbd(cal, fit_rows)
    season_cal = _seasonal_factor(d, None, cutoff=cutoff, horizon=hc, first_day=first_day)
    if bg_cal is None or cutoff - first_day < 14:
        tau = 1e6
    else:
        tau = _predictive_fit(cal, y, fit_rows, bg_cal, cutoff, hc * season_cal, n)
    m0, r0 = _newcomer_fit(cal, y, fit_rows)
    season = _seasonal_factor(d, None, cutoff=as_of_day, horizon=int(h), first_day=first_day)
    out.update(tau=tau, season=season, season_cal=season_cal, hc=hc, m0=m0, r0=r0)
    return out


def unit_models(
    d: UnitDays,
    unit_prog: np.ndarray,
    horizon: np.ndarray,
    b0: np.ndarray,
    period_first: np.ndarray,
    as_of_day: int,
    method: str,
    prog_ids: list[str],
    unit_qty: np.ndarray,
    tol: float,
    rep_unit: np.ndarray | None = None,
) -> SpendForecast:
    """Fit the spend models of every program's units: the end-basis law of each unit.

    Parameters
    ----------
    d : UnitDays
        Per (unit, day) basis sums over the whole history up to ``as_of_day``.
    unit_prog : ndarray of int, shape (n,)
        Program (position in the program set) of each unit.
    horizon : ndarray of float, shape (n,)
        Days of the unit's period still to come after ``as_of_day`` [days].
    b0 : ndarray of float, shape (n,)
        Basis to date [basis unit].
    period_first : ndarray of int, shape (n,)
        First day of the unit's period [days since 1970-01-01].
    as_of_day : int
        The as-of day [days since 1970-01-01].
    method : {"hierarchical", "bgnbd", "run_rate"}
    prog_ids : list of str
        Program ids, for the fitted parameters and messages.
    unit_qty : ndarray of bool, shape (n,)
        Whether the unit's program is measured in quantity.
    tol : float
        Probability mass of the order count left out per unit.
    rep_unit : ndarray of int, shape (n,), optional
        A unit with the same model (or the unit itself); represented units are not fitted
        but copied from their representative.

    Returns
    -------
    SpendForecast
        One row per unit.

    Raises
    ------
    DataValidationError
        A program with fewer than ten units that ever bought, even pooling the programs of
        its basis.
    """
    n = d.n_units
    rep_unit = np.arange(n) if rep_unit is None else rep_unit
    represented = rep_unit != np.arange(n)
    s = _summaries(d, as_of_day)
    first_day = int(d.day.min()) if d.day.size else as_of_day
    params: dict = {}
    shape = np.ones(n)
    scale = np.ones(n)
    mix_q = np.full(n, 3.0)
    mix_g = np.ones(n)
    factor = np.ones(n)
    parts = []
    memo: dict = {}
    for pi in np.unique(unit_prog):  # loop over programs
        rows = np.flatnonzero(unit_prog == pi)
        if represented[rows[0]]:  # same model as an earlier program: copied below
            continue
        h = float(horizon[rows[0]])
        pid = prog_ids[pi]
        if h <= 0:  # the period has ended: nothing more to come, no model needed
            parts.append((rows, poisson_counts(np.zeros(rows.size), tol=tol)))
            params[pid] = {"horizon_days": 0.0}
            continue
        if np.sum(s["n_orders"][rows] >= 1) < _MIN_UNITS:
            # too few units to fit a population: borrow it from the programs of the same basis
            fit_rows = np.flatnonzero(unit_qty == unit_qty[rows[0]])
        else:
            fit_rows = rows
        if method == "run_rate":
            inper = d.day >= period_first[rows[0]]
            sub = UnitDays(d.unit[inper], d.day[inper], d.value[inper], n)
            ps = _summaries(sub, as_of_day)
            elapsed = max(as_of_day - int(period_first[rows[0]]) + 1, 1)
            no = ps["n_orders"][rows]
            rate = no / elapsed
            mval = np.where(no > 0, ps["gross"][rows] / np.maximum(no, 1), 1.0)
            scale[rows] = np.maximum(mval, 1e-9)
            kept = ps["gross"][rows] - ps["returns"][rows]
            factor[rows] = np.where(
                ps["gross"][rows] > 0,
                np.clip(kept / np.maximum(ps["gross"][rows], 1e-300), 0, 1),
                1.0,
            )
            parts.append((rows, poisson_counts(rate * h, tol=tol)))
            params[pid] = {"horizon_days": h}
            continue
        key = _history_key(d, fit_rows, h, method)
        if key not in memo:  # programs with identical histories share one fit
            memo[key] = _population_fit(d, s, fit_rows, as_of_day, h, first_day, method, n)
        fit = memo[key]
        bg, gg = fit["bg"], fit["gg"]
        shape[rows] = gg.p
        has = s["n_orders"][rows] >= 1
        m = np.where(has, s["gross"][rows] / np.maximum(s["n_orders"][rows], 1), 0.0)
        q, g = sm.gamma_gamma_posterior(s["n_orders"][rows], m, params=gg)
        mix_q[rows], mix_g[rows] = q, g
        if bg is None:
            raise DataValidationError(
                f"program {pid}: not enough purchase history to forecast: fewer than "
                f"{_MIN_UNITS} customers (or pools) bought its eligible products before "
                f"{_date(as_of_day)}, even counting every program of its basis "
                f"({'quantity' if unit_qty[rows[0]] else 'net_sales'})"
            )
        if method == "bgnbd":
            c = sm.bgnbd_counts(
                np.where(has, h, 0.0),
                s["x"][rows],
                s["t_x"][rows],
                s["T"][rows],
                params=bg,
                tol=tol,
            )
            parts.append((rows, c))
            params[pid] = {"bgnbd": bg, "gamma_gamma": gg, "horizon_days": h}
            continue
        # hierarchical
        tau, season, season_cal = fit["tau"], fit["season"], fit["season_cal"]
        hc, m0, r0 = fit["hc"], fit["m0"], fit["r0"]
        r_h, a_h = bg.r, bg.alpha
        t_eff = h * season
        alive = sm.bgnbd_p_alive(s["x"][rows], s["t_x"][rows], s["T"][rows], params=bg)
        old = rows[has]
        new = rows[~has]
        if old.size:
            xw, tw = _discounter(s, as_of_day, old)(tau)  # _discounted(s, as_of_day, tau, n)[old]
            c_old = sm.dropout_counts(
                np.full(old.size, t_eff),
                lam_shape=r_h + xw,
                lam_rate=a_h + tw,
                drop_a=bg.a,
                drop_b=bg.b + s["x"][old],
                alive=alive[has],
                tol=tol,
            )
            parts.append((old, c_old))
        if new.size:
            mean_new = np.full(new.size, m0 * (h / hc) * (season / season_cal))
            parts.append((new, negbin_counts(mean_new, shape=r0, tol=tol)))
        # returns: share kept, shrunk toward the program's population
        g_all, r_all = s["gross"][rows], s["returns"][rows]
        rho0 = float(np.clip(r_all.sum() / max(g_all.sum(), 1e-300), 0.0, 0.95))
        prior = 5.0 * float(np.mean(m[has])) if has.any() else 1.0
        rho = (r_all + rho0 * prior) / (g_all + prior)
        factor[rows] = np.clip(1.0 - rho, 0.0, 1.0)
        params[pid] = {
            "bgnbd": bg,
            "gamma_gamma": gg,
            "r": r_h,
            "alpha": a_h,
            "tau_days": tau,
            "season": season,
            "newcomer_mean": m0,
            "newcomer_shape": r0,
            "return_share": rho0,
            "horizon_days": h,
        }
    counts = _concat(parts, n)
    if represented.any():
        counts = counts.take(rep_unit)
        shape, scale, mix_q, mix_g, factor = (
            a[rep_unit] for a in (shape, scale, mix_q, mix_g, factor)
        )
        for pi in np.unique(unit_prog[represented]):  # loop over programs
            params[prog_ids[pi]] = params[prog_ids[unit_prog[rep_unit[unit_prog == pi][0]]]]
    if method == "run_rate":
        return SpendForecast(counts, shape, scale, None, None, b0, factor, method, params)
    return SpendForecast(counts, shape, None, mix_q, mix_g, b0, factor, method, params)


def expand_days(d: UnitDays, rep_unit: np.ndarray) -> UnitDays:
    """Copy each representative unit's days to the units it represents (sorted by unit, day)."""
    n = rep_unit.size
    cnt = np.bincount(d.unit, minlength=n)
    start = np.cumsum(cnt) - cnt
    width = cnt[rep_unit]
    unit = np.repeat(np.arange(n), width)
    offset = np.arange(unit.size) - np.repeat(np.cumsum(width) - width, width)
    src = np.repeat(start[rep_unit], width) + offset
    return UnitDays(unit, d.day[src], d.value[src], n)
