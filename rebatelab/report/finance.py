"""The reports finance expects, from the workspace's stored closes.

- :func:`rollforward_report`: the roll-forward in the layout of public filings (opening balance,
  provision for current-period sales, adjustments of prior-period estimates, payments and
  credits, closing balance), per program, per customer or in total;
- :func:`accrual_report`: one close's accrual by customer and program, with customer names;
- :func:`aging_report`: what is payable and not yet paid, aged by days since the program's
  period ended;
- :func:`journal_entries`: each close as journal entries (debit rebate expense / credit accrued
  rebates; payments: debit accrued rebates / credit cash), in the CSV layout of
  :data:`JOURNAL_COLUMNS`;
- :func:`liability_sheets`: the liability views with customer names and a cover, for xlsx.

All amounts are computed in integer cents from the ledger's stored snapshots and payments
(:func:`rebatelab.ledger`), so every level adds up and ties with the ledger's roll-forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebatelab.errors import ParameterError
from rebatelab.money import cents
from rebatelab.report.xlsx import cover_info

__all__ = [
    "rollforward_report",
    "accrual_report",
    "aging_report",
    "journal_entries",
    "liability_sheets",
    "Accounts",
    "JOURNAL_COLUMNS",
    "LEVELS",
    "AGING_BUCKETS",
]

#: Levels of the roll-forward.
LEVELS = ("program", "customer", "total")

#: Aging buckets [days since the program's period ended], both ends inclusive.
AGING_BUCKETS = (("0-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None))

#: The journal-entry CSV layout, one line per debit or credit.
JOURNAL_COLUMNS = ("date", "journal", "account", "debit", "credit", "memo", "program", "customer")

_KEYS = ["program_id", "customer_id"]
_RF = ["opening", "provision_current", "adjustment_prior", "payments", "closing"]


@dataclass(frozen=True)
class Accounts:
    """The general-ledger accounts the journal entries post to.

    Attributes
    ----------
    expense : str
        Rebate expense (or the contra-revenue account the rebate reduces).
    accrued : str
        Accrued rebates (the liability).
    cash : str
        What a payment is credited to: cash, or accounts receivable when rebates are settled
        as credit notes.
    """

    expense: str = "Rebate expense"
    accrued: str = "Accrued rebates"
    cash: str = "Cash"


def _names(customers: pd.DataFrame | None) -> pd.DataFrame | None:
    if customers is None or "customer_id" not in customers.columns:
        return None
    cols = [c for c in ("customer_id", "name") if c in customers.columns]
    if "name" not in cols:
        return None
    out = customers[cols].copy()
    out["customer_id"] = out["customer_id"].astype(str)
    return out.drop_duplicates("customer_id")


def _with_names(df: pd.DataFrame, customers) -> pd.DataFrame:
    names = _names(customers)
    if names is None or "customer_id" not in df.columns:
        return df
    out = df.merge(names.rename(columns={"name": "customer_name"}), on="customer_id", how="left")
    cols = list(df.columns)
    at = cols.index("customer_id") + 1
    return out[[*cols[:at], "customer_name", *cols[at:]]]


def _contract_rollforward(view) -> pd.DataFrame:
    """Per (period, program, customer) roll-forward [cents], from snapshots and payments.

    The expense of a contract (its booked amount less the previous close's) is split as the
    basis moved: ``provision_current`` is the basis added this period at this close's booked
    amount per unit of basis to date; ``adjustment_prior`` (the true-up) is the rest, the
    re-estimate of what earlier periods' basis will earn. A contract with no basis to date has
    no current-period provision.
    """
    periods = view.closes["period"].astype(str).tolist()
    snap = view.snapshot
    if len(snap) == 0 or not periods:
        return pd.DataFrame(columns=["period", *_KEYS, *[f"{c}_c" for c in _RF]])
    s = pd.DataFrame(
        {
            "period": snap["period"].astype(str).to_numpy(),
            "program_id": snap["program_id"].astype(str).to_numpy(),
            "customer_id": snap["customer_id"].astype(str).to_numpy(),
            "basis": snap["basis"].to_numpy(dtype=float),
            "booked_c": cents(snap["booked"].to_numpy(dtype=float)),
        }
    )
    pay = view.payments
    p = pd.DataFrame(
        {
            "period": pay["period"].astype(str).to_numpy(),
            "program_id": pay["program_id"].astype(str).to_numpy(),
            "customer_id": pay["customer_id"].astype(str).to_numpy(),
            "paid_c": cents(pay["amount"].to_numpy(dtype=float)),
        }
    )
    p = p.groupby(["period", *_KEYS], as_index=False)["paid_c"].sum()
    keys = pd.concat([s[_KEYS], p[_KEYS]]).drop_duplicates().reset_index(drop=True)
    grid = pd.MultiIndex.from_product([periods, range(len(keys))], names=["period", "k"])
    g = keys.iloc[grid.get_level_values("k")].reset_index(drop=True)
    g.insert(0, "period", grid.get_level_values("period"))
    g = g.merge(s, on=["period", *_KEYS], how="left").merge(p, on=["period", *_KEYS], how="left")
    g["booked_c"] = g["booked_c"].fillna(0).astype(np.int64)
    g["paid_c"] = g["paid_c"].fillna(0).astype(np.int64)
    g["basis"] = g["basis"].fillna(0.0)
    g["order"] = g["period"].map({q: i for i, q in enumerate(periods)})
    g = g.sort_values([*_KEYS, "order"]).reset_index(drop=True)
    first = ~g.duplicated(_KEYS)
    prev_booked = g["booked_c"].shift(1).where(~first, 0).astype(np.int64)
    prev_basis = g["basis"].shift(1).where(~first, 0.0)
    expense = g["booked_c"] - prev_booked
    paid_to_date = g.groupby(_KEYS)["paid_c"].cumsum()
    closing = g["booked_c"] - paid_to_date
    opening = closing - expense + g["paid_c"]
    added = g["basis"] - prev_basis
    per_unit = np.where(g["basis"] > 0, g["booked_c"] / np.where(g["basis"] > 0, g["basis"], 1), 0)
    current = np.round(per_unit * added.to_numpy()).astype(np.int64)
    out = g[["period", *_KEYS]].copy()
    out["opening_c"] = opening.to_numpy(dtype=np.int64)
    out["provision_current_c"] = current
    out["adjustment_prior_c"] = (expense - current).to_numpy(dtype=np.int64)
    out["payments_c"] = g["paid_c"].to_numpy(dtype=np.int64)
    out["closing_c"] = closing.to_numpy(dtype=np.int64)
    return out.sort_values(["period", *_KEYS]).reset_index(drop=True)


def _currency(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in [c for c in out.columns if c.endswith("_c")]:
        out[c[:-2]] = out.pop(c).to_numpy(dtype=np.int64) / 100.0
    return out


def rollforward_report(view, *, by: str = "program", customers=None, period=None) -> pd.DataFrame:
    """The rebate liability roll-forward, in the layout of public filings.

    Parameters
    ----------
    view : LedgerView
        :func:`rebatelab.ledger` of the workspace (every period; ``period=None``).
    by : {"program", "customer", "total"}
        One row per period and program, per period and (program, customer), or per period.
    customers : DataFrame, optional
        The customers table: adds ``customer_name`` (with ``by="customer"``).
    period : str, optional
        Only this period's rows.

    Returns
    -------
    DataFrame
        ``period`` [, ``program_id`` [, ``customer_id, customer_name``]], ``opening``,
        ``provision_current`` (provision for current-period sales), ``adjustment_prior``
        (adjustments of prior-period estimates, the true-up), ``payments`` (payments and
        credits), ``closing`` [currency]; ``opening + provision_current + adjustment_prior -
        payments = closing`` on every row, to the cent, and ``provision_current +
        adjustment_prior`` is the ledger's expense.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import rebatelab as rl
    >>> data, programs = rl.load_sample()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     ws = pathlib.Path(folder) / "ledger.duckdb"
    ...     _ = rl.close(data, programs, "2026-03", workspace=ws, book="accrued")
    ...     rf = rollforward_report(rl.ledger(ws), by="total")
    >>> rf[["opening", "payments", "closing"]].iloc[0].tolist()
    [0.0, 12523.39, 14709.76]
    """
    if by not in LEVELS:
        raise ParameterError(f"by must be one of {list(LEVELS)}, got {by!r}")
    c = _contract_rollforward(view)
    if period is not None:
        c = c[c["period"] == str(period)]
    cols = [f"{x}_c" for x in _RF]
    if by == "customer":  # contracts with nothing to show are left out
        out = c[(c[cols] != 0).any(axis=1).to_numpy()]
    else:
        keys = ["period", "program_id"] if by == "program" else ["period"]
        out = c.groupby(keys, as_index=False, sort=True)[cols].sum()
    out = _currency(out)
    return _with_names(out, customers) if by == "customer" else out


def accrual_report(view, *, period=None, customers=None) -> pd.DataFrame:
    """One close's accrual by customer and program, with customer names.

    Parameters
    ----------
    view : LedgerView
        :func:`rebatelab.ledger` of the workspace.
    period : str, optional
        A closed period; default the latest.
    customers : DataFrame, optional
        The customers table (``name`` and, when present, ``segment, rep``).

    Returns
    -------
    DataFrame
        ``period, program_id, customer_id, customer_name`` (with customers), ``basis_type,
        basis, tier, accrued, expected, most_likely, booked`` [currency], ``paid_to_date``
        and ``outstanding`` (booked less paid to date) [currency], ``method``.
    """
    period = _period(view, period)
    snap = view.snapshot[view.snapshot["period"].astype(str) == period].copy()
    cols = ["program_id", "customer_id", "basis_type", "basis", "tier", "accrued", "expected"]
    cols += ["most_likely", "booked", "method"]
    snap = snap[cols].astype({"program_id": str, "customer_id": str})
    snap.insert(0, "period", period)
    pay = view.payments
    done = pay[pay["period"].astype(str) <= period]
    paid = (
        done.assign(
            program_id=done["program_id"].astype(str),
            customer_id=done["customer_id"].astype(str),
            paid_c=cents(done["amount"].to_numpy(dtype=float)),
        )
        .groupby(_KEYS, as_index=False)["paid_c"]
        .sum()
    )
    snap = snap.merge(paid, on=_KEYS, how="left")
    paid_c = snap.pop("paid_c").fillna(0).to_numpy(dtype=np.int64)
    snap["paid_to_date"] = paid_c / 100.0
    snap["outstanding"] = (cents(snap["booked"].to_numpy(dtype=float)) - paid_c) / 100.0
    snap = snap.sort_values(_KEYS).reset_index(drop=True)
    out = _with_names(snap, customers)
    extra = [c for c in ("segment", "rep") if customers is not None and c in customers.columns]
    if extra:
        more = customers[["customer_id", *extra]].astype({"customer_id": str})
        out = out.merge(more.drop_duplicates("customer_id"), on="customer_id", how="left")
    return out


def aging_report(view, programs, *, period=None, customers=None) -> pd.DataFrame:
    """What is payable and unpaid, aged by days since the program's period ended.

    Only programs whose period ended on or before the close's day are payable (an open
    program's rebate is not due yet). The amount outstanding is the close's booked amount
    (for an ended program, the settled rebate) less the payments recorded up to that close;
    its age is the days from the period's end to the close's day.

    Parameters
    ----------
    view : LedgerView
    programs : ProgramSet
        For the programs' period ends.
    period : str, optional
        A closed period; default the latest.
    customers : DataFrame, optional
        Adds ``customer_name``.

    Returns
    -------
    DataFrame
        Per (program, customer) with an amount outstanding: ``program_id, customer_id,
        [customer_name], period_end, days_since_end, outstanding`` and one column per bucket
        of :data:`AGING_BUCKETS` [currency], plus a ``TOTAL`` row.
    """
    from rebatelab.programs.terms import load_programs

    programs = load_programs(programs)
    period = _period(view, period)
    closes = view.closes.assign(period=view.closes["period"].astype(str)).set_index("period")
    as_of = pd.Timestamp(closes.loc[period, "as_of"])
    acc = accrual_report(view, period=period)
    ends = pd.Series({p.id: pd.Timestamp(p.end) for p in programs}, dtype="datetime64[ns]")
    acc["period_end"] = acc["program_id"].map(ends)
    due = acc[acc["period_end"].notna() & (acc["period_end"] <= as_of)]
    due = due[due["outstanding"] != 0]
    out = due[["program_id", "customer_id", "period_end", "outstanding"]].copy()
    days = (as_of - out["period_end"]).dt.days.to_numpy()
    out.insert(3, "days_since_end", days)
    for name, lo, hi in AGING_BUCKETS:
        inside = (days >= lo) & (days <= (hi if hi is not None else np.iinfo(np.int64).max))
        out[name] = np.where(inside, out["outstanding"].to_numpy(), 0.0)
    out["period_end"] = out["period_end"].dt.date
    out = _with_names(out.reset_index(drop=True), customers)
    money = ["outstanding", *[b[0] for b in AGING_BUCKETS]]
    total = {c: cents(out[c].to_numpy(dtype=float)).sum() / 100.0 for c in money}
    row = pd.DataFrame([{"program_id": "TOTAL", **total}])
    return pd.concat([out, row], ignore_index=True)


def journal_entries(view, *, accounts: Accounts | None = None, period=None) -> pd.DataFrame:
    """Each close as journal entries, in the layout of :data:`JOURNAL_COLUMNS`.

    Per close and program, the period's expense (cumulative catch-up): debit ``expense``,
    credit ``accrued`` (a negative expense, a release, the other way round); per payment
    recorded by the close: debit ``accrued``, credit ``cash`` (a negative correction the other
    way round). Every journal (one per close, ``REBATE-<period>``) balances.

    Parameters
    ----------
    view : LedgerView
    accounts : Accounts, optional
        The accounts posted to (default :class:`Accounts`).
    period : str, optional
        Only this close's entries.

    Returns
    -------
    DataFrame
        ``date`` (the close's day), ``journal``, ``account``, ``debit``, ``credit``
        [currency, blank as 0], ``memo``, ``program``, ``customer`` (blank for expense lines).
    """
    acct = accounts or Accounts()
    rf = view.rollforward
    closes = view.closes.assign(period=view.closes["period"].astype(str))
    day = closes.set_index("period")["as_of"].map(lambda d: pd.Timestamp(d).date())
    rows = []
    e = rf[["period", "program_id", "expense"]].copy()
    e["period"] = e["period"].astype(str)
    e = e[e["expense"] != 0]
    amt = cents(e["expense"].to_numpy(dtype=float))
    memo = "rebate accrual (cumulative catch-up) " + e["program_id"].astype(str)
    for debit_acct, credit_acct, sign in (
        (acct.expense, acct.accrued, 1),
        (acct.accrued, acct.expense, -1),
    ):
        m = np.sign(amt) == sign
        for account, side in ((debit_acct, "debit"), (credit_acct, "credit")):
            rows.append(
                pd.DataFrame(
                    {
                        "period": e["period"].to_numpy()[m],
                        "kind": 0,
                        "account": account,
                        "amount_c": np.abs(amt[m]),
                        "side": side,
                        "memo": memo.to_numpy()[m],
                        "program": e["program_id"].astype(str).to_numpy()[m],
                        "customer": "",
                    }
                )
            )
    pay = view.payments
    if len(pay):
        pc = cents(pay["amount"].to_numpy(dtype=float))
        pid = pay["payment_id"].astype(str) if "payment_id" in pay.columns else pd.Series("")
        pmemo = ("rebate payment " + pid.fillna("")).to_numpy()
        for debit_acct, credit_acct, sign in (
            (acct.accrued, acct.cash, 1),
            (acct.cash, acct.accrued, -1),
        ):
            m = np.sign(pc) == sign
            for account, side in ((debit_acct, "debit"), (credit_acct, "credit")):
                rows.append(
                    pd.DataFrame(
                        {
                            "period": pay["period"].astype(str).to_numpy()[m],
                            "kind": 1,
                            "account": account,
                            "amount_c": np.abs(pc[m]),
                            "side": side,
                            "memo": pmemo[m],
                            "program": pay["program_id"].astype(str).to_numpy()[m],
                            "customer": pay["customer_id"].astype(str).to_numpy()[m],
                        }
                    )
                )
    j = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(
            columns=["period", "kind", "account", "amount_c", "side", "memo", "program", "customer"]
        )
    )
    if period is not None:
        j = j[j["period"] == str(period)]
    j = j.sort_values(["period", "kind", "program", "customer", "memo"], kind="stable")
    out = pd.DataFrame(
        {
            "date": j["period"].map(day).to_numpy(),
            "journal": ("REBATE-" + j["period"]).to_numpy(),
            "account": j["account"].to_numpy(),
            "debit": np.where(j["side"] == "debit", j["amount_c"], 0) / 100.0,
            "credit": np.where(j["side"] == "credit", j["amount_c"], 0) / 100.0,
            "memo": j["memo"].to_numpy(),
            "program": j["program"].to_numpy(),
            "customer": j["customer"].to_numpy(),
        }
    )
    return out[list(JOURNAL_COLUMNS)].reset_index(drop=True)


def journal_csv(entries: pd.DataFrame, path) -> None:
    """Write journal entries as CSV: amounts with two decimals, zero as blank."""
    out = entries.copy()
    for c in ("debit", "credit"):
        out[c] = [f"{v:.2f}" if v else "" for v in out[c].to_numpy(dtype=float)]
    out.to_csv(path, index=False)


def _period(view, period) -> str:
    closed = view.closes["period"].astype(str).tolist()
    if not closed:
        raise ParameterError("the workspace has no closed period yet: run rebatelab close")
    if period is None:
        return closed[-1]
    if str(period) not in closed:
        raise ParameterError(f"period {period} is not closed; closed: {closed}")
    return str(period)


def liability_sheets(res, *, data=None, terms: str = "the program file", source=None):
    """The liability views as sheets with customer names, and their cover sheet.

    Parameters
    ----------
    res : Liability
        :func:`rebatelab.liability`'s result.
    data : RebateData or Reduction, optional
        For the customer names (its ``customers``) and the data source.
    terms : str
        Which terms were used (recorded on the cover).
    source : str, optional
        The data source to record (default the data's).

    Returns
    -------
    sheets : dict of str to DataFrame
    cover : dict
    """
    customers = getattr(data, "customers", None)
    sheets = dict(res.views())
    sheets["by_customer"] = _with_names(
        sheets["by_customer"].astype({"customer_id": str}), customers
    )
    t = res.total.iloc[0]
    cover = cover_info(
        report="rebate liability",
        as_of=None if res.as_of is None else res.as_of.date(),
        method=f"forecast {res.method}; expected value (ASC 606) and the total's distribution "
        f"by convolution; constrained = {res.options.percentile:.0%} quantile",
        common_shock=res.options.common_shock,
        amount=res.options.amount,
        data_source=source if source is not None else getattr(data, "source", ""),
        terms=terms,
        expected_total=f"{t['expected']:,.2f}",
        constrained_total=f"{t['constrained']:,.2f}",
    )
    return sheets, cover
