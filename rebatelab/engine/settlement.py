"""The settlement engine: tiers, lump sums, growth bases, caps, minimum payout and pool shares."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rebatelab.money import largest_remainder
from rebatelab.programs import tiers
from rebatelab.programs.terms import load_programs

__all__ = ["Schedule", "schedule", "evaluate"]


@dataclass(frozen=True)
class Schedule:
    """Per-row tier schedules of many programs, padded to a common number of tiers.

    ``thresholds`` are in basis units (growth thresholds already multiplied out from the
    baseline; ``+inf`` where no tier can be reached), shape ``(n, K)``.
    """

    thresholds: np.ndarray
    rates: np.ndarray
    amounts: np.ndarray
    method: np.ndarray
    cap: np.ndarray
    min_payout: np.ndarray
    excess: np.ndarray
    baseline: np.ndarray
    no_baseline: np.ndarray


def schedule(programs, program_idx, *, baseline=None) -> Schedule:
    """Tier schedules for rows belonging to programs ``program_idx`` (indices into the set).

    Parameters
    ----------
    programs : ProgramSet or path
    program_idx : array_like of int, shape (n,)
        Position of each row's program in ``programs``.
    baseline : array_like, shape (n,), optional
        Baseline basis [basis unit] per row, used by growth programs.
    """
    programs = load_programs(programs)
    plist = list(programs)
    idx = np.asarray(program_idx, dtype=np.int64)
    k = max(len(p.tiers) for p in plist)

    def pad(values, fill):
        return np.array([np.pad(v, (0, k - len(v)), constant_values=fill) for v in values])

    thr = pad([p.thresholds for p in plist], np.inf)[idx]
    rates = pad([p.rates for p in plist], 0.0)[idx]
    amounts = pad([p.amounts for p in plist], 0.0)[idx]
    growth = np.array([p.is_growth for p in plist])[idx]
    excess = np.array([p.is_growth and p.growth.rebate_on == "excess" for p in plist])[idx]
    base = np.full(len(idx), np.nan) if baseline is None else np.asarray(baseline, dtype=float)
    usable = np.isfinite(base) & (base > 0)
    with np.errstate(invalid="ignore"):
        grown = base[:, None] * (1.0 + thr)
    thr = np.where(growth[:, None], np.where(usable[:, None], grown, np.inf), thr)
    return Schedule(
        thresholds=thr,
        rates=rates,
        amounts=amounts,
        method=np.array([p.method for p in plist])[idx],
        cap=np.array([np.nan if p.cap is None else p.cap for p in plist])[idx],
        min_payout=np.array([np.nan if p.min_payout is None else p.min_payout for p in plist])[idx],
        excess=excess,
        baseline=base,
        no_baseline=growth & ~usable,
    )


def evaluate(sched: Schedule, basis) -> dict[str, np.ndarray]:
    """Tier, rate, earned (capped, unrounded) and next-tier figures for pool-level bases.

    Parameters
    ----------
    sched : Schedule
        From :func:`schedule`, one row per pool.
    basis : array_like, shape (n,) or (n, m)
        End-of-period (or to-date) pool basis [basis unit]; a 2-D array evaluates ``m``
        values per row at once (e.g. forecast quantiles or scenarios).

    Returns
    -------
    dict of ndarray
        ``tier, rate, earned, payable, next_threshold, gap_to_next, earned_at_next, capped``,
        each of the shape of ``basis``. ``earned`` is after the cap; ``payable`` applies the
        minimum payout.
    """
    b = np.asarray(basis, dtype=float)
    shape = b.shape
    reps = 1 if b.ndim == 1 else shape[1]

    def rows(a):
        return a if reps == 1 else np.repeat(a, reps, axis=0)

    flat = b.reshape(-1)
    thr, rates, amounts = rows(sched.thresholds), rows(sched.rates), rows(sched.amounts)
    method = rows(sched.method)
    base_line = rows(sched.baseline)
    rebate_base = np.where(rows(sched.excess), np.maximum(flat - base_line, 0.0), flat)
    kw = dict(thresholds=thr, rates=rates, amounts=amounts, method=method)
    raw = tiers.earned(flat, rebate_base=rebate_base, **kw)
    cap = rows(sched.cap)
    earned = tiers.apply_cap(raw, cap=cap)
    # evaluated at the next threshold itself; the excess over the baseline is re-derived there
    # (shifting a base clipped at 0 by the gap would overstate it)
    nxt = tiers.next_threshold(flat, thresholds=thr)
    at_base = np.where(rows(sched.excess), np.maximum(nxt - base_line, 0.0), nxt)
    at_next = tiers.apply_cap(tiers.earned(nxt, rebate_base=at_base, **kw), cap=cap)
    at_next = np.where(np.isnan(nxt), np.nan, at_next)
    gap = nxt - flat
    out = {
        "tier": tiers.tier_reached(flat, thresholds=thr),
        "rate": tiers.tier_rate(flat, thresholds=thr, rates=rates),
        "earned": earned,
        "payable": tiers.payable(earned, min_payout=rows(sched.min_payout)),
        "next_threshold": nxt,
        "gap_to_next": gap,
        "earned_at_next": at_next,
        "capped": raw > earned,
    }
    return {k: v.reshape(shape) for k, v in out.items()}


def _shares(total_cents: np.ndarray, weights: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Largest-remainder shares, sorting only the pools with several members.

    A pool of one member gets its total: what :func:`largest_remainder` gives it too.
    """
    single = np.bincount(groups)[groups] == 1
    out = np.asarray(total_cents, dtype=np.int64).copy()
    multi = ~single
    if multi.any():
        sub = np.unique(groups[multi], return_inverse=True)[1].ravel()
        out[multi] = largest_remainder(out[multi], weights[multi], sub)
    return out
