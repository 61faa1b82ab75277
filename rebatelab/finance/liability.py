"""Rebate liability for finance: accrued, expected value, most likely amount, and an interval.

Per program and in total, as of a date:

- ``accrued``: earned at the tier reached so far (what most systems book);
- ``expected``: the expected end-of-period rebate, the ASC 606 / IFRS 15 *expected value*
  (probability-weighted over the outcomes);
- ``most_likely``: the ASC 606 *most likely amount*, per contract (program and customer),
  summed;
- ``p10, p50, p90`` and ``constrained`` (the quantile at a chosen level, 80% by default) of
  the distribution of the total, obtained by **convolving** the per-pool distributions, never
  by adding their percentiles.

Independence assumption: pools (a customer, or a buying group for pooled programs) reach
their tiers independently of each other. Members of one pool are perfectly dependent (they
share one tier), so a pool is the unit that is convolved. Spend moving together (a recession,
a price increase) breaks the assumption; ``common_shock`` models it by scaling every pool's
spend still to come by one shared lognormal factor and mixing over it.

The convolution is exact for the distributions as discretized on a common grid
(:func:`sum_distribution`); see its Notes for the accuracy statement.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rebatelab.errors import ParameterError
from rebatelab.finance.distributions import (
    SumDistribution,
    _atoms,
    _mixture,
    _nice_step,
    quantile_atoms,
    shock_nodes,
    sum_distribution,
)

__all__ = ["AMOUNTS", "tier_calibrated_atoms", "pool_rebate_atoms", "Liability", "liability"]


#: What a liability measures: the capped rebate earned, or what is payable (minimum payout).
AMOUNTS = ("earned", "payable")


#: Quantile levels of the total reported by :func:`liability`.
REPORT_LEVELS = (0.1, 0.5, 0.9)


# --------------------------------------------------------------------------------------------
# Pool-level rebate outcomes from basis quantiles
# --------------------------------------------------------------------------------------------
def _pool_frame(accrual: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per (program, pool) in first-appearance order, and each accrual row's pool."""
    key = pd.MultiIndex.from_arrays(
        [accrual["program_id"].astype(str), accrual["pool_id"].astype(str)]
    )
    code, uniq = pd.factorize(key)
    first = np.full(len(uniq), -1, dtype=np.int64)
    first[code[::-1]] = np.arange(len(code))[::-1]
    pools = accrual.iloc[first].reset_index(drop=True)
    return pools, code


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
    programs : ProgramSet or path
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
    """
    from rebatelab.engine.settlement import evaluate, schedule
    from rebatelab.programs.terms import load_programs

    programs = load_programs(programs)
    q = np.atleast_2d(np.asarray(basis_quantiles, dtype=float))
    if q.shape[0] != len(accrual):
        raise ParameterError(f"basis_quantiles has {q.shape[0]} rows for {len(accrual)} rows")
    pools, code = _pool_frame(accrual)
    first = np.full(len(pools), -1, dtype=np.int64)
    first[code[::-1]] = np.arange(len(code))[::-1]
    qp = q[first]
    b0 = pools["pool_basis"].to_numpy(dtype=float)
    qp = b0[:, None] + shock * (qp - b0[:, None])
    pos = {pid: i for i, pid in enumerate(programs.ids)}
    unknown = sorted(set(pools["program_id"].astype(str)) - set(pos))
    if unknown:
        raise ParameterError(f"accrual has programs not in the program set: {unknown[:5]}")
    pidx = pools["program_id"].astype(str).map(pos).to_numpy(dtype=np.int64)
    # pool baseline = sum of members' baselines (as accrue does)
    base = accrual["baseline"].to_numpy(dtype=float)
    has = ~np.isnan(base)
    pool_base = np.bincount(code[has], weights=base[has], minlength=len(pools))
    any_base = np.bincount(code, weights=has, minlength=len(pools)) > 0
    pool_base = np.where(any_base, pool_base, np.nan)
    sched = schedule(programs, pidx, baseline=pool_base)
    if amount not in AMOUNTS:
        raise ParameterError(f"amount must be one of {list(AMOUNTS)}, got {amount!r}")
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
        Rebate atoms [currency] and masses (e.g. from :func:`quantile_atoms`).
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


# --------------------------------------------------------------------------------------------
# The liability report
# --------------------------------------------------------------------------------------------
@dataclass
class Liability:
    """Liability views; ``to_xlsx`` writes one sheet per view.

    Attributes
    ----------
    total : DataFrame
        One row: ``accrued, expected, most_likely, p10, p50, p90, constrained`` [currency],
        ``percentile`` [fraction], ``common_shock`` (sd of the log factor, 0 = independence),
        ``mean_adjustment`` [currency].
    by_program : DataFrame
        The same columns per program, plus ``customers`` and ``pools``.
    by_customer : DataFrame
        Per (program, customer): ``accrued, expected, most_likely`` [currency].
    distribution : DataFrame
        The total's distribution as quantiles: ``value`` [currency] at ``level`` [fraction]
        0.001 .. 0.999 (repeated values kept once) and ``cdf``, P(total <= value); the full
        grid distribution is ``dist``.
    notes : DataFrame
        The assumptions and parameters, as (item, value) rows.
    """

    total: pd.DataFrame
    by_program: pd.DataFrame
    by_customer: pd.DataFrame
    distribution: pd.DataFrame
    notes: pd.DataFrame
    dist: SumDistribution = field(repr=False, default=None)

    def views(self) -> dict[str, pd.DataFrame]:
        """The views by sheet name."""
        return {
            "total": self.total,
            "by_program": self.by_program,
            "by_customer": self.by_customer,
            "distribution": self.distribution,
            "notes": self.notes,
        }

    def to_xlsx(self, path) -> Path:
        """Write every view to an xlsx workbook, one sheet per view."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with pd.ExcelWriter(path, engine="openpyxl") as xw:
            for name, df in self.views().items():
                df.to_excel(xw, sheet_name=name, index=False)
        return path


def _check_aligned(accrual: pd.DataFrame, forecast: pd.DataFrame) -> None:
    if len(accrual) != len(forecast):
        raise ParameterError(
            f"forecast has {len(forecast)} rows but accrual has {len(accrual)}; they must be "
            "aligned (one row per program_id, customer_id, in the same order)"
        )
    for c in ("program_id", "customer_id"):
        if c in forecast.columns:
            a = accrual[c].astype(str).to_numpy()
            f = forecast[c].astype(str).to_numpy()
            if not np.array_equal(a, f):
                bad = np.flatnonzero(a != f)[:5].tolist()
                raise ParameterError(f"forecast and accrual disagree on {c} at rows {bad}")


def _forecast_quantiles(forecast: pd.DataFrame):
    """Basis quantiles carried by a forecast frame: ``attrs`` or ``q_<level>`` columns."""
    at = getattr(forecast, "attrs", {}) or {}
    for key in ("basis_quantiles", "quantiles"):
        if key in at:
            q = at[key]
            levels = at.get("quantile_levels", at.get("levels"))
            if isinstance(q, pd.DataFrame):
                if levels is None:
                    levels = [float(c) for c in q.columns]
                q = q.to_numpy(dtype=float)
            return np.asarray(q, dtype=float), np.asarray(levels, dtype=float)
    cols = [c for c in forecast.columns if str(c).startswith("q_")]
    if cols:
        levels = np.array([float(str(c)[2:]) for c in cols])
        order = np.argsort(levels)
        return forecast[cols].to_numpy(dtype=float)[:, order], levels[order]
    return None, None


def _payable_most_likely(accrual, ml_row, code, pools, programs) -> np.ndarray:
    """Most likely amounts zeroed where the pool's total is under its minimum payout."""
    if programs is None:
        raise ParameterError("amount='payable' needs programs= (for the minimum payouts)")
    from rebatelab.programs.terms import load_programs

    mins = {p.id: (p.min_payout or 0.0) for p in load_programs(programs)}
    pool_min = pools["program_id"].astype(str).map(mins).fillna(0.0).to_numpy(dtype=float)
    pool_ml = np.bincount(code, weights=ml_row, minlength=len(pools))
    return np.where(pool_ml[code] + 1e-9 >= pool_min[code], ml_row, 0.0)


def liability(
    accrual: pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    programs=None,
    basis_quantiles=None,
    levels=None,
    rebate_values=None,
    rebate_probs=None,
    percentile: float = 0.8,
    common_shock: float | None = None,
    n_shock_nodes: int = 15,
    grid_size: int = 2**16,
    amount: str = "earned",
) -> Liability:
    r"""Rebate liability per program and in total, with the distribution of the total.

    Parameters
    ----------
    accrual : DataFrame
        :func:`rebatelab.accrue` output.
    forecast : DataFrame
        Aligned with ``accrual`` (same rows, same order), with ``expected_rebate`` and
        ``most_likely_rebate`` [currency] per (program, customer) (:func:`rebatelab.forecasting`).
    programs : ProgramSet or path, optional
        Needed to turn basis quantiles into rebate outcomes.
    basis_quantiles : array_like, shape (n, m), optional
        End-of-period quantiles of each row's pool basis at ``levels``; default: those carried
        by ``forecast`` (its ``q_<level>`` columns, or ``attrs["basis_quantiles"]``).
    levels : array_like, shape (m,), optional
        Levels [fraction] of ``basis_quantiles``.
    rebate_values, rebate_probs : array_like, shape (n_pools, m), optional
        The per-(program, pool) rebate outcomes and probabilities, given directly instead of
        basis quantiles (pools in order of first appearance in ``accrual``).
    percentile : float
        Level [fraction] of the constrained estimate: the total that the final rebate stays
        at or below with this probability (default 0.8).
    common_shock : float, optional
        sd of the log of a factor shared by all pools that scales their spend still to come
        (needs basis quantiles and programs). None or 0: pools independent.
    n_shock_nodes : int
        Equal-probability nodes over the common factor (:func:`shock_nodes`).
    grid_size : int
        Grid cells for the convolution (:func:`sum_distribution`).
    amount : {"earned", "payable"}
        ``earned`` (default): the capped rebate, as ``accrue``'s ``earned`` and the
        forecast's ``expected_rebate``; ``payable``: what will be paid, 0 where the pool stays
        under the minimum payout (``accrue``'s ``payable``, the forecast's
        ``expected_payable``; the most likely amount is zeroed where the pool's most likely
        amount is under the minimum).

    Returns
    -------
    Liability

    Notes
    -----
    Each pool's rebate outcomes are its rebate at the forecast's basis quantiles (the
    rebate is non-decreasing in the basis), each standing for the probability between the
    neighbouring levels' midpoints; with the forecast's ``p_tier_k`` columns the masses are
    re-weighted so every tier gets its exact probability (:func:`tier_calibrated_atoms`).

    ``expected`` is the sum of ``expected_rebate`` (ASC 606 expected value; for a total over
    many contracts, the expected value of the total is the sum of the expected values).
    ``most_likely`` is the sum over contracts of each contract's most likely amount.
    The distribution of the total convolves the pools' rebate distributions under
    independence; it is then shifted by ``mean_adjustment`` (the exact expected value less
    the mean of the discretized outcomes, a measure of how coarse the quantile grid is) so
    that its mean equals ``expected`` exactly. With ``common_shock`` the total is a mixture
    over the factor of conditionally independent convolutions, and its mean differs from
    ``expected`` by the factor's effect through the tier cliffs.

    ``constrained`` is the ``percentile`` quantile of the total: the ASC 606 constraint includes
    variable consideration only to the extent a significant reversal is not probable, so for a
    rebate (which reduces revenue) a prudent liability is one the outcome exceeds with
    probability at most ``1 - percentile``.

    Examples
    --------
    DOMAIN.md example 5, one customer: 60% of 4,000 and 40% of 10,000.

    >>> acc = pd.DataFrame({"program_id": ["P"], "customer_id": ["C"], "pool_id": ["C"],
    ...                     "earned": [3_000.0]})
    >>> fc = pd.DataFrame({"expected_rebate": [6_400.0], "most_likely_rebate": [4_000.0]})
    >>> L = liability(acc, fc, rebate_values=[[4_000, 10_000]], rebate_probs=[[0.6, 0.4]])
    >>> L.total[["accrued", "expected", "most_likely", "p50", "constrained"]].iloc[0].tolist()
    [3000.0, 6400.0, 4000.0, 4000.0, 10000.0]
    """
    if not 0 < percentile < 1:
        raise ParameterError(f"percentile must be inside (0, 1), got {percentile}")
    _check_aligned(accrual, forecast)
    if amount not in AMOUNTS:
        raise ParameterError(f"amount must be one of {list(AMOUNTS)}, got {amount!r}")
    exp_col = "expected_rebate" if amount == "earned" else "expected_payable"
    for c in (exp_col, "most_likely_rebate"):
        if c not in forecast.columns:
            raise ParameterError(f"forecast: missing column {c!r}; have {list(forecast.columns)}")
    pools, code = _pool_frame(accrual)
    shock = 0.0 if common_shock is None else float(common_shock)

    if rebate_values is not None:
        if shock > 0:
            raise ParameterError("common_shock needs basis quantiles, not rebate outcomes")
        values, probs = _atoms(rebate_values, rebate_probs)
        if values.shape[0] != len(pools):
            raise ParameterError(
                f"rebate_values has {values.shape[0]} rows for {len(pools)} (program, pool) pairs"
            )
        scenario_values, scenario_probs, scenario_w = [values], [probs], [1.0]
        base_values, base_probs = values, probs
    else:
        if basis_quantiles is None:
            basis_quantiles, lv = _forecast_quantiles(forecast)
            levels = lv if levels is None else levels
        if basis_quantiles is None or levels is None or programs is None:
            raise ParameterError(
                "liability needs per-row outcome distributions: basis_quantiles with levels "
                "and programs (or a forecast carrying them), or rebate_values/rebate_probs"
            )
        _, vals, tiers, at_thr = pool_rebate_atoms(
            accrual, basis_quantiles, programs, amount=amount, return_tiers=True
        )
        base_values, base_probs = quantile_atoms(vals, levels)
        tier_cols = [c for c in forecast.columns if str(c).startswith("p_tier_")]
        if tier_cols and not shock > 0:
            # exact tier probabilities from the forecast (pool level: the pool's first row)
            tier_cols = sorted(tier_cols, key=lambda c: int(str(c)[7:]))
            first = np.full(len(pools), -1, dtype=np.int64)
            first[code[::-1]] = np.arange(len(code))[::-1]
            pt = forecast[tier_cols].to_numpy(dtype=float)[first]
            k1 = at_thr.shape[1] + 1
            pt = np.pad(pt, ((0, 0), (0, max(k1 - pt.shape[1], 0))))[:, :k1]
            base_values, base_probs = tier_calibrated_atoms(
                base_values, base_probs, tiers, at_thr, pt
            )
        scenario_values, scenario_probs, scenario_w = [base_values], [base_probs], [1.0]
        if shock > 0:
            z, w = shock_nodes(shock, n_nodes=n_shock_nodes)
            scenario_values, scenario_probs, scenario_w = [], [], list(w)
            for zk in z:  # a loop over a handful of quadrature nodes
                _, vals = pool_rebate_atoms(
                    accrual, basis_quantiles, programs, shock=float(zk), amount=amount
                )
                vals, probs = quantile_atoms(vals, levels)
                scenario_values.append(vals)
                scenario_probs.append(probs)

    # exact per-pool expected values (sum of members' forecasts) for the mean adjustment
    exp_row = forecast[exp_col].to_numpy(dtype=float)
    ml_row = forecast["most_likely_rebate"].to_numpy(dtype=float)
    if amount == "payable":
        ml_row = _payable_most_likely(accrual, ml_row, code, pools, programs)
    exp_pool = np.bincount(code, weights=exp_row, minlength=len(pools))
    pool_prog = pools["program_id"].astype(str).to_numpy()
    acc_prog = accrual["program_id"].astype(str).to_numpy()

    width = max(float(np.sum(v.max(axis=1) - v.min(axis=1))) for v in scenario_values)
    step = _nice_step(width / grid_size)

    def dist_for(mask):
        ds = [
            sum_distribution(v[mask], p[mask], step=step)
            for v, p in zip(scenario_values, scenario_probs, strict=True)
        ]
        d = ds[0] if len(ds) == 1 else _mixture(ds, scenario_w)
        base_mean = float(np.sum(base_values[mask] * base_probs[mask]))
        adj = float(exp_pool[mask].sum()) - base_mean
        return d.shifted(adj), adj

    def summary(mask_rows, mask_pools):
        d, adj = dist_for(mask_pools)
        qs = d.quantile(np.array([*REPORT_LEVELS, percentile]))
        return {
            "accrued": round(float(accrual[amount].to_numpy(dtype=float)[mask_rows].sum()), 2),
            "expected": round(float(exp_row[mask_rows].sum()), 2),
            "most_likely": round(float(ml_row[mask_rows].sum()), 2),
            "p10": round(float(qs[0]), 2),
            "p50": round(float(qs[1]), 2),
            "p90": round(float(qs[2]), 2),
            "constrained": round(float(qs[3]), 2),
            "distribution_mean": round(d.mean, 2),
            "mean_adjustment": round(adj, 2),
        }, d

    rows = []
    for pid in pd.unique(acc_prog):  # a loop over programs
        mr = acc_prog == pid
        mp = pool_prog == pid
        s, _ = summary(mr, mp)
        rows.append({"program_id": pid, "customers": int(mr.sum()), "pools": int(mp.sum()), **s})
    by_program = pd.DataFrame(rows)
    tot, dist = summary(np.ones(len(accrual), bool), np.ones(len(pools), bool))
    total = pd.DataFrame(
        [
            {
                "customers": len(accrual),
                "pools": len(pools),
                **tot,
                "percentile": percentile,
                "common_shock": shock,
            }
        ]
    )
    if abs(tot["mean_adjustment"]) > 0.01 * max(abs(tot["expected"]), 1.0):
        warnings.warn(
            f"the outcome grid's mean differs from the expected rebate by "
            f"{tot['mean_adjustment']:,.2f} (>1%); use finer quantile levels",
            stacklevel=2,
        )
    by_customer = pd.DataFrame(
        {
            "program_id": accrual["program_id"].to_numpy(),
            "customer_id": accrual["customer_id"].to_numpy(),
            "pool_id": accrual["pool_id"].to_numpy(),
            "accrued": accrual[amount].to_numpy(dtype=float),
            "expected": np.round(exp_row, 2),
            "most_likely": np.round(ml_row, 2),
        }
    )
    levels_out = np.arange(1, 1000) / 1000.0
    qv = dist.quantile(levels_out)
    distribution = pd.DataFrame(
        {"level": levels_out, "value": np.round(qv, 2), "cdf": dist.cdf(qv)}
    ).drop_duplicates("value", keep="last")
    notes = pd.DataFrame(
        {
            "item": [
                "independence",
                "common_shock",
                "percentile",
                "grid_step",
                "expected",
                "most_likely",
            ],
            "value": [
                "pools (customers, or buying groups for pooled programs) reach tiers "
                "independently; members of a pool share its tier",
                f"sd of log factor {shock:g}" + (" (independence)" if shock == 0 else ""),
                f"constrained = {percentile:.0%} quantile of the total",
                f"{step:g} [currency]; rounding adds at most n h^2/4 to the variance",
                "ASC 606 expected value: sum of expected end-of-period rebates",
                "ASC 606 most likely amount per contract, summed",
            ],
        }
    )
    return Liability(total, by_program, by_customer, distribution, notes, dist)
