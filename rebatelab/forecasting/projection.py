"""Forecast each customer's (or pool's) end-of-period basis, tier probabilities and rebate.

End-of-period basis = basis to date + spend still to come. The spend to come of a forecast
*unit* (a customer, or a buying group for pooled programs) is modelled as

``B_end = b0 + f * S``,  ``S = X_1 + ... + X_N``,

where ``b0`` is the unit's basis to date, ``N`` the number of future order days, ``X_i`` their
gross values (currency, or units for quantity programs) and ``f`` the share kept after
returns. The distribution of ``S`` is exact (:mod:`rebatelab.compound`): tier probabilities,
quantiles and the expected rebate are computed from it for every row at once.

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

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from rebatelab.engine.accrual import accrue
from rebatelab.engine.lines import to_day
from rebatelab.engine.reduction import daily_sums
from rebatelab.engine.settlement import schedule
from rebatelab.errors import DataValidationError, ParameterError
from rebatelab.forecasting import spend_models as sm
from rebatelab.forecasting.compound import (
    CountDistribution,
    negbin_counts,
    poisson_counts,
)
from rebatelab.forecasting.expected_settlement import _at_thresholds, _settlement, _tier_probs
from rebatelab.forecasting.spend_forecast import SpendForecast
from rebatelab.programs import tiers
from rebatelab.programs.terms import load_programs

__all__ = ["METHODS", "DEFAULT_LEVELS", "forecast", "forecast_units", "basis_quantiles"]


METHODS = ("hierarchical", "bgnbd", "run_rate")


#: Quantile levels of the end-of-period basis carried by :func:`forecast` (``attrs``).
DEFAULT_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


_SEASON_REF_DAYS = 91


#: Fewest units with orders a program needs to fit its own population.
_MIN_UNITS = 10


#: Share the unit models of programs with the same members, products, basis and period.
_DEDUPE = True


# --------------------------------------------------------------------------------------------
# History summaries per unit (vectorized over the (unit, day) table)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Days:
    """Per (unit, day) basis sums, sorted by unit then day."""

    unit: np.ndarray
    day: np.ndarray
    value: np.ndarray
    n_units: int


def _date(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def _summaries(d: _Days, cutoff: int) -> dict[str, np.ndarray]:
    """Orders (days with positive basis) and returns per unit, from days <= cutoff."""
    keep = d.day <= cutoff
    u, day, v = d.unit[keep], d.day[keep], d.value[keep]
    n = d.n_units
    pos = v > 0
    n_orders = np.bincount(u[pos], minlength=n).astype(float)
    gross = np.bincount(u[pos], weights=v[pos], minlength=n)
    ret = -np.bincount(u[~pos], weights=v[~pos], minlength=n)
    first = np.full(n, cutoff, dtype=np.int64)
    last = np.full(n, cutoff, dtype=np.int64)
    np.minimum.at(first, u[pos], day[pos])
    last_tmp = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last_tmp, u[pos], day[pos])
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
        order_unit=u[pos],
        order_day=day[pos],
        order_value=v[pos],
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


def _seasonal_factor(d: _Days, units, *, cutoff: int, horizon: int, first_day: int) -> float:
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
    pos = np.isin(d.unit, units) & (d.value > 0) & (d.day <= cutoff)
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

    def nll(z):
        tau = float(np.exp(z))
        xw, tw = _discounted(cal, cutoff, tau, n)
        p = sm.dropout_pmf(
            yy,
            t,
            lam_shape=bg.r + xw[ok],
            lam_rate=bg.alpha + tw[ok],
            drop_a=bg.a,
            drop_b=bg.b + x,
            alive=alive,
        )
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
    rows, cnt, prob = [], [], []
    mean = np.zeros(n)
    for idx, c in parts:
        rows.append(idx[c.row])
        cnt.append(c.count)
        prob.append(c.prob)
        mean[idx] = c.mean
    return CountDistribution(
        np.concatenate(rows), np.concatenate(cnt), np.concatenate(prob), n, mean
    )


def _history_key(d: _Days, rows: np.ndarray, h: float, method: str) -> tuple:
    """Content key of the units' histories (positions within ``rows``, days, values)."""
    sel = np.isin(d.unit, rows)
    rel = np.searchsorted(rows, d.unit[sel])
    digest = hash((rel.tobytes(), d.day[sel].tobytes(), d.value[sel].tobytes(), rows.size))
    return digest, h, method


def _population_fit(
    d: _Days, s: dict, fit_rows, as_of_day: int, h: float, first_day: int, method: str, n: int
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
    cal = _summaries(_Days(d.unit[keep], d.day[keep], d.value[keep], n), cutoff)
    after = (d.day > cutoff) & (d.day <= as_of_day) & (d.value > 0)
    y = np.bincount(d.unit[after], minlength=n).astype(float)
    bg_cal = _fit_bgnbd(cal, fit_rows)
    season_cal = _seasonal_factor(d, fit_rows, cutoff=cutoff, horizon=hc, first_day=first_day)
    if bg_cal is None or cutoff - first_day < 14:
        tau = 1e6
    else:
        tau = _predictive_fit(cal, y, fit_rows, bg_cal, cutoff, hc * season_cal, n)
    m0, r0 = _newcomer_fit(cal, y, fit_rows)
    season = _seasonal_factor(d, fit_rows, cutoff=as_of_day, horizon=int(h), first_day=first_day)
    out.update(tau=tau, season=season, season_cal=season_cal, hc=hc, m0=m0, r0=r0)
    return out


def _unit_models(
    d: _Days,
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
    """Unit models of every program; ``rep_unit`` names a unit with the same model (or itself)."""
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
            sub = _Days(d.unit[inper], d.day[inper], d.value[inper], n)
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
        xw, tw = _discounted(s, as_of_day, tau, n)
        t_eff = h * season
        alive = sm.bgnbd_p_alive(s["x"][rows], s["t_x"][rows], s["T"][rows], params=bg)
        old = rows[has]
        new = rows[~has]
        if old.size:
            c_old = sm.dropout_counts(
                np.full(old.size, t_eff),
                lam_shape=r_h + xw[old],
                lam_rate=a_h + tw[old],
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


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------
def _check_inputs(data, programs, as_of, method):
    if method not in METHODS:
        raise ParameterError(f"method must be one of {list(METHODS)}; got {method!r}")
    programs = load_programs(programs)
    first, last = data.date_range
    as_of = pd.Timestamp(as_of).normalize()
    if pd.isna(first) or as_of < first.normalize() or as_of > last.normalize():
        raise ParameterError(
            f"as_of {as_of.date()} is outside the data ({first.date() if pd.notna(first) else '-'}"
            f" .. {last.date() if pd.notna(last) else '-'}): forecasts need the history up to "
            "as_of"
        )
    return programs, as_of


def forecast_units(data, programs, as_of, *, method: str = "hierarchical", tol: float = 1e-8):
    """The accrual and the end-of-period basis distribution of every forecast unit.

    Parameters
    ----------
    data : RebateData
    programs : ProgramSet or path
    as_of : date-like
    method : {"hierarchical", "bgnbd", "run_rate"}
    tol : float
        Probability mass of the order count left out per unit (error bound of every
        probability, see :mod:`rebatelab.forecasting.compound`).

    Returns
    -------
    acc : DataFrame
        :func:`rebatelab.accrue` output.
    unit_of_row : ndarray of int
        Unit (program, pool) of each accrual row.
    sf : SpendForecast
        One row per unit.
    sched : rebatelab.engine.settlement.Schedule
        The units' tier schedules (growth thresholds multiplied out).
    """
    acc, unit, sf, sched, _ = _forecast_units(data, programs, as_of, method=method, tol=tol)
    return acc, unit, sf, sched


def _representatives(plist, programs, pidx, acc) -> np.ndarray:
    """Representative program of each program: the first one with the same unit models.

    Programs with the same period, basis, eligible products and member rows (customer, pool,
    pool basis to date) have identical unit histories, hence identical end-basis
    distributions; only their tier schedules differ. Programs in a variant relation always
    represent themselves (their memberships depend on each other).
    """
    rep = np.arange(len(plist))
    if not _DEDUPE or np.any(np.diff(pidx) < 0):  # member rows must come in program blocks
        return rep
    cust = acc["customer_id"].astype(str).to_numpy(dtype=object)
    pool = acc["pool_id"].astype(str).to_numpy(dtype=object)
    b0 = acc["pool_basis"].to_numpy(dtype=float)
    bounds = np.searchsorted(pidx, np.arange(len(plist) + 1))
    seen: dict = {}
    for i, p in enumerate(plist):  # loop over programs
        if p.variant_of is not None or programs.variants_of(p.id):
            continue
        sel = slice(bounds[i], bounds[i + 1])
        key = (
            p.start,
            p.end,
            p.basis,
            repr(p.products),
            repr(p.exclude_products),
            tuple(cust[sel]),
            tuple(pool[sel]),
            b0[sel].tobytes(),
        )
        rep[i] = seen.setdefault(key, i)
    return rep


def _expand_days(d: _Days, rep_unit: np.ndarray) -> _Days:
    """Copy each representative unit's days to the units it represents (sorted by unit, day)."""
    n = rep_unit.size
    cnt = np.bincount(d.unit, minlength=n)
    start = np.cumsum(cnt) - cnt
    width = cnt[rep_unit]
    unit = np.repeat(np.arange(n), width)
    offset = np.arange(unit.size) - np.repeat(np.cumsum(width) - width, width)
    src = np.repeat(start[rep_unit], width) + offset
    return _Days(unit, d.day[src], d.value[src], n)


def _forecast_units(data, programs, as_of, *, method: str, tol: float):
    """:func:`forecast_units`, plus the representative unit of every unit (same model)."""
    programs, as_of = _check_inputs(data, programs, as_of, method)
    acc = accrue(data, programs, as_of)
    plist = list(programs)
    if len(acc) == 0:
        raise DataValidationError("no (program, customer) rows to forecast: no members")
    pos = {p.id: i for i, p in enumerate(plist)}
    pidx = acc["program_id"].astype(str).map(pos).to_numpy(dtype=np.int64)
    unit, keys = pd.factorize(
        pd.MultiIndex.from_arrays([pidx, acc["pool_id"].astype(str).to_numpy()])
    )
    n_units = len(keys)
    first_row = np.full(n_units, -1, dtype=np.int64)
    first_row[unit[::-1]] = np.arange(len(unit))[::-1]
    unit_prog = pidx[first_row]
    as_of_day = to_day(as_of)
    end_day = np.array([to_day(p.end) for p in plist])[unit_prog]
    start_day = np.array([to_day(p.start) for p in plist])[unit_prog]
    horizon = np.clip(end_day - np.maximum(as_of_day, start_day - 1), 0, None)
    is_qty = np.array([p.basis == "quantity" for p in plist])
    rep_prog = _representatives(plist, programs, pidx, acc)
    reps = np.unique(rep_prog)
    pool_code = pd.factorize(acc["pool_id"].astype(str).to_numpy())[0][first_row]
    # unit of the same pool in the representative program (itself for representatives)
    n_pool = int(pool_code.max(initial=0)) + 1
    ukey = unit_prog * n_pool + pool_code
    order = np.argsort(ukey, kind="stable")
    rep_unit = order[np.searchsorted(ukey[order], rep_prog[unit_prog] * n_pool + pool_code)]
    if reps.size < len(plist):
        # histories of the representatives only; member rows map back to the accrual's rows
        daily = daily_sums(data, programs.subset([plist[i].id for i in reps]), as_of=as_of)
        mrow = daily["member"].to_numpy(dtype=np.int64)
        size = np.diff(np.searchsorted(pidx, np.arange(len(plist) + 1)))[reps]
        sub_start = np.cumsum(size) - size
        k = np.searchsorted(sub_start, mrow, side="right") - 1
        mrow = np.searchsorted(pidx, reps[k]) + (mrow - sub_start[k])
    else:
        daily = daily_sums(data, programs, as_of=as_of)
        mrow = daily["member"].to_numpy(dtype=np.int64)
    val = np.where(
        is_qty[pidx[mrow]],
        daily["quantity"].to_numpy(dtype=float),
        daily["net_amount"].to_numpy(dtype=float),
    )
    day = to_day(daily["date"].to_numpy())
    u = unit[mrow]
    # sum member days into unit days
    key = u.astype(np.int64) * (as_of_day + 1 - (day.min() if day.size else 0) + 1) + (
        day - (day.min() if day.size else 0)
    )
    uk, inv = np.unique(key, return_inverse=True)
    uv = np.bincount(inv, weights=val, minlength=uk.size)
    fu = np.zeros(uk.size, dtype=np.int64)
    fd = np.zeros(uk.size, dtype=np.int64)
    fu[inv] = u
    fd[inv] = day
    d = _Days(fu, fd, uv, n_units)
    if reps.size < len(plist):
        d = _expand_days(d, rep_unit)
    b0 = acc["pool_basis"].to_numpy(dtype=float)[first_row]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sf = _unit_models(
            d,
            unit_prog,
            horizon,
            b0,
            start_day,
            as_of_day,
            method,
            [p.id for p in plist],
            is_qty[unit_prog],
            tol,
            rep_unit,
        )
    base = acc["baseline"].to_numpy(dtype=float)
    has = ~np.isnan(base)
    pool_base = np.bincount(unit[has], weights=base[has], minlength=n_units)
    any_base = np.bincount(unit, weights=has, minlength=n_units) > 0
    sched = schedule(programs, unit_prog, baseline=np.where(any_base, pool_base, np.nan))
    return acc, unit, sf, sched, rep_unit


def forecast(
    data, programs, as_of, *, method: str = "hierarchical", levels=DEFAULT_LEVELS, tol: float = 1e-8
) -> pd.DataFrame:
    """Forecast the end-of-period basis, tier probabilities and rebate of every member.

    Parameters
    ----------
    data : RebateData
        A validated data folder (:func:`rebatelab.load_data`).
    programs : ProgramSet, path or YAML text
    as_of : date-like
        History up to this day (inclusive) is used; it must lie within the data.
    method : {"hierarchical", "bgnbd", "run_rate"}
        The model (see the module notes); ``hierarchical`` is the default.
    levels : sequence of float
        Quantile levels [fraction] of the end-of-period pool basis carried in columns
        ``q_<level>`` (read them with :func:`basis_quantiles`).
    tol : float
        Largest probability mass of the order count left out per unit; every probability is
        within ``tol`` of its exact value.

    Returns
    -------
    DataFrame
        One row per (program_id, customer_id), aligned with :func:`rebatelab.accrue`:

        - ``program_id, customer_id, pool_id``;
        - ``basis_to_date`` [basis unit]: the member's basis (as ``accrue``'s ``basis``);
          ``pool_basis_to_date``: the pool's (equal for unpooled programs);
        - ``projected_mean, projected_p10, projected_p50, projected_p90`` [basis unit]: the
          **pool's** end-of-period basis (the unit tiers are measured on);
        - ``p_next_tier`` [fraction]: P(end basis >= the next threshold above the tier
          reached to date); NaN at the top tier;
        - ``p_no_more_orders`` [fraction]: P(no further order in the period), the mass of the
          end-basis distribution at the basis to date;
        - ``p_tier_0 .. p_tier_K``: P(ending in tier k), k = 0 meaning no tier;
        - ``expected_rebate`` [currency]: E[earned at period end], cap, lump sums and growth
          baseline applied, the member's share of the pool's amount (pro rata to basis to
          date); ``expected_payable``: with the minimum payout too;
        - ``most_likely_rebate`` [currency]: the expected earned amount given the most
          likely tier (the ASC 606 most likely amount), member's share;
        - ``most_likely_tier``, ``days_left`` [days], ``method``;
        - ``q_<level>`` [basis unit]: end-of-period pool-basis quantiles at ``levels``.

        ``attrs["truncation_bound"]``: the largest error bound of the probabilities.

    Raises
    ------
    ParameterError
        An unknown method, or ``as_of`` outside the data.
    DataValidationError
        No member rows to forecast.

    Notes
    -----
    Probabilities come from the exact compound distribution of the spend still to come (see
    :mod:`~rebatelab.forecasting.compound`); no Monte Carlo. ``expected_rebate`` is the
    expectation of the settlement over that distribution, not the settlement of the expected basis.

    Programs with the same members (customers, pools and bases to date), eligible products,
    basis and period have the same end-basis distributions: their histories are reduced,
    their models fitted and their quantiles computed once; only the evaluations at their
    own thresholds are repeated (and shared too where thresholds coincide).

    Examples
    --------
    >>> import rebatelab as rl  # doctest: +SKIP
    >>> fc = rl.forecast(rl.load_data("data/sample"), "data/sample/programs.yaml",
    ...                  as_of="2026-06-30")  # doctest: +SKIP
    """
    acc, unit, sf, sched, rep_unit = _forecast_units(data, programs, as_of, method=method, tol=tol)
    thr = sched.thresholds
    # P(B_end >= threshold) once, for the tier probabilities, the next tier and the settlement
    thr_b = np.where(np.isfinite(thr), thr, np.inf)
    ge_thr, h_thr = _at_thresholds(sf, rep_unit, thr_b)
    ptier = _tier_probs(thr, ge_thr)
    k = thr.shape[1]
    nxt = tiers.next_threshold(sf.b0, thresholds=thr)
    col = np.argmax(thr_b == nxt[:, None], axis=1)
    found = thr_b[np.arange(len(col)), col] == nxt
    p_next = np.where(found, ge_thr[np.arange(len(col)), col], np.nan)
    lost = ~found & ~np.isnan(nxt)  # not one of the thresholds (should not happen)
    if lost.any():
        p_next[lost] = sf.take(np.flatnonzero(lost)).sf(nxt[lost])
    settle = _settlement(sf, sched, ("earned", "payable"), known=(thr_b, ge_thr, h_thr))
    exp_earned, by_tier = settle["earned"]
    exp_pay, _ = settle["payable"]
    mode = np.argmax(ptier, axis=1)
    p_mode = ptier[np.arange(len(mode)), mode]
    ml = np.where(p_mode > 0, by_tier[np.arange(len(mode)), mode] / np.maximum(p_mode, 1e-300), 0.0)
    lv = np.asarray(levels, dtype=float)
    allq = np.unique(np.concatenate([lv, [0.1, 0.5, 0.9]]))
    # the quantiles do not depend on the tiers: once per distinct unit model
    distinct, inv = np.unique(rep_unit, return_inverse=True)
    q = sf.take(distinct).quantiles(allq)[inv]
    qcol = {lev: q[:, i] for i, lev in enumerate(allq)}

    member = acc["basis"].to_numpy(dtype=float)
    w = np.maximum(member, 0.0)
    wsum = np.bincount(unit, weights=w)
    cnt = np.bincount(unit)
    share = np.where(wsum[unit] > 0, w / np.where(wsum[unit] > 0, wsum[unit], 1.0), 1.0 / cnt[unit])
    out = pd.DataFrame(
        {
            "program_id": acc["program_id"],
            "customer_id": acc["customer_id"],
            "pool_id": acc["pool_id"],
            "basis_to_date": member,
            "pool_basis_to_date": sf.b0[unit],
            "projected_mean": sf.mean()[unit],
            "projected_p10": qcol[0.1][unit],
            "projected_p50": qcol[0.5][unit],
            "projected_p90": qcol[0.9][unit],
            "p_next_tier": p_next[unit],
            "p_no_more_orders": sf.p_nothing_more()[unit],
            "expected_rebate": exp_earned[unit] * share,
            "expected_payable": exp_pay[unit] * share,
            "most_likely_rebate": ml[unit] * share,
            "most_likely_tier": mode[unit],
            "days_left": acc["days_left"],
        }
    )
    for t in range(k + 1):
        out[f"p_tier_{t}"] = ptier[unit, t]
    out["method"] = method
    out["method"] = out["method"].astype("string")
    for lev in lv:
        out[_qcol(lev)] = qcol[lev][unit]
    out.attrs["truncation_bound"] = float(sf.truncation_bound().max(initial=0.0))
    return out


def _qcol(level: float) -> str:
    return f"q_{float(level):g}"


def basis_quantiles(result: pd.DataFrame, levels=None) -> np.ndarray:
    """End-of-period pool-basis quantiles carried by a :func:`forecast` result.

    Parameters
    ----------
    result : DataFrame
        A :func:`forecast` result; its columns ``q_<level>`` hold the quantiles.
    levels : sequence of float, optional
        Levels to return; they must be among the result's (pass ``levels=`` to
        :func:`forecast` to compute others). Default: all, ascending.

    Returns
    -------
    ndarray, shape (n, L)
        Quantiles [basis unit]; since the earned amount is non-decreasing in the basis,
        ``earned(quantile)`` is the rebate's quantile at the same level.

    Examples
    --------
    >>> fc = pd.DataFrame({"q_0.1": [1.0], "q_0.9": [3.0]})
    >>> basis_quantiles(fc, [0.9]).tolist()
    [[3.0]]
    """
    have = {float(str(c)[2:]): c for c in result.columns if str(c).startswith("q_")}
    if not have:
        raise ParameterError("result carries no q_<level> quantile columns; re-run forecast")
    want = sorted(have) if levels is None else [float(v) for v in np.atleast_1d(levels)]
    missing = [v for v in want if v not in have]
    if missing:
        raise ParameterError(f"levels {missing} not among the result's {sorted(have)}")
    return result[[have[v] for v in want]].to_numpy(dtype=float)
