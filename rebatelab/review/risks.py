"""Risks: customers below last period's tier, slipping below their tier, or gone quiet."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebatelab.engine.settlement import evaluate, schedule
from rebatelab.errors import ParameterError
from rebatelab.money import money
from rebatelab.programs.terms import ProgramSet
from rebatelab.review.frames import (
    ATTRIBUTES,
    Filters,
    Inputs,
    _aligned,
    _need,
    _p_at_least,
    _programs_info,
    _tier_columns,
    _with_attributes,
    pool_codes,
)
from rebatelab.review.opportunities import _one_row_per_pool, _with_pool_sums
from rebatelab.review.wording import _days_words, describe_products, tier_label

__all__ = ["risks", "RiskRules", "risk_sentences"]


@dataclass(frozen=True)
class RiskRules:
    """When a row counts as a risk.

    Attributes
    ----------
    quiet_days : int
        Days [days] without an eligible purchase that make a customer ``quiet``.
    hold_below : float
        Probability [fraction] below which holding last period's tier is at risk.
    drop : float
        Fall in probability [fraction] that makes a customer ``slipping``.
    min_value : float
        Findings with less ``value_at_risk`` [currency] are left out.
    """

    quiet_days: int = 60
    hold_below: float = 0.5
    drop: float = 0.15
    min_value: float = 1.0

    def __post_init__(self):
        for name in ("hold_below", "drop"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ParameterError(f"RiskRules.{name} must be in [0, 1] [fraction], got {v}")
        if self.quiet_days < 0:
            raise ParameterError(f"RiskRules.quiet_days must be >= 0 [days], got {self.quiet_days}")


def _member_basis(frame: pd.DataFrame, programs: ProgramSet) -> pd.Series:
    """Each member's basis in a sums frame (units for quantity programs), by key."""
    qty = {p.id for p in programs if p.basis == "quantity"}
    is_qty = frame["program_id"].astype(str).isin(qty).to_numpy()
    b = np.where(is_qty, frame["quantity"], frame["net_amount"])
    key = pd.MultiIndex.from_arrays(
        [frame["program_id"].astype(str).to_numpy(), frame["customer_id"].astype(str).to_numpy()]
    )
    return pd.Series(b, index=key)


def _row_keys(df: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays(
        [df["program_id"].astype(str).to_numpy(), df["customer_id"].astype(str).to_numpy()]
    )


def _last_period_tier(accrual: pd.DataFrame, red) -> np.ndarray:
    """Tier each row's pool reached over the same program period one year earlier.

    From ``red.prior`` (each program's whole previous-year period). Growth programs (whose
    baseline would itself need the year before) get 0.
    """
    programs = red.programs
    last = _member_basis(red.prior, programs)
    member_b = last.reindex(_row_keys(accrual)).fillna(0.0).to_numpy()
    pool = pool_codes(accrual)
    pool_b = np.bincount(pool, weights=member_b)[pool]
    pos = {pid: i for i, pid in enumerate(programs.ids)}
    pidx = accrual["program_id"].astype(str).map(pos).to_numpy(dtype=np.int64)
    growth = np.array([p.is_growth for p in programs])[pidx]
    tier = evaluate(schedule(programs, pidx), np.where(growth, 0.0, pool_b))["tier"]
    return np.where(growth, 0, tier).astype(np.int64)


def _last_purchase(red, accrual: pd.DataFrame) -> np.ndarray:
    """Each row's last eligible purchase up to the as-of day (NaT: none), from ``red.daily``."""
    ds = red.daily
    last = ds.groupby([ds["program_id"].astype(str), ds["customer_id"].astype(str)])["date"].max()
    return last.reindex(_row_keys(accrual)).to_numpy(dtype="datetime64[ns]")


def risks(
    accrual: pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    data=None,
    programs=None,
    as_of=None,
    previous: pd.DataFrame | None = None,
    rules: RiskRules | None = None,
    currency: str = "$",
    sentences: bool = True,
    **filters,
) -> pd.DataFrame:
    """Customers falling behind, ranked by the rebate and revenue at risk.

    Three kinds (``risk`` column), each row with a plain ``sentence``:

    - ``below_last_period``: the pool reached tier ``k >= 1`` over the program's period one
      year earlier, and the probability of ending at tier ``k`` or above is now below
      ``rules.hold_below`` (needs stage one's sums: ``data`` a Reduction, or a RebateData with
      ``programs`` and ``as_of``; growth programs are skipped);
    - ``slipping``: ``previous`` is a forecast from an earlier date (e.g. a month ago) with
      ``program_id, customer_id``; the probability of ending at or above the tier that was
      most likely then has fallen by at least ``rules.drop``;
    - ``quiet``: a member with days left who bought eligible products before but none in the
      last ``rules.quiet_days`` days (needs stage one's sums, as above).

    Parameters
    ----------
    accrual, forecast : DataFrame
        :func:`rebatelab.accrue` and :func:`rebatelab.forecast` outputs, matched on
        ``program_id, customer_id``.
    data : Reduction or RebateData, optional
        Stage one's result (:func:`rebatelab.reduce`: gives the programs and as-of day
        too), or the data, reduced once with ``programs`` and ``as_of``. Gives the customer
        attributes, last period's tiers (``Reduction.prior``) and the last purchases
        (``Reduction.daily``).
    programs : ProgramSet, optional
        For the reference tier's value and the sentences.
    as_of : date-like, optional
        The review date.
    previous : DataFrame, optional
        An earlier forecast (same programs).
    rules : RiskRules, optional
        Thresholds of the three kinds and the smallest finding kept; default ``RiskRules()``.
    currency : str
        Currency symbol of the sentences.
    sentences : bool
        Write the ``sentence`` column; False leaves it empty (format the rows shown later
        with :func:`risk_sentences`).
    **filters
        ``rep=, region=, segment=, program=`` (:class:`~rebatelab.review.frames.Filters`).

    Returns
    -------
    DataFrame
        ``rank, risk, program_id, customer_id``, attributes, ``days_left, tier,
        reference_tier, p_hold, p_hold_before, last_purchase, value_at_risk`` [currency]
        and ``sentence``. ``value_at_risk`` [currency] is ``(1 - p_hold)`` times (the rebate
        at the reference tier's threshold + the purchases by which the expected end-of-period
        basis falls short of it) for tier risks, and the expected rebate plus the member's
        expected purchases still to come for quiet customers. Pooled rows are one per pool.

    Notes
    -----
    The sentences are formatted row by row (string formatting, not computation), for the
    findings kept (``value_at_risk >= rules.min_value``) only.
    """
    rules = RiskRules() if rules is None else rules
    where = Filters.of(filters, where="risks")
    given = Inputs(data, programs, as_of)
    programs, as_of = given.programs, given.as_of
    if data is not None and programs is not None and not given.can_reduce:
        warnings.warn(
            "risks: below_last_period and quiet need stage one's sums: pass as_of= with the "
            "data (or data=Reduction); only slipping is checked",
            stacklevel=2,
        )
    _need(forecast, ["expected_rebate", "projected_mean"], "forecast")
    df = _with_pool_sums(_with_attributes(_aligned(accrual, forecast), given.customers))
    chosen = where.apply(df).index
    selected = df.index.isin(chosen)
    by_id = _programs_info(programs, df["program_id"].astype(str).to_numpy())
    live = (df["days_left"].to_numpy() > 0) & selected
    found = []

    # pool baselines on all rows (growth thresholds are multiples of them)
    pool_code = pool_codes(df)
    base = df["baseline"].to_numpy(dtype=float) if "baseline" in df.columns else np.nan
    base = np.broadcast_to(base, (len(df),))
    has = ~np.isnan(base)
    pool_base = np.bincount(pool_code[has], weights=base[has], minlength=pool_code.max() + 1)
    any_base = np.bincount(pool_code, weights=has, minlength=pool_code.max() + 1) > 0
    df["_pool_baseline"] = np.where(any_base, pool_base, np.nan)[pool_code]

    def ref_value(frame, ref):
        """The pool's rebate at the reference tier's threshold plus the revenue short of it."""
        if by_id is None:
            return frame["expected_rebate"].to_numpy(dtype=float)
        pos = {pid: i for i, pid in enumerate(programs.ids)}
        pidx = frame["program_id"].astype(str).map(pos).to_numpy(dtype=np.int64)
        sched = schedule(programs, pidx, baseline=frame["_pool_baseline"].to_numpy(dtype=float))
        thr = sched.thresholds[np.arange(len(frame)), np.maximum(ref - 1, 0)]
        pool_b = frame["pool_basis"].to_numpy(dtype=float)
        at = evaluate(sched, np.where(np.isfinite(thr), thr, pool_b))["earned"]
        # plus the purchases the expected path falls short of the threshold (net sales only)
        short = np.where(np.isfinite(thr), thr, 0.0) - frame["projected_mean"].to_numpy(float)
        sales = (frame["basis_type"].astype(str) == "net_sales").to_numpy()
        return at + np.where(sales, np.maximum(short, 0.0), 0.0)

    if given.can_reduce:
        ref = _last_period_tier(df, given.reduction)
        p_hold = _p_at_least(df, ref)
        m = live & (ref >= 1) & (p_hold < rules.hold_below)
        if m.any():
            f = df[m].assign(reference_tier=ref[m], p_hold=p_hold[m], p_hold_before=np.nan)
            f = _one_row_per_pool(f)
            f["risk"] = "below_last_period"
            f["value_at_risk"] = (1 - f["p_hold"]) * ref_value(f, f["reference_tier"].to_numpy())
            found.append(f)

    if previous is not None:
        _need(previous, ["program_id", "customer_id"], "previous")
        prev = previous.set_index(_row_keys(previous))
        prev = prev[~prev.index.duplicated()].reindex(_row_keys(df))
        if "most_likely_tier" in prev.columns:
            ref = prev["most_likely_tier"].fillna(0).to_numpy(dtype=np.int64)
        else:
            ref = np.argmax(prev[_tier_columns(prev)].fillna(0).to_numpy(dtype=float), axis=1)
        had = prev["program_id"].notna().to_numpy()
        p_now = _p_at_least(df, ref)
        p_before = _p_at_least(prev.fillna(0.0).reset_index(drop=True), ref)
        m = live & had & (ref >= 1) & (p_before - p_now >= rules.drop)
        if m.any():
            f = df[m].assign(reference_tier=ref[m], p_hold=p_now[m], p_hold_before=p_before[m])
            f = _one_row_per_pool(f)
            f["risk"] = "slipping"
            f["value_at_risk"] = (1 - f["p_hold"]) * ref_value(f, f["reference_tier"].to_numpy())
            found.append(f)

    if given.can_reduce:
        last = _last_purchase(given.reduction, df)
        as_of_ts = np.datetime64(pd.Timestamp(as_of).normalize().to_datetime64(), "ns")
        quiet_for = (as_of_ts - last).astype("timedelta64[D]").astype(float)
        quiet_for = np.where(np.isnat(last), np.inf, quiet_for)
        m = live & ~np.isnat(last) & (quiet_for > rules.quiet_days)
        if m.any():
            f = df[m].copy()
            f["risk"] = "quiet"
            f["reference_tier"] = f["tier"].to_numpy()
            f["p_hold"] = np.nan
            f["p_hold_before"] = np.nan
            f["last_purchase"] = last[m]
            # the member's share of the pool's expected purchases still to come
            pool_b = f["pool_basis"].to_numpy(dtype=float)
            member_b = np.maximum(f["basis"].to_numpy(dtype=float), 0.0)
            share = np.where(pool_b > 0, member_b / np.where(pool_b > 0, pool_b, 1.0), 1.0)
            share = np.where(f["pool_id"].astype(str) == f["customer_id"].astype(str), 1.0, share)
            to_come = share * np.maximum(f["projected_mean"].to_numpy(dtype=float) - pool_b, 0.0)
            f["value_at_risk"] = f["expected_rebate"].to_numpy(dtype=float) + to_come
            found.append(f)

    cols = [
        "rank",
        "risk",
        "program_id",
        "customer_id",
        "pool_id",
        *[c for c in ATTRIBUTES if c in df.columns],
        "days_left",
        "tier",
        "reference_tier",
        "p_hold",
        "p_hold_before",
        "last_purchase",
        "expected_rebate",
        "value_at_risk",
        "sentence",
    ]
    if not found:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    out = pd.concat(found, ignore_index=True)
    if "last_purchase" not in out.columns:
        out["last_purchase"] = pd.NaT
    out["value_at_risk"] = np.round(out["value_at_risk"].to_numpy(dtype=float), 2)
    out = out[out["value_at_risk"].to_numpy() >= rules.min_value]
    out["sentence"] = _risk_sentences(out, by_id, as_of, currency) if sentences else ""
    out = out.sort_values("value_at_risk", ascending=False, kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out[cols]


def risk_sentences(rows: pd.DataFrame, programs, as_of, *, currency: str = "$") -> list[str]:
    """The reason of each risk row (:func:`risks` columns) in a sentence.

    Formatting only (row by row): call it for the rows shown.
    """
    by_id = {p.id: p for p in programs} if programs is not None else None
    return _risk_sentences(rows, by_id, as_of, currency)


def _risk_sentences(df: pd.DataFrame, by_id, as_of, currency: str) -> list[str]:
    out = []
    for r in df.itertuples(index=False):  # string formatting per row
        prog = by_id.get(str(r.program_id)) if by_id else None
        what = describe_products(prog) if prog is not None else ""
        ref = int(r.reference_tier)
        tier_txt = (
            tier_label(prog, ref, currency=currency) if prog is not None and ref >= 1 else "a tier"
        )
        days = _days_words(r.days_left)
        if r.risk == "below_last_period":
            out.append(
                f"Reached {tier_txt} last period; now {r.p_hold:.0%} likely to hold it, {days}."
            )
        elif r.risk == "slipping":
            out.append(
                f"Was on track for {tier_txt}; now {r.p_hold:.0%} likely "
                f"(was {r.p_hold_before:.0%}), {days}."
            )
        else:
            of = f" of {what}" if what else ""
            if pd.isna(r.last_purchase):
                out.append(f"No purchases{of} yet; {days}.")
            else:
                d = pd.Timestamp(r.last_purchase)
                ago = (pd.Timestamp(as_of) - d).days
                out.append(
                    f"No purchases{of} in {ago} days (last on {d.date()}); {days}, "
                    f"{money(r.expected_rebate, currency=currency)} expected rebate at stake."
                )
    return out
