"""The settlement engine: tiers, lump sums, growth bases, caps, minimum payout and pool shares."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

import numpy as np

from rebatelab.errors import ParameterError
from rebatelab.money import largest_remainder
from rebatelab.programs import tiers
from rebatelab.programs.terms import load_programs

__all__ = ["Schedule", "schedule", "evaluate", "rebate_base"]


@dataclass(frozen=True)
class Schedule:
    """Per-row tier schedules of many programs, padded to a common number of tiers.

    ``thresholds`` are in basis units (growth thresholds already multiplied out from the
    baseline, exactly, by :func:`~rebatelab.programs.tiers.growth_thresholds`; ``+inf``
    where no tier can be reached), shape ``(n, K)``.
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

    def take(self, rows) -> Schedule:
        """The schedules of some rows (integer positions or a boolean mask).

        Parameters
        ----------
        rows : array_like of int or bool

        Returns
        -------
        Schedule
        """
        return Schedule(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def trimmed(self) -> Schedule:
        """The same schedules without the padding tiers no row has (``+inf`` in every row).

        Padding never changes a figure; dropping it saves work when the rows all belong to
        programs with fewer tiers than the widest of the set (a what-if candidate).
        """
        real = (
            np.any(np.isfinite(self.thresholds), axis=0)
            | np.any(self.rates != 0, axis=0)
            | np.any(self.amounts != 0, axis=0)
        )
        k = max(int(np.flatnonzero(real).max(initial=0)) + 1, 1)
        if k == self.thresholds.shape[1]:
            return self
        cut = {n: getattr(self, n)[:, :k] for n in ("thresholds", "rates", "amounts")}
        return dataclasses.replace(self, **cut)


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
    thr = thr.copy()
    for i, p in enumerate(plist):  # growth thresholds exact to the cent, one program at a time
        rows = np.flatnonzero(growth & (idx == i))
        if p.is_growth and len(rows):
            thr[rows, : len(p.tiers)] = tiers.growth_thresholds(base[rows], fractions=p.thresholds)
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


def evaluate(sched: Schedule, basis, *, next_tier: bool = True) -> dict[str, np.ndarray]:
    """Tier, rate, earned (capped, unrounded) and next-tier figures for pool-level bases.

    Parameters
    ----------
    sched : Schedule
        From :func:`schedule`, one row per pool.
    basis : array_like, shape (n,) or (n, m)
        End-of-period (or to-date) pool basis [basis unit]; a 2-D array evaluates ``m``
        values per row at once (forecast quantiles, what-if scenarios), without repeating
        the schedule.

    Returns
    -------
    dict of ndarray
        Each of the shape of ``basis``: ``tier`` (0 = none), ``rate`` [fraction], ``earned``
        [currency] (after the cap), ``payable`` [currency] (``earned`` when it reaches the
        minimum payout, else 0), ``next_threshold`` [basis unit], ``gap_to_next`` [basis
        unit], ``earned_at_next`` and ``payable_at_next`` [currency] (the same amounts were
        the basis exactly the next threshold), ``capped`` (bool). The four next-tier figures
        are NaN at the top tier (or when no tier can be reached). Arrays may share memory
        (``payable`` is ``earned`` when no row has a minimum payout): copy before writing.

    Notes
    -----
    Growth programs paying on the excess multiply the rate by
    :func:`~rebatelab.programs.tiers.excess_over` of the basis, re-derived at the next
    threshold (shifting a base clipped at 0 by the gap would overstate it).

    Examples
    --------
    Worked example 2 of DOMAIN.md, retroactive, at two bases at once:

    >>> from rebatelab.programs.terms import ProgramSet
    >>> ps = ProgramSet.from_programs([{"id": "X", "start": "2025-01-01",
    ...     "end": "2025-12-31", "tiers": [{"from": 100_000, "rate": 0.01},
    ...                                    {"from": 200_000, "rate": 0.02}]}])
    >>> ev = evaluate(schedule(ps, [0]), [[150_000.0, 250_000.0]])
    >>> ev["earned"].tolist(), ev["payable_at_next"].tolist()
    ([[1500.0, 5000.0]], [[4000.0, nan]])
    """
    b = np.asarray(basis, dtype=float)
    n = len(sched.thresholds)
    if b.ndim not in (1, 2) or b.shape[0] != n:
        raise ParameterError(
            f"basis must have shape ({n},) or ({n}, m) for a schedule of {n} rows; got {b.shape}"
        )

    def rows(a):  # per-row values broadcast along the columns of a 2-D basis
        return a if b.ndim == 1 else a[:, None]

    kw = dict(
        thresholds=sched.thresholds, rates=sched.rates, amounts=sched.amounts, method=sched.method
    )
    capped_rows = not np.all(np.isnan(sched.cap))
    cap, min_payout = rows(sched.cap), rows(sched.min_payout)

    minimum_rows = not np.all(np.isnan(sched.min_payout))

    def apply_cap(e):
        return tiers.apply_cap(e, cap=cap) if capped_rows else e

    has_minimum = ~np.isnan(sched.min_payout)

    def payable(e):  # without a minimum payout in any row, the earned array itself
        if not minimum_rows:
            return e
        if has_minimum.all():
            return tiers.payable(e, min_payout=min_payout)
        # the cents comparison on the rows with a minimum only (the others pay what they earn)
        rows_min = np.flatnonzero(has_minimum)
        out = e.copy()
        out[rows_min] = tiers.payable(e[rows_min], min_payout=min_payout[rows_min])
        return out

    fig = tiers.tier_figures(b, rebate_base=rebate_base(sched, b), **kw)
    raw = fig["earned"]
    earned = apply_cap(raw)
    if not next_tier:
        return {
            "tier": fig["tier"],
            "rate": fig["rate"],
            "earned": earned,
            "payable": payable(earned),
            "capped": raw > earned,
        }
    nxt = fig["next_threshold"]
    top = np.isnan(nxt)
    at_next = apply_cap(tiers.earned(nxt, rebate_base=rebate_base(sched, nxt), **kw))
    np.copyto(at_next, np.nan, where=top)  # a fresh array (NaN there already, but capped)
    pay_next = payable(at_next)
    if pay_next is not at_next:
        np.copyto(pay_next, np.nan, where=top)
    return {
        "tier": fig["tier"],
        "rate": fig["rate"],
        "earned": earned,
        "payable": payable(earned),
        "next_threshold": nxt,
        "gap_to_next": nxt - b,
        "earned_at_next": at_next,
        "payable_at_next": pay_next,
        "capped": raw > earned,
    }


def rebate_base(sched: Schedule, basis) -> np.ndarray:
    """What the retroactive rate multiplies [basis unit]: the basis, or its growth excess.

    Rows of growth programs paying on the excess get
    :func:`~rebatelab.programs.tiers.excess_over` the row's baseline; the others the basis.

    Parameters
    ----------
    sched : Schedule
    basis : array_like, shape (n,) or (n, m)

    Returns
    -------
    ndarray
        Of the shape of ``basis``.
    """
    b = np.asarray(basis, dtype=float)
    extra = (1,) * (b.ndim - 1)
    excess = sched.excess.reshape(-1, *extra)
    if not excess.any():
        return b
    with np.errstate(invalid="ignore"):
        over = tiers.excess_over(b, baseline=sched.baseline.reshape(-1, *extra))
    return np.where(excess, over, b)


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
