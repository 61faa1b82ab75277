"""Expected settlement: the settlement terms integrated over the forecast basis distribution.

The terms are the settlement engine's (:mod:`rebatelab.engine.settlement`): a
:class:`~rebatelab.engine.settlement.Schedule` per unit carries the thresholds (growth
thresholds already multiplied out from the baseline), rates, lump sums, method, cap, minimum
payout and growth "excess" base, and :func:`~rebatelab.engine.settlement.evaluate` computes
the amounts. Nothing here re-derives them: the earned amount is piecewise linear in the end
basis, so it is read off ``evaluate`` at two points inside each piece (the uncapped line of a
tier, to place the cap and minimum-payout crossings, from ``evaluate`` on the schedule with
its cap lifted), and integrated exactly against the compound distribution of the spend to come.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rebatelab.engine.settlement import Schedule, evaluate
from rebatelab.forecasting.spend_forecast import SpendForecast

__all__ = ["tier_probabilities", "expected_settlement"]


# --------------------------------------------------------------------------------------------
# Settlement: expected value over piecewise-linear segments of the earned amount
# --------------------------------------------------------------------------------------------
def _raw_coeffs(sched: Schedule, lo, hi):
    """Intercept and slope of the uncapped earned amount on [lo, hi) (one tier), (n, J).

    The uncapped amount is the engine's earned amount with the cap lifted (tiers, lump sums,
    method and growth base as in the schedule).
    """
    span = np.where(np.isfinite(hi), hi - lo, np.maximum(np.abs(lo), 1.0))
    x1 = lo + span / 3.0
    x2 = lo + 2.0 * span / 3.0
    # the minimum payout does not change the earned amount: lifted too (no payable computed)
    none = np.full(len(sched.cap), np.nan)
    uncapped = dataclasses.replace(sched, cap=none, min_payout=none)
    e1 = evaluate(uncapped, x1, next_tier=False)["earned"]
    e2 = evaluate(uncapped, x2, next_tier=False)["earned"]
    beta = (e2 - e1) / (x2 - x1)
    return e1 - beta * x1, beta


def _breakpoints(sched: Schedule, b0):
    """Sorted end-basis breakpoints >= b0 where the settlement is not linear, (n, J)."""
    thr = sched.thresholds
    n, k = thr.shape
    pts = [thr, np.zeros((n, 1))]
    # cap and minimum-payout crossings inside each tier's segment (uncapped earned is linear)
    lo = np.concatenate([np.full((n, 1), 0.0), thr], axis=1)
    hi = np.concatenate([thr, np.full((n, 1), np.inf)], axis=1)
    lo_f = np.where(np.isfinite(lo), lo, np.nan)
    valid = np.isfinite(lo_f) & (hi > lo_f)
    lo_safe = np.where(valid, lo_f, 0.0)
    hi_safe = np.where(valid, hi, 1.0)
    alpha, beta = _raw_coeffs(sched, lo_safe, hi_safe)
    for level in (sched.cap, sched.min_payout):
        if np.all(np.isnan(level)):
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            cross = (level[:, None] - alpha) / beta
        ok = valid & np.isfinite(cross) & (cross > lo_safe) & (cross < hi_safe)
        pts.append(np.where(ok, cross, np.inf))
    # the minimum applies to the capped amount: past the cap crossing the amount is constant,
    # so the crossings above are all the kinks there are
    allp = np.concatenate(pts, axis=1)
    allp = np.where(allp > b0[:, None], allp, np.inf)
    allp = np.sort(allp, axis=1)
    return np.concatenate([b0[:, None], allp], axis=1)


def expected_settlement(sf: SpendForecast, sched, *, payable: bool = False):
    """Exact expected end-of-period earned amount per unit, and per tier.

    Parameters
    ----------
    sf : SpendForecast
    sched : rebatelab.engine.settlement.Schedule
        One row per unit (pool).
    payable : bool
        Apply the minimum payout too.

    Returns
    -------
    expected : ndarray, shape (n,)
        ``E[g(B_end)]`` [currency], ``g`` the capped earned (or payable) amount.
    by_tier : ndarray, shape (n, K + 1)
        ``E[g(B_end) 1{tier = k}]`` [currency].

    Notes
    -----
    ``g`` is piecewise linear in the end basis between the breakpoints (tier thresholds, 0,
    and where the cap or the minimum payout is crossed). On each piece ``[e_j, e_{j+1})``,
    ``g = alpha_j + beta_j B`` (read off ``g`` at two interior points), so
    ``E[g] = sum_j alpha_j P(B in piece) + beta_j E[B 1{B in piece}]``, with the exact
    partial expectations of :meth:`SpendForecast.pieces`. ``g`` itself (and the tier of
    each piece) is :func:`rebatelab.engine.settlement.evaluate`'s.
    """
    out = _settlement(sf, sched, ("payable" if payable else "earned",))
    return out["payable" if payable else "earned"]


def _settlement(sf: SpendForecast, sched, keys, *, known=None) -> dict:
    """Expected settlement amounts (and per tier) for several amount keys at once.

    ``known``: ``(b, P(B_end >= b), E[S 1{S < s(b)}])`` already computed at bases ``b`` (the
    thresholds), see :meth:`SpendForecast.pieces`.
    """
    e = _breakpoints(sched, sf.b0)
    hi = np.concatenate([e[:, 1:], np.full((len(e), 1), np.inf)], axis=1)
    live = np.isfinite(e) & (hi > e)
    lo_s = np.where(live, e, 0.0)
    hi_s = np.where(live, hi, 1.0)
    span = np.where(np.isfinite(hi_s), hi_s - lo_s, np.maximum(np.abs(lo_s), 1.0))
    x1, x2 = lo_s + span / 3.0, lo_s + 2.0 * span / 3.0
    # edges past the last breakpoint are +inf: empty pieces (the edges stay sorted)
    p, eb = sf.pieces(np.where(np.isfinite(e), e, np.inf), known=known)
    ev1, ev2 = evaluate(sched, x1, next_tier=False), evaluate(sched, x2, next_tier=False)
    tier = np.asarray(ev1["tier"])
    k = sched.thresholds.shape[1]
    out = {}
    for key in keys:  # earned and/or payable
        g1, g2 = ev1[key], ev2[key]
        beta = (g2 - g1) / (x2 - x1)
        alpha = g1 - beta * x1
        contrib = np.where(live, alpha * p + beta * eb, 0.0)
        by_tier = np.zeros((len(e), k + 1))
        for t in range(k + 1):  # loop over tiers
            by_tier[:, t] = np.sum(np.where(tier == t, contrib, 0.0), axis=1)
        # the settlement is >= 0; clip the rounding noise of alpha P + beta E[B 1{.}]
        out[key] = (np.maximum(contrib.sum(axis=1), 0.0), np.maximum(by_tier, 0.0))
    return out


def _at_thresholds(sf: SpendForecast, rep_unit: np.ndarray, b: np.ndarray):
    """``P(B_end >= b)`` and ``E[S 1{S < s(b)}]`` at (n, K) bases ``b``, as ``_ge_lower``.

    Each distinct (unit model, basis) pair is evaluated once: programs sharing unit models
    and thresholds share these evaluations.
    """
    n, k = b.shape
    ru = np.repeat(rep_unit, k)
    v = b.reshape(-1)
    order = np.lexsort((v, ru))
    rs, vs = ru[order], v[order]
    new_unit = np.ones(rs.size, dtype=bool)
    new_unit[1:] = rs[1:] != rs[:-1]
    new_pair = new_unit.copy()
    new_pair[1:] |= vs[1:] != vs[:-1]
    pair = np.cumsum(new_pair) - 1
    urow = np.cumsum(new_unit) - 1
    col = pair - pair[new_unit][urow]  # rank of the pair within its unit model
    sub = sf.take(rs[new_unit])
    grid = np.repeat(sub.b0[:, None], int(col.max(initial=0)) + 1, axis=1)  # s = 0: skipped
    grid[urow, col] = vs
    ge, h = sub._ge_lower(sub._to_s(grid))
    out_ge, out_h = np.empty(n * k), np.empty(n * k)
    out_ge[order] = ge[urow, col]
    out_h[order] = h[urow, col]
    return out_ge.reshape(n, k), out_h.reshape(n, k)


def tier_probabilities(sf: SpendForecast, thresholds) -> np.ndarray:
    """``P(tier = k)`` for k = 0..K of the end-of-period basis, shape (n, K + 1)."""
    thr = np.asarray(thresholds, dtype=float)
    return _tier_probs(thr, sf.sf(np.where(np.isfinite(thr), thr, np.inf)))


def _tier_probs(thr, ge) -> np.ndarray:
    """Tier probabilities from ``P(B_end >= threshold)`` (at +inf where a threshold is not)."""
    ge = np.where(np.isfinite(thr), ge, 0.0)
    ge = np.minimum.accumulate(ge, axis=1)  # exact values are monotone; remove rounding noise
    full = np.concatenate([np.ones((len(thr), 1)), ge, np.zeros((len(thr), 1))], axis=1)
    return np.clip(full[:, :-1] - full[:, 1:], 0.0, 1.0)
