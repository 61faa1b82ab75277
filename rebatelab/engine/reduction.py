"""Stage one: reduce invoice lines to compact per (program, customer[, day]) sums.

Stage one's modules (this one, ``lines``, ``sums``, ``reconciliation``, ``stage_one``,
``history`` and ``backends/``) are the only code that touches lines. Everything downstream
(tier math, forecasting, simulation, liability) runs on the arrays they return. Lines are
turned once into integer codes sorted by day (cached on the :class:`~rebatelab.io.RebateData`),
so that each program's period is a contiguous slice and its sums are one ``np.bincount``.

Counting rule: a line counts toward a program when its date is within
``[start, min(end, as_of)]`` (and on or after the customer's ``enrolled_on``), its product
passes the program's product filters, and its customer is a member of the program (enrolled,
or eligible when enrollment is automatic; a variant's customers count under the variant only).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from rebatelab.data.tables import RebateData
from rebatelab.engine.eligibility import members, product_eligibility
from rebatelab.engine.lines import _EPOCH, prepare_lines, to_day
from rebatelab.engine.sums import (
    SUM_COLUMNS,
    SUM_DECIMALS,
    _program_codes,
    finish_sums,
    reduce_lines,
    sum_plan,
)
from rebatelab.errors import ParameterError
from rebatelab.programs.terms import load_programs

__all__ = ["period_sums", "daily_sums"]


#: Daily sums are exact sums of the amounts in millionths (:data:`SUM_DECIMALS` decimals).
MICRO = 10**SUM_DECIMALS


def to_micro(values) -> np.ndarray:
    """Amounts [currency or units] as integer millionths (round half to even).

    Exact for amounts with up to 6 decimals below about 9e12 in absolute value; an amount
    with more decimals counts as its nearest millionth. Integer sums of these do not depend
    on the order of the lines (float sums do, in the last bits).
    """
    return np.rint(np.asarray(values, dtype=float) * MICRO).astype(np.int64)


def from_micro(micro) -> np.ndarray:
    """Integer millionths back to amounts: the float nearest to the exact sum."""
    return np.asarray(micro, dtype=np.int64) / MICRO


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
        transactions (in memory or Parquet files, see :mod:`rebatelab.engine.backends.duckdb`), or
        by Dask (:mod:`rebatelab.engine.backends.dask`). All give the same sums.
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
            from rebatelab.engine.backends.duckdb import period_sums as run
        else:
            from rebatelab.engine.backends.dask import period_sums as run
        return run(data, programs, as_of=as_of, shift_years=shift_years, **backend_options)
    if backend_options:
        raise ParameterError(f"the numpy backend takes no options; got {sorted(backend_options)}")
    lines = prepare_lines(data)
    plan = sum_plan(data, programs, as_of=as_of, shift_years=shift_years)
    if only is not None:  # an empty window (last < first) leaves a program out
        windows = [w if keep else (1, 0) for w, keep in zip(plan.windows, only, strict=True)]
        plan = dataclasses.replace(plan, windows=windows)
    return finish_sums(plan, reduce_lines(lines, plan, columns=columns))


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
        member then date. Days without eligible lines are absent. ``net_amount`` and
        ``quantity`` are the exact sums of the amounts in millionths (:func:`to_micro`),
        converted to float once: the same whatever the order of the lines (the files
        path, :func:`rebatelab.engine.backends.sql_reduce.reduce_files`, gives the same bits).
    """
    programs = load_programs(programs)
    lines = prepare_lines(data)
    mem = members(data, programs)
    last = to_day(as_of)
    first = lines.day[0] if since is None and len(lines.day) else to_day(since or as_of)
    w = lines.window(first, last)
    day0 = int(first)
    n_days = last - day0 + 1
    invoice = lines.invoice[w]
    n_invoice = int(invoice.max(initial=0)) + 1
    net_micro = to_micro(lines.net_amount[w])
    qty_micro = to_micro(lines.quantity[w])
    names = ("member", "day", "net_amount", "quantity", "n_lines", "n_invoices")
    parts: dict[str, list[np.ndarray]] = {c: [] for c in names}
    for pi, p in enumerate(programs):
        lookup, _ = _program_codes(lines, mem, pi)
        who = lookup[lines.customer[w]]
        ok = (who >= 0) & product_eligibility(data, p)[lines.product[w]]
        if not ok.any():
            continue
        key = who[ok] * n_days + (lines.day[w][ok] - day0)
        # sorted groups, summed in integers: the sums do not depend on the order of the lines
        order = np.argsort(key, kind="stable")
        sk = key[order]
        new = np.empty(len(sk), dtype=bool)
        new[0] = True
        np.not_equal(sk[1:], sk[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        uk = sk[starts]
        k = len(uk)
        inv = np.empty(len(sk), dtype=np.int64)
        inv[order] = np.cumsum(new) - 1
        # distinct (member-day, invoice) pairs: one integer key (a 2-D unique sorts far slower)
        if k * n_invoice < 2**62:
            pair = np.unique(inv * n_invoice + invoice[ok]) // n_invoice
        else:
            pair = np.unique(np.stack([inv, invoice[ok]]), axis=1)[0]
        for c, v in zip(
            names,
            (
                uk // n_days,
                uk % n_days + day0,
                from_micro(np.add.reduceat(net_micro[ok][order], starts)),
                from_micro(np.add.reduceat(qty_micro[ok][order], starts)),
                np.diff(np.append(starts, len(sk))),
                np.bincount(pair, minlength=k),
            ),
            strict=True,
        ):
            parts[c].append(v)
    cols = ["program_id", "customer_id", "pool_id"]
    if not parts["member"]:
        out = pd.DataFrame(
            columns=[*cols, "member", "date", "net_amount", "quantity", "n_lines", "n_invoices"]
        )
        return out
    member = np.concatenate(parts["member"])
    out = pd.DataFrame({c: mem[c].astype("string").array.take(member) for c in cols})
    out["member"] = member
    out["date"] = (_EPOCH + np.concatenate(parts["day"]).astype("timedelta64[D]")).astype(
        "datetime64[ns]"
    )
    for c in names[2:]:
        out[c] = np.concatenate(parts[c])
    return out[[*cols, "member", "date", "net_amount", "quantity", "n_lines", "n_invoices"]]
