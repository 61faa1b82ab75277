"""Review for sales managers: ranked opportunities, risks, and eligible customers not enrolled.

Every function takes the accrual (:func:`rebatelab.accrue`) and the forecast
(:func:`rebatelab.forecast`, rows aligned with the accrual) and returns a ranked DataFrame,
one row per (program, customer) and finding, with a plain ``sentence`` a rep can say.
Customer attributes (``name, rep, region, segment``) come from the data folder when given,
and the filters ``rep=, region=, segment=, program=`` select on them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .errors import ParameterError

__all__ = [
    "opportunities",
    "risks",
    "eligible_not_enrolled",
    "describe_products",
    "filter_rows",
    "money",
    "percent",
    "digest",
    "digest_html",
]

ATTRIBUTES = ("name", "rep", "region", "segment")


# --------------------------------------------------------------------------------------------
# Words and numbers
# --------------------------------------------------------------------------------------------
def money(x, *, currency: str = "$", up: bool = False) -> str:
    """An amount as ``$12,400`` (whole units; ``up=True`` rounds up, for amounts to reach).

    Examples
    --------
    >>> money(12_399.2, up=True), money(9_800.4)
    ('$12,400', '$9,800')
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    v = math.ceil(x - 1e-9) if up else math.floor(x + 0.5)
    return f"{'-' if v < 0 else ''}{currency}{abs(v):,.0f}"


def percent(rate: float) -> str:
    """A fraction as a short percentage: ``0.04 -> '4%'``, ``0.025 -> '2.5%'``.

    Examples
    --------
    >>> percent(0.04), percent(0.025), percent(0.0125)
    ('4%', '2.5%', '1.25%')
    """
    return f"{round(100 * rate, 2):g}%"


def _join(words: list[str]) -> str:
    words = [str(w) for w in words]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def describe_products(program) -> str:
    """The program's eligible products in words, from its product filters.

    Examples
    --------
    >>> from rebatelab.programs import Program
    >>> p = Program(id="G", start="2026-01-01", end="2026-12-31", tiers=[{"from": 1}],
    ...             products={"category": ["Fasteners", "Tools"]},
    ...             exclude_products={"brand": ["House"]})
    >>> describe_products(p)
    'Fasteners and Tools (excluding brand House)'
    """
    parts = []
    for i, (attr, allowed) in enumerate((program.products or {}).items()):
        parts.append(_join(allowed) if i == 0 else f"{attr} {_join(allowed)}")
    text = parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "") if parts else ""
    excl = [f"{a} {_join(v)}" for a, v in (program.exclude_products or {}).items()]
    if excl:
        text = (text or "eligible products") + f" (excluding {'; '.join(excl)})"
    return text


# --------------------------------------------------------------------------------------------
# Rows, attributes, filters
# --------------------------------------------------------------------------------------------
def _aligned(accrual: pd.DataFrame, forecast: pd.DataFrame | None) -> pd.DataFrame:
    """Accrual and forecast side by side (the forecast's columns win where both have one)."""
    from .liabilities import _check_aligned

    acc = accrual.reset_index(drop=True)
    if forecast is None:
        return acc.copy()
    _check_aligned(accrual, forecast)
    fc = forecast.reset_index(drop=True)
    extra = [c for c in fc.columns if c not in ("program_id", "customer_id", "pool_id")]
    return pd.concat([acc.drop(columns=[c for c in extra if c in acc.columns]), fc[extra]], axis=1)


def _with_attributes(df: pd.DataFrame, data) -> pd.DataFrame:
    if data is None:
        return df
    cu = data.customers
    cols = [c for c in ATTRIBUTES if c in cu.columns]
    look = cu.set_index(cu["customer_id"].astype(str))[cols]
    add = look.reindex(df["customer_id"].astype(str).to_numpy())
    out = df.copy()
    for c in cols:
        out[c] = add[c].to_numpy()
    return out


def _as_list(v):
    if v is None:
        return None
    return [str(x) for x in (v if isinstance(v, list | tuple | set) else [v])]


def filter_rows(df: pd.DataFrame, *, rep=None, region=None, segment=None, program=None):
    """Rows whose ``rep``, ``region``, ``segment`` and ``program_id`` are among those given.

    Each filter is a value or a list of values; None keeps everything.
    """
    out = df
    for col, want in (("rep", rep), ("region", region), ("segment", segment)):
        want = _as_list(want)
        if want is None:
            continue
        if col not in out.columns:
            raise ParameterError(
                f"filter {col}=: the rows have no {col!r} column; pass data= (the customers "
                "table needs that column)"
            )
        out = out[out[col].astype("string").isin(want).fillna(False).to_numpy()]
    want = _as_list(program)
    if want is not None:
        out = out[out["program_id"].astype(str).isin(want).to_numpy()]
    return out


def _programs_info(programs, program_ids: np.ndarray):
    """Per row: product description, next-tier rate text inputs, growth flag."""
    if programs is None:
        return None
    from .programs import load_programs

    programs = load_programs(programs)
    by_id = {p.id: p for p in programs}
    unknown = sorted(set(program_ids) - set(by_id))
    if unknown:
        raise ParameterError(f"rows name programs not in the program set: {unknown[:5]}")
    return by_id


def _tier_words(program, tier_index: int) -> str:
    """'4%', 'the $1,000 bonus tier' or '+15% growth for 3%' for tier number ``tier_index``."""
    t = program.tiers[tier_index - 1]
    if t.amount:
        return f"the {money(t.amount)} bonus tier"
    if program.is_growth:
        return f"+{percent(t.from_)} growth for {percent(t.rate)}"
    return percent(t.rate)


def _reach_words(program, tier_index: int, credit: float, currency: str) -> str:
    """Words for reaching a tier: 'reach 4% (a $9,800 credit)'.

    An incremental tier that pays nothing at its threshold reads 'reach 1% on every further
    purchase' instead of promising a $0 credit.
    """
    target = _tier_words(program, tier_index) if program is not None else "the next tier"
    if program is not None and program.method == "incremental" and credit < 0.005:
        return f"reach {target} on every further purchase"
    return f"reach {target} (a {money(credit, currency=currency)} credit)"


def _amount_words(gap: float, basis_type: str, currency: str) -> str:
    if basis_type == "quantity":
        return f"{math.ceil(gap - 1e-9):,} units"
    return money(gap, currency=currency, up=True)


def _days_words(days: int) -> str:
    return f"{int(days)} day{'s' if int(days) != 1 else ''} left"


def _unit_price(data, programs, rows: pd.DataFrame, as_of) -> np.ndarray:
    """Average net price per unit of each row's eligible purchases to date [currency/unit].

    Only quantity programs need it; their per-customer sums are reduced once per (programs,
    as_of) and kept on the data object, so re-ranking under new filters (a widget) is cheap.
    """
    out = np.full(len(rows), np.nan)
    if data is None or programs is None or as_of is None:
        return out
    from .programs import load_programs
    from .reduce import daily_sums

    programs = load_programs(programs)
    qty = [p.id for p in programs if p.basis == "quantity"]
    wanted = set(rows["program_id"].astype(str)) & set(qty)
    if not wanted:
        return out
    key = ("unit_prices", pd.Timestamp(as_of))
    hit = data.cache.get(key)
    if hit is not None and hit[0] is programs:
        g = hit[1]
    else:
        ds = daily_sums(data, programs.subset(qty), as_of=as_of)
        g = ds.groupby(["program_id", "customer_id"])[["net_amount", "quantity"]].sum()
        g.index = pd.MultiIndex.from_arrays(
            [g.index.get_level_values(0).astype(str), g.index.get_level_values(1).astype(str)]
        )
        data.cache[key] = (programs, g)
    want = pd.MultiIndex.from_arrays(
        [rows["program_id"].astype(str), rows["customer_id"].astype(str)]
    )
    got = g.reindex(want)
    with np.errstate(divide="ignore", invalid="ignore"):
        price = got["net_amount"].to_numpy(dtype=float) / got["quantity"].to_numpy(dtype=float)
    return np.where(np.isfinite(price) & (price > 0), price, np.nan)


def _need(df: pd.DataFrame, cols, what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ParameterError(f"{what}: missing column(s) {missing}; have {list(df.columns)}")


# --------------------------------------------------------------------------------------------
# Opportunities
# --------------------------------------------------------------------------------------------
def opportunities(
    accrual: pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    data=None,
    programs=None,
    as_of=None,
    rep=None,
    region=None,
    segment=None,
    program=None,
    p_min: float = 0.02,
    p_max: float = 0.8,
    currency: str = "$",
    top: int | None = None,
) -> pd.DataFrame:
    r"""Rows where a sales conversation can change the outcome, ranked by value at stake.

    A row qualifies when the period has days left, a next tier exists and reaching it is
    possible but not likely: ``p_min <= p_next_tier <= p_max``.

    Parameters
    ----------
    accrual : DataFrame
        :func:`rebatelab.accrue` output.
    forecast : DataFrame
        :func:`rebatelab.forecast` output, aligned with ``accrual``.
    data : RebateData, optional
        Adds ``name, rep, region, segment`` (needed by those filters) and unit prices for
        quantity programs.
    programs : ProgramSet or path, optional
        Names the products to buy and the next tier's rate in the sentence.
    as_of : date-like, optional
        The review date (needed for unit prices of quantity programs).
    rep, region, segment, program : str or list of str, optional
        Keep only these.
    p_min, p_max : float
        Range of ``p_next_tier`` [fraction] that counts as reachable but not likely.
    currency : str
        Currency symbol of the sentences.
    top : int, optional
        Keep the first ``top`` rows.

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

    Examples
    --------
    >>> import rebatelab as rl  # doctest: +SKIP
    >>> opp = rl.opportunities(acc, fc, data=data, programs=programs, as_of="2026-06-30")
    ... # doctest: +SKIP
    """
    _need(forecast, ["p_next_tier", "expected_rebate", "projected_mean"], "forecast")
    if not 0 <= p_min <= p_max <= 1:
        raise ParameterError(f"need 0 <= p_min <= p_max <= 1; got p_min={p_min}, p_max={p_max}")
    df = _with_pool_sums(_with_attributes(_aligned(accrual, forecast), data))
    df = filter_rows(df, rep=rep, region=region, segment=segment, program=program)
    p = df["p_next_tier"].to_numpy(dtype=float)
    live = (
        (df["days_left"].to_numpy() > 0)
        & np.isfinite(df["gap_to_next"].to_numpy(dtype=float))
        & (p >= p_min)
        & (p <= p_max)
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
    price = _unit_price(data, programs, df, as_of) if is_qty.any() else np.ones(len(df))
    extra_revenue = np.where(is_qty, short * np.nan_to_num(price, nan=0.0), short)
    move = 4.0 * p * (1.0 - p)
    df["credit"] = credit
    df["extra_rebate"] = np.round(extra_rebate, 2)
    df["extra_revenue"] = np.round(extra_revenue, 2)
    df["movability"] = move
    df["value_at_stake"] = np.round((extra_rebate + extra_revenue) * move, 2)
    df["sentence"] = _opportunity_sentences(df, programs, currency)
    df = df.sort_values(
        ["value_at_stake", "gap_to_next"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
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
    out = df[cols]
    return out.head(top) if top is not None else out


def _with_pool_sums(df: pd.DataFrame) -> pd.DataFrame:
    """Add the whole pool's ``earned_at_next``, ``expected_rebate`` and member count.

    Computed on every row before any filter, so that a pool keeps its full amounts when only
    some of its members are selected (e.g. by rep).
    """
    key = df["program_id"].astype(str) + "\x1f" + df["pool_id"].astype(str)
    g = df.assign(_key=key.to_numpy()).groupby("_key", sort=False)
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
    key = df["program_id"].astype(str) + "\x1f" + df["pool_id"].astype(str)
    lead = df.assign(_key=key.to_numpy(), _b=df["basis"].to_numpy(dtype=float))
    lead = lead.sort_values(["_key", "_b"], ascending=[True, False], kind="stable")
    first = ~lead["_key"].duplicated()
    out = df.loc[lead.index[first.to_numpy()]].sort_index().copy()
    out["earned_at_next"] = out["_pool_at_next"].to_numpy()
    out["expected_rebate"] = out["_pool_expected"].to_numpy()
    return out


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


# --------------------------------------------------------------------------------------------
# Risks
# --------------------------------------------------------------------------------------------
def _tier_columns(df: pd.DataFrame) -> list[str]:
    cols = [c for c in df.columns if str(c).startswith("p_tier_")]
    return sorted(cols, key=lambda c: int(str(c)[7:]))


def _p_at_least(df: pd.DataFrame, tier: np.ndarray) -> np.ndarray:
    """P(end tier >= tier) per row from the ``p_tier_k`` columns."""
    cols = _tier_columns(df)
    if not cols:
        raise ParameterError("forecast: no p_tier_k columns (probability of each tier)")
    pt = df[cols].to_numpy(dtype=float)
    tail = np.cumsum(pt[:, ::-1], axis=1)[:, ::-1]  # tail[:, k] = P(tier >= k)
    tail = np.concatenate([tail, np.zeros((len(df), 1))], axis=1)
    k = np.clip(np.asarray(tier, dtype=np.int64), 0, tail.shape[1] - 1)
    return tail[np.arange(len(df)), k]


def _last_period_tier(accrual: pd.DataFrame, data, programs) -> np.ndarray:
    """Tier each row's pool reached over the same program period one year earlier.

    Growth programs (whose baseline would itself need the year before) get 0.
    """
    from .accrual import evaluate, schedule
    from .programs import load_programs
    from .reduce import period_sums

    programs = load_programs(programs)
    plist = list(programs)
    end = max(p.end for p in plist)
    prior = period_sums(data, programs, as_of=end, shift_years=1)
    qty = np.array([p.basis == "quantity" for p in plist])[prior["program_idx"].to_numpy()]
    b = np.where(qty, prior["quantity"], prior["net_amount"])
    key = prior["program_id"].astype(str) + "\x1f" + prior["customer_id"].astype(str)
    last = pd.Series(b, index=key.to_numpy())
    akey = accrual["program_id"].astype(str) + "\x1f" + accrual["customer_id"].astype(str)
    member_b = last.reindex(akey.to_numpy()).fillna(0.0).to_numpy()
    pool = pd.factorize(
        accrual["program_id"].astype(str) + "\x1f" + accrual["pool_id"].astype(str)
    )[0]
    pool_b = np.bincount(pool, weights=member_b)[pool]
    pos = {p.id: i for i, p in enumerate(plist)}
    pidx = accrual["program_id"].astype(str).map(pos).to_numpy(dtype=np.int64)
    growth = np.array([p.is_growth for p in plist])[pidx]
    tier = evaluate(schedule(programs, pidx), np.where(growth, 0.0, pool_b))["tier"]
    return np.where(growth, 0, tier).astype(np.int64)


def _last_purchase(data, programs, accrual: pd.DataFrame, as_of) -> np.ndarray:
    from .reduce import daily_sums

    ds = daily_sums(data, programs, as_of=as_of)
    last = ds.groupby([ds["program_id"].astype(str), ds["customer_id"].astype(str)])["date"].max()
    key = pd.MultiIndex.from_arrays(
        [accrual["program_id"].astype(str), accrual["customer_id"].astype(str)]
    )
    return last.reindex(key).to_numpy(dtype="datetime64[ns]")


def risks(
    accrual: pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    data=None,
    programs=None,
    as_of=None,
    previous: pd.DataFrame | None = None,
    quiet_days: int = 60,
    hold_below: float = 0.5,
    drop: float = 0.15,
    min_value: float = 1.0,
    rep=None,
    region=None,
    segment=None,
    program=None,
    currency: str = "$",
) -> pd.DataFrame:
    """Customers falling behind, ranked by the rebate and revenue at risk.

    Three kinds (``risk`` column), each row with a plain ``sentence``:

    - ``below_last_period``: the pool reached tier ``k >= 1`` over the program's period one
      year earlier, and the probability of ending at tier ``k`` or above is now below
      ``hold_below`` (needs ``data`` and ``programs``; growth programs are skipped);
    - ``slipping``: ``previous`` is a forecast from an earlier date (e.g. a month ago) aligned
      on ``program_id, customer_id``; the probability of ending at or above the tier that was
      most likely then has fallen by at least ``drop``;
    - ``quiet``: a member with days left who bought eligible products before but none in the
      last ``quiet_days`` days (needs ``data``, ``programs`` and ``as_of``).

    Parameters
    ----------
    accrual, forecast : DataFrame
        :func:`rebatelab.accrue` and :func:`rebatelab.forecast` outputs, aligned.
    data, programs, as_of : optional
        See above.
    previous : DataFrame, optional
        An earlier forecast (same programs).
    quiet_days : int
        Days [days] without an eligible purchase that make a customer ``quiet``.
    hold_below : float
        Probability [fraction] below which holding last period's tier is at risk.
    drop : float
        Fall in probability [fraction] that makes a customer ``slipping``.
    min_value : float
        Findings with less ``value_at_risk`` [currency] are left out.
    rep, region, segment, program : optional filters
    currency : str

    Returns
    -------
    DataFrame
        ``rank, risk, program_id, customer_id``, attributes, ``days_left, tier,
        reference_tier, p_hold, p_hold_before, last_purchase, value_at_risk`` [currency]
        and ``sentence``. ``value_at_risk`` [currency] is ``(1 - p_hold)`` times (the rebate
        at the reference tier's threshold + the purchases by which the expected end-of-period
        basis falls short of it) for tier risks, and the expected rebate plus the member's
        expected purchases still to come for quiet customers. Pooled rows are one per pool.
    """
    _need(forecast, ["expected_rebate", "projected_mean"], "forecast")
    df = _with_pool_sums(_with_attributes(_aligned(accrual, forecast), data))
    chosen = filter_rows(df, rep=rep, region=region, segment=segment, program=program).index
    selected = df.index.isin(chosen)
    by_id = _programs_info(programs, df["program_id"].astype(str).to_numpy())
    live = (df["days_left"].to_numpy() > 0) & selected
    found = []

    # pool baselines on all rows (growth thresholds are multiples of them)
    pool_code = pd.factorize(df["program_id"].astype(str) + "\x1f" + df["pool_id"].astype(str))[0]
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
        from .accrual import evaluate, schedule

        pset = _set(by_id)
        pos = {pid: i for i, pid in enumerate(pset.ids)}
        pidx = frame["program_id"].astype(str).map(pos).to_numpy(dtype=np.int64)
        sched = schedule(pset, pidx, baseline=frame["_pool_baseline"].to_numpy(dtype=float))
        thr = sched.thresholds[np.arange(len(frame)), np.maximum(ref - 1, 0)]
        pool_b = frame["pool_basis"].to_numpy(dtype=float)
        at = evaluate(sched, np.where(np.isfinite(thr), thr, pool_b))["earned"]
        # plus the purchases the expected path falls short of the threshold (net sales only)
        short = np.where(np.isfinite(thr), thr, 0.0) - frame["projected_mean"].to_numpy(float)
        sales = (frame["basis_type"].astype(str) == "net_sales").to_numpy()
        return at + np.where(sales, np.maximum(short, 0.0), 0.0)

    if data is not None and programs is not None:
        ref = _last_period_tier(df, data, programs)
        p_hold = _p_at_least(df, ref)
        m = live & (ref >= 1) & (p_hold < hold_below)
        if m.any():
            f = df[m].assign(reference_tier=ref[m], p_hold=p_hold[m], p_hold_before=np.nan)
            f = _one_row_per_pool(f)
            f["risk"] = "below_last_period"
            f["value_at_risk"] = (1 - f["p_hold"]) * ref_value(f, f["reference_tier"].to_numpy())
            found.append(f)

    if previous is not None:
        _need(previous, ["program_id", "customer_id"], "previous")
        prev = previous.copy()
        prev["_k"] = prev["program_id"].astype(str) + "\x1f" + prev["customer_id"].astype(str)
        key = df["program_id"].astype(str) + "\x1f" + df["customer_id"].astype(str)
        prev = prev.drop_duplicates("_k").set_index("_k").reindex(key.to_numpy())
        if "most_likely_tier" in prev.columns:
            ref = prev["most_likely_tier"].fillna(0).to_numpy(dtype=np.int64)
        else:
            ref = np.argmax(prev[_tier_columns(prev)].fillna(0).to_numpy(dtype=float), axis=1)
        had = prev["program_id"].notna().to_numpy()
        p_now = _p_at_least(df, ref)
        p_before = _p_at_least(prev.fillna(0.0).reset_index(drop=True), ref)
        m = live & had & (ref >= 1) & (p_before - p_now >= drop)
        if m.any():
            f = df[m].assign(reference_tier=ref[m], p_hold=p_now[m], p_hold_before=p_before[m])
            f = _one_row_per_pool(f)
            f["risk"] = "slipping"
            f["value_at_risk"] = (1 - f["p_hold"]) * ref_value(f, f["reference_tier"].to_numpy())
            found.append(f)

    if data is not None and programs is not None and as_of is not None:
        last = _last_purchase(data, programs, df, as_of)
        as_of_ts = np.datetime64(pd.Timestamp(as_of).normalize().to_datetime64(), "ns")
        quiet_for = (as_of_ts - last).astype("timedelta64[D]").astype(float)
        quiet_for = np.where(np.isnat(last), np.inf, quiet_for)
        m = live & ~np.isnat(last) & (quiet_for > quiet_days)
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
    out = out[out["value_at_risk"].to_numpy() >= min_value]
    out["sentence"] = _risk_sentences(out, by_id, as_of, currency)
    out = out.sort_values("value_at_risk", ascending=False, kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out[cols]


def _set(by_id: dict):
    from .programs import ProgramSet

    return ProgramSet(list(by_id.values()))


def _risk_sentences(df: pd.DataFrame, by_id, as_of, currency: str) -> list[str]:
    out = []
    for r in df.itertuples(index=False):  # string formatting per row
        prog = by_id.get(str(r.program_id)) if by_id else None
        what = describe_products(prog) if prog is not None else ""
        ref = int(r.reference_tier)
        tier_txt = (
            f"tier {ref} ({_tier_words(prog, ref)})" if prog is not None and ref >= 1 else "a tier"
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
        :func:`rebatelab.forecasting.forecast`.
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
    from .accrual import accrue
    from .programs import ProgramSet, load_programs
    from .reduce import members

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
        from .forecasting import forecast as forecaster
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


# --------------------------------------------------------------------------------------------
# A rep's digest
# --------------------------------------------------------------------------------------------
def digest(opportunities_: pd.DataFrame, risks_: pd.DataFrame, eligible: pd.DataFrame | None):
    """One ranked table of a rep's findings: opportunities, risks and eligible customers.

    Returns
    -------
    DataFrame
        ``kind`` (``opportunity``, ``risk: <kind>``, ``not enrolled``), ``program_id,
        customer_id``, ``name`` (when known), ``value`` [currency] (value at stake, at risk,
        or the revenue at stake) and ``sentence``; sorted by kind then value.
    """
    parts = []
    cols = ["kind", "program_id", "customer_id", "name", "value", "sentence"]

    def take(df, kind, value_col):
        if df is None or len(df) == 0:
            return
        f = pd.DataFrame(
            {
                "kind": kind if isinstance(kind, str) else kind.to_numpy(),
                "program_id": df["program_id"].to_numpy(),
                "customer_id": df["customer_id"].to_numpy(),
                "name": df["name"].to_numpy() if "name" in df.columns else "",
                "value": df[value_col].to_numpy(dtype=float).round(2),
                "sentence": df["sentence"].to_numpy(),
            }
        )
        parts.append(f)

    take(opportunities_, "opportunity", "value_at_stake")
    if risks_ is not None and len(risks_):
        take(risks_, "risk: " + risks_["risk"].astype(str), "value_at_risk")
    take(eligible, "not enrolled", "revenue_at_stake")
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.concat(parts, ignore_index=True)[cols]


def digest_html(table: pd.DataFrame, *, title: str, currency: str = "$", top: int = 25) -> str:
    """A digest (:func:`digest`) as a standalone HTML page: the top findings of each kind."""
    import html as _html

    e = _html.escape
    body = [f"<h1>{e(title)}</h1>"]
    for kind, heading in (
        ("opportunity", "Opportunities: who to call this week"),
        ("risk", "Risks: customers falling behind"),
        ("not enrolled", "Eligible but not enrolled"),
    ):
        sub = table[table["kind"].astype(str).str.startswith(kind)]
        body.append(f"<h2>{e(heading)} ({len(sub)})</h2>")
        if sub.empty:
            body.append("<p>None.</p>")
            continue
        rows = "".join(
            f"<tr><td>{i + 1}</td><td>{e(str(r.program_id))}</td>"
            f"<td>{e(str(r.customer_id))}</td><td>{e('' if pd.isna(r.name) else str(r.name))}</td>"
            f"<td>{e(money(float(r.value), currency=currency))}</td>"
            f"<td class='text'>{e(str(r.sentence))}</td></tr>"
            for i, r in enumerate(sub.head(top).itertuples(index=False))
        )
        body.append(
            "<table><thead><tr><th>#</th><th>Program</th><th>Customer</th><th>Name</th>"
            "<th>Value</th><th>What to say</th></tr></thead><tbody>" + rows + "</tbody></table>"
        )
    css = (
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:4px 8px}"
        "th{background:#f0f0f0}td.text{text-align:left}"
    )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title><style>{css}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )
