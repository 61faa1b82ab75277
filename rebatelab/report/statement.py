"""Customer statements as HTML: basis, tier, earned, and what reaching the next tier pays."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from rebatelab.errors import ParameterError
from rebatelab.money import money, percent
from rebatelab.report.html import escape, html_page, html_rows
from rebatelab.review.frames import Inputs, _aligned, _need
from rebatelab.review.wording import _reach_words, describe_products, tier_label

__all__ = ["statement"]


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
        One row per accrual row, matched on ``program_id, customer_id``.
    data : Reduction or RebateData, optional
        For the customer's name (``customers`` table); a Reduction also gives the programs
        and the as-of day.
    programs : ProgramSet, optional
        For program names, periods and eligible products.
    as_of : date-like, optional
        Printed on the statement.
    currency : str

    Returns
    -------
    str
        HTML (all text escaped).
    """
    given = Inputs(data, programs, as_of)
    mine = accrual[(accrual["customer_id"].astype(str) == str(customer_id)).to_numpy()]
    if forecast is not None:  # the customer's rows of both, matched by key
        _need(forecast, ["customer_id"], "forecast")
        forecast = forecast[(forecast["customer_id"].astype(str) == str(customer_id)).to_numpy()]
    rows = _aligned(mine, forecast)
    if rows.empty:
        raise ParameterError(f"customer {customer_id!r} is in no program of the accrual")
    by_id = {p.id: p for p in given.programs} if given.programs is not None else {}
    as_of = given.as_of
    name = str(customer_id)
    cu = given.customers
    if cu is not None and "name" in cu.columns:
        hit = cu[cu["customer_id"].astype(str) == str(customer_id)]
        if len(hit) and pd.notna(hit["name"].iloc[0]):
            name = f"{hit['name'].iloc[0]} ({customer_id})"
    e = escape
    title = f"Rebate statement: {name}"
    when = pd.Timestamp(as_of).date().isoformat() if as_of is not None else dt.date.today()
    head = ["Program", "Period", "Basis to date", "Tier", "Earned", "Next tier",
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
        k = int(r.tier)
        if p is not None:  # 'tier 2 (4%)', 'tier 1 (a $500 lump sum)'
            tier = tier_label(p, k, currency=currency)
        else:
            tier = f"tier {k} ({percent(float(r.rate))})" if k > 0 else "none yet"
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
        lines.append(cells)
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
    body = (
        f"<h1>{e(title)}</h1><p>As of {e(str(when))}.</p>"
        f"<h2>What it takes to reach the next tier</h2>{need_html}"
        "<h2>Where you stand</h2><table><thead><tr>"
        + "".join(f"<th>{e(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + html_rows(lines, text_columns=(0, 1))
        + "</tbody></table>"
    )
    return html_page(title, body, css=_CSS)
