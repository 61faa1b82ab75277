"""The sum plan and the numpy kernels that reduce lines to per (program, customer) sums."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebatelab.data.tables import RebateData
from rebatelab.engine.eligibility import members, product_eligibility
from rebatelab.engine.lines import Lines, to_day
from rebatelab.programs.terms import Program, load_programs

__all__ = ["SumPlan", "sum_plan", "reduce_lines", "finish_sums"]


_DAY0 = dt.date(1970, 1, 1)


def _years_back(d: dt.date, years: int) -> dt.date:
    """The same day ``years`` earlier (29 February -> 28 February), as pd.DateOffset does."""
    if not years:
        return d
    try:
        return d.replace(year=d.year - years)
    except ValueError:
        return d.replace(year=d.year - years, day=28)


def _period_days(p: Program, as_of, shift_years: int = 0) -> tuple[int, int]:
    end = min(p.end, pd.Timestamp(as_of).date())
    start = _years_back(p.start, shift_years)
    return (start - _DAY0).days, (_years_back(end, shift_years) - _DAY0).days


def _program_codes(lines: Lines, mem: pd.DataFrame, pi: int):
    """Lookup from customer code to member row (-1 for non-members) for program ``pi``."""
    sub = mem.index[mem["program_idx"].to_numpy() == pi].to_numpy()
    lookup = np.full(lines.n_customers + 1, -1, dtype=np.int64)
    lookup[mem["customer_code"].to_numpy()[sub]] = sub
    from_day = np.full(len(mem), np.iinfo(np.int64).min)
    eo = mem["enrolled_on"].to_numpy()
    has = ~np.isnat(eo)
    from_day[has] = to_day(eo[has])
    return lookup, from_day


#: Largest dense (customer x product class) grid the in-memory path allocates per day segment
#: [cells]; beyond it, sums fall back to one pass over each program's window.
GRID_MAX_CELLS = 1 << 24


#: Decimals the sums are rounded to, so that they do not depend on summation order.
SUM_DECIMALS = 6


SUM_COLUMNS = ("net_amount", "quantity", "n_lines")


@dataclass(frozen=True)
class SumPlan:
    """What the reduction needs besides the lines: members, windows, product eligibility.

    Small (programs x products, plus one row per member), so that it can be shipped to
    Dask workers. Built by :func:`sum_plan`.
    """

    members: pd.DataFrame
    windows: list[tuple[int, int]]
    program_idx: np.ndarray
    customer_code: np.ndarray
    from_day: np.ndarray
    eligibility: np.ndarray
    customer_ids: pd.Index
    product_ids: pd.Index


def sum_plan(data: RebateData, programs, *, as_of, shift_years: int = 0) -> SumPlan:
    """The :class:`SumPlan` of ``programs`` on ``data`` up to ``as_of`` (see period_sums)."""
    programs = load_programs(programs)
    mem = members(data, programs)
    plist = list(programs)
    m = len(mem)
    pidx = mem["program_idx"].to_numpy(dtype=np.int64) if m else np.zeros(0, np.int64)
    ccode = mem["customer_code"].to_numpy(dtype=np.int64) if m else np.zeros(0, np.int64)
    from_day = np.full(m, np.iinfo(np.int64).min)
    if shift_years == 0 and m:
        eo = mem["enrolled_on"].to_numpy()
        has = ~np.isnat(eo)
        from_day[has] = to_day(eo[has])
    return SumPlan(
        members=mem,
        windows=[_period_days(p, as_of, shift_years) for p in plist],
        program_idx=pidx,
        customer_code=ccode,
        from_day=from_day,
        eligibility=np.stack([product_eligibility(data, p) for p in plist]),
        customer_ids=pd.Index(data.customers["customer_id"]),
        product_ids=pd.Index(data.products["product_id"]),
    )


def reduce_lines(lines: Lines, plan: SumPlan, *, columns=SUM_COLUMNS) -> dict[str, np.ndarray]:
    """Unrounded sums per member row of ``plan.members`` over ``lines`` (any subset of lines).

    Sums over disjoint subsets of the lines add up: this is what each Dask partition runs.
    """
    m = len(plan.members)
    sums = {c: np.zeros(m) for c in SUM_COLUMNS}
    if not m or not len(lines.day):
        return sums
    windows, pidx = plan.windows, plan.program_idx
    first = np.array([w[0] for w in windows], dtype=np.int64)[pidx]
    late = plan.from_day > first  # enrolled after the start: summed over their own lines
    cls_of_prod, cls_elig = _product_classes(plan.eligibility)
    rows = _rows_by_program(pidx, len(windows))
    late_rows = [r[late[r]] for r in rows]
    if _grid_is_cheaper(lines, windows, cls_elig.shape[1]):
        grid_rows = [r[~late[r]] for r in rows]
        ccode = plan.customer_code
        _sums_by_segment(lines, windows, grid_rows, ccode, cls_of_prod, cls_elig, columns, sums)
    else:
        late_rows = rows
    _sums_by_program(
        lines,
        windows,
        late_rows,
        plan.customer_code,
        plan.from_day,
        plan.eligibility,
        columns,
        sums,
    )
    return sums


def finish_sums(plan: SumPlan, sums: dict[str, np.ndarray]) -> pd.DataFrame:
    """:func:`members` with the sums, rounded to :data:`SUM_DECIMALS` (counts to integers)."""
    out = plan.members.copy(deep=False)
    out["net_amount"] = np.round(sums["net_amount"], SUM_DECIMALS)
    out["quantity"] = np.round(sums["quantity"], SUM_DECIMALS)
    out["n_lines"] = np.round(sums["n_lines"]).astype(np.int64)
    return out


def _rows_by_program(pidx: np.ndarray, n_programs: int) -> list[np.ndarray]:
    """Member row numbers of each program (members are grouped by program)."""
    order = np.argsort(pidx, kind="stable")
    cuts = np.cumsum(np.bincount(pidx, minlength=n_programs))[:-1]
    return np.split(order, cuts)


def _product_classes(elig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group products whose eligibility is the same in every program.

    Parameters
    ----------
    elig : ndarray of bool, shape (n_programs, n_products + 1)

    Returns
    -------
    class_of_product : ndarray of int64, shape (n_products + 1,)
    class_eligibility : ndarray of float, shape (n_programs, n_classes)
        1.0 where the program accepts the class.
    """
    packed = np.ascontiguousarray(np.packbits(elig, axis=0).T)
    key = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, cls = np.unique(key, return_index=True, return_inverse=True)
    return cls.ravel().astype(np.int64), elig[:, first].astype(float)


def _grid_is_cheaper(lines: Lines, windows, n_classes: int) -> bool:
    """Segment grids when they cost less than one pass over each program's window."""
    cells = (lines.n_customers + 1) * n_classes
    if cells > GRID_MAX_CELLS:
        return False
    live = [(f, la) for f, la in windows if la >= f]
    if not live:
        return False
    bounds = np.unique([d for f, la in live for d in (f, la + 1)])
    cut = np.searchsorted(lines.day, bounds)
    per_program = sum(int(np.diff(np.searchsorted(lines.day, [f, la + 1]))[0]) for f, la in live)
    grid = int(cut[-1] - cut[0]) * 2 + (len(bounds) - 1) * cells
    return grid < per_program * 4


def _sums_by_segment(lines, windows, rows, ccode, cls_of_prod, cls_elig, columns, sums):
    """Sums per (customer, product class) in each day segment, gathered per program."""
    n_classes = cls_elig.shape[1]
    n_rows = lines.n_customers + 1
    live = [(pi, f, la) for pi, (f, la) in enumerate(windows) if la >= f and len(rows[pi])]
    if not live:
        return
    bounds = np.unique([d for _, f, la in live for d in (f, la + 1)])
    cut = np.searchsorted(lines.day, bounds)
    for s in range(len(bounds) - 1):
        lo, hi = int(cut[s]), int(cut[s + 1])
        active = [pi for pi, f, la in live if f <= bounds[s] and la + 1 >= bounds[s + 1]]
        if hi == lo or not active:
            continue
        key = lines.customer[lo:hi] * n_classes + cls_of_prod[lines.product[lo:hi]]
        for col in columns:
            weights = None if col == "n_lines" else getattr(lines, col)[lo:hi]
            grid = np.bincount(key, weights=weights, minlength=n_rows * n_classes)
            grid = grid.reshape(n_rows, n_classes).astype(float, copy=False)
            for pi in active:
                r = rows[pi]
                sums[col][r] += grid[ccode[r]] @ cls_elig[pi]


def _sums_by_program(lines, windows, rows, ccode, from_day, elig, columns, sums):
    """One pass over each program's window, for the given member rows only."""
    lookup = np.full(lines.n_customers + 1, -1, dtype=np.int64)
    for pi, (f, la) in enumerate(windows):
        r = rows[pi]
        if la < f or not len(r):
            continue
        w = lines.window(f, la)
        lookup[ccode[r]] = r
        who = lookup[lines.customer[w]]
        ok = (who >= 0) & elig[pi][lines.product[w]]
        ok &= lines.day[w] >= from_day[np.maximum(who, 0)]
        who = who[ok]
        for col in columns:
            weights = None if col == "n_lines" else getattr(lines, col)[w][ok]
            sums[col] += np.bincount(who, weights=weights, minlength=len(sums[col]))
        lookup[ccode[r]] = -1
