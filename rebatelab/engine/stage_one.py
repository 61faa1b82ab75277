"""Stage one's result: everything downstream needs from the invoice lines, computed once.

:func:`reduce` reads the lines of a :class:`~rebatelab.data.tables.RebateData` once per
(data, programs, as_of) and returns a :class:`Reduction`: per (program, member) sums over the
period, the growth baseline and the previous year's period, per (program, member, day) sums,
per (customer, day) sums, the reconciliation totals and the sums of eligible customers not
enrolled. Accrual, forecasting, review, liability, close and the views take the Reduction;
none of them reads lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebatelab.data.tables import RebateData
from rebatelab.engine.eligibility import members as _members
from rebatelab.engine.lines import _EPOCH, prepare_lines, to_day
from rebatelab.engine.reconciliation import reconciliation_totals
from rebatelab.engine.reduction import BACKENDS, daily_sums, period_sums
from rebatelab.errors import ParameterError
from rebatelab.programs.terms import ProgramSet, load_programs

__all__ = ["Reduction", "reduce", "CUSTOMER_DAILY_COLUMNS"]


#: Columns of :attr:`Reduction.customer_daily`.
CUSTOMER_DAILY_COLUMNS = ["customer_id", "date", "net_amount", "quantity", "n_lines", "n_invoices"]


@dataclass(frozen=True, eq=False)
class Reduction:
    """What stage one hands to stage two: sums of the lines, no lines.

    Attributes
    ----------
    programs : ProgramSet
        The programs the sums are for.
    as_of : Timestamp
        The as-of day: lines dated after it are not counted.
    members : DataFrame
        :func:`rebatelab.engine.eligibility.members`: one row per (program_id, customer_id)
        with ``program_idx`` (position in ``programs``), ``customer_code``, ``pool_id``,
        ``enrolled_on`` and ``baseline_given``. Row ``i`` is member ``i`` everywhere below.
    period : DataFrame
        ``members`` plus ``net_amount`` [currency], ``quantity`` [units], ``n_lines``: the
        eligible lines of each member dated in ``[max(start, enrolled_on), min(end, as_of)]``.
    baseline : DataFrame
        The same over the same dates one year earlier (the growth baseline; ``enrolled_on``
        does not apply).
    prior : DataFrame
        The same over each program's whole previous-year period (start..end shifted one year).
    daily : DataFrame
        :func:`rebatelab.engine.reduction.daily_sums`: per (program, member, day) sums of
        eligible lines over the whole history up to ``as_of``.
    customer_daily : DataFrame
        Per (customer_id, date): ``net_amount`` [currency], ``quantity`` [units], ``n_lines``,
        ``n_invoices`` of all lines dated up to ``as_of`` (every product, every customer id
        found in the lines). None when reduced with ``members_only``.
    reconciliation : DataFrame
        :func:`rebatelab.engine.reconciliation.reconcile`: per (program_id, reason) ``lines``,
        ``net_amount`` [currency], ``quantity`` [units]; the identity
        ``in_period = counted + excluded`` is checked in integer cents.
    candidates : DataFrame
        Like ``period``, for the customers eligible for an ``enrollment: required`` program
        (not a variant) but not enrolled in it, summed as if they were (``enrolled_on`` NaT).
    candidate_daily : DataFrame
        Like ``daily`` for ``candidates`` (``member`` is the row number in ``candidates``).
        Both None when reduced with ``members_only``.
    customers, products, enrollments, payments : DataFrame
        The master and small tables of the data.
    first_date, last_date : Timestamp
        First and last transaction date (NaT without lines).
    source : str
        Where the data came from, for messages.
    """

    programs: ProgramSet
    as_of: pd.Timestamp
    members: pd.DataFrame
    period: pd.DataFrame
    baseline: pd.DataFrame
    prior: pd.DataFrame
    daily: pd.DataFrame
    customer_daily: pd.DataFrame
    reconciliation: pd.DataFrame
    candidates: pd.DataFrame
    customers: pd.DataFrame
    products: pd.DataFrame
    enrollments: pd.DataFrame
    payments: pd.DataFrame
    first_date: pd.Timestamp
    last_date: pd.Timestamp
    source: str
    candidate_daily: pd.DataFrame | None = None

    def subset(self, program_ids) -> Reduction:
        """The same reduction restricted to some programs (in file order).

        Parameters
        ----------
        program_ids : iterable of str
            Ids of programs in :attr:`programs`.

        Returns
        -------
        Reduction
            Rows of the other programs dropped; ``program_idx`` and ``member`` renumbered so
            that they index the subset. Equal to reducing ``programs.subset(program_ids)``
            when the ids include the variants of each program kept (a variant's customers
            count under the variant, as in the whole program set).
        """
        programs = self.programs.subset(program_ids)
        keep_ids = programs.ids
        new_idx = np.full(len(self.programs), -1, dtype=np.int64)
        for i, pid in enumerate(self.programs.ids):
            if pid in programs:
                new_idx[i] = keep_ids.index(pid)
        mem_keep = new_idx[self.members["program_idx"].to_numpy(dtype=np.int64)] >= 0
        mem_map = np.full(len(self.members), -1, dtype=np.int64)
        mem_map[mem_keep] = np.arange(int(mem_keep.sum()))

        def rows(frame: pd.DataFrame) -> pd.DataFrame:
            return _renumber(frame, frame.index[mem_keep], new_idx)

        cand = self.candidates
        if cand is None:  # reduced with members_only
            cand = pd.DataFrame({"program_idx": pd.Series(dtype=np.int64)})
        cand_keep = (
            new_idx[cand["program_idx"].to_numpy(dtype=np.int64)] >= 0
            if len(cand)
            else np.zeros(0, bool)
        )
        cand_map = np.full(len(cand), -1, dtype=np.int64)
        cand_map[cand_keep] = np.arange(int(cand_keep.sum()))
        rec = self.reconciliation
        return Reduction(
            programs=programs,
            as_of=self.as_of,
            members=rows(self.members),
            period=rows(self.period),
            baseline=rows(self.baseline),
            prior=rows(self.prior),
            daily=_daily_subset(self.daily, mem_map),
            customer_daily=self.customer_daily,
            reconciliation=rec[rec["program_id"].isin(keep_ids).to_numpy()].reset_index(drop=True),
            candidates=(
                None if self.candidates is None else _renumber(cand, cand.index[cand_keep], new_idx)
            ),
            candidate_daily=(
                None
                if self.candidate_daily is None
                else _daily_subset(self.candidate_daily, cand_map)
            ),
            customers=self.customers,
            products=self.products,
            enrollments=self.enrollments,
            payments=self.payments,
            first_date=self.first_date,
            last_date=self.last_date,
            source=self.source,
        )


def _renumber(frame: pd.DataFrame, keep: pd.Index, new_idx: np.ndarray) -> pd.DataFrame:
    out = frame.loc[keep].reset_index(drop=True)
    if "program_idx" in out.columns:
        out["program_idx"] = new_idx[out["program_idx"].to_numpy(dtype=np.int64)]
    return out


def _daily_subset(daily: pd.DataFrame, mem_map: np.ndarray) -> pd.DataFrame:
    if not len(daily):
        return daily.copy()
    new = mem_map[daily["member"].to_numpy(dtype=np.int64)]
    out = daily[new >= 0].reset_index(drop=True)
    out["member"] = new[new >= 0]
    return out


def reduce(
    data: RebateData,
    programs,
    as_of,
    *,
    backend: str = "numpy",
    members_only: bool = False,
    **backend_options,
) -> Reduction:
    """Reduce the invoice lines once to everything the workflow needs.

    Parameters
    ----------
    data : RebateData
        A validated data folder (:func:`rebatelab.load_data`).
    programs : ProgramSet
        The programs (:func:`rebatelab.load_programs`; a path is still accepted).
    as_of : date-like
        The as-of day: lines dated after it are not counted.
    backend : {"numpy", "duckdb", "dask"}
        Where the period sums are computed (see :func:`rebatelab.engine.reduction.period_sums`).
        The result is the same to the cent.
    members_only : bool
        Leave out the tables of non-members: ``candidates``, ``candidate_daily`` and
        ``customer_daily`` are None (the accrual and the forecast do not read them; the
        review and the views need them). For lines left in their files, DuckDB then sums
        only the members' lines.
    **backend_options
        Passed to the backend, e.g. ``memory_limit="2GB"`` (DuckDB) or ``client=`` (Dask).

    Returns
    -------
    Reduction

    Examples
    --------
    >>> import rebatelab as rl
    >>> data, programs = rl.load_sample()
    >>> red = rl.reduce(data, programs, "2025-06-30")
    >>> bool((red.period["program_id"] == red.members["program_id"]).all())
    True
    """
    programs = load_programs(programs)
    if backend not in BACKENDS:
        raise ParameterError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    as_of = pd.Timestamp(as_of).normalize()
    if getattr(data, "lines_path", None) is not None:  # the lines stay in their files
        from rebatelab.engine.backends.sql_reduce import reduce_files

        return reduce_files(
            data,
            programs,
            as_of,
            members_only=members_only,
            **_duckdb_options(backend, backend_options),
        )
    opts = dict(backend=backend, **backend_options)
    mem = _members(data, programs)
    period = period_sums(data, programs, as_of=as_of, **opts)
    baseline = period_sums(data, programs, as_of=as_of, shift_years=1, **opts)
    prior = period_sums(data, programs, as_of=_last_end(programs, as_of), shift_years=1, **opts)
    daily = daily_sums(data, programs, as_of=as_of)
    rec = reconciliation_totals(data, programs, as_of=as_of, sums=period)
    if members_only:
        cand = cand_daily = None
    else:
        cand, cand_daily = _candidates(data, programs, as_of, mem, opts)
    first, last = _date_range(data)
    return Reduction(
        programs=programs,
        as_of=as_of,
        members=mem,
        period=period,
        baseline=baseline,
        prior=prior,
        daily=daily,
        customer_daily=None if members_only else customer_daily(data, as_of=as_of),
        reconciliation=rec,
        candidates=cand,
        candidate_daily=cand_daily,
        customers=data.customers,
        products=data.products,
        enrollments=data.enrollments,
        payments=data.payments,
        first_date=first,
        last_date=last,
        source=data.source,
    )


def _duckdb_options(backend: str, options: dict) -> dict:
    if backend == "dask":
        raise ParameterError(
            "lazily loaded lines are reduced by DuckDB; backend='dask' applies to period_sums"
        )
    allowed = {"memory_limit", "threads", "temp_directory"}
    extra = set(options) - allowed
    if extra:
        raise ParameterError(f"unknown DuckDB options {sorted(extra)}; allowed {sorted(allowed)}")
    return options


def _last_end(programs: ProgramSet, as_of: pd.Timestamp) -> pd.Timestamp:
    """An as-of date at or after every program's end (so each whole period is summed)."""
    ends = [pd.Timestamp(p.end) for p in programs]
    return max([as_of, *ends])


def _date_range(data: RebateData) -> tuple[pd.Timestamp, pd.Timestamp]:
    d = data.transactions["date"]
    if not len(d):
        return pd.NaT, pd.NaT
    return pd.Timestamp(d.min()), pd.Timestamp(d.max())


def required_auto(programs: ProgramSet) -> ProgramSet | None:
    """The programs with every required-enrollment program (not a variant) made automatic.

    None when no program requires enrollment.
    """
    required = [p.id for p in programs if p.enrollment == "required" and p.variant_of is None]
    if not required:
        return None
    return ProgramSet(
        [
            p.model_copy(update={"enrollment": "automatic"}) if p.id in required else p
            for p in programs
        ],
        source=f"{programs.source} (all eligible enrolled)",
        known_ids=programs.known_ids,
    )


def _candidate_rows(mem: pd.DataFrame, auto_mem: pd.DataFrame, programs) -> np.ndarray:
    """Rows of ``auto_mem`` that are eligible-not-enrolled for a required program."""
    required = np.array(
        [p.enrollment == "required" and p.variant_of is None for p in programs], dtype=bool
    )
    if not len(auto_mem):
        return np.zeros(0, bool)
    real = pd.MultiIndex.from_arrays(
        [mem["program_idx"].to_numpy(dtype=np.int64), mem["customer_code"].to_numpy(np.int64)]
    )
    auto = pd.MultiIndex.from_arrays(
        [
            auto_mem["program_idx"].to_numpy(dtype=np.int64),
            auto_mem["customer_code"].to_numpy(np.int64),
        ]
    )
    return required[auto_mem["program_idx"].to_numpy(dtype=np.int64)] & ~auto.isin(real)


def _candidates(data, programs, as_of, mem, opts):
    auto = required_auto(programs)
    if auto is None:
        cols = [*mem.columns, "net_amount", "quantity", "n_lines"]
        frame = pd.DataFrame({c: pd.Series(dtype=mem[c].dtype) for c in mem.columns})
        for c, t in (("net_amount", float), ("quantity", float), ("n_lines", np.int64)):
            frame[c] = pd.Series(dtype=t)
        return frame[cols], _empty_daily()
    auto_sums = period_sums(data, auto, as_of=as_of, **opts)
    keep = _candidate_rows(mem, auto_sums, programs)
    cand = auto_sums[keep].reset_index(drop=True)
    remap = np.full(len(auto_sums), -1, dtype=np.int64)
    remap[keep] = np.arange(int(keep.sum()))
    ids = sorted({programs.ids[i] for i in cand["program_idx"].to_numpy()})
    if not ids:
        return cand, _empty_daily()
    cd = daily_sums(data, auto, as_of=as_of)
    return cand, _daily_subset(cd, remap)


def _empty_daily() -> pd.DataFrame:
    cols = ["program_id", "customer_id", "pool_id"]
    out = pd.DataFrame({c: pd.Series(dtype="string") for c in cols})
    out["member"] = pd.Series(dtype=np.int64)
    out["date"] = pd.Series(dtype="datetime64[ns]")
    for c, t in (
        ("net_amount", float),
        ("quantity", float),
        ("n_lines", np.int64),
        ("n_invoices", np.int64),
    ):
        out[c] = pd.Series(dtype=t)
    return out


def customer_daily(data: RebateData, *, as_of) -> pd.DataFrame:
    """Per (customer_id, date) sums of all lines dated up to ``as_of``.

    Returns
    -------
    DataFrame
        :data:`CUSTOMER_DAILY_COLUMNS`: ``net_amount`` [currency], ``quantity`` [units],
        ``n_lines`` and ``n_invoices`` (distinct invoices); sorted by customer (customer-table
        order, unknown ids after, sorted) then date.
    """
    lines = prepare_lines(data)
    w = lines.window(lines.day[0] if len(lines.day) else 0, to_day(as_of))
    tx_ids = data.transactions["customer_id"]
    cust = lines.customer[w]
    unknown = cust == lines.n_customers
    ids = np.asarray(data.customers["customer_id"], dtype=object)
    if unknown.any():  # unknown ids (unknown_ids="exclude") keep their own code
        codes, extra = pd.factorize(tx_ids.to_numpy()[lines.row[w][unknown]], sort=True)
        cust = cust.copy()
        cust[unknown] = lines.n_customers + codes
        ids = np.concatenate([ids, np.asarray(extra, dtype=object)])
    day = lines.day[w]
    if not len(day):
        out = pd.DataFrame({c: pd.Series(dtype=float) for c in CUSTOMER_DAILY_COLUMNS})
        out["customer_id"] = out["customer_id"].astype("string")
        out["date"] = out["date"].astype("datetime64[ns]")
        out["n_lines"] = out["n_lines"].astype(np.int64)
        out["n_invoices"] = out["n_invoices"].astype(np.int64)
        return out
    day0 = int(day[0])
    n_days = int(day[-1]) - day0 + 1
    key = cust.astype(np.int64) * n_days + (day - day0)
    uk, inv = np.unique(key, return_inverse=True)
    k = len(uk)
    pair = np.unique(np.stack([inv, lines.invoice[w]]), axis=1)[0]
    out = pd.DataFrame(
        {
            "customer_id": pd.array(ids[uk // n_days], dtype="string"),
            "date": (_EPOCH + (uk % n_days + day0).astype("timedelta64[D]")).astype(
                "datetime64[ns]"
            ),
            "net_amount": np.bincount(inv, weights=lines.net_amount[w], minlength=k),
            "quantity": np.bincount(inv, weights=lines.quantity[w], minlength=k),
            "n_lines": np.bincount(inv, minlength=k).astype(np.int64),
            "n_invoices": np.bincount(pair, minlength=k).astype(np.int64),
        }
    )
    return out
