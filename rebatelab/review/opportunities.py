"""Opportunities: rows where a sales conversation can change the outcome, ranked by value.

Every review list takes the accrual (:func:`rebatelab.accrue`) and the forecast
(:func:`rebatelab.forecast`, matched to the accrual on ``program_id, customer_id``) and returns
a ranked DataFrame, one row per (program, customer) and finding, with a plain ``sentence`` a
rep can say. Customer attributes (``name, rep, region, segment``) come from ``data`` (stage
one's :class:`~rebatelab.engine.stage_one.Reduction`, or a RebateData) when given, and the
filters ``rep=, region=, segment=, program=`` (:class:`~rebatelab.review.frames.Filters`)
select on them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebatelab.engine.stage_one import Reduction
from rebatelab.errors import ParameterError
from rebatelab.review.frames import (
    ATTRIBUTES,
    Filters,
    Inputs,
    _aligned,
    _need,
    _programs_info,
    _with_attributes,
    pool_codes,
)
from rebatelab.review.wording import (
    _amount_words,
    _days_words,
    _reach_words,
    describe_products,
)

__all__ = ["opportunities", "OpportunityRules", "opportunity_sentences"]


# per Reduction: each quantity program member's eligible net amount and units to date
_UNIT_SUMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _unit_price(red: Reduction, rows: pd.DataFrame) -> np.ndarray:
    """Average net price per unit of each row's eligible purchases to date [currency/unit].

    From the quantity programs' daily sums (``red.daily``), grouped once per Reduction and
    kept, so that re-ranking under new filters (a widget) is cheap.
    """
    g = _UNIT_SUMS.get(red)
    if g is None:
        qty = [p.id for p in red.programs if p.basis == "quantity"]
        ds = red.daily[red.daily["program_id"].astype(str).isin(qty).to_numpy()]
        g = ds.groupby(["program_id", "customer_id"])[["net_amount", "quantity"]].sum()
        g.index = pd.MultiIndex.from_arrays(
            [g.index.get_level_values(0).astype(str), g.index.get_level_values(1).astype(str)]
        )
        _UNIT_SUMS[red] = g
    want = pd.MultiIndex.from_arrays(
        [rows["program_id"].astype(str), rows["customer_id"].astype(str)]
    )
    got = g.reindex(want)
    with np.errstate(divide="ignore", invalid="ignore"):
        price = got["net_amount"].to_numpy(dtype=float) / got["quantity"].to_numpy(dtype=float)
    return np.where(np.isfinite(price) & (price > 0), price, np.nan)


# --------------------------------------------------------------------------------------------
# Opportunities
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpportunityRules:
    """When a row counts as an opportunity.

    Attributes
    ----------
    p_min, p_max : float
        Range of ``p_next_tier`` [fraction] that counts as reachable but not likely:
        a row qualifies when ``p_min <= p_next_tier <= p_max``.
    """

    p_min: float = 0.02
    p_max: float = 0.8

    def __post_init__(self):
        if not 0 <= self.p_min <= self.p_max <= 1:
            raise ParameterError(
                f"need 0 <= p_min <= p_max <= 1; got p_min={self.p_min}, p_max={self.p_max}"
            )


def opportunities(
    accrual: pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    data=None,
    programs=None,
    as_of=None,
    rules: OpportunityRules | None = None,
    currency: str = "$",
    top: int | None = None,
    sentences: bool = True,
    **filters,
) -> pd.DataFrame:
    r"""Rows where a sales conversation can change the outcome, ranked by value at stake.

    A row qualifies when the period has days left, a next tier exists and reaching it is
    possible but not likely (:class:`OpportunityRules`).

    Parameters
    ----------
    accrual : DataFrame
        :func:`rebatelab.accrue` output.
    forecast : DataFrame
        :func:`rebatelab.forecast` output: one row per accrual row, matched on
        ``program_id, customer_id``.
    data : Reduction or RebateData, optional
        Stage one's result (:func:`rebatelab.reduce`; gives the programs and the as-of day
        too), or the data with ``programs`` and ``as_of`` (reduced once, when a quantity
        program needs unit prices). Adds ``name, rep, region, segment`` (needed by those
        filters) and unit prices for quantity programs.
    programs : ProgramSet, optional
        Names the products to buy and the next tier's rate in the sentence (the
        Reduction's when ``data`` is one).
    as_of : date-like, optional
        The review date (needed, with a RebateData, for unit prices of quantity programs).
    rules : OpportunityRules, optional
        The probability window; default ``OpportunityRules()`` (2% to 80%).
    currency : str
        Currency symbol of the sentences.
    top : int, optional
        Keep the first ``top`` rows.
    sentences : bool
        Write the ``sentence`` column; False leaves it empty (format the rows shown later
        with :func:`opportunity_sentences`).
    **filters
        ``rep=, region=, segment=, program=`` (:class:`~rebatelab.review.frames.Filters`):
        a value or a list of values each; keep only these.

    Returns
    -------
    DataFrame
        Ranked (``rank`` 1 = most at stake) with ``program_id, customer_id, pool_id``, the
        customer attributes, ``days_left, tier, next_threshold, gap_to_next, p_next_tier,
        credit`` (the member's rebate at the next threshold [currency]), ``extra_rebate``,
        ``extra_revenue``, ``movability``, ``value_at_stake`` [currency] and ``sentence``.

    Notes
    -----
    - ``extra_rebate = max(credit - expected_rebate, 0)``: what reaching the tier adds to the
      customer's expected rebate [currency].
    - ``extra_revenue = max(next_threshold - projected_mean, 0)`` (for quantity programs
      times the customer's average net price per unit of the program's products to date, or
      0 without ``data``): the purchases beyond the expected path that reaching the tier
      takes, i.e. the seller's extra revenue [currency]. Pool-level for pools.
    - Pooled rows are one per pool (its largest member among those selected speaks for
      it), with the whole pool's ``credit`` and ``expected_rebate``.
    - ``movability = 4 p (1 - p)``: if a conversation shifts the log-odds of reaching the
      tier by a fixed amount :math:`\delta`, the probability moves by
      :math:`\approx p (1 - p) \delta`; scaled to 1 at p = 0.5.
    - ``value_at_stake = (extra_rebate + extra_revenue) * movability``.
    - The sentences are formatted row by row (string formatting, not computation), for the
      rows returned only: pass ``top`` to format just the rows shown.

    Examples
    --------
    Reduce the bundled sample once; accrue, forecast and rank from the Reduction:

    >>> import rebatelab as rl
    >>> data, programs = rl.datasets.load_sample()
    >>> red = rl.reduce(data, programs, "2026-06-30")
    >>> acc, fc = rl.accrue(red), rl.forecast(red, method="run_rate")
    >>> opp = opportunities(acc, fc, data=red, top=3)
    >>> opp["rank"].tolist(), bool(opp["value_at_stake"].is_monotonic_decreasing)
    ([1, 2, 3], True)
    """
    rules = OpportunityRules() if rules is None else rules
    where = Filters.of(filters, where="opportunities")
    given = Inputs(data, programs, as_of)
    _need(forecast, ["p_next_tier", "expected_rebate", "projected_mean"], "forecast")
    df = _with_pool_sums(_with_attributes(_aligned(accrual, forecast), given.customers))
    df = where.apply(df)
    p = df["p_next_tier"].to_numpy(dtype=float)
    live = (
        (df["days_left"].to_numpy() > 0)
        & np.isfinite(df["gap_to_next"].to_numpy(dtype=float))
        & (p >= rules.p_min)
        & (p <= rules.p_max)
    )
    df = _one_row_per_pool(df[live])
    p = df["p_next_tier"].to_numpy(dtype=float)
    credit = df["earned_at_next"].to_numpy(dtype=float)
    extra_rebate = np.maximum(credit - df["expected_rebate"].to_numpy(dtype=float), 0.0)
    short = np.maximum(
        df["next_threshold"].to_numpy(dtype=float) - df["projected_mean"].to_numpy(dtype=float),
        0.0,
    )
    is_qty = (df["basis_type"].astype(str) == "quantity").to_numpy()
    if not is_qty.any():
        price = np.ones(len(df))
    elif given.can_reduce:
        price = _unit_price(given.reduction, df)
    else:
        price = np.full(len(df), np.nan)
    extra_revenue = np.where(is_qty, short * np.nan_to_num(price, nan=0.0), short)
    move = 4.0 * p * (1.0 - p)
    df["credit"] = credit
    df["extra_rebate"] = np.round(extra_rebate, 2)
    df["extra_revenue"] = np.round(extra_revenue, 2)
    df["movability"] = move
    df["value_at_stake"] = np.round((extra_rebate + extra_revenue) * move, 2)
    df = df.sort_values(
        ["value_at_stake", "gap_to_next"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    if top is not None:
        df = df.head(top).copy()
    df["sentence"] = (
        _opportunity_sentences(df, given.programs, currency) if sentences else ""
    )  # rows kept only
    cols = [
        "rank",
        "program_id",
        "customer_id",
        "pool_id",
        *[c for c in ATTRIBUTES if c in df.columns],
        "members",
        "days_left",
        "basis_type",
        "basis",
        "pool_basis",
        "tier",
        "next_threshold",
        "gap_to_next",
        "p_next_tier",
        "expected_rebate",
        "credit",
        "extra_rebate",
        "extra_revenue",
        "movability",
        "value_at_stake",
        "sentence",
    ]
    return df[cols]


def _with_pool_sums(df: pd.DataFrame) -> pd.DataFrame:
    """Add the whole pool's ``earned_at_next``, ``expected_rebate`` and member count.

    Computed on every row before any filter, so that a pool keeps its full amounts when only
    some of its members are selected (e.g. by rep).
    """
    g = df.assign(_pool=pool_codes(df)).groupby("_pool", sort=False)
    sums = g[["earned_at_next", "expected_rebate"]].transform("sum")
    return df.assign(
        _pool_at_next=sums["earned_at_next"].to_numpy(),
        _pool_expected=sums["expected_rebate"].to_numpy(),
        members=g["customer_id"].transform("size").to_numpy(),
    )


def _one_row_per_pool(df: pd.DataFrame) -> pd.DataFrame:
    """Pooled rows collapsed to one per (program, pool) (rows of :func:`_with_pool_sums`).

    Among the rows present, the member with the largest basis speaks for the pool;
    ``earned_at_next`` and ``expected_rebate`` become the whole pool's.
    """
    lead = df.assign(_pool=pool_codes(df), _b=df["basis"].to_numpy(dtype=float))
    lead = lead.sort_values(["_pool", "_b"], ascending=[True, False], kind="stable")
    first = ~lead["_pool"].duplicated()
    out = df.loc[lead.index[first.to_numpy()]].sort_index().copy()
    out["earned_at_next"] = out["_pool_at_next"].to_numpy()
    out["expected_rebate"] = out["_pool_expected"].to_numpy()
    return out


def opportunity_sentences(rows: pd.DataFrame, programs, *, currency: str = "$") -> list[str]:
    """The rep's sentence of each opportunity row (:func:`opportunities` columns).

    Formatting only (row by row): call it for the rows shown.
    """
    return _opportunity_sentences(rows, programs, currency)


def _opportunity_sentences(df: pd.DataFrame, programs, currency: str) -> list[str]:
    by_id = _programs_info(programs, df["program_id"].astype(str).to_numpy())
    out = []
    # one sentence per row: string formatting, not computation
    for r in df[
        ["program_id", "customer_id", "pool_id", "days_left", "gap_to_next", "basis_type", "tier"]
        + ["credit"]
    ].itertuples(index=False):
        prog = by_id.get(str(r.program_id)) if by_id else None
        what = describe_products(prog) if prog is not None else ""
        reach = _reach_words(prog, int(r.tier) + 1, float(r.credit), currency)
        who = "" if str(r.pool_id) == str(r.customer_id) else f"Buying group {r.pool_id}: "
        buy = _amount_words(float(r.gap_to_next), str(r.basis_type), currency)
        of = f" of {what}" if what else ""
        out.append(f"{who}{_days_words(r.days_left)} to buy {buy} more{of} to {reach}.")
    return out
