"""The what-if base: each customer's expected spend, and the pool layouts of programs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from rebatelab.data.tables import RebateData
from rebatelab.engine.eligibility import members
from rebatelab.engine.history import window_sums, with_enrollments_of
from rebatelab.engine.lines import to_day
from rebatelab.engine.reduction import period_sums
from rebatelab.programs.terms import Program, ProgramSet

__all__ = ["WhatIfBase"]


# --------------------------------------------------------------------------------------------
# base: the customer population the scenarios are drawn from
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class WhatIfBase:
    """Per-customer spend model and history that what-if runs draw scenarios from.

    Attributes
    ----------
    data : RebateData
        The history: customers, products and enrollments; stage one
        (:mod:`rebatelab.engine.history`) sums its lines for each candidate's eligible
        shares and baselines.
    order_rate : ndarray
        Expected orders per day [orders/day], one per customer of ``data.customers``.
    mean_order_value : ndarray
        Expected net value of an order [currency].
    value_shape : float
        Gamma shape of order values of one customer (coefficient of variation
        ``1 / sqrt(value_shape)``).
    holding_cost : ndarray
        Each customer's cost of buying ahead [fraction].
    reference : tuple of int
        First and last day (days since 1970-01-01) of the history window that eligible
        shares and units per currency are measured on.
    truth : DataFrame or None
        Ground truth of a simulated base (then scenario order counts use the true calendar,
        trend and lifetimes over the candidate's period).
    """

    data: RebateData
    order_rate: np.ndarray
    mean_order_value: np.ndarray
    value_shape: float
    holding_cost: np.ndarray
    reference: tuple[int, int]
    truth: pd.DataFrame | None = None
    truth_params: object = None
    truth_origin: object = None
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_customers(self) -> int:
        """Number of customers."""
        return len(self.order_rate)

    def expected_orders(self, start, end) -> np.ndarray:
        """Expected orders of each customer over [start, end] [count]."""
        if self.truth is not None:
            from rebatelab.simulation.truth import expected_orders

            return expected_orders(
                self.truth, start, end, params=self.truth_params, origin=self.truth_origin
            ).to_numpy()
        days = (pd.Timestamp(end) - pd.Timestamp(start)).days + 1
        return self.order_rate * days


# --------------------------------------------------------------------------------------------
# candidates on the base
# --------------------------------------------------------------------------------------------
def _data_for(data: RebateData, programs: ProgramSet) -> RebateData:
    """The data with only the enrollments of these programs (sharing the coded lines)."""
    return with_enrollments_of(data, programs.ids)


@dataclass(frozen=True)
class _Layout:
    """One program's members, pools and per-member shares on a base."""

    program_idx: int
    codes: np.ndarray  # customer code of each member
    pool: np.ndarray  # pool code of each member
    n_pools: int
    pool_matrix: object  # sparse (pools x members) sum operator
    share: np.ndarray  # eligible share of the member's net spend [fraction]
    units_per_value: np.ndarray  # units per currency of eligible lines (quantity programs)
    baseline: np.ndarray  # pool baseline [basis unit], NaN when none


def _by_member(sums: pd.DataFrame, members: pd.DataFrame, col: str) -> np.ndarray:
    """``sums[col]`` of each member row of ``members``, aligned on (program_id, customer_id)."""
    key = ["program_id", "customer_id"]
    values = sums.set_index(key)[col]
    return values.reindex(pd.MultiIndex.from_frame(members[key])).to_numpy(dtype=float)


def _layouts(base: WhatIfBase, programs: ProgramSet) -> list[_Layout]:
    # the terms that pay (tiers, method, cap, minimum) do not move members, shares or
    # baselines: designs differing only in them share one layout
    payout_terms = {"name", "tiers", "method", "cap", "min_payout"}
    key = ("layouts", tuple(p.model_dump_json(exclude=payout_terms) for p in programs))
    if key in base.cache:
        return base.cache[key]
    data = _data_for(base.data, programs)
    mem = members(data, programs)
    first, last = base.reference
    sums = window_sums(data, programs, first_day=first, last_day=last)
    total = sums.total
    out = []
    prior = None
    for pi, p in enumerate(programs):
        rows = mem.index[mem["program_idx"].to_numpy() == pi].to_numpy()
        codes = mem["customer_code"].to_numpy()[rows].astype(np.int64)
        pool_codes, pool_keys = pd.factorize(mem["pool_id"].to_numpy(dtype=object)[rows])
        n_pools = len(pool_keys)
        elig, units = sums.eligible_net[pi], sums.eligible_quantity[pi]
        pop_share = elig.sum() / total.sum() if total.sum() > 0 else 0.0
        share = np.where(total > 0, np.clip(elig / np.where(total > 0, total, 1), 0, 1), pop_share)
        pop_upv = units.sum() / elig.sum() if elig.sum() > 0 else 1.0
        upv = np.where(elig > 0, units / np.where(elig > 0, elig, 1), pop_upv)
        m = len(codes)
        matrix = sp.csr_matrix((np.ones(m), (pool_codes, np.arange(m))), shape=(n_pools, m))
        baseline = np.full(n_pools, np.nan)
        if p.is_growth:
            if prior is None:
                prior = period_sums(
                    data, programs, as_of=max(pr.end for pr in programs), shift_years=1
                )
            col = "quantity" if p.basis == "quantity" else "net_amount"
            given = mem["baseline_given"].to_numpy(dtype=float)[rows]
            measured = _by_member(prior, mem.iloc[rows], col)
            b = np.where(np.isnan(given), measured, given)
            baseline = matrix @ b
        out.append(
            _Layout(pi, codes, pool_codes, n_pools, matrix, share[codes], upv[codes], baseline)
        )
    for old in [k for k in base.cache if k[0] == "layouts"][:-7]:
        del base.cache[old]
    base.cache[key] = out
    return out


def _layouts_from_sums(
    data: RebateData,
    programs: ProgramSet,
    sums: pd.DataFrame,
    rows: np.ndarray,
    pi: int,
    prog: Program,
) -> _Layout:
    """A program's layout measured on its own period (shares from the period's sums)."""
    total = window_sums(data, first_day=to_day(prog.start), last_day=to_day(prog.end)).total
    codes = sums["customer_code"].to_numpy()[rows].astype(np.int64)
    pool, keys = pd.factorize(sums["pool_id"].to_numpy(dtype=object)[rows])
    m = len(codes)
    matrix = sp.csr_matrix((np.ones(m), (pool, np.arange(m))), shape=(len(keys), m))
    net = sums["net_amount"].to_numpy(dtype=float)[rows]
    units = sums["quantity"].to_numpy(dtype=float)[rows]
    share = np.clip(
        np.where(total[codes] > 0, net / np.where(total[codes] > 0, total[codes], 1), 0.0), 0, 1
    )
    upv = np.where(net > 0, units / np.where(net > 0, net, 1), 0.0)
    baseline = np.full(len(keys), np.nan)
    if prog.is_growth:
        prior = period_sums(data, programs, as_of=prog.end, shift_years=1)
        col = "quantity" if prog.basis == "quantity" else "net_amount"
        given = sums["baseline_given"].to_numpy(dtype=float)[rows]
        measured = _by_member(prior, sums.iloc[rows], col)
        baseline = matrix @ np.where(np.isnan(given), measured, given)
    return _Layout(pi, codes, pool, len(keys), matrix, share, upv, baseline)
