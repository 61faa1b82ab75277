"""Forecast each customer's (or pool's) end-of-period basis, tier probabilities and rebate.

End-of-period basis = basis to date + spend still to come: ``B_end = b0 + f * S`` per
forecast *unit* (a customer, or a buying group for pooled programs), with ``S`` a random sum
of order values whose models are fitted per program in
:mod:`rebatelab.forecasting.unit_models` (methods ``hierarchical``, ``bgnbd``,
``run_rate``). The distribution of ``S`` is exact (:mod:`rebatelab.forecasting.compound`):
tier probabilities, quantiles and the expected rebate (through the settlement engine,
:mod:`rebatelab.forecasting.expected_settlement`) are computed from it for every row at once.

The forecast reads stage one's :class:`~rebatelab.engine.stage_one.Reduction` (the accrual
and each member's daily history); it never reads invoice lines.

References
----------
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005a). "Counting your customers" the easy
way: An alternative to the Pareto/NBD model. *Marketing Science* 24(2), 275-284.
Gneiting, T. and Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and
estimation. *JASA* 102(477), 359-378.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from rebatelab.engine.accrual import accrue
from rebatelab.engine.lines import to_day
from rebatelab.engine.settlement import evaluate, schedule
from rebatelab.engine.stage_one import Reduction, reduce
from rebatelab.errors import DataValidationError, ParameterError
from rebatelab.forecasting.expected_settlement import _at_thresholds, _settlement, _tier_probs
from rebatelab.forecasting.quantiles import basis_quantiles, quantile_column
from rebatelab.forecasting.settled import settle_forecast
from rebatelab.forecasting.unit_models import METHODS as _UNIT_METHODS
from rebatelab.forecasting.unit_models import UnitDays, expand_days, unit_models
from rebatelab.programs.terms import load_programs

__all__ = ["METHODS", "DEFAULT_LEVELS", "forecast", "forecast_units", "basis_quantiles"]


#: The forecast methods: the unit models, and ``learned``
#: (:mod:`rebatelab.forecasting.learned`, needs the ``learn`` extra).
METHODS = (*_UNIT_METHODS, "learned")

#: Quantile levels of the end-of-period basis carried by :func:`forecast` (``attrs``).
DEFAULT_LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


#: Share the unit models of programs with the same members, products, basis and period.
_DEDUPE = True


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------
def _reduction(data, programs, as_of, method: str) -> Reduction:
    """Stage one's result for the forecast: ``data`` itself, or reduced once here.

    The method and the as-of date are checked before anything is reduced.
    """
    if method not in METHODS:
        raise ParameterError(f"method must be one of {list(METHODS)}; got {method!r}")
    if isinstance(data, Reduction):
        red = data
        if as_of is not None and pd.Timestamp(as_of).normalize() != red.as_of:
            raise ParameterError(
                f"as_of {pd.Timestamp(as_of).date()} differs from the reduction's "
                f"{red.as_of.date()}; pass as_of=None with a Reduction"
            )
        if programs is not None and list(load_programs(programs).ids) != list(red.programs.ids):
            raise ParameterError(
                "programs differ from the reduction's; pass programs=None with a Reduction"
            )
        _check_as_of(red.as_of, red.first_date, red.last_date)
        return red
    programs = load_programs(programs)
    as_of = pd.Timestamp(as_of).normalize()
    _check_as_of(as_of, *data.date_range)
    return reduce(data, programs, as_of, members_only=True)  # internal: no review tables


def _check_as_of(as_of: pd.Timestamp, first, last) -> None:
    if pd.isna(first) or as_of < first.normalize() or as_of > last.normalize():
        raise ParameterError(
            f"as_of {as_of.date()} is outside the data ({first.date() if pd.notna(first) else '-'}"
            f" .. {last.date() if pd.notna(last) else '-'}): forecasts need the history up to "
            "as_of"
        )


def forecast_units(
    data, programs=None, as_of=None, *, method: str = "hierarchical", tol: float = 1e-8
):
    """The accrual and the end-of-period basis distribution of every forecast unit.

    Parameters
    ----------
    data : RebateData or Reduction
        The data, or stage one's :class:`~rebatelab.engine.stage_one.Reduction` (then
        ``programs`` and ``as_of`` are taken from it).
    programs : ProgramSet or path, optional
    as_of : date-like, optional
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


def _forecast_units(data, programs, as_of, *, method: str, tol: float):
    """:func:`forecast_units`, plus the representative unit of every unit (same model)."""
    if method == "learned":
        raise ParameterError("forecast_units serves the unit models; 'learned' is forecast()'s")
    red = _reduction(data, programs, as_of, method)
    programs, as_of = red.programs, red.as_of
    acc = accrue(red)
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
    # each member's daily history (stage one's), for the representatives' members only
    daily = red.daily
    mrow = daily["member"].to_numpy(dtype=np.int64)
    qty = daily["quantity"].to_numpy(dtype=float)
    net = daily["net_amount"].to_numpy(dtype=float)
    day = to_day(daily["date"].to_numpy())
    if reps.size < len(plist):
        mine = np.isin(pidx[mrow], reps)
        mrow, qty, net, day = mrow[mine], qty[mine], net[mine], day[mine]
    val = np.where(is_qty[pidx[mrow]], qty, net)
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
    d = UnitDays(fu, fd, uv, n_units)
    if reps.size < len(plist):
        d = expand_days(d, rep_unit)
    b0 = acc["pool_basis"].to_numpy(dtype=float)[first_row]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sf = unit_models(
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
    data,
    programs=None,
    as_of=None,
    *,
    method: str = "hierarchical",
    levels=DEFAULT_LEVELS,
    tol: float = 1e-8,
) -> pd.DataFrame:
    """Forecast the end-of-period basis, tier probabilities and rebate of every member.

    Parameters
    ----------
    data : RebateData or Reduction
        A validated data folder (:func:`rebatelab.load_data`), or stage one's
        :class:`~rebatelab.engine.stage_one.Reduction` of it (:func:`rebatelab.reduce`):
        then ``programs`` and ``as_of`` are taken from it, and a caller that reduces once
        can hand the same object to the accrual, the review and the liability.
    programs : ProgramSet, path or YAML text, optional
        Required with a RebateData; normalised once here.
    as_of : date-like, optional
        History up to this day (inclusive) is used; it must lie within the data. Required
        with a RebateData.
    method : {"hierarchical", "bgnbd", "run_rate", "learned"}
        The model (see the module notes); ``hierarchical`` is the default. ``learned``
        (:mod:`rebatelab.forecasting.learned`) adds a column ``method_used``.
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
    >>> data, programs = rl.load_sample()  # doctest: +SKIP
    >>> fc = rl.forecast(data, programs, "2026-06-30")  # doctest: +SKIP

    Reduced once, the same stage-one result serves the accrual and the forecast:

    >>> red = rl.reduce(data, programs, "2026-06-30")  # doctest: +SKIP
    >>> acc, fc = rl.accrue(red), rl.forecast(red)  # doctest: +SKIP
    """
    if method == "learned":
        from rebatelab.forecasting.learned import _sklearn, forecast_learned

        _sklearn()  # the optional dependency, before any reduction
        return forecast_learned(_reduction(data, programs, as_of, method), levels=levels, tol=tol)
    acc, unit, sf, sched, rep_unit = _forecast_units(data, programs, as_of, method=method, tol=tol)
    thr = sched.thresholds
    # P(B_end >= threshold) once, for the tier probabilities, the next tier and the settlement
    thr_b = np.where(np.isfinite(thr), thr, np.inf)
    ge_thr, h_thr = _at_thresholds(sf, rep_unit, thr_b)
    ptier = _tier_probs(thr, ge_thr)
    k = thr.shape[1]
    nxt = evaluate(sched, sf.b0)["next_threshold"]
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
        out[quantile_column(lev)] = qcol[lev][unit]
    out.attrs["truncation_bound"] = float(sf.truncation_bound().max(initial=0.0))
    # a period that has ended is certain: its rebate is the accrual's, in cents
    return settle_forecast(acc, out)
