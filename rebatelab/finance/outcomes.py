"""Contracts and pools: forecast rows matched by key, rebate outcomes per (program, pool).

A contract is a (program, customer) row of the accrual; :func:`align_forecast` matches a
forecast's rows to them by key, never by position.

A pool (a customer, or a buying group for pooled programs) is the unit that reaches a tier,
so it is the unit whose rebate distribution :func:`rebatelab.finance.liability.liability`
convolves. Its outcomes are the settlement engine's rebate
(:func:`rebatelab.engine.settlement.evaluate`) at the end-of-period basis quantiles that the
forecast carries; :func:`tier_calibrated_atoms` then gives each tier its exact probability.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebatelab.engine.settlement import evaluate, schedule
from rebatelab.errors import ParameterError
from rebatelab.programs.terms import load_programs

__all__ = [
    "AMOUNTS",
    "KEYS",
    "align_forecast",
    "pool_frame",
    "pool_rebate_atoms",
    "tier_calibrated_atoms",
]


#: What a liability measures: the capped rebate earned, or what is payable (minimum payout).
AMOUNTS = ("earned", "payable")


#: The key of a contract: accrual and forecast rows are matched on it.
KEYS = ("program_id", "customer_id")


def align_forecast(accrual: pd.DataFrame, forecast: pd.DataFrame) -> pd.DataFrame:
    """The forecast's rows in the accrual's order, matched on ``(program_id, customer_id)``.

    Parameters
    ----------
    accrual : DataFrame
        :func:`rebatelab.accrue` output.
    forecast : DataFrame
        One row per contract, with the key columns; a frame without them is taken row for
        row and must have as many rows as the accrual.

    Returns
    -------
    DataFrame
        ``len(accrual)`` rows, index reset; row ``i`` is the forecast of accrual row ``i``.

    Raises
    ------
    ParameterError
        A key of the accrual without a forecast row, a forecast row for no accrual key, a
        key twice in the forecast (the first few named), or (without keys) a different
        number of rows.

    Examples
    --------
    >>> acc = pd.DataFrame({"program_id": ["P", "P"], "customer_id": ["A", "B"]})
    >>> fc = pd.DataFrame({"program_id": ["P", "P"], "customer_id": ["B", "A"],
    ...                    "expected_rebate": [2.0, 1.0]})
    >>> align_forecast(acc, fc)["expected_rebate"].tolist()
    [1.0, 2.0]
    """
    keys = list(KEYS)
    if not set(keys) <= set(forecast.columns):
        if len(forecast) != len(accrual):
            raise ParameterError(
                f"forecast has {len(forecast)} rows but accrual has {len(accrual)}, and no "
                f"{keys} columns to match them on: give the keys, or rows aligned with the "
                "accrual (same rows, same order)"
            )
        return forecast.reset_index(drop=True)
    a = pd.MultiIndex.from_arrays([accrual[k].astype(str) for k in keys], names=keys)
    f = pd.MultiIndex.from_arrays([forecast[k].astype(str) for k in keys], names=keys)
    if f.has_duplicates:
        dup = f[f.duplicated()].unique()[:5].tolist()
        raise ParameterError(f"forecast has {keys} twice: {dup}")
    pos = f.get_indexer(a)
    missing = a[pos < 0]
    extra = f[~f.isin(a)]
    if len(missing) or len(extra):
        parts = []
        if len(missing):
            parts.append(
                f"{len(missing)} accrual contract(s) have no forecast row, e.g. "
                f"{missing[:5].tolist()}"
            )
        if len(extra):
            parts.append(
                f"{len(extra)} forecast row(s) match no accrual contract, e.g. {extra[:5].tolist()}"
            )
        raise ParameterError(
            "forecast and accrual are not aligned on (program_id, customer_id): " + "; ".join(parts)
        )
    return forecast.iloc[pos].reset_index(drop=True)


def pool_frame(accrual: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The (program, pool) pairs of an accrual, in order of first appearance.

    Parameters
    ----------
    accrual : DataFrame
        Rows with ``program_id`` and ``pool_id`` (:func:`rebatelab.accrue`).

    Returns
    -------
    pools : DataFrame
        The first accrual row of each (program, pool), index reset.
    code : ndarray of int, shape (len(accrual),)
        Each accrual row's pool (row number in ``pools``).
    first : ndarray of int, shape (len(pools),)
        Each pool's first accrual row.

    Examples
    --------
    >>> acc = pd.DataFrame({"program_id": ["P", "P", "Q"], "pool_id": ["G", "G", "G"]})
    >>> pools, code, first = pool_frame(acc)
    >>> code.tolist(), first.tolist()
    ([0, 0, 1], [0, 2])
    """
    key = pd.MultiIndex.from_arrays(
        [accrual["program_id"].astype(str), accrual["pool_id"].astype(str)]
    )
    code, uniq = pd.factorize(key)
    first = np.full(len(uniq), -1, dtype=np.int64)
    first[code[::-1]] = np.arange(len(code))[::-1]
    return accrual.iloc[first].reset_index(drop=True), code, first


def pool_rebate_atoms(
    accrual,
    basis_quantiles,
    programs,
    *,
    shock: float = 1.0,
    amount: str = "earned",
    return_tiers: bool = False,
):
    """End-of-period rebate of each (program, pool) at its basis quantiles [currency].

    Parameters
    ----------
    accrual : DataFrame
        :func:`rebatelab.accrue` output (``program_id, pool_id, pool_basis, baseline``...).
    basis_quantiles : array_like, shape (len(accrual), m)
        End-of-period quantiles of each row's **pool** basis [basis unit] (the same values on
        every member row of a pool).
    programs : ProgramSet
        The programs of the accrual (a path or YAML text is read once here).
    shock : float
        Common factor applied to the spend still to come: the basis used is
        ``pool_basis + shock * (quantile - pool_basis)`` [multiplier].
    amount : {"earned", "payable"}
        The capped rebate earned, or what is payable (0 below the minimum payout).
    return_tiers : bool
        Also return the tier of each quantile and the rebate at each tier's threshold.

    Returns
    -------
    pools : DataFrame
        One row per (program, pool).
    rebates : ndarray, shape (n_pools, m)
        The pool's capped rebate at each quantile [currency]; non-decreasing in the basis, so
        these are the rebate's quantiles at the same levels.
    tiers : ndarray of int, shape (n_pools, m)
        Only with ``return_tiers``: the tier of each quantile.
    at_threshold : ndarray, shape (n_pools, K)
        Only with ``return_tiers``: the rebate at each tier's threshold [currency] (0 where
        the tier cannot be reached).

    Notes
    -----
    The pool's growth baseline is the sum of its members' baselines (as ``accrue`` does);
    tiers, lump sums, caps and the minimum payout are the settlement engine's
    (:func:`rebatelab.engine.settlement.schedule` and ``evaluate``).
    """
    programs = load_programs(programs)
    if amount not in AMOUNTS:
        raise ParameterError(f"amount must be one of {list(AMOUNTS)}, got {amount!r}")
    q = np.atleast_2d(np.asarray(basis_quantiles, dtype=float))
    if q.shape[0] != len(accrual):
        raise ParameterError(f"basis_quantiles has {q.shape[0]} rows for {len(accrual)} rows")
    pools, code, first = pool_frame(accrual)
    b0 = pools["pool_basis"].to_numpy(dtype=float)
    qp = b0[:, None] + shock * (q[first] - b0[:, None])
    pos = pd.Series(np.arange(len(programs.ids)), index=list(programs.ids))
    pidx = pools["program_id"].astype(str).map(pos)
    if pidx.isna().any():
        unknown = sorted(set(pools["program_id"].astype(str)) - set(programs.ids))
        raise ParameterError(f"accrual has programs not in the program set: {unknown[:5]}")
    base = accrual["baseline"].to_numpy(dtype=float)
    has = ~np.isnan(base)
    pool_base = np.bincount(code[has], weights=base[has], minlength=len(pools))
    any_base = np.bincount(code, weights=has, minlength=len(pools)) > 0
    sched = schedule(
        programs,
        pidx.to_numpy(dtype=np.int64),
        baseline=np.where(any_base, pool_base, np.nan),
    )
    ev = evaluate(sched, qp)
    if not return_tiers:
        return pools, ev[amount]
    thr = sched.thresholds
    at = evaluate(sched, np.where(np.isfinite(thr), thr, 0.0))[amount]
    return pools, ev[amount], ev["tier"], np.where(np.isfinite(thr), at, 0.0)


def tier_calibrated_atoms(values, probs, tiers, at_threshold, p_tier):
    """Re-weight quantile atoms so that each tier gets its exact probability.

    Quantile atoms place a tier cliff only to within one level; the forecast knows each
    tier's probability exactly. Within each (row, tier) the atoms' masses are scaled to add up
    to ``p_tier``; a tier with probability but no atom gets one at its threshold's rebate
    (tier 0: 0).

    Parameters
    ----------
    values, probs : ndarray, shape (n, m)
        Rebate atoms [currency] and masses (e.g. from
        :func:`rebatelab.finance.distributions.quantile_atoms`).
    tiers : ndarray of int, shape (n, m)
        Tier of each atom (0 = none).
    at_threshold : ndarray, shape (n, K)
        Rebate at each tier's threshold [currency].
    p_tier : ndarray, shape (n, K + 1)
        P(ending in tier k) [fraction], k = 0..K.

    Returns
    -------
    values, probs : ndarray, shape (n, m + K + 1)
        Each row's probabilities add up to 1 and give tier ``k`` exactly ``p_tier[:, k]``.
    """
    v = np.asarray(values, dtype=float)
    p = np.asarray(probs, dtype=float)
    t = np.asarray(tiers, dtype=np.int64)
    pt = np.clip(np.asarray(p_tier, dtype=float), 0.0, None)
    n, k1 = pt.shape
    if t.max(initial=0) >= k1 or at_threshold.shape[1] < k1 - 1:
        raise ParameterError(f"p_tier has {k1} columns; atoms reach tier {t.max(initial=0)}")
    pt = pt / np.where(pt.sum(axis=1, keepdims=True) > 0, pt.sum(axis=1, keepdims=True), 1.0)
    key = (np.arange(n)[:, None] * k1 + t).reshape(-1)
    orig = np.bincount(key, weights=p.reshape(-1), minlength=n * k1).reshape(n, k1)
    scale = np.where(orig > 0, pt / np.where(orig > 0, orig, 1.0), 0.0)
    new_p = p * scale[np.arange(n)[:, None], t]
    missing = (orig <= 0) & (pt > 0)
    extra_v = np.concatenate([np.zeros((n, 1)), at_threshold[:, : k1 - 1]], axis=1)
    extra_p = np.where(missing, pt, 0.0)
    out_v = np.concatenate([v, extra_v], axis=1)
    out_p = np.concatenate([new_p, extra_p], axis=1)
    total = out_p.sum(axis=1, keepdims=True)
    return out_v, out_p / np.where(total > 0, total, 1.0)
