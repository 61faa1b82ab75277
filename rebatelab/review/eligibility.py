"""Eligible customers not yet enrolled, with what they would likely earn."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from rebatelab.engine.accrual import accrue
from rebatelab.engine.stage_one import Reduction, required_auto
from rebatelab.engine.sums import SUM_DECIMALS, _period_days
from rebatelab.money import money
from rebatelab.review.frames import ATTRIBUTES, Filters, Inputs, _aligned, _with_attributes
from rebatelab.review.wording import _amount_words, describe_products

__all__ = ["eligible_not_enrolled", "all_enrolled", "eligible_sentences"]


# --------------------------------------------------------------------------------------------
# The Reduction as if every eligible customer were enrolled
# --------------------------------------------------------------------------------------------
def _window_sums(daily: pd.DataFrame, n: int, programs, pidx: np.ndarray, as_of, shift: int):
    """Per member (``0 .. n - 1``): the daily sums over its program's period, shifted back.

    The same window as :func:`rebatelab.engine.reduction.period_sums` with ``shift_years``
    (``enrolled_on`` does not apply to a shifted window), rounded the same way.
    """
    win = np.array([_period_days(p, as_of, shift) for p in programs], dtype=np.int64)
    win = win.reshape(-1, 2)
    member = daily["member"].to_numpy(dtype=np.int64)
    day = daily["date"].to_numpy(dtype="datetime64[D]") - np.datetime64("1970-01-01", "D")
    day = day.astype(np.int64)
    lo, hi = win[pidx[member], 0], win[pidx[member], 1]
    m = (day >= lo) & (day <= hi)
    out = {}
    for col in ("net_amount", "quantity"):
        w = daily[col].to_numpy(dtype=float)[m]
        out[col] = np.round(np.bincount(member[m], weights=w, minlength=n), SUM_DECIMALS)
    w = daily["n_lines"].to_numpy(dtype=float)[m]
    out["n_lines"] = np.round(np.bincount(member[m], weights=w, minlength=n)).astype(np.int64)
    return out


def all_enrolled(red: Reduction) -> Reduction | None:
    """The Reduction with every eligible customer enrolled in the enrollment-required programs.

    Built from ``red.candidates`` and ``red.candidate_daily`` (no line is read): the programs
    become :func:`rebatelab.engine.stage_one.required_auto`, the candidates join the members,
    the period sums and daily sums, and their growth baseline is summed from their daily
    sums over the shifted window (which ends before the as-of day). Their ``prior`` sums
    (the previous year's whole period, which may end after the as-of day) are not in stage
    one's result: NaN.

    Parameters
    ----------
    red : Reduction

    Returns
    -------
    Reduction or None
        Members in program order then customer-table order, as reducing the data with the
        automatic programs gives; None when no program requires enrollment.
    """
    auto = required_auto(red.programs)
    if auto is None:
        return None
    cand = red.candidates
    n_mem, n_cand = len(red.members), len(cand)
    both = pd.concat([red.members, cand[list(red.members.columns)]], ignore_index=True)
    order = np.lexsort(
        (both["customer_code"].to_numpy(dtype=np.int64), both["program_idx"].to_numpy(np.int64))
    )
    new_pos = np.empty(len(both), dtype=np.int64)
    new_pos[order] = np.arange(len(both))

    def stacked(real: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([real, extra], ignore_index=True).iloc[order].reset_index(drop=True)

    cand_daily = red.candidate_daily
    if cand_daily is None:
        cand_daily = red.daily.iloc[:0]
    pidx = cand["program_idx"].to_numpy(dtype=np.int64)
    mem_cols = list(red.members.columns)
    baseline = _window_sums(cand_daily, n_cand, list(red.programs), pidx, red.as_of, 1)
    unknown = dict.fromkeys(("net_amount", "quantity", "n_lines"), np.nan)

    daily = pd.concat(
        [
            red.daily.assign(member=new_pos[red.daily["member"].to_numpy(dtype=np.int64)]),
            cand_daily.assign(
                member=new_pos[n_mem + cand_daily["member"].to_numpy(dtype=np.int64)]
            ),
        ],
        ignore_index=True,
    )
    daily = daily.sort_values(["member", "date"], kind="stable").reset_index(drop=True)
    return dataclasses.replace(
        red,
        programs=auto,
        members=both.iloc[order].reset_index(drop=True),
        period=stacked(red.period, cand),
        baseline=stacked(red.baseline, cand[mem_cols].assign(**baseline)),
        prior=stacked(red.prior, cand[mem_cols].assign(**unknown)),
        daily=daily,
        candidates=cand.iloc[:0],
        candidate_daily=cand_daily.iloc[:0],
    )


# --------------------------------------------------------------------------------------------
# Eligible, not enrolled
# --------------------------------------------------------------------------------------------
def eligible_not_enrolled(
    data,
    programs=None,
    as_of=None,
    *,
    forecaster=None,
    method: str | None = None,
    currency: str = "$",
    sentences: bool = True,
    **filters,
) -> pd.DataFrame:
    """Customers eligible for an enrollment-required program but not enrolled.

    Each program with ``enrollment: required`` is accrued and forecast as if every eligible
    customer were enrolled (``enrollment: automatic``, :func:`all_enrolled`); the rows of
    customers not actually enrolled (stage one's ``candidates``) are returned with the rebate
    they would likely earn and the revenue at stake.

    Parameters
    ----------
    data : Reduction or RebateData
        Stage one's result (:func:`rebatelab.reduce`), or the data, reduced once with
        ``programs`` and ``as_of``.
    programs : ProgramSet, optional
        Not needed with a Reduction.
    as_of : date-like, optional
        Not needed with a Reduction.
    forecaster : callable, optional
        ``forecaster(reduction, programs, as_of[, method=...])``, called with the
        all-enrolled Reduction, its programs and day; default :func:`rebatelab.forecast`.
    method : str, optional
        Forecast method.
    currency : str
        Currency symbol of the sentences.
    sentences : bool
        Write the ``sentence`` column; False leaves it empty (format the rows shown later
        with :func:`eligible_sentences`).
    **filters
        ``rep=, region=, segment=, program=`` (:class:`~rebatelab.review.frames.Filters`).

    Returns
    -------
    DataFrame
        Ranked by ``revenue_at_stake`` (the projected end-of-period basis [currency, or units
        for quantity programs]) with ``basis`` (to date), ``projected_mean``,
        ``expected_rebate`` [currency], ``p_next_tier`` and ``sentence``.

    Notes
    -----
    For pooled programs the would-be pool counts every eligible member of the buying group.
    The sentences are formatted row by row (string formatting, not computation) for the rows
    returned (the filtered candidates) only.
    """
    where = Filters.of(filters, where="eligible_not_enrolled")
    red = Inputs(data, programs, as_of).reduction
    cols = ["rank", "program_id", "customer_id", *ATTRIBUTES]
    auto = all_enrolled(red)
    if auto is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    acc = accrue(auto)
    if forecaster is None:  # imported here: the review opens without the forecasting code
        from rebatelab.forecasting.projection import forecast as forecaster
    kw = {} if method is None else {"method": method}
    fc = forecaster(auto, auto.programs, auto.as_of, **kw)
    df = _with_attributes(_aligned(acc, fc), red.customers)
    keep = _keys(df).isin(_keys(red.candidates))
    df = where.apply(df[keep]).copy()
    df["revenue_at_stake"] = df["projected_mean"].to_numpy(dtype=float)
    df["sentence"] = eligible_sentences(df, red.programs, currency=currency) if sentences else ""
    df = df.sort_values("revenue_at_stake", ascending=False, kind="stable").reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    out_cols = [
        "rank",
        "program_id",
        "customer_id",
        *[c for c in ATTRIBUTES if c in df.columns],
        "days_left",
        "basis_type",
        "basis",
        "projected_mean",
        "tier",
        "p_next_tier",
        "expected_rebate",
        "revenue_at_stake",
        "sentence",
    ]
    return df[out_cols]


def _keys(df: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays(
        [df["program_id"].astype(str).to_numpy(), df["customer_id"].astype(str).to_numpy()]
    )


def eligible_sentences(rows: pd.DataFrame, programs, *, currency: str = "$") -> list[str]:
    """Why each eligible-not-enrolled row (:func:`eligible_not_enrolled` columns) is listed.

    Formatting only (row by row): call it for the rows shown.
    """
    by_id = {p.id: p for p in programs}
    out = []
    for r in rows.itertuples(index=False):  # string formatting per row
        prog = by_id[str(r.program_id)]
        what = describe_products(prog)
        unit = "quantity" if str(r.basis_type) == "quantity" else "net_sales"
        so_far = _amount_words(max(float(r.basis), 0.0), unit, currency)
        proj = _amount_words(max(float(r.projected_mean), 0.0), unit, currency)
        out.append(
            f"Eligible for {prog.name or prog.id} but not enrolled: bought {so_far}"
            f"{' of ' + what if what else ''} so far this period (projected {proj}); "
            f"would likely earn {money(float(r.expected_rebate), currency=currency)}."
        )
    return out
