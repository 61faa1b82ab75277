"""Stage one: reduce invoice lines to compact per (program, customer[, day]) sums.

This is the only module that touches lines. Everything downstream (tier math, forecasting,
simulation, liability) runs on the arrays it returns. Lines are turned once into integer codes
sorted by day (cached on the :class:`~rebatelab.io.RebateData`), so that each program's period
is a contiguous slice and its sums are one ``np.bincount``.

Counting rule: a line counts toward a program when its date is within
``[start, min(end, as_of)]`` (and on or after the customer's ``enrolled_on``), its product
passes the program's product filters, and its customer is a member of the program (enrolled,
or eligible when enrollment is automatic; a variant's customers count under the variant only).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DataValidationError, ParameterError, ProgramFileError
from .io import RebateData
from .programs import Program, load_programs

__all__ = [
    "Lines",
    "prepare_lines",
    "members",
    "product_eligibility",
    "period_sums",
    "SumPlan",
    "sum_plan",
    "reduce_lines",
    "finish_sums",
    "lines_from_frame",
    "daily_sums",
    "exclusions",
    "reconcile",
    "to_day",
    "EXCLUSION_REASONS",
]

_EPOCH = np.datetime64("1970-01-01", "D")

#: Why a line dated inside a program's period did not count toward it, in order of precedence.
EXCLUSION_REASONS = (
    "unknown_customer",
    "unknown_product",
    "customer_not_eligible",
    "customer_not_enrolled",
    "customer_in_variant",
    "before_enrollment",
    "product_not_eligible",
)


def to_day(x) -> np.ndarray | int:
    """Dates to integer days since 1970-01-01."""
    if isinstance(x, dt.date | pd.Timestamp | str | np.datetime64):
        return int((np.datetime64(pd.Timestamp(x).date(), "D") - _EPOCH).astype(np.int64))
    return (np.asarray(x, dtype="datetime64[D]") - _EPOCH).astype(np.int64)


@dataclass(frozen=True)
class Lines:
    """Invoice lines as integer-coded arrays sorted by day.

    ``customer`` and ``product`` are codes into the customers / products tables, with
    ``n_customers`` / ``n_products`` standing for an unknown id. ``row`` maps back to the
    transactions table's row number. ``invoice`` (integer invoice codes) is computed on first
    use: accrual does not need it.
    """

    day: np.ndarray
    customer: np.ndarray
    product: np.ndarray
    net_amount: np.ndarray
    quantity: np.ndarray
    row: np.ndarray
    n_customers: int
    n_products: int
    invoice_ids: pd.Series | None = None

    @functools.cached_property
    def invoice(self) -> np.ndarray:
        """Invoice code of each line (order of first appearance in the transactions)."""
        codes = pd.factorize(self.invoice_ids)[0].astype(np.int64, copy=False)
        return codes[self.row]

    def window(self, first_day: int, last_day: int) -> slice:
        """Slice of the lines dated within [first_day, last_day]."""
        lo, hi = np.searchsorted(self.day, [first_day, last_day + 1])
        return slice(int(lo), int(hi))


def _codes(values: pd.Series, index: pd.Index) -> np.ndarray:
    """Positions of ``values`` in ``index`` (``len(index)`` when absent), via distinct values."""
    codes, uniques = pd.factorize(values)
    pos = index.get_indexer(uniques)
    pos = np.where(pos < 0, len(index), pos)
    return np.append(pos, len(index))[codes]  # a missing value (code -1) is unknown too


def prepare_lines(data: RebateData) -> Lines:
    """Integer-code and sort the transaction lines once per data object (cached)."""
    if "lines" in data.cache:
        return data.cache["lines"]
    if getattr(data, "lines_path", None) is not None:
        raise ParameterError(
            f"{data.source}: the transactions were loaded lazily (load_data(lines='lazy')) and "
            "are not in memory; use backend='duckdb' or backend='dask', or load them eagerly"
        )
    lines = lines_from_frame(
        data.transactions,
        pd.Index(data.customers["customer_id"]),
        pd.Index(data.products["product_id"]),
    )
    data.cache["lines"] = lines
    return lines


def lines_from_frame(tx: pd.DataFrame, cust_index: pd.Index, prod_index: pd.Index) -> Lines:
    """:class:`Lines` of a transactions frame (or a part of one) against master id indexes."""
    cust = _codes(tx["customer_id"], cust_index)
    prod = _codes(tx["product_id"], prod_index)
    day = to_day(tx["date"].to_numpy())
    net = tx["net_amount"].to_numpy(dtype=float)
    qty = tx["quantity"].to_numpy(dtype=float)
    if len(day) and np.all(day[1:] >= day[:-1]):  # already in date order: no copies
        order = np.arange(len(day), dtype=np.int64)
        pick = slice(None)
    else:
        order = np.argsort(day, kind="stable").astype(np.int64)
        pick = order
    lines = Lines(
        day=day[pick],
        customer=cust[pick].astype(np.int64, copy=False),
        product=prod[pick].astype(np.int64, copy=False),
        net_amount=net[pick],
        quantity=qty[pick],
        row=order,
        n_customers=len(cust_index),
        n_products=len(prod_index),
        invoice_ids=tx["invoice_id"] if "invoice_id" in tx.columns else None,
    )
    return lines


def _attr_mask(
    table: pd.DataFrame,
    filt: dict | None,
    *,
    key: str,
    what: str,
    pid: str,
    any_of: bool = False,
    cache: dict | None = None,
) -> np.ndarray:
    """Rows of a master table matching an attribute filter (ANDed, or ORed with any_of)."""
    n = len(table)
    if not filt:
        return np.zeros(n, bool) if any_of else np.ones(n, bool)
    masks = []
    for attr, allowed in filt.items():
        if attr not in table.columns:
            raise DataValidationError(
                f"program {pid}: field {what}: attribute {attr!r} is not a column of the "
                f"{key} table (columns: {list(table.columns)})"
            )
        codes, uniques = _attr_codes(table, attr, cache)
        masks.append(np.append(np.isin(uniques, list(allowed)), False)[codes])
    return np.logical_or.reduce(masks) if any_of else np.logical_and.reduce(masks)


def _attr_codes(table: pd.DataFrame, attr: str, cache: dict | None):
    """Integer codes (-1 = missing) and distinct values of an attribute column (cached)."""
    key = ("attr_codes", id(table), attr)
    hit = cache.get(key) if cache is not None else None
    if hit is not None and hit[0] is table:
        return hit[1], hit[2]
    codes, uniques = pd.factorize(table[attr].astype("string"))
    uniques = np.asarray(uniques, dtype=object)
    if cache is not None:
        cache[key] = (table, codes, uniques)
    return codes, uniques


def product_eligibility(data: RebateData, program: Program) -> np.ndarray:
    """Boolean per product (plus a False slot for unknown products): eligible for the program."""
    p = data.products
    ok = _attr_mask(
        p, program.products, key="products", what="products", pid=program.id, cache=data.cache
    )
    ok &= ~_attr_mask(
        p,
        program.exclude_products,
        key="products",
        what="exclude_products",
        pid=program.id,
        any_of=True,
        cache=data.cache,
    )
    return np.append(ok, False)


def customer_eligibility(data: RebateData, program: Program) -> np.ndarray:
    """Boolean per customer: passes the program's customer filter."""
    return _attr_mask(
        data.customers,
        program.customers,
        key="customers",
        what="customers",
        pid=program.id,
        cache=data.cache,
    )


def members(data: RebateData, programs) -> pd.DataFrame:
    """The customers each program accrues for.

    Parameters
    ----------
    data : RebateData
    programs : ProgramSet or path

    Returns
    -------
    DataFrame
        One row per (program_id, customer_id), programs in file order and customers in
        customer-table order, with ``customer_code``, ``pool_id`` (the buying group for pooled
        programs, else the customer), ``enrolled_on`` (NaT when not given) and
        ``baseline_given`` [basis unit] (NaN when not given).

    Raises
    ------
    ProgramFileError
        Enrollments that name an unknown program, or customers who fail the program's
        customer filter; a variant's ``customers_only`` naming unknown customers.
    """
    programs = load_programs(programs)
    key = ("members", id(programs))
    hit = data.cache.get(key)
    if hit is not None and hit[0] is programs:
        return hit[1]
    cu = data.customers
    n = len(cu)
    cust_ids = cu["customer_id"].to_numpy(dtype=object)
    cust_index = pd.Index(cu["customer_id"])
    en = data.enrollments
    en_prog = pd.Index(programs.ids).get_indexer(en["program_id"].astype(object))
    # enrollments of programs left out of a subset of the file are not errors, typos are
    unknown = ~en["program_id"].isin(list(programs.known_ids)).to_numpy(dtype=bool)
    if unknown.any():
        bad = sorted(set(en.loc[unknown, "program_id"]))
        raise ProgramFileError(
            f"{data.source}: enrollments: {int(unknown.sum())} row(s) name programs not in "
            f"{programs.source}: {bad[:5]}"
        )
    en_cust = cust_index.get_indexer(en["customer_id"])
    en_on = (
        en["enrolled_on"].to_numpy(dtype="datetime64[ns]")
        if "enrolled_on" in en.columns
        else np.full(len(en), np.datetime64("NaT"), dtype="datetime64[ns]")
    )
    en_base = (
        en["baseline"].to_numpy(dtype=float)
        if "baseline" in en.columns
        else np.full(len(en), np.nan)
    )
    in_set = np.flatnonzero(en_prog >= 0)  # enrollments of programs outside the set wait
    en_rows = np.split(
        in_set[np.argsort(en_prog[in_set], kind="stable")],
        np.cumsum(np.bincount(en_prog[in_set], minlength=len(programs)))[:-1],
    )
    group = cu["buying_group"].astype("string")
    has_group = (group.notna() & (group.str.len() > 0)).fillna(False).to_numpy(dtype=bool)
    pool_of = np.where(has_group, group.to_numpy(dtype=object), cust_ids)
    parts = []
    for pi, p in enumerate(programs):
        elig = customer_eligibility(data, p)
        rows = en_rows[pi]
        codes = en_cust[rows]
        enrolled_on = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
        baseline = np.full(n, np.nan)
        enrolled_on[codes] = en_on[rows]
        baseline[codes] = en_base[rows]
        if p.variant_of is not None:
            member = np.zeros(n, bool)
            vcodes = cust_index.get_indexer(list(p.customers_only))
            if (vcodes < 0).any():
                bad = [c for c, k in zip(p.customers_only, vcodes, strict=True) if k < 0]
                raise ProgramFileError(
                    f"{programs.source}: program {p.id}: field customers_only: unknown "
                    f"customers {bad[:5]}"
                )
            member[vcodes] = True
            stray = np.setdiff1d(codes, vcodes)
            if len(stray):
                raise ProgramFileError(
                    f"{data.source}: enrollments: program {p.id}: customers "
                    f"{list(cust_ids[stray][:5])} are not in its customers_only list"
                )
            check = member
        elif p.enrollment == "automatic":
            member = elig.copy()
            check = np.zeros(n, bool)
        else:
            member = np.zeros(n, bool)
            member[codes] = True
            check = member
        failing = check & ~elig
        if failing.any():
            raise ProgramFileError(
                f"program {p.id}: field customers: {int(failing.sum())} enrolled customer(s) "
                f"fail the program's customer filter {p.customers}: "
                f"{list(cust_ids[failing][:5])}"
            )
        for v in programs.variants_of(p.id):
            member[cust_index.get_indexer(list(v.customers_only))] = False
        idx = np.flatnonzero(member)
        pooled = p.pool == "buying_group"
        parts.append((pi, idx, pooled, enrolled_on[idx], baseline[idx]))
    if not parts:
        return pd.DataFrame()
    pidx = np.concatenate([np.full(len(x[1]), x[0], dtype=np.int64) for x in parts])
    code = np.concatenate([x[1] for x in parts]).astype(np.int64)
    pooled = np.concatenate([np.full(len(x[1]), x[2]) for x in parts])
    ids = pd.array(cust_ids, dtype="string")
    pools = pd.array(np.concatenate([cust_ids, pool_of]), dtype="string")
    out = pd.DataFrame(
        {
            "program_id": pd.array(list(programs.ids), dtype="string").take(pidx),
            "program_idx": pidx,
            "customer_id": ids.take(code),
            "customer_code": code,
            "pool_id": pools.take(code + n * pooled),
            "enrolled_on": np.concatenate([x[3] for x in parts]),
            "baseline_given": np.concatenate([x[4] for x in parts]),
        }
    )
    data.cache[key] = (programs, out)
    return out


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
BACKENDS = ("numpy", "duckdb", "dask")


def period_sums(
    data: RebateData,
    programs,
    *,
    as_of,
    shift_years: int = 0,
    backend: str = "numpy",
    **backend_options,
) -> pd.DataFrame:
    """Basis sums per member over each program's period up to ``as_of``.

    Parameters
    ----------
    data : RebateData
    programs : ProgramSet or path
    as_of : date-like
        Lines dated after ``as_of`` are not counted.
    shift_years : int
        Measure the same dates this many years earlier (1 gives the growth baseline); the
        ``enrolled_on`` date does not apply to a shifted window.
    backend : {"numpy", "duckdb", "dask"}
        Where the lines are reduced: in memory (default), by DuckDB SQL streaming over the
        transactions (in memory or Parquet files, see :mod:`rebatelab.backends.duckdb`), or
        by Dask (:mod:`rebatelab.backends.dask`). All give the same sums.
    **backend_options
        Passed to the backend (e.g. ``memory_limit="1GB"`` for DuckDB, ``client=`` for Dask).

    Returns
    -------
    DataFrame
        :func:`members` with ``net_amount`` [currency], ``quantity`` [units] and ``n_lines``.
        Sums are rounded to :data:`SUM_DECIMALS` decimals, so that they do not depend on the
        order of summation (backend, partitions): a basis exactly at a threshold stays there.

    Notes
    -----
    The in-memory path never loops over lines per program. Products are grouped into
    classes with the same eligibility in every program, and the days into segments between
    consecutive program start / end dates; within each segment one ``np.bincount`` gives the
    sums per (customer, product class), and each program adds up, for its members, the
    classes it accepts over the segments of its period. Members enrolled after their
    program's start (``enrolled_on``) are summed over their own lines.
    """
    return _sums(
        data,
        programs,
        as_of=as_of,
        shift_years=shift_years,
        columns=SUM_COLUMNS,
        backend=backend,
        **backend_options,
    )


def _sums(data, programs, *, as_of, shift_years, columns, backend, only=None, **backend_options):
    """:func:`period_sums` computing only ``columns`` (the others are 0) on the numpy path.

    ``only`` (one bool per program) limits the numpy path to these programs' members (the
    others get 0); other backends compute every program.
    """
    programs = load_programs(programs)
    if backend not in BACKENDS:
        raise ParameterError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    if backend != "numpy":
        if backend == "duckdb":
            from .backends.duckdb import period_sums as run
        else:
            from .backends.dask import period_sums as run
        return run(data, programs, as_of=as_of, shift_years=shift_years, **backend_options)
    if backend_options:
        raise ParameterError(f"the numpy backend takes no options; got {sorted(backend_options)}")
    lines = prepare_lines(data)
    plan = sum_plan(data, programs, as_of=as_of, shift_years=shift_years)
    if only is not None:  # an empty window (last < first) leaves a program out
        windows = [w if keep else (1, 0) for w, keep in zip(plan.windows, only, strict=True)]
        plan = dataclasses.replace(plan, windows=windows)
    return finish_sums(plan, reduce_lines(lines, plan, columns=columns))


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


def daily_sums(data: RebateData, programs, *, as_of, since=None) -> pd.DataFrame:
    """Per (program, member, day) sums of eligible lines over the whole history to ``as_of``.

    This is what forecasting consumes: each member's purchase history of the program's
    eligible products, before and inside the period (``enrolled_on`` does not apply).

    Parameters
    ----------
    data : RebateData
    programs : ProgramSet or path
    as_of : date-like
        Last day included.
    since : date-like, optional
        First day included (default: the first transaction).

    Returns
    -------
    DataFrame
        Columns ``program_id, customer_id, pool_id, member, date, net_amount, quantity,
        n_lines, n_invoices``; ``member`` is the row number in :func:`members`. Sorted by
        member then date. Days without eligible lines are absent.
    """
    programs = load_programs(programs)
    lines = prepare_lines(data)
    mem = members(data, programs)
    last = to_day(as_of)
    first = lines.day[0] if since is None and len(lines.day) else to_day(since or as_of)
    w = lines.window(first, last)
    day0 = int(first)
    n_days = last - day0 + 1
    parts = []
    for pi, p in enumerate(programs):
        lookup, _ = _program_codes(lines, mem, pi)
        who = lookup[lines.customer[w]]
        ok = (who >= 0) & product_eligibility(data, p)[lines.product[w]]
        if not ok.any():
            continue
        key = who[ok] * n_days + (lines.day[w][ok] - day0)
        uk, inv = np.unique(key, return_inverse=True)
        k = len(uk)
        pair = np.unique(np.stack([inv, lines.invoice[w][ok]]), axis=1)[0]
        parts.append(
            pd.DataFrame(
                {
                    "member": uk // n_days,
                    "day": uk % n_days + day0,
                    "net_amount": np.bincount(inv, weights=lines.net_amount[w][ok], minlength=k),
                    "quantity": np.bincount(inv, weights=lines.quantity[w][ok], minlength=k),
                    "n_lines": np.bincount(inv, minlength=k),
                    "n_invoices": np.bincount(pair, minlength=k),
                }
            )
        )
    cols = ["program_id", "customer_id", "pool_id"]
    if not parts:
        out = pd.DataFrame(
            columns=[*cols, "member", "date", "net_amount", "quantity", "n_lines", "n_invoices"]
        )
        return out
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "date", _EPOCH + out.pop("day").to_numpy().astype("timedelta64[D]"))
    out["date"] = out["date"].astype("datetime64[ns]")
    for c in reversed(cols):
        out.insert(0, c, mem[c].to_numpy()[out["member"].to_numpy()])
        out[c] = out[c].astype("string")
    return out[[*cols, "member", "date", "net_amount", "quantity", "n_lines", "n_invoices"]]


def exclusions(data: RebateData, programs, *, as_of) -> pd.DataFrame:
    """Every (line, program) pair where a line dated in the program's period did not count.

    Returns
    -------
    DataFrame
        ``row`` (the line's row number in transactions), ``program_id``, ``reason`` (one of
        :data:`EXCLUSION_REASONS`, the first that applies), the line's ``invoice_id, date,
        customer_id, product_id, quantity, net_amount``.
    """
    programs = load_programs(programs)
    lines = prepare_lines(data)
    mem = members(data, programs)
    parts = []
    cu = data.customers
    for pi, p in enumerate(programs):
        first, last = _period_days(p, as_of)
        if last < first:
            continue
        w = lines.window(first, last)
        lookup, from_day = _program_codes(lines, mem, pi)
        c, pr = lines.customer[w], lines.product[w]
        who = lookup[c]
        elig_c = np.append(customer_eligibility(data, p), False)
        variant_c = np.zeros(lines.n_customers + 1, bool)
        for v in programs.variants_of(p.id):
            variant_c[pd.Index(cu["customer_id"]).get_indexer(list(v.customers_only))] = True
        conditions = [
            c == lines.n_customers,
            pr == lines.n_products,
            ~elig_c[c],
            (who < 0) & ~variant_c[c],
            (who < 0) & variant_c[c],
            (who >= 0) & (lines.day[w] < np.append(from_day, 0)[np.where(who >= 0, who, -1)]),
            ~product_eligibility(data, p)[pr],
        ]
        reason = np.select(conditions, range(len(conditions)), default=-1)
        bad = reason >= 0
        parts.append(
            pd.DataFrame(
                {
                    "row": lines.row[w][bad],
                    "program_id": p.id,
                    "reason": np.asarray(EXCLUSION_REASONS, dtype=object)[reason[bad]],
                }
            )
        )
    out = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame({"row": pd.Series(dtype=np.int64), "program_id": [], "reason": []})
    )
    tx = data.transactions
    cols = ["invoice_id", "date", "customer_id", "product_id", "quantity", "net_amount"]
    detail = tx.iloc[out["row"].to_numpy()][cols].reset_index(drop=True)
    out = pd.concat([out.reset_index(drop=True), detail], axis=1)
    out["program_id"] = out["program_id"].astype("string")
    out["reason"] = pd.Categorical(out["reason"], categories=EXCLUSION_REASONS)
    return out


def reconcile(data: RebateData, programs, *, as_of, excluded=None) -> pd.DataFrame:
    """Per program: lines in the period = lines counted + lines excluded (by reason), to the cent.

    Parameters
    ----------
    excluded : DataFrame, optional
        :func:`exclusions` for the same arguments, when the caller already has it (the CLI
        writes it too); computed here otherwise.

    Returns
    -------
    DataFrame
        One row per program and reason (``reason`` is ``"counted"`` for counted lines) with
        ``lines``, ``net_amount`` [currency] and ``quantity`` [units]; plus a row
        ``"in_period"`` per program with the totals of all lines dated in the period. The
        identity ``in_period = counted + sum(excluded)`` is checked and a mismatch raised.
    """
    programs = load_programs(programs)
    lines = prepare_lines(data)
    sums = period_sums(data, programs, as_of=as_of)
    exc = exclusions(data, programs, as_of=as_of) if excluded is None else excluded
    rows = []
    for p in programs:
        first, last = _period_days(p, as_of)
        w = lines.window(first, last) if last >= first else slice(0, 0)
        s = sums[sums["program_id"] == p.id]
        e = exc[exc["program_id"] == p.id]
        rows.append(
            (
                p.id,
                "in_period",
                w.stop - w.start,
                lines.net_amount[w].sum(),
                lines.quantity[w].sum(),
            )
        )
        rows.append(
            (p.id, "counted", int(s["n_lines"].sum()), s["net_amount"].sum(), s["quantity"].sum())
        )
        g = e.groupby("reason", observed=True)
        for reason, grp in g:
            rows.append(
                (p.id, str(reason), len(grp), grp["net_amount"].sum(), grp["quantity"].sum())
            )
    out = pd.DataFrame(rows, columns=["program_id", "reason", "lines", "net_amount", "quantity"])
    inp = out[out["reason"] == "in_period"].set_index("program_id")
    rest = (
        out[out["reason"] != "in_period"]
        .groupby("program_id")[["lines", "net_amount", "quantity"]]
        .sum()
    )
    rest = rest.reindex(inp.index, fill_value=0)
    from ._arrays import cents

    off = (inp["lines"] != rest["lines"]) | (cents(inp["net_amount"]) != cents(rest["net_amount"]))
    if off.any():  # an internal invariant: it would mean a line was counted twice or lost
        raise AssertionError(f"reconciliation does not tie for programs {list(inp.index[off])}")
    out["net_amount"] = np.round(out["net_amount"], 2)
    return out
