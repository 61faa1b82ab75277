"""Reconciliation: every line in a program period is counted or excluded with a reason."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rebatelab.data.tables import RebateData
from rebatelab.engine.eligibility import customer_eligibility, members, product_eligibility
from rebatelab.engine.lines import lines_from_frame, prepare_lines
from rebatelab.engine.reduction import period_sums
from rebatelab.engine.sums import _period_days, _program_codes
from rebatelab.errors import ParameterError
from rebatelab.money import cents
from rebatelab.programs.terms import load_programs

__all__ = [
    "exclusions",
    "reconcile",
    "reconciliation_totals",
    "explain",
    "EXCLUSION_REASONS",
]


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


def _reasons(data: RebateData, programs, lines, mem, pi: int, p, as_of):
    """Window of program ``pi``'s period and the exclusion reason code of each line in it.

    The code indexes :data:`EXCLUSION_REASONS` (the first that applies); -1 means counted.
    None when the period has not started by ``as_of``.
    """
    first, last = _period_days(p, as_of)
    if last < first:
        return None
    w = lines.window(first, last)
    lookup, from_day = _program_codes(lines, mem, pi)
    c, pr = lines.customer[w], lines.product[w]
    who = lookup[c]
    elig_c = np.append(customer_eligibility(data, p), False)
    variant_c = np.zeros(lines.n_customers + 1, bool)
    cust_index = pd.Index(data.customers["customer_id"])
    for v in programs.variants_of(p.id):
        variant_c[cust_index.get_indexer(list(v.customers_only))] = True
    conditions = [
        c == lines.n_customers,
        pr == lines.n_products,
        ~elig_c[c],
        (who < 0) & ~variant_c[c],
        (who < 0) & variant_c[c],
        (who >= 0) & (lines.day[w] < np.append(from_day, 0)[np.where(who >= 0, who, -1)]),
        ~product_eligibility(data, p)[pr],
    ]
    return w, np.select(conditions, range(len(conditions)), default=-1)


def exclusions(data: RebateData, programs, as_of) -> pd.DataFrame:
    """Every (line, program) pair where a line dated in the program's period did not count.

    This lists one row per pair (up to lines x programs rows): ask for it to look at the
    detail; :func:`reconcile` and :func:`explain` do not need it.

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
    for pi, p in enumerate(programs):
        got = _reasons(data, programs, lines, mem, pi, p, as_of)
        if got is None:
            continue
        w, reason = got
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


def reconcile(data: RebateData, programs, as_of, *, excluded=None) -> pd.DataFrame:
    """Per program: lines in the period = lines counted + lines excluded (by reason), to the cent.

    Parameters
    ----------
    excluded : DataFrame, optional
        :func:`exclusions` for the same arguments, when the caller already has it; otherwise
        the excluded lines are counted and summed per (program, reason) without listing them.

    Returns
    -------
    DataFrame
        One row per program and reason (``reason`` is ``"counted"`` for counted lines) with
        ``lines``, ``net_amount`` [currency] and ``quantity`` [units]; plus a row
        ``"in_period"`` per program with the totals of all lines dated in the period. The
        identity ``in_period = counted + sum(excluded)`` is checked in integer cents and a
        mismatch raised.
    """
    if excluded is None:
        return reconciliation_totals(data, programs, as_of=as_of)
    programs = load_programs(programs)
    lines = prepare_lines(data)
    sums = period_sums(data, programs, as_of=as_of)
    rows = []
    for p in programs:
        rows.extend(_in_period_and_counted(lines, sums, p, as_of))
        e = excluded[excluded["program_id"] == p.id]
        for reason, grp in e.groupby("reason", observed=True):
            rows.append(
                (p.id, str(reason), len(grp), grp["net_amount"].sum(), grp["quantity"].sum())
            )
    return finish_reconciliation(rows)


def reconciliation_totals(data: RebateData, programs, *, as_of, sums=None) -> pd.DataFrame:
    """:func:`reconcile` by aggregation: per (program, reason) counts and sums, no pair list.

    The day-sorted lines are cut at the program period bounds into segments; one
    ``np.bincount`` per segment sums them per customer, and each program adds up the
    segments of its period (:func:`reconcile_segments`). The cost is one pass over the lines
    whatever the number of programs, plus one pass over the period of each program with
    late-enrolled members.

    Parameters
    ----------
    sums : DataFrame, optional
        :func:`rebatelab.engine.reduction.period_sums` for the same arguments, when the
        caller already has it.
    """
    programs = load_programs(programs)
    as_of = pd.Timestamp(as_of).normalize()
    lines = prepare_lines(data)
    if sums is None:
        sums = period_sums(data, programs, as_of=as_of)
    windows, bounds = segment_bounds(programs, as_of)
    if bounds is None:
        return reconcile_segments(data, programs, as_of, sums=sums, parts=None)
    n_cust, n_prod = lines.n_customers, lines.n_products
    n_seg = len(bounds) - 1
    parts = SegmentSums(
        bounds=bounds,
        grid={k: np.zeros((n_cust, n_seg)) for k in _PARTS},
        unknown_customer={k: np.zeros(n_seg) for k in _PARTS},
        unknown_product={k: np.zeros(n_seg) for k in _PARTS},
        before={},
    )
    cut = np.searchsorted(lines.day, bounds)
    for s in range(n_seg):
        sl = slice(int(cut[s]), int(cut[s + 1]))
        c, pr = lines.customer[sl], lines.product[sl]
        uc = c == n_cust
        up = ~uc & (pr == n_prod)
        ok = ~uc & ~up
        for k, wt in (("n", None), ("net", lines.net_amount[sl]), ("qty", lines.quantity[sl])):
            parts.grid[k][:, s] = np.bincount(
                c[ok], weights=None if wt is None else wt[ok], minlength=n_cust
            )
            parts.unknown_customer[k][s] = uc.sum() if wt is None else wt[uc].sum()
            parts.unknown_product[k][s] = up.sum() if wt is None else wt[up].sum()
    mem = members(data, programs)
    for pi, (f, la) in enumerate(windows):
        if la < f:
            continue
        lookup, from_day = _program_codes(lines, mem, pi)
        mine = mem.index[mem["program_idx"].to_numpy() == pi].to_numpy()
        if not (from_day[mine] > f).any():
            continue
        w = lines.window(f, la)
        who = lookup[lines.customer[w]]
        before = (who >= 0) & (lines.day[w] < np.append(from_day, 0)[np.where(who >= 0, who, -1)])
        before &= lines.product[w] != n_prod
        parts.before[pi] = {
            "n": float(before.sum()),
            "net": float(lines.net_amount[w][before].sum()),
            "qty": float(lines.quantity[w][before].sum()),
        }
    return reconcile_segments(data, programs, as_of, sums=sums, parts=parts)


_PARTS = ("n", "net", "qty")


def segment_bounds(programs, as_of) -> tuple[list[tuple[int, int]], np.ndarray | None]:
    """Each program's period window [days] and the segment bounds between them.

    Returns
    -------
    windows : list of (first_day, last_day)
        Per program (``last < first`` when the period has not started by ``as_of``).
    bounds : ndarray of int64, or None
        Sorted distinct ``first`` and ``last + 1`` of the started periods: segment ``s`` is
        ``[bounds[s], bounds[s + 1])``. None when no period has started.
    """
    windows = [_period_days(p, as_of) for p in programs]
    live = [(f, la) for f, la in windows if la >= f]
    if not live:
        return windows, None
    return windows, np.unique([d for f, la in live for d in (f, la + 1)]).astype(np.int64)


@dataclass
class SegmentSums:
    """Lines summed per (customer, segment): what :func:`reconcile_segments` needs.

    Each dict maps ``"n"`` (lines), ``"net"`` [currency] and ``"qty"`` [units] to sums:
    ``grid`` per (customer code, segment) over lines of known customers and products;
    ``unknown_customer`` / ``unknown_product`` per segment; ``before`` per program index:
    the known-product lines of its late-enrolled members dated before their enrollment.
    """

    bounds: np.ndarray
    grid: dict
    unknown_customer: dict
    unknown_product: dict
    before: dict


def reconcile_segments(data, programs, as_of, *, sums, parts: SegmentSums | None):
    """The reconciliation of each program from per (customer, segment) sums.

    Per program, its period's segments are added up per customer; the known customers'
    totals are classed by the customer's status in the program, in the order of
    :data:`EXCLUSION_REASONS`: customer filter, not enrolled, counted under a variant; for
    members, the lines before a late enrollment (``parts.before``), then the lines of
    products the program does not accept: the members' total less those and less what
    they counted (which must not be negative).
    """
    plist = list(programs)
    windows = [_period_days(p, as_of) for p in plist]
    counted = _counted(sums, plist)
    rows: list[tuple] = []
    mem = members(data, programs)
    n_cust = len(data.customers)
    cust_index = pd.Index(data.customers["customer_id"])
    mem_pidx = mem["program_idx"].to_numpy(dtype=np.int64) if len(mem) else np.zeros(0, int)
    mem_code = mem["customer_code"].to_numpy(dtype=np.int64) if len(mem) else np.zeros(0, int)
    zero = dict.fromkeys(_PARTS, 0.0)
    for pi, p in enumerate(plist):
        f, la = windows[pi]
        if parts is None or la < f:
            rows.append((p.id, "in_period", 0, 0.0, 0.0))
            rows.append((p.id, "counted", *counted[p.id]))
            continue
        inside = (parts.bounds[:-1] >= f) & (parts.bounds[:-1] <= la)
        tot = {k: g[:, inside].sum(axis=1) for k, g in parts.grid.items()}
        uc = {k: float(v[inside].sum()) for k, v in parts.unknown_customer.items()}
        upd = {k: float(v[inside].sum()) for k, v in parts.unknown_product.items()}
        in_period = {k: uc[k] + upd[k] + float(tot[k].sum()) for k in _PARTS}
        rows.append(
            (p.id, "in_period", int(round(in_period["n"])), in_period["net"], in_period["qty"])
        )
        rows.append((p.id, "counted", *counted[p.id]))
        elig = customer_eligibility(data, p)
        is_member = np.zeros(n_cust, bool)
        is_member[mem_code[mem_pidx == pi]] = True
        variant = np.zeros(n_cust, bool)
        for v in programs.variants_of(p.id):
            variant[cust_index.get_indexer(list(v.customers_only))] = True
        b = parts.before.get(pi, zero)
        mine = _pick(tot, is_member & elig)
        c_n, c_net, c_qty = counted[p.id]
        classes = {
            "unknown_customer": uc,
            "unknown_product": upd,
            "customer_not_eligible": _pick(tot, ~elig),
            "customer_not_enrolled": _pick(tot, elig & ~is_member & ~variant),
            "customer_in_variant": _pick(tot, elig & ~is_member & variant),
            "before_enrollment": b,
            "product_not_eligible": {
                "n": mine["n"] - b["n"] - c_n,
                "net": mine["net"] - b["net"] - c_net,
                "qty": mine["qty"] - b["qty"] - c_qty,
            },
        }
        if classes["product_not_eligible"]["n"] < -0.5:  # counted more than the members bought
            raise AssertionError(f"reconciliation does not tie for programs {[p.id]}")
        for reason in EXCLUSION_REASONS:
            v = classes[reason]
            n = int(round(v["n"]))
            if n > 0:
                rows.append((p.id, reason, n, float(v["net"]), float(v["qty"])))
    return finish_reconciliation(rows)


def _pick(tot: dict, mask: np.ndarray) -> dict:
    return {k: float(v[mask].sum()) for k, v in tot.items()}


def _counted(sums: pd.DataFrame, plist) -> dict:
    cols = ["n_lines", "net_amount", "quantity"]
    tot = sums.groupby("program_id", sort=False, observed=True)[cols].sum()
    out = {}
    for p in plist:
        if p.id in tot.index:
            r = tot.loc[p.id]
            out[p.id] = (int(r["n_lines"]), float(r["net_amount"]), float(r["quantity"]))
        else:
            out[p.id] = (0, 0.0, 0.0)
    return out


def _in_period_and_counted(lines, sums: pd.DataFrame, p, as_of) -> list[tuple]:
    first, last = _period_days(p, as_of)
    w = lines.window(first, last) if last >= first else slice(0, 0)
    s = sums[(sums["program_id"] == p.id).to_numpy(dtype=bool)]
    return [
        (p.id, "in_period", w.stop - w.start, lines.net_amount[w].sum(), lines.quantity[w].sum()),
        (p.id, "counted", int(s["n_lines"].sum()), s["net_amount"].sum(), s["quantity"].sum()),
    ]


RECONCILIATION_COLUMNS = ["program_id", "reason", "lines", "net_amount", "quantity"]


def finish_reconciliation(rows) -> pd.DataFrame:
    """The reconciliation frame of ``(program_id, reason, lines, net_amount, quantity)`` rows.

    Checks ``in_period = counted + excluded`` per program (lines exactly, amounts in integer
    cents) and rounds ``net_amount`` to cents.

    Raises
    ------
    AssertionError
        When a program does not tie: an internal invariant (a line counted twice or lost).
    """
    out = pd.DataFrame(rows, columns=RECONCILIATION_COLUMNS)
    out["lines"] = out["lines"].astype(np.int64)
    inp = out[out["reason"] == "in_period"].set_index("program_id")
    rest = (
        out[out["reason"] != "in_period"]
        .groupby("program_id")[["lines", "net_amount", "quantity"]]
        .sum()
    )
    rest = rest.reindex(inp.index, fill_value=0)
    off = (inp["lines"] != rest["lines"]) | (cents(inp["net_amount"]) != cents(rest["net_amount"]))
    if off.any():  # an internal invariant: it would mean a line was counted twice or lost
        raise AssertionError(f"reconciliation does not tie for programs {list(inp.index[off])}")
    out["net_amount"] = np.round(out["net_amount"], 2)
    return out


#: Reasons :func:`explain` gives, besides :data:`EXCLUSION_REASONS`.
EXPLAIN_REASONS = ("counted", "outside_period")


def explain(data: RebateData, programs, as_of, *, invoice_id, program_id=None) -> pd.DataFrame:
    """Why each line of one invoice counted, or did not count, toward each program.

    Reads only that invoice's lines (from memory, or one scan of the files for data
    loaded with ``lines="lazy"``), so it answers without listing every exclusion.

    Parameters
    ----------
    data : RebateData
    programs : ProgramSet
    as_of : date-like
    invoice_id : str
        The invoice.
    program_id : str, optional
        Only this program (default: every program).

    Returns
    -------
    DataFrame
        One row per (line, program): ``program_id``, ``row`` (the line's row number in the
        transactions, from 0), ``invoice_id, date, customer_id, product_id, quantity,
        net_amount``, ``counted`` (bool), ``reason`` (``"counted"``, ``"outside_period"`` or
        one of :data:`EXCLUSION_REASONS`) and ``why`` (a sentence).

    Raises
    ------
    ParameterError
        When no line has this invoice id, or the program is unknown.
    """
    programs = load_programs(programs)
    as_of = pd.Timestamp(as_of).normalize()
    chosen = [programs[program_id]] if program_id is not None else list(programs)
    tx = _invoice_lines(data, invoice_id)
    if not len(tx):
        raise ParameterError(f"{data.source}: no line has invoice_id {str(invoice_id)!r}")
    cust_index = pd.Index(data.customers["customer_id"])
    lines = lines_from_frame(tx, cust_index, pd.Index(data.products["product_id"]))
    mem = members(data, programs)
    order = lines.row  # position in tx of each (day-sorted) line
    parts = []
    for p in chosen:
        pi = programs.ids.index(p.id)
        reason = np.full(len(order), len(EXCLUSION_REASONS) + 1)  # outside the period
        got = _reasons(data, programs, lines, mem, pi, p, as_of)
        if got is not None:
            w, r = got
            reason[w] = np.where(r >= 0, r, len(EXCLUSION_REASONS))
        names = np.asarray([*EXCLUSION_REASONS, *EXPLAIN_REASONS], dtype=object)[reason]
        sub = tx.iloc[order].reset_index(drop=True)
        sub.insert(0, "program_id", p.id)
        sub["counted"] = names == "counted"
        sub["reason"] = names
        sub["why"] = [
            _why(p, programs, mem, pi, r, as_of) for r in sub.itertuples(index=False)
        ]  # one sentence per line of one invoice
        parts.append(sub)
    out = pd.concat(parts, ignore_index=True)
    out["program_id"] = out["program_id"].astype("string")
    cols = ["program_id", "row", "invoice_id", "date", "customer_id", "product_id"]
    cols += ["quantity", "net_amount", "counted", "reason", "why"]
    return out[cols]


def _invoice_lines(data: RebateData, invoice_id) -> pd.DataFrame:
    store = data.cache.get("line_store")
    if store is None and getattr(data, "lines_path", None) is not None:
        from rebatelab.engine.backends.store import line_store

        store = line_store(data)
    if store is not None:
        return store.invoice_lines(str(invoice_id))
    tx = data.transactions
    hit = tx.index[(tx["invoice_id"] == str(invoice_id)).to_numpy(dtype=bool)]
    cols = ["invoice_id", "date", "customer_id", "product_id", "quantity", "net_amount"]
    out = tx.loc[hit, cols].reset_index(drop=True)
    out.insert(0, "row", np.asarray(hit, dtype=np.int64))
    return out


def _why(p, programs, mem, pi, line, as_of) -> str:
    reason = line.reason
    c, prod, date = line.customer_id, line.product_id, pd.Timestamp(line.date).date()
    if reason == "counted":
        return f"counts toward {p.id}"
    if reason == "outside_period":
        end = min(p.end, as_of.date())
        if end < p.start:
            return f"{p.id}'s period starts on {p.start}, after the as-of date {as_of.date()}"
        return f"dated {date}, outside {p.id}'s period counted so far ({p.start} to {end})"
    if reason == "unknown_customer":
        return f"customer {c!r} is not in the customers table"
    if reason == "unknown_product":
        return f"product {prod!r} is not in the products table"
    if reason == "customer_not_eligible":
        return f"customer {c} does not pass {p.id}'s customer filter {p.customers}"
    if reason == "customer_not_enrolled":
        return f"customer {c} is not enrolled in {p.id} (enrollment: {p.enrollment})"
    if reason == "customer_in_variant":
        ids = [v.id for v in programs.variants_of(p.id) if c in set(v.customers_only)]
        return f"customer {c} counts under the variant {', '.join(ids)} instead"
    if reason == "before_enrollment":
        rows = mem[(mem["program_idx"] == pi) & (mem["customer_id"] == c)]
        on = pd.Timestamp(rows["enrolled_on"].iloc[0]).date() if len(rows) else "?"
        return f"dated {date}, before customer {c} enrolled in {p.id} on {on}"
    return (
        f"product {prod} does not pass {p.id}'s product filters "
        f"(products {p.products or 'all'}, excluded {p.exclude_products or 'none'})"
    )
