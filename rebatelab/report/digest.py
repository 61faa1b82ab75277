"""The review digest: opportunities, risks and eligible customers per rep, as a table and HTML."""

from __future__ import annotations

import pandas as pd

from rebatelab.money import money
from rebatelab.report.html import escape, html_page, html_rows

__all__ = ["digest", "digest_html", "digest_text"]


# --------------------------------------------------------------------------------------------
# A rep's digest
# --------------------------------------------------------------------------------------------
def digest(opportunities_: pd.DataFrame, risks_: pd.DataFrame, eligible: pd.DataFrame | None):
    """One ranked table of a rep's findings: opportunities, risks and eligible customers.

    Returns
    -------
    DataFrame
        ``kind`` (``opportunity``, ``risk: <kind>``, ``not enrolled``), ``program_id,
        customer_id``, ``rep`` and ``region`` (when every list has them), ``name`` (when
        known), ``value`` [currency] (value at stake, at risk, or the revenue at stake) and
        ``sentence``; in the order given (each list ranked by its value).
    """
    parts = []
    cols = ["kind", "program_id", "customer_id", "name", "value", "sentence"]
    frames = [f for f in (opportunities_, risks_, eligible) if f is not None and len(f)]
    extra = [c for c in ("rep", "region") if frames and all(c in f.columns for f in frames)]

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
                **{c: df[c].to_numpy() for c in extra},
            }
        )
        parts.append(f)

    take(opportunities_, "opportunity", "value_at_stake")
    if risks_ is not None and len(risks_):
        take(risks_, "risk: " + risks_["risk"].astype(str), "value_at_risk")
    take(eligible, "not enrolled", "revenue_at_stake")
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.concat(parts, ignore_index=True)[[*cols[:3], *extra, *cols[3:]]]


_SECTIONS = (
    ("opportunity", "Opportunities: who to call this week"),
    ("risk", "Risks: customers falling behind"),
    ("not enrolled", "Eligible but not enrolled"),
)


def digest_text(table: pd.DataFrame, *, title: str, currency: str = "$", top: int = 25) -> str:
    """A digest (:func:`digest`) as plain text (an email's text part): top findings per kind.

    Examples
    --------
    >>> t = pd.DataFrame({"kind": ["opportunity"], "program_id": ["P"], "customer_id": ["C1"],
    ...                   "name": ["Acme"], "value": [1234.5], "sentence": ["Call them."]})
    >>> print(digest_text(t, title="Review"))
    Review
    <BLANKLINE>
    Opportunities: who to call this week (1)
      1. P / C1 (Acme), $1,235: Call them.
    <BLANKLINE>
    Risks: customers falling behind (0)
      None.
    <BLANKLINE>
    Eligible but not enrolled (0)
      None.
    <BLANKLINE>
    """
    out = [title, ""]
    for kind, heading in _SECTIONS:
        sub = table[table["kind"].astype(str).str.startswith(kind)]
        out.append(f"{heading} ({len(sub):,})")
        if sub.empty:
            out.append("  None.")
        for i, r in enumerate(sub.head(top).itertuples(index=False)):  # the rows shown
            who = str(r.customer_id) + ("" if pd.isna(r.name) else f" ({r.name})")
            value = money(float(r.value), currency=currency)
            out.append(f"  {i + 1}. {r.program_id} / {who}, {value}: {r.sentence}")
        if len(sub) > top:
            out.append(f"  ... and {len(sub) - top:,} more.")
        out.append("")
    return "\n".join(out)


def digest_html(table: pd.DataFrame, *, title: str, currency: str = "$", top: int = 25) -> str:
    """A digest (:func:`digest`) as a standalone HTML page: the top findings of each kind.

    Parameters
    ----------
    table : DataFrame
        :func:`digest` output.
    title : str
        The page's title and heading.
    currency : str
        Currency symbol of the amounts.
    top : int
        Rows shown per kind (formatted row by row: the rows shown only).

    Returns
    -------
    str
        HTML (all text escaped).
    """
    e = escape
    body = [f"<h1>{e(title)}</h1>"]
    for kind, heading in _SECTIONS:
        sub = table[table["kind"].astype(str).str.startswith(kind)]
        body.append(f"<h2>{e(heading)} ({len(sub)})</h2>")
        if sub.empty:
            body.append("<p>None.</p>")
            continue
        has_rep = "rep" in sub.columns
        rows = html_rows(
            (
                [
                    str(i + 1),
                    str(r.program_id),
                    str(r.customer_id),
                    "" if pd.isna(r.name) else str(r.name),
                    *((("" if pd.isna(r.rep) else str(r.rep)),) if has_rep else ()),
                    money(float(r.value), currency=currency),
                    str(r.sentence),
                ]
                for i, r in enumerate(sub.head(top).itertuples(index=False))
            ),
            text_columns=(6 if has_rep else 5,),
        )
        body.append(
            "<table><thead><tr><th>#</th><th>Program</th><th>Customer</th><th>Name</th>"
            + ("<th>Rep</th>" if has_rep else "")
            + "<th>Value</th><th>Why, and what to say</th></tr></thead><tbody>"
            + rows
            + "</tbody></table>"
        )
    css = (
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:4px 8px}"
        "th{background:#f0f0f0}td.text{text-align:left}"
    )
    return html_page(title, "".join(body), css=css)
