"""Dask backend: the line reduction on the partitions of a Dask DataFrame, on a cluster.

Each partition of the lines is reduced by the in-memory code (:func:`rebatelab.reduce.
reduce_lines`) to one sum per member, against a small plan (members, windows, product
eligibility) shipped once to every worker; the per-partition sums are added in a tree. The
members and each program's eligible products are computed on the client by the same
functions as the in-memory path, so the same lines count; sums are rounded to 1e-6, so the
result equals the in-memory one to the cent whatever the partitioning.

Point it at a cluster by passing a ``distributed.Client`` (``Client("tcp://host:8786")``);
without one it uses Dask's current scheduler (a ``Client`` created earlier in the session,
else local threads).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from rebatelab.data.tables import RebateData, _convert
from rebatelab.engine.lines import lines_from_frame
from rebatelab.engine.sums import SUM_COLUMNS, SumPlan, finish_sums, reduce_lines, sum_plan
from rebatelab.errors import ParameterError

__all__ = ["period_sums", "lines_frame"]


_COLUMNS = ["date", "customer_id", "product_id", "quantity", "net_amount"]


_KINDS = {"date": "date", "customer_id": "id", "product_id": "id"}


def _dask():
    try:
        import dask
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover - depends on the environment
        raise ParameterError(
            "backend='dask' needs dask: pip install 'rebatelab[scale]' (dask[distributed])"
        ) from None
    return dask, dd


def lines_frame(data: RebateData, *, npartitions: int | None = None):
    """The transaction lines of ``data`` as a Dask DataFrame (the columns the reduction uses).

    Lazy data (``load_data(folder, lines="lazy")``) is read from its Parquet parts, one
    partition per file or row group; in-memory transactions are split into ``npartitions``
    (default 8).
    """
    _, dd = _dask()
    if data.lines_path is not None:
        return dd.read_parquet(list(data.lines_path), columns=_COLUMNS)
    return dd.from_pandas(data.transactions[_COLUMNS], npartitions=npartitions or 8, sort=False)


def _normalise(part: pd.DataFrame, date_format: str | None = None) -> pd.DataFrame:
    """Ids as text and dates as days, as :func:`rebatelab.load_data` reads them."""
    part = part.reset_index(drop=True)
    for col, kind in _KINDS.items():
        s = part[col]
        if kind == "id" or s.dtype != "datetime64[ns]":  # text, or typed with a zone or unit
            part[col] = _convert(part, "transactions partition", col, kind, date_format)
    return part


def _partition_sums(
    part: pd.DataFrame, plan: SumPlan, date_format: str | None = None
) -> dict[str, np.ndarray]:
    lines = lines_from_frame(_normalise(part, date_format), plan.customer_ids, plan.product_ids)
    return reduce_lines(lines, plan, columns=SUM_COLUMNS)


def _add(*parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {c: np.sum([p[c] for p in parts], axis=0) for c in SUM_COLUMNS}


def period_sums(
    data: RebateData,
    programs,
    *,
    as_of,
    shift_years: int = 0,
    client=None,
    lines=None,
    npartitions: int | None = None,
    split_every: int = 8,
) -> pd.DataFrame:
    """:func:`rebatelab.period_sums` computed on a Dask cluster.

    Parameters
    ----------
    data : RebateData
        Master tables (and the lines, unless ``lines`` is given); may be lazy.
    programs : ProgramSet or path
    as_of : date-like
    shift_years : int
        See :func:`rebatelab.period_sums`.
    client : distributed.Client, optional
        The cluster to run on; default Dask's current scheduler.
    lines : dask.dataframe.DataFrame, optional
        The transaction lines (columns ``date, customer_id, product_id, quantity,
        net_amount``), e.g. ``dd.read_parquet("s3://bucket/lines/")``; default
        :func:`lines_frame` of ``data``. They must be valid as ``load_data`` requires.
    npartitions : int, optional
        Partitions for in-memory transactions (default 8).
    split_every : int
        Fan-in of the tree that adds the per-partition sums.

    Returns
    -------
    DataFrame
        The same as :func:`rebatelab.period_sums`.
    """
    dask, _ = _dask()
    plan = sum_plan(data, programs, as_of=as_of, shift_years=shift_years)
    light = dataclasses.replace(plan, members=plan.members[["program_idx"]])
    ddf = lines if lines is not None else lines_frame(data, npartitions=npartitions)
    if client is not None:
        [plan_ref] = client.scatter([light], broadcast=True)
    else:
        plan_ref = dask.delayed(light)
    fmt = data.date_format
    level = [dask.delayed(_partition_sums)(part, plan_ref, fmt) for part in ddf.to_delayed()]
    if not level:
        return finish_sums(plan, {c: np.zeros(len(plan.members)) for c in SUM_COLUMNS})
    while len(level) > 1:
        level = [
            dask.delayed(_add)(*level[i : i + split_every])
            for i in range(0, len(level), split_every)
        ]
    if client is not None:
        sums = client.compute(level[0]).result()
    else:
        (sums,) = dask.compute(level[0])
    return finish_sums(plan, sums)
