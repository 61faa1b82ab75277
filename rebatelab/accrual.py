"""Stage two: accrual from per-member sums: pools, growth baselines, tiers, caps, payable.

Everything here runs on the compact per (program, customer) arrays produced by
:mod:`rebatelab.reduce`; nothing touches invoice lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import tiers
from ._arrays import cents, largest_remainder
from .programs import ProgramSet, load_programs
from .reduce import _sums

__all__ = ["accrue", "Schedule", "schedule", "evaluate", "ACCRUAL_COLUMNS"]

ACCRUAL_COLUMNS = [
    "program_id", "customer_id", "pool_id", "basis_type", "basis", "baseline", "growth",
    "pool_basis", "tier", "rate", "earned", "payable", "next_threshold", "gap_to_next",
    "earned_at_next", "pool_earned", "days_left", "flags",
]  # fmt: skip


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


def _basis_columns(programs: ProgramSet, which) -> tuple[str, ...]:
    """The sums :func:`accrue` needs: net amounts and/or quantities."""
    kinds = {p.basis for p in which}
    pairs = (("net_sales", "net_amount"), ("quantity", "quantity"))
    return tuple(c for k, c in pairs if k in kinds)


def _baselines(
    data, programs: ProgramSet, mem: pd.DataFrame, as_of, basis_col, *, backend, options
) -> np.ndarray:
    growth = np.array([p.is_growth for p in programs])[mem["program_idx"].to_numpy()]
    base = np.full(len(mem), np.nan)
    if growth.any():
        columns = _basis_columns(programs, [p for p in programs if p.is_growth])
        prior = _sums(
            data,
            programs,
            as_of=as_of,
            shift_years=1,
            columns=columns,
            backend=backend,
            only=[p.is_growth for p in programs],
            **options,
        )
        measured = np.where(basis_col, prior["quantity"], prior["net_amount"])
        base = np.where(growth, measured, np.nan)
    given = mem["baseline_given"].to_numpy(dtype=float)
    return np.where(growth & ~np.isnan(given), given, base)


def accrue(data, programs, as_of, *, backend: str = "numpy", **backend_options) -> pd.DataFrame:
    """Accrual status of every program and member customer as of a date.

    Parameters
    ----------
    data : RebateData
        A validated data folder (:func:`rebatelab.load_data`).
    programs : ProgramSet, path or YAML text
        The programs (:func:`rebatelab.load_programs`).
    as_of : date-like
        Lines dated after ``as_of`` are ignored; ``days_left`` counts from it.
    backend : {"numpy", "duckdb", "dask"}
        Where the lines are reduced to per (program, customer) sums (see
        :func:`rebatelab.period_sums`): in memory (default), DuckDB SQL streaming over the
        transactions or their Parquet files (out of core), or Dask (a cluster). The result
        is the same to the cent.
    **backend_options
        Passed to the backend, e.g. ``memory_limit="2GB"`` (DuckDB) or ``client=`` (Dask).

    Returns
    -------
    DataFrame
        One row per (program_id, customer_id), programs in file order, with:

        - ``pool_id``: the buying group for pooled programs, else the customer;
        - ``basis_type``: ``net_sales`` [currency] or ``quantity`` [units];
        - ``basis``: the member's qualifying basis to date; ``pool_basis``: the pool's;
        - ``baseline``, ``growth`` [fraction]: growth programs only (NaN otherwise);
        - ``tier`` (0 = none), ``rate`` [fraction] of the tier reached (by the pool);
        - ``earned`` [currency]: the member's share of the pool's capped rebate, in cents
          (shares add up to ``pool_earned`` exactly); ``payable``: earned if the pool reaches
          the minimum payout, else 0;
        - ``next_threshold``, ``gap_to_next`` [basis unit]: pool level, NaN at the top tier;
        - ``earned_at_next`` [currency]: the member's share if the pool reached the next tier;
        - ``days_left`` [days]: days of the period after ``as_of``;
        - ``flags``: ``;``-separated notes: ``no_baseline``, ``capped``,
          ``below_min_payout``, ``not_started``, ``period_ended``.

    Notes
    -----
    Tier thresholds are inclusive lower bounds: tier ``k`` is reached when
    ``basis >= threshold_k``. Amounts are rounded to cents half away from zero, after the cap;
    a pool's amount is shared pro rata to its members' positive basis by largest remainder.

    Examples
    --------
    >>> import rebatelab as rl
    >>> acc = rl.accrue(rl.load_data("data/sample"), "data/sample/programs.yaml",
    ...                 as_of="2026-06-30")  # doctest: +SKIP
    """
    programs = load_programs(programs)
    as_of = pd.Timestamp(as_of).normalize()
    sums = _sums(
        data,
        programs,
        as_of=as_of,
        shift_years=0,
        columns=_basis_columns(programs, programs),
        backend=backend,
        **backend_options,
    )
    plist = list(programs)
    pidx = sums["program_idx"].to_numpy()
    is_qty = np.array([p.basis == "quantity" for p in plist], dtype=bool)[pidx]
    basis = np.where(is_qty, sums["quantity"], sums["net_amount"])
    baseline = _baselines(
        data, programs, sums, as_of, is_qty, backend=backend, options=backend_options
    )

    # pools: tier, cap and minimum apply to the pool's sums
    pool_str, pool_names = pd.factorize(sums["pool_id"])
    pool_code, pool_keys = pd.factorize(pidx.astype(np.int64) * len(pool_names) + pool_str)
    n_pools = len(pool_keys)
    pool_basis = np.round(np.bincount(pool_code, weights=basis, minlength=n_pools), 6)
    has_base = ~np.isnan(baseline)
    pool_baseline = np.round(
        np.bincount(pool_code[has_base], weights=baseline[has_base], minlength=n_pools), 6
    )
    any_base = np.bincount(pool_code, weights=has_base, minlength=n_pools) > 0
    pool_baseline = np.where(any_base, pool_baseline, np.nan)
    pool_prog = np.asarray(pool_keys, dtype=np.int64) // max(len(pool_names), 1)
    sched = schedule(programs, pool_prog, baseline=pool_baseline)
    ev = evaluate(sched, pool_basis)

    share_w = np.maximum(basis, 0.0)
    pool_total = {k: cents(ev[k]) for k in ("earned", "payable")}
    at_next = ev["earned_at_next"]
    member = {k: _shares(v[pool_code], share_w, pool_code) / 100.0 for k, v in pool_total.items()}
    at_next_member = np.where(
        np.isnan(at_next[pool_code]),
        np.nan,
        _shares(cents(np.nan_to_num(at_next))[pool_code], share_w, pool_code) / 100.0,
    )

    start = np.array([np.datetime64(p.start, "D") for p in plist])[pidx]
    end = np.array([np.datetime64(p.end, "D") for p in plist])[pidx]
    as_of_d = np.datetime64(as_of.date(), "D")
    length = (end - start).astype(np.int64) + 1
    days_left = np.clip((end - as_of_d).astype(np.int64), 0, length)

    flag_parts = {
        "no_baseline": sched.no_baseline[pool_code],
        "capped": ev["capped"][pool_code],
        "below_min_payout": (pool_total["earned"] > 0)[pool_code]
        & (pool_total["payable"] == 0)[pool_code],
        "not_started": as_of_d < start,
        "period_ended": as_of_d >= end,
    }
    flag_code = np.zeros(len(sums), dtype=np.int64)
    for bit, mask in enumerate(flag_parts.values()):
        flag_code |= np.asarray(mask, dtype=np.int64) << bit
    names = list(flag_parts)
    flag_text = [
        ";".join(n for b, n in enumerate(names) if code >> b & 1) for code in range(1 << len(names))
    ]
    flags = pd.array(flag_text, dtype="string").take(flag_code)

    pool_b = pool_basis[pool_code]
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(
            sched.no_baseline[pool_code] | np.isnan(pool_baseline[pool_code]),
            np.nan,
            pool_b / pool_baseline[pool_code] - 1.0,
        )
    out = pd.DataFrame(
        {
            "program_id": sums["program_id"],
            "customer_id": sums["customer_id"],
            "pool_id": sums["pool_id"],
            "basis_type": pd.array([p.basis for p in plist], dtype="string").take(pidx),
            "basis": np.round(basis, 6),
            "baseline": baseline,
            "growth": growth,
            "pool_basis": np.round(pool_b, 6),
            "tier": ev["tier"][pool_code].astype(np.int64),
            "rate": ev["rate"][pool_code],
            "earned": member["earned"],
            "payable": member["payable"],
            "next_threshold": ev["next_threshold"][pool_code],
            "gap_to_next": np.round(ev["gap_to_next"][pool_code], 6),
            "earned_at_next": at_next_member,
            "pool_earned": pool_total["earned"][pool_code] / 100.0,
            "days_left": days_left,
            "flags": flags,
        }
    )
    for c in ("program_id", "customer_id", "pool_id", "basis_type", "flags"):
        out[c] = out[c].astype("string")
    return out
