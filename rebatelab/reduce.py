"""Stage one: reduce invoice lines to compact per (program, customer[, day]) sums.

This is the only module that touches lines. Everything downstream (tier math, forecasting,
simulation, liability) runs on the arrays it returns. Lines are turned once into integer codes
sorted by day (cached on the :class:`~rebatelab.io.RebateData`), so that each program's period
is a contiguous slice and its sums are one ``np.bincount``.

Counting rule: a line counts toward a program when its date is within
``[start, min(end, as_of)]`` (and on or after the customer's ``enrolled_on``), its product
passes the program's product filters, and its customer is a member of the program (enrolled,
or eligible when enrollment is automatic; a variant's customers count under the variant only).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DataValidationError, ProgramFileError
from .io import RebateData
from .programs import Program, load_programs

__all__ = [
    "Lines",
    "prepare_lines",
    "members",
    "product_eligibility",
    "period_sums",
    "daily_sums",
    "exclusions",
    "reconcile",
    "to_day",
    "EXCLUSION_REASONS",
]

_EPOCH = np.datetime64("1970-01-01", "D")

#: Why a line dated inside a program's period did not count toward it, in order of precedence.
EXCLUSION_REASONS = (
    "unknown_customer",
    "unknown_product",
    "customer_not_eligible",
    "customer_not_enrolled",
    "customer_in_variant",
    "before_enrollment",
    "product_not_eligible",
)


def to_day(x) -> np.ndarray | int:
    """Dates to integer days since 1970-01-01."""
    if isinstance(x, dt.date | pd.Timestamp | str | np.datetime64):
        return int((np.datetime64(pd.Timestamp(x).date(), "D") - _EPOCH).astype(np.int64))
    return (np.asarray(x, dtype="datetime64[D]") - _EPOCH).astype(np.int64)


@dataclass(frozen=True)
class Lines:
    """Invoice lines as integer-coded arrays sorted by day.

    ``customer`` and ``product`` are codes into the customers / products tables, with
    ``n_customers`` / ``n_products`` standing for an unknown id. ``row`` maps back to the
    transactions table's row number.
    """

    day: np.ndarray
    customer: np.ndarray
    product: np.ndarray
    invoice: np.ndarray
    net_amount: np.ndarray
    quantity: np.ndarray
    row: np.ndarray
    n_customers: int
    n_products: int

    def window(self, first_day: int, last_day: int) -> slice:
        """Slice of the lines dated within [first_day, last_day]."""
        lo, hi = np.searchsorted(self.day, [first_day, last_day + 1])
        return slice(int(lo), int(hi))


def prepare_lines(data: RebateData) -> Lines:
    """Integer-code and sort the transaction lines once per data object (cached)."""
    if "lines" in data.cache:
        return data.cache["lines"]
    tx = data.transactions
    cust_index = pd.Index(data.customers["customer_id"])
    prod_index = pd.Index(data.products["product_id"])
    cust = cust_index.get_indexer(tx["customer_id"])
    prod = prod_index.get_indexer(tx["product_id"])
    cust = np.where(cust < 0, len(cust_index), cust)
    prod = np.where(prod < 0, len(prod_index), prod)
    day = to_day(tx["date"].to_numpy())
    order = np.argsort(day, kind="stable")
    invoice = pd.factorize(tx["invoice_id"])[0]
    lines = Lines(
        day=day[order],
        customer=cust[order].astype(np.int64),
        product=prod[order].astype(np.int64),
        invoice=invoice[order].astype(np.int64),
        net_amount=tx["net_amount"].to_numpy(dtype=float)[order],
        quantity=tx["quantity"].to_numpy(dtype=float)[order],
        row=order.astype(np.int64),
        n_customers=len(cust_index),
        n_products=len(prod_index),
    )
    data.cache["lines"] = lines
    return lines


def _attr_mask(
    table: pd.DataFrame, filt: dict | None, *, key: str, what: str, pid: str, any_of: bool = False
) -> np.ndarray:
    """Rows of a master table matching an attribute filter (ANDed, or ORed with any_of)."""
    n = len(table)
    if not filt:
        return np.zeros(n, bool) if any_of else np.ones(n, bool)
    masks = []
    for attr, allowed in filt.items():
        if attr not in table.columns:
            raise DataValidationError(
                f"program {pid}: field {what}: attribute {attr!r} is not a column of the "
                f"{key} table (columns: {list(table.columns)})"
            )
        masks.append(table[attr].astype("string").isin(allowed).fillna(False).to_numpy())
    return np.logical_or.reduce(masks) if any_of else np.logical_and.reduce(masks)


def product_eligibility(data: RebateData, program: Program) -> np.ndarray:
    """Boolean per product (plus a False slot for unknown products): eligible for the program."""
    p = data.products
    ok = _attr_mask(p, program.products, key="products", what="products", pid=program.id)
    ok &= ~_attr_mask(
        p,
        program.exclude_products,
        key="products",
        what="exclude_products",
        pid=program.id,
        any_of=True,
    )
    return np.append(ok, False)


def customer_eligibility(data: RebateData, program: Program) -> np.ndarray:
    """Boolean per customer: passes the program's customer filter."""
    return _attr_mask(
        data.customers, program.customers, key="customers", what="customers", pid=program.id
    )


def members(data: RebateData, programs) -> pd.DataFrame:
    """The customers each program accrues for.

    Parameters
    ----------
    data : RebateData
    programs : ProgramSet or path

    Returns
    -------
    DataFrame
        One row per (program_id, customer_id), programs in file order and customers in
        customer-table order, with ``customer_code``, ``pool_id`` (the buying group for pooled
        programs, else the customer), ``enrolled_on`` (NaT when not given) and
        ``baseline_given`` [basis unit] (NaN when not given).

    Raises
    ------
    ProgramFileError
        Enrollments that name an unknown program, or customers who fail the program's
        customer filter; a variant's ``customers_only`` naming unknown customers.
    """
    programs = load_programs(programs)
    key = ("members", id(programs))
    if key in data.cache:
        return data.cache[key]
    cu = data.customers
    cust_ids = cu["customer_id"].to_numpy(dtype=object)
    cust_index = pd.Index(cu["customer_id"])
    en = data.enrollments
    unknown = ~en["program_id"].isin(programs.ids).to_numpy()
    if unknown.any():
        bad = sorted(set(en.loc[unknown, "program_id"]))
        raise ProgramFileError(
            f"{data.source}: enrollments: {int(unknown.sum())} row(s) name programs not in "
            f"{programs.source}: {bad[:5]}"
        )
    frames = []
    for pi, p in enumerate(programs):
        elig = customer_eligibility(data, p)
        enrolled_on = np.full(len(cu), np.datetime64("NaT"), dtype="datetime64[ns]")
        baseline = np.full(len(cu), np.nan)
        rows = en[en["program_id"] == p.id]
        codes = cust_index.get_indexer(rows["customer_id"])
        enrolled_on[codes] = rows["enrolled_on"].to_numpy(dtype="datetime64[ns]")
        baseline[codes] = rows["baseline"].to_numpy(dtype=float)
        if p.variant_of is not None:
            member = np.zeros(len(cu), bool)
            vcodes = cust_index.get_indexer(list(p.customers_only))
            if (vcodes < 0).any():
                bad = [c for c, k in zip(p.customers_only, vcodes, strict=True) if k < 0]
                raise ProgramFileError(
                    f"{programs.source}: program {p.id}: field customers_only: unknown "
                    f"customers {bad[:5]}"
                )
            member[vcodes] = True
            stray = np.setdiff1d(codes, vcodes)
            if len(stray):
                raise ProgramFileError(
                    f"{data.source}: enrollments: program {p.id}: customers "
                    f"{list(cust_ids[stray][:5])} are not in its customers_only list"
                )
            check = member
        elif p.enrollment == "automatic":
            member = elig.copy()
            check = np.zeros(len(cu), bool)
        else:
            member = np.zeros(len(cu), bool)
            member[codes] = True
            check = member
        failing = check & ~elig
        if failing.any():
            raise ProgramFileError(
                f"program {p.id}: field customers: {int(failing.sum())} enrolled customer(s) "
                f"fail the program's customer filter {p.customers}: "
                f"{list(cust_ids[failing][:5])}"
            )
        for v in programs.variants_of(p.id):
            member[cust_index.get_indexer(list(v.customers_only))] = False
        idx = np.flatnonzero(member)
        if p.pool == "buying_group":
            group = cu["buying_group"].astype("string").iloc[idx]
            has = (group.notna() & (group.str.len() > 0)).fillna(False).to_numpy(dtype=bool)
            pool = np.where(has, group.to_numpy(dtype=object), cust_ids[idx])
        else:
            pool = cust_ids[idx]
        frames.append(
            pd.DataFrame(
                {
                    "program_id": p.id,
                    "program_idx": pi,
                    "customer_id": cust_ids[idx],
                    "customer_code": idx,
                    "pool_id": pool,
                    "enrolled_on": enrolled_on[idx],
                    "baseline_given": baseline[idx],
                }
            )
        )
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    for c in ("program_id", "customer_id", "pool_id"):
        out[c] = out[c].astype("string")
    data.cache[key] = out
    return out


def _period_days(p: Program, as_of, shift_years: int = 0) -> tuple[int, int]:
    start = pd.Timestamp(p.start) - pd.DateOffset(years=shift_years)
    end = min(pd.Timestamp(p.end), pd.Timestamp(as_of)) - pd.DateOffset(years=shift_years)
    return to_day(start), to_day(end)


def _program_codes(lines: Lines, mem: pd.DataFrame, pi: int):
    """Lookup from customer code to member row (-1 for non-members) for program ``pi``."""
    sub = mem.index[mem["program_idx"].to_numpy() == pi].to_numpy()
    lookup = np.full(lines.n_customers + 1, -1, dtype=np.int64)
    lookup[mem["customer_code"].to_numpy()[sub]] = sub
    from_day = np.full(len(mem), np.iinfo(np.int64).min)
    eo = mem["enrolled_on"].to_numpy()
    has = ~np.isnat(eo)
    from_day[has] = to_day(eo[has])
    return lookup, from_day


def period_sums(data: RebateData, programs, *, as_of, shift_years: int = 0) -> pd.DataFrame:
    """Basis sums per member over each program's period up to ``as_of``.

    Parameters
    ----------
    data : RebateData
    programs : ProgramSet or path
    as_of : date-like
        Lines dated after ``as_of`` are not counted.
    shift_years : int
        Measure the same dates this many years earlier (1 gives the growth baseline); the
        ``enrolled_on`` date does not apply to a shifted window.

    Returns
    -------
    DataFrame
        :func:`members` with ``net_amount`` [currency], ``quantity`` [units] and ``n_lines``.
    """
    programs = load_programs(programs)
    lines = prepare_lines(data)
    mem = members(data, programs)
    m = len(mem)
    net = np.zeros(m)
    qty = np.zeros(m)
    n = np.zeros(m, dtype=np.int64)
    for pi, p in enumerate(programs):
        first, last = _period_days(p, as_of, shift_years)
        if last < first:
            continue
        w = lines.window(first, last)
        lookup, from_day = _program_codes(lines, mem, pi)
        who = lookup[lines.customer[w]]
        ok = (who >= 0) & product_eligibility(data, p)[lines.product[w]]
        if shift_years == 0:
            ok &= lines.day[w] >= from_day[np.maximum(who, 0)]
        who = who[ok]
        net += np.bincount(who, weights=lines.net_amount[w][ok], minlength=m)
        qty += np.bincount(who, weights=lines.quantity[w][ok], minlength=m)
        n += np.bincount(who, minlength=m)
    out = mem.copy()
    out["net_amount"] = net
    out["quantity"] = qty
    out["n_lines"] = n
    return out


def daily_sums(data: RebateData, programs, *, as_of, since=None) -> pd.DataFrame:
    """Per (program, member, day) sums of eligible lines over the whole history to ``as_of``.

    This is what forecasting consumes: each member's purchase history of the program's
    eligible products, before and inside the period (``enrolled_on`` does not apply).

    Parameters
    ----------
    data : RebateData
    programs : ProgramSet or path
    as_of : date-like
        Last day included.
    since : date-like, optional
        First day included (default: the first transaction).

    Returns
    -------
    DataFrame
        Columns ``program_id, customer_id, pool_id, member, date, net_amount, quantity,
        n_lines, n_invoices``; ``member`` is the row number in :func:`members`. Sorted by
        member then date. Days without eligible lines are absent.
    """
    programs = load_programs(programs)
    lines = prepare_lines(data)
    mem = members(data, programs)
    last = to_day(as_of)
    first = lines.day[0] if since is None and len(lines.day) else to_day(since or as_of)
    w = lines.window(first, last)
    day0 = int(first)
    n_days = last - day0 + 1
    parts = []
    for pi, p in enumerate(programs):
        lookup, _ = _program_codes(lines, mem, pi)
        who = lookup[lines.customer[w]]
        ok = (who >= 0) & product_eligibility(data, p)[lines.product[w]]
        if not ok.any():
            continue
        key = who[ok] * n_days + (lines.day[w][ok] - day0)
        uk, inv = np.unique(key, return_inverse=True)
        k = len(uk)
        pair = np.unique(np.stack([inv, lines.invoice[w][ok]]), axis=1)[0]
        parts.append(
            pd.DataFrame(
                {
                    "member": uk // n_days,
                    "day": uk % n_days + day0,
                    "net_amount": np.bincount(inv, weights=lines.net_amount[w][ok], minlength=k),
                    "quantity": np.bincount(inv, weights=lines.quantity[w][ok], minlength=k),
                    "n_lines": np.bincount(inv, minlength=k),
                    "n_invoices": np.bincount(pair, minlength=k),
                }
            )
        )
    cols = ["program_id", "customer_id", "pool_id"]
    if not parts:
        out = pd.DataFrame(
            columns=[*cols, "member", "date", "net_amount", "quantity", "n_lines", "n_invoices"]
        )
        return out
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "date", _EPOCH + out.pop("day").to_numpy().astype("timedelta64[D]"))
    out["date"] = out["date"].astype("datetime64[ns]")
    for c in reversed(cols):
        out.insert(0, c, mem[c].to_numpy()[out["member"].to_numpy()])
        out[c] = out[c].astype("string")
    return out[[*cols, "member", "date", "net_amount", "quantity", "n_lines", "n_invoices"]]


def exclusions(data: RebateData, programs, *, as_of) -> pd.DataFrame:
    """Every (line, program) pair where a line dated in the program's period did not count.

    Returns
    -------
    DataFrame
        ``row`` (the line's row number in transactions), ``program_id``, ``reason`` (one of
        :data:`EXCLUSION_REASONS`, the first that applies), the line's ``invoice_id, date,
        customer_id, product_id, quantity, net_amount``.
    """
    programs = load_programs(programs)
    lines = prepare_lines(data)
    mem = members(data, programs)
    parts = []
    cu = data.customers
    for pi, p in enumerate(programs):
        first, last = _period_days(p, as_of)
        if last < first:
            continue
        w = lines.window(first, last)
        lookup, from_day = _program_codes(lines, mem, pi)
        c, pr = lines.customer[w], lines.product[w]
        who = lookup[c]
        elig_c = np.append(customer_eligibility(data, p), False)
        variant_c = np.zeros(lines.n_customers + 1, bool)
        for v in programs.variants_of(p.id):
            variant_c[pd.Index(cu["customer_id"]).get_indexer(list(v.customers_only))] = True
        conditions = [
            c == lines.n_customers,
            pr == lines.n_products,
            ~elig_c[c],
            (who < 0) & ~variant_c[c],
            (who < 0) & variant_c[c],
            (who >= 0) & (lines.day[w] < from_day[np.maximum(who, 0)]),
            ~product_eligibility(data, p)[pr],
        ]
        reason = np.select(conditions, range(len(conditions)), default=-1)
        bad = reason >= 0
        parts.append(
            pd.DataFrame(
                {
                    "row": lines.row[w][bad],
                    "program_id": p.id,
                    "reason": np.asarray(EXCLUSION_REASONS, dtype=object)[reason[bad]],
                }
            )
        )
    out = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame({"row": pd.Series(dtype=np.int64), "program_id": [], "reason": []})
    )
    tx = data.transactions
    cols = ["invoice_id", "date", "customer_id", "product_id", "quantity", "net_amount"]
    detail = tx.iloc[out["row"].to_numpy()][cols].reset_index(drop=True)
    out = pd.concat([out.reset_index(drop=True), detail], axis=1)
    out["program_id"] = out["program_id"].astype("string")
    out["reason"] = pd.Categorical(out["reason"], categories=EXCLUSION_REASONS)
    return out


def reconcile(data: RebateData, programs, *, as_of) -> pd.DataFrame:
    """Per program: lines in the period = lines counted + lines excluded (by reason), to the cent.

    Returns
    -------
    DataFrame
        One row per program and reason (``reason`` is ``"counted"`` for counted lines) with
        ``lines``, ``net_amount`` [currency] and ``quantity`` [units]; plus a row
        ``"in_period"`` per program with the totals of all lines dated in the period. The
        identity ``in_period = counted + sum(excluded)`` is checked and a mismatch raised.
    """
    programs = load_programs(programs)
    lines = prepare_lines(data)
    sums = period_sums(data, programs, as_of=as_of)
    exc = exclusions(data, programs, as_of=as_of)
    rows = []
    for p in programs:
        first, last = _period_days(p, as_of)
        w = lines.window(first, last) if last >= first else slice(0, 0)
        s = sums[sums["program_id"] == p.id]
        e = exc[exc["program_id"] == p.id]
        rows.append(
            (
                p.id,
                "in_period",
                w.stop - w.start,
                lines.net_amount[w].sum(),
                lines.quantity[w].sum(),
            )
        )
        rows.append(
            (p.id, "counted", int(s["n_lines"].sum()), s["net_amount"].sum(), s["quantity"].sum())
        )
        g = e.groupby("reason", observed=True)
        for reason, grp in g:
            rows.append(
                (p.id, str(reason), len(grp), grp["net_amount"].sum(), grp["quantity"].sum())
            )
    out = pd.DataFrame(rows, columns=["program_id", "reason", "lines", "net_amount", "quantity"])
    inp = out[out["reason"] == "in_period"].set_index("program_id")
    rest = (
        out[out["reason"] != "in_period"]
        .groupby("program_id")[["lines", "net_amount", "quantity"]]
        .sum()
    )
    rest = rest.reindex(inp.index, fill_value=0)
    from ._arrays import cents

    off = (inp["lines"] != rest["lines"]) | (cents(inp["net_amount"]) != cents(rest["net_amount"]))
    if off.any():  # an internal invariant: it would mean a line was counted twice or lost
        raise AssertionError(f"reconciliation does not tie for programs {list(inp.index[off])}")
    out["net_amount"] = np.round(out["net_amount"], 2)
    return out
