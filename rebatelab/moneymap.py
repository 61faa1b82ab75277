"""Money map (performance to date by program and tier) and per-customer rebate statements."""

from __future__ import annotations

import datetime as dt
import html

import numpy as np
import pandas as pd

from .errors import ParameterError
from .review import _aligned, _reach_words, _tier_columns, describe_products, money, percent

__all__ = ["money_map", "statement"]


def money_map(
    accrual: pd.DataFrame,
    forecast: pd.DataFrame | None = None,
    *,
    programs=None,
    reach: float = 0.2,
    near: float = 0.1,
) -> pd.DataFrame:
    """Performance to date per program and tier.

    Parameters
    ----------
    accrual : DataFrame
        :func:`rebatelab.accrue` output.
    forecast : DataFrame, optional
        :func:`rebatelab.forecast` output aligned with ``accrual``; adds the projection.
    programs : ProgramSet or path, optional
        Adds each tier's threshold and rate, and lists tiers nobody is in.
    reach : float
        A row is *within reach* of its next tier when ``p_next_tier >= reach`` [fraction]
        (with a forecast) ...
    near : float
        ... or, without one, when its gap is at most ``near`` of the next threshold
        [fraction].

    Returns
    -------
    DataFrame
        One row per (program_id, tier), tier 0 = none reached, with ``from`` [basis unit] and
        ``rate`` [fraction] (with programs), ``customers`` (members now in the tier),
        ``basis`` [basis unit], ``earned`` [currency], ``within_reach`` (of them, how many
        are within reach of the next tier), and with a forecast ``projected_basis`` (their
        projected end-of-period basis; a pool's is shared pro rata to basis to date),
        ``expected_rebate`` [currency] (of the members now in the tier) and
        ``expected_at_end`` (expected number of members ending the period in the tier).

    Examples
    --------
    >>> acc = pd.DataFrame({"program_id": ["P", "P", "P"], "customer_id": ["a", "b", "c"],
    ...     "tier": [0, 1, 1], "basis": [50.0, 150.0, 190.0], "earned": [0.0, 1.5, 1.9],
    ...     "gap_to_next": [50.0, 50.0, 10.0], "next_threshold": [100.0, 200.0, 200.0]})
    >>> money_map(acc)[["tier", "customers", "basis", "earned", "within_reach"]]
       tier  customers  basis  earned  within_reach
    0     0          1   50.0     0.0             0
    1     1          2  340.0     3.4             1
    """
    df = _aligned(accrual, forecast)
    if forecast is not None and "p_next_tier" in df.columns:
        within = df["p_next_tier"].to_numpy(dtype=float) >= reach
    else:
        gap = df["gap_to_next"].to_numpy(dtype=float)
        nxt = df["next_threshold"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            within = np.isfinite(gap) & (gap <= near * nxt)
    df = df.assign(_within=within.astype(np.int64))
    if forecast is not None and "projected_mean" in df.columns:
        # the member's share of its pool's projected basis, pro rata to basis to date
        member_b = np.maximum(df["basis"].to_numpy(dtype=float), 0.0)
        pool_b = df["pool_basis"].to_numpy(dtype=float) if "pool_basis" in df else member_b
        key = df["program_id"].astype(str) + "\x1f" + df["pool_id"].astype(str)
        n = key.map(key.value_counts()).to_numpy(dtype=float)
        share = np.where(pool_b > 0, member_b / np.where(pool_b > 0, pool_b, 1.0), 1.0 / n)
        df["_projected"] = df["projected_mean"].to_numpy(dtype=float) * share
    agg = {
        "customers": ("customer_id", "size"),
        "basis": ("basis", "sum"),
        "earned": ("earned", "sum"),
        "within_reach": ("_within", "sum"),
    }
    if "_projected" in df.columns:
        agg["projected_basis"] = ("_projected", "sum")
    if forecast is not None and "expected_rebate" in df.columns:
        agg["expected_rebate"] = ("expected_rebate", "sum")
    out = df.groupby(["program_id", "tier"], sort=False).agg(**agg).reset_index()
    if programs is not None:
        from .programs import load_programs

        programs = load_programs(programs)
        frames = [
            pd.DataFrame(
                {
                    "program_id": p.id,
                    "tier": np.arange(len(p.tiers) + 1),
                    "from": np.concatenate([[np.nan], p.thresholds]),
                    "rate": np.concatenate([[0.0], p.rates]),
                }
            )
            for p in programs
            if p.id in set(df["program_id"].astype(str))
        ]
        grid = pd.concat(frames, ignore_index=True) if frames else None
        if grid is not None:
            out["program_id"] = out["program_id"].astype(str)
            out = grid.merge(out, on=["program_id", "tier"], how="left")
            for c in ("customers", "within_reach"):
                out[c] = out[c].fillna(0).astype(np.int64)
            for c in ("basis", "earned", "projected_basis", "expected_rebate"):
                if c in out.columns:
                    out[c] = out[c].fillna(0.0)
    if forecast is not None:
        cols = _tier_columns(df)
        if cols:
            per = df.groupby("program_id", sort=False)[cols].sum()
            per.index = per.index.astype(str)
            long = per.stack().rename("expected_at_end").reset_index()
            long.columns = ["program_id", "tier", "expected_at_end"]
            long["tier"] = long["tier"].astype(str).str[7:].astype(np.int64)
            out["program_id"] = out["program_id"].astype(str)
            out = out.merge(long, on=["program_id", "tier"], how="left")
    out = out.sort_values(["program_id", "tier"], kind="stable")
    order = {pid: i for i, pid in enumerate(pd.unique(df["program_id"].astype(str)))}
    out = out.sort_values("program_id", key=lambda s: s.astype(str).map(order), kind="stable")
    for c in ("basis", "earned", "projected_basis", "expected_rebate"):
        if c in out.columns:
            out[c] = out[c].round(2)
    return out.reset_index(drop=True)


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-top: 1em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f0f0f0; } td.text { text-align: left; }
p.need { margin: 0.2em 0; }
"""


def _fmt_basis(x: float, basis_type: str, currency: str) -> str:
    if not np.isfinite(x):
        return "-"
    if basis_type == "quantity":
        return f"{x:,.0f} units"
    return money(x, currency=currency)


def statement(
    customer_id: str,
    accrual: pd.DataFrame,
    forecast: pd.DataFrame | None = None,
    *,
    data=None,
    programs=None,
    as_of=None,
    currency: str = "$",
) -> str:
    """A customer's rebate statement as a standalone HTML page.

    Every program the customer is in: where they stand (basis to date, tier and rate,
    earned), what is needed for the next tier, days left and, with a forecast, the projected
    end-of-period basis (p10-p90), the probability of the next tier and the expected rebate.

    Parameters
    ----------
    customer_id : str
    accrual : DataFrame
        :func:`rebatelab.accrue` output.
    forecast : DataFrame, optional
        Aligned with ``accrual``.
    data : RebateData, optional
        For the customer's name.
    programs : ProgramSet or path, optional
        For program names, periods and eligible products.
    as_of : date-like, optional
        Printed on the statement.
    currency : str

    Returns
    -------
    str
        HTML (all text escaped).
    """
    df = _aligned(accrual, forecast)
    rows = df[df["customer_id"].astype(str) == str(customer_id)]
    if rows.empty:
        raise ParameterError(f"customer {customer_id!r} is in no program of the accrual")
    by_id = {}
    if programs is not None:
        from .programs import load_programs

        by_id = {p.id: p for p in load_programs(programs)}
    name = str(customer_id)
    if data is not None and "name" in data.customers.columns:
        hit = data.customers[data.customers["customer_id"].astype(str) == str(customer_id)]
        if len(hit) and pd.notna(hit["name"].iloc[0]):
            name = f"{hit['name'].iloc[0]} ({customer_id})"
    e = html.escape
    title = f"Rebate statement: {name}"
    when = pd.Timestamp(as_of).date().isoformat() if as_of is not None else dt.date.today()
    head = ["Program", "Period", "Basis to date", "Tier (rate)", "Earned", "Next tier",
            "Days left"]  # fmt: skip
    has_fc = forecast is not None
    if has_fc:
        head += ["Projected (p10-p90)", "P(next tier)", "Expected rebate"]
    lines, needs = [], []
    for r in rows.itertuples(index=False):  # one table row per program: formatting only
        p = by_id.get(str(r.program_id))
        bt = str(r.basis_type)
        label = (p.name or p.id) if p is not None else str(r.program_id)
        period = f"{p.start} to {p.end}" if p is not None else ""
        tier = f"{int(r.tier)} ({percent(float(r.rate))})" if int(r.tier) > 0 else "none yet"
        has_next = np.isfinite(float(r.gap_to_next))
        nxt = _fmt_basis(float(r.next_threshold), bt, currency) if has_next else "top tier"
        cells = [
            label,
            period,
            _fmt_basis(float(r.basis), bt, currency)
            + (
                ""
                if str(r.pool_id) == str(r.customer_id)
                else f" (buying group {r.pool_id}: {_fmt_basis(float(r.pool_basis), bt, currency)})"
            ),
            tier,
            money(float(r.earned), currency=currency),
            nxt,
            str(int(r.days_left)),
        ]
        if has_fc:
            lo, hi, pn, ex = (
                float(getattr(r, c, np.nan))
                for c in ("projected_p10", "projected_p90", "p_next_tier", "expected_rebate")
            )
            cells += [
                f"{_fmt_basis(lo, bt, currency)} - {_fmt_basis(hi, bt, currency)}",
                "-" if not np.isfinite(pn) else f"{pn:.0%}",
                money(ex, currency=currency),
            ]
        lines.append(
            "<tr>"
            + "".join(
                f'<td class="text">{e(c)}</td>' if i < 2 else f"<td>{e(c)}</td>"
                for i, c in enumerate(cells)
            )
            + "</tr>"
        )
        if has_next and int(r.days_left) > 0:
            what = describe_products(p) if p is not None else ""
            gap = (
                f"{np.ceil(float(r.gap_to_next) - 1e-9):,.0f} units"
                if bt == "quantity"
                else money(float(r.gap_to_next), currency=currency, up=True)
            )
            reach = _reach_words(p, int(r.tier) + 1, float(r.earned_at_next), currency)
            who = "" if str(r.pool_id) == str(r.customer_id) else f" (buying group {r.pool_id})"
            needs.append(
                f"{label}{who}: buy {gap} more{' of ' + what if what else ''} in the "
                f"{int(r.days_left)} days left to {reach}."
            )
    need_html = "".join(f'<p class="need">{e(s)}</p>' for s in needs) or "<p>No next tier open.</p>"
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{e(title)}</h1><p>As of {e(str(when))}.</p>"
        f"<h2>What it takes to reach the next tier</h2>{need_html}"
        "<h2>Where you stand</h2><table><thead><tr>"
        + "".join(f"<th>{e(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(lines)
        + "</tbody></table></body></html>\n"
    )
