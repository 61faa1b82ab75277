"""Stage two: accrual from per-member sums: pools, growth baselines, tiers, caps, payable.

Everything here runs on the compact per (program, customer) arrays produced by
:func:`rebatelab.engine.stage_one.reduce`; nothing touches invoice lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebatelab.engine.reduction import _sums
from rebatelab.engine.settlement import _shares, evaluate, schedule
from rebatelab.engine.stage_one import Reduction
from rebatelab.errors import ParameterError
from rebatelab.money import cents
from rebatelab.programs.terms import ProgramSet, load_programs

__all__ = ["accrue", "accrue_sums", "ACCRUAL_COLUMNS"]


ACCRUAL_COLUMNS = [
    "program_id", "customer_id", "pool_id", "basis_type", "basis", "baseline", "growth",
    "pool_basis", "tier", "rate", "earned", "payable", "next_threshold", "gap_to_next",
    "earned_at_next", "pool_earned", "days_left", "flags",
]  # fmt: skip


def _basis_columns(programs: ProgramSet, which) -> tuple[str, ...]:
    """The sums :func:`accrue` needs: net amounts and/or quantities."""
    kinds = {p.basis for p in which}
    pairs = (("net_sales", "net_amount"), ("quantity", "quantity"))
    return tuple(c for k, c in pairs if k in kinds)


def _growth_baseline_sums(data, programs: ProgramSet, as_of, *, backend, options):
    """Last year's sums of the growth programs' members (None without growth programs)."""
    if not any(p.is_growth for p in programs):
        return None
    return _sums(
        data,
        programs,
        as_of=as_of,
        shift_years=1,
        columns=_basis_columns(programs, [p for p in programs if p.is_growth]),
        backend=backend,
        only=[p.is_growth for p in programs],
        **options,
    )


def _baselines(programs: ProgramSet, mem: pd.DataFrame, prior, basis_col) -> np.ndarray:
    growth = np.array([p.is_growth for p in programs], dtype=bool)[mem["program_idx"].to_numpy()]
    base = np.full(len(mem), np.nan)
    if growth.any() and prior is not None:
        measured = np.where(basis_col, prior["quantity"], prior["net_amount"])
        base = np.where(growth, measured, np.nan)
    given = mem["baseline_given"].to_numpy(dtype=float)
    return np.where(growth & ~np.isnan(given), given, base)


def _from_reduction(red, programs, as_of):
    """The reduction's programs and as-of day, checking any that the caller also passed."""
    if programs is not None and programs is not red.programs:
        raise ParameterError(
            "accrue(reduction): the programs are the reduction's; pass programs=None "
            "(or reduce again with the other programs)"
        )
    if as_of is not None and pd.Timestamp(as_of).normalize() != red.as_of:
        raise ParameterError(
            f"accrue(reduction): as_of {as_of} differs from the reduction's {red.as_of.date()}; "
            "reduce again for another date"
        )
    return red.programs, red.as_of


def accrue(
    data, programs=None, as_of=None, *, backend: str = "numpy", **backend_options
) -> pd.DataFrame:
    """Accrual status of every program and member customer as of a date.

    Parameters
    ----------
    data : RebateData or Reduction
        A validated data folder (:func:`rebatelab.load_data`), or stage one's result
        (:func:`rebatelab.reduce`), whose programs and as-of day are then used.
    programs : ProgramSet, path or YAML text
        The programs (:func:`rebatelab.load_programs`); not needed with a Reduction.
    as_of : date-like
        Lines dated after ``as_of`` are ignored; ``days_left`` counts from it. Not needed
        with a Reduction.
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
    >>> data, programs = rl.load_sample()
    >>> acc = rl.accrue(data, programs, "2026-06-30")
    >>> bool((acc["payable"] <= acc["earned"] + 1e-9).all())
    True
    """
    if isinstance(data, Reduction):
        programs, as_of = _from_reduction(data, programs, as_of)
        return accrue_sums(programs, as_of, data.period, data.baseline)
    if programs is None or as_of is None:
        raise ParameterError("accrue(data, programs, as_of): programs and as_of are required")
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
    prior = _growth_baseline_sums(data, programs, as_of, backend=backend, options=backend_options)
    return accrue_sums(programs, as_of, sums, prior)


def accrue_sums(programs: ProgramSet, as_of, sums: pd.DataFrame, prior) -> pd.DataFrame:
    """Stage two of :func:`accrue`: the accrual from period sums and last year's sums.

    Parameters
    ----------
    programs : ProgramSet
    as_of : Timestamp
        The as-of day.
    sums : DataFrame
        :func:`rebatelab.engine.reduction.period_sums` (``Reduction.period``).
    prior : DataFrame or None
        The same over the same dates one year earlier (``Reduction.baseline``), read for
        growth programs only; None when there is none.

    Returns
    -------
    DataFrame
        As :func:`accrue`.
    """
    as_of = pd.Timestamp(as_of).normalize()
    plist = list(programs)
    pidx = sums["program_idx"].to_numpy()
    is_qty = np.array([p.basis == "quantity" for p in plist], dtype=bool)[pidx]
    basis = np.where(is_qty, sums["quantity"], sums["net_amount"])
    baseline = _baselines(programs, sums, prior, is_qty)

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
