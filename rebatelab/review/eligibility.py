"""Eligible customers not yet enrolled, with what they would likely earn."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebatelab.money import money
from rebatelab.review.frames import ATTRIBUTES, _aligned, _with_attributes, filter_rows
from rebatelab.review.wording import _amount_words, describe_products

__all__ = ["eligible_not_enrolled"]


# --------------------------------------------------------------------------------------------
# Eligible, not enrolled
# --------------------------------------------------------------------------------------------
def eligible_not_enrolled(
    data,
    programs,
    as_of,
    *,
    forecaster=None,
    method: str | None = None,
    rep=None,
    region=None,
    segment=None,
    program=None,
    currency: str = "$",
) -> pd.DataFrame:
    """Customers eligible for an enrollment-required program but not enrolled.

    Each program with ``enrollment: required`` is accrued and forecast as if every eligible
    customer were enrolled (``enrollment: automatic``); the rows of customers not actually
    enrolled are returned with the rebate they would likely earn and the revenue at stake.

    Parameters
    ----------
    data : RebateData
    programs : ProgramSet or path
    as_of : date-like
    forecaster : callable, optional
        ``forecaster(data, programs, as_of[, method=...])``; default
        :func:`rebatelab.forecasting.projection.forecast`.
    method : str, optional
        Forecast method.
    rep, region, segment, program : optional filters
    currency : str

    Returns
    -------
    DataFrame
        Ranked by ``revenue_at_stake`` (the projected end-of-period basis [currency, or units
        for quantity programs]) with ``basis`` (to date), ``projected_mean``,
        ``expected_rebate`` [currency], ``p_next_tier`` and ``sentence``.

    Notes
    -----
    For pooled programs the would-be pool counts every eligible member of the buying group.
    """
    from rebatelab.engine.accrual import accrue
    from rebatelab.engine.eligibility import members
    from rebatelab.programs.terms import ProgramSet, load_programs

    programs = load_programs(programs)
    required = [p.id for p in programs if p.enrollment == "required" and p.variant_of is None]
    cols = ["rank", "program_id", "customer_id", *ATTRIBUTES]
    if not required:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    auto = ProgramSet.from_programs(
        [
            p.model_copy(update={"enrollment": "automatic"}) if p.id in required else p
            for p in programs
        ],
        source=f"{programs.source} (all eligible enrolled)",
    )
    acc = accrue(data, auto, as_of)
    if forecaster is None:
        from rebatelab.forecasting.projection import forecast as forecaster
    kw = {} if method is None else {"method": method}
    fc = forecaster(data, auto, as_of, **kw)
    df = _with_attributes(_aligned(acc, fc), data)
    real = members(data, programs)
    enrolled = set(real["program_id"].astype(str) + "\x1f" + real["customer_id"].astype(str))
    key = df["program_id"].astype(str) + "\x1f" + df["customer_id"].astype(str)
    keep = df["program_id"].astype(str).isin(required).to_numpy() & ~key.isin(enrolled).to_numpy()
    df = filter_rows(df[keep], rep=rep, region=region, segment=segment, program=program).copy()
    df["revenue_at_stake"] = df["projected_mean"].to_numpy(dtype=float)
    by_id = {p.id: p for p in programs}
    sentences = []
    for r in df.itertuples(index=False):  # string formatting per row
        prog = by_id[str(r.program_id)]
        what = describe_products(prog)
        unit = "quantity" if str(r.basis_type) == "quantity" else "net_sales"
        so_far = _amount_words(max(float(r.basis), 0.0), unit, currency)
        proj = _amount_words(max(float(r.projected_mean), 0.0), unit, currency)
        sentences.append(
            f"Eligible for {prog.name or prog.id} but not enrolled: bought {so_far}"
            f"{' of ' + what if what else ''} so far this period (projected {proj}); "
            f"would likely earn {money(float(r.expected_rebate), currency=currency)}."
        )
    df["sentence"] = sentences
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
