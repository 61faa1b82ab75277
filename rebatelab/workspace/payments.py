"""Payments in the ledger: their identities, those new since earlier closes, and flags."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from rebatelab.engine.stage_one import Reduction
from rebatelab.errors import LedgerError
from rebatelab.money import cents

__all__: list[str] = []


_PAY_COLS = [
    "program_id",
    "customer_id",
    "date",
    "amount_c",
    "seq",
    "payment_id",
    "corrects",
]


def _content_id(p: pd.DataFrame) -> pd.Series:
    """A payment's content key as a label: ``program/customer/date/amount#seq``."""
    amount = pd.Series(p["amount_c"].to_numpy(dtype=np.int64) / 100.0, index=p.index)
    return (
        p["program_id"]
        + "/"
        + p["customer_id"]
        + "/"
        + p["date"].astype(str)
        + "/"
        + amount.map("{:.2f}".format)
        + "#"
        + p["seq"].astype(str)
    )


def _input_payments(red: Reduction, as_of: dt.date) -> pd.DataFrame:
    """The payments input dated on or before ``as_of``, each with its identity.

    The identity is the ``payment_id`` column when the input has one, else the content key
    (program, customer, date, amount and the order of appearance among identical lines).
    An optional ``corrects`` column names the payment a line corrects (a reversing or
    adjusting entry: its amount, negative to reverse, is added to what was paid).
    """
    pay = red.payments
    if pay is None or len(pay) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _PAY_COLS})
    p = pd.DataFrame(
        {
            "program_id": pay["program_id"].astype(str).to_numpy(),
            "customer_id": pay["customer_id"].astype(str).to_numpy(),
            "date": pd.to_datetime(pay["date"]).dt.date.to_numpy(),
            "amount_c": cents(pay["amount"].to_numpy(dtype=float)),
        }
    )
    # identical payments are told apart by their order of appearance
    p["seq"] = p.groupby(["program_id", "customer_id", "date", "amount_c"]).cumcount()
    ids = pay["payment_id"] if "payment_id" in pay.columns else None
    given = ids.notna().to_numpy() if ids is not None else np.zeros(len(p), bool)
    p["payment_id"] = _content_id(p)
    p["auto_id"] = ~given
    if ids is not None:
        p.loc[given, "payment_id"] = ids[given].astype(str).to_numpy()
        dup = p.loc[given, "payment_id"]
        dup = sorted(set(dup[dup.duplicated()]))
        if dup:
            raise LedgerError(
                f"payments: payment_id {dup[:5]} appears more than once; each payment needs "
                "its own id (a correction is a new line with corrects: <id>)"
            )
    corr = pay["corrects"] if "corrects" in pay.columns else None
    p["corrects"] = (
        corr.astype("string").to_numpy(dtype=object) if corr is not None else [None] * len(p)
    )
    p["corrects"] = p["corrects"].where(pd.notna(p["corrects"]), None)
    return p[p["date"] <= as_of].reset_index(drop=True)


def _booked_payments(con) -> pd.DataFrame:
    done = con.execute(
        "SELECT period, program_id, customer_id, date, "
        "CAST(round(amount * 100) AS BIGINT) AS amount_c, seq, payment_id, corrects "
        "FROM payments"
    ).fetchdf()
    done["date"] = pd.to_datetime(done["date"]).dt.date
    done["seq"] = done["seq"].astype(np.int64)
    done["amount_c"] = done["amount_c"].astype(np.int64)
    missing = done["payment_id"].isna()
    if missing.any():  # a version-1 ledger: content keys
        done.loc[missing, "payment_id"] = _content_id(done[missing])
    return done


def _new_payments(red: Reduction, con, as_of: dt.date) -> pd.DataFrame:
    """Payments dated on or before ``as_of`` that no earlier close recorded.

    Raises
    ------
    LedgerError
        A payment booked by an earlier close is no longer in the input, or its content
        changed (it is named); a correction names a payment that does not exist.
    """
    p = _input_payments(red, as_of)
    done = _booked_payments(con)
    if len(done):
        m = done.merge(p, on="payment_id", how="left", suffixes=("", "_in"), indicator=True)
        gone = m[m["_merge"] == "left_only"]
        if len(gone):
            names = [f"{r.payment_id} (booked in {r.period})" for r in gone.head(5).itertuples()]
            raise LedgerError(
                f"{len(gone)} payment(s) booked by earlier closes are no longer in the payments "
                f"input (removed or changed): {names}; a booked payment is never edited: restore "
                "it and enter a correction, a new line with the difference (negative to reverse) "
                "and corrects: <its id> (docs/finance.md)"
            )
        keys = ["program_id", "customer_id", "date", "amount_c"]
        both = m[m["_merge"] == "both"]
        changed = np.zeros(len(both), bool)
        for k in keys:
            changed |= both[k].to_numpy() != both[f"{k}_in"].to_numpy()
        if changed.any():
            names = both.loc[changed, "payment_id"].head(5).tolist()
            raise LedgerError(
                f"{int(changed.sum())} payment(s) booked by earlier closes were changed in the "
                f"payments input: {names}; restore them and enter corrections (a new line with "
                "corrects: <id>)"
            )
        p = p[~p["payment_id"].isin(set(done["payment_id"]))]
    known = set(p["payment_id"]) | set(done["payment_id"] if len(done) else [])
    bad = p[p["corrects"].notna() & ~p["corrects"].isin(known)]
    if len(bad):
        raise LedgerError(
            f"payments: {len(bad)} correction(s) name no known payment: "
            f"{bad['payment_id'].head(5).tolist()} corrects {bad['corrects'].head(5).tolist()}"
        )
    return p.reset_index(drop=True)


def _flags(red: Reduction, con, pay: pd.DataFrame, snap: pd.DataFrame) -> pd.DataFrame:
    """New payments that need an explicit acceptance to be booked.

    ``unknown_program`` / ``unknown_customer``: not in the program file or the customers;
    ``overpayment``: the contract's payments so far (recorded and new) exceed both its
    accrued and its expected amount; ``possible_duplicate``: the same program, customer, date
    and amount as a payment already recorded or another new line (content keys only).
    """
    cols = ["payment_id", "program_id", "customer_id", "kind", "amount_c", "message"]
    if not len(pay):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    parts = []

    def add(mask, kind, message):
        if mask.any():
            f = pay.loc[mask, ["payment_id", "program_id", "customer_id", "amount_c"]].copy()
            f["kind"] = kind
            f["message"] = message(f)
            parts.append(f)

    prog = pay["program_id"].isin(set(red.programs.ids)).to_numpy()
    add(~prog, "unknown_program", lambda f: "program not in the program file: " + f["program_id"])
    cust_ids = set(red.customers["customer_id"].astype(str)) if len(red.customers) else set()
    cust = pay["customer_id"].isin(cust_ids).to_numpy()
    add(~cust, "unknown_customer", lambda f: "customer not in customers: " + f["customer_id"])
    done = _booked_payments(con)
    keys = ["program_id", "customer_id"]
    paid = pd.concat([done[[*keys, "amount_c"]], pay[[*keys, "amount_c"]]])
    paid = paid.groupby(keys, as_index=False)["amount_c"].sum()
    cap = snap[keys].assign(cap_c=np.maximum(snap["accrued_c"], snap["expected_c"]))
    over = paid.merge(cap, on=keys, how="left").fillna({"cap_c": 0})
    over = over[over["amount_c"] > over["cap_c"]]
    hit = pay.merge(over, on=keys, how="left", suffixes=("", "_paid"))
    mask = hit["cap_c"].notna().to_numpy() & prog & (pay["amount_c"].to_numpy() > 0)

    def over_msg(f):
        h = hit.loc[f.index]
        return (
            "paid "
            + (h["amount_c_paid"] / 100).map("{:,.2f}".format)
            + " in all against "
            + (h["cap_c"] / 100).map("{:,.2f}".format)
            + " accrued/expected"
        )

    add(mask, "overpayment", over_msg)
    content = ["program_id", "customer_id", "date", "amount_c"]
    seen = pd.concat([done[content], pay[content]])
    twice = seen.duplicated(keep=False).to_numpy()[len(done) :]
    auto = pay["auto_id"].to_numpy(dtype=bool)
    add(
        twice & auto,
        "possible_duplicate",
        lambda f: "same program, customer, date and amount as another payment",
    )
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.concat(parts)[cols].reset_index(drop=True)
