"""Who and what counts toward each program: product and customer filters, enrollment, pools."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebatelab.data.tables import RebateData
from rebatelab.errors import DataValidationError, ProgramFileError
from rebatelab.programs.terms import Program, load_programs

__all__ = ["members", "product_eligibility"]


def _attr_mask(
    table: pd.DataFrame,
    filt: dict | None,
    *,
    key: str,
    what: str,
    pid: str,
    any_of: bool = False,
    cache: dict | None = None,
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
        codes, uniques = _attr_codes(table, attr, cache)
        masks.append(np.append(np.isin(uniques, list(allowed)), False)[codes])
    return np.logical_or.reduce(masks) if any_of else np.logical_and.reduce(masks)


def _attr_codes(table: pd.DataFrame, attr: str, cache: dict | None):
    """Integer codes (-1 = missing) and distinct values of an attribute column (cached)."""
    key = ("attr_codes", id(table), attr)
    hit = cache.get(key) if cache is not None else None
    if hit is not None and hit[0] is table:
        return hit[1], hit[2]
    codes, uniques = pd.factorize(table[attr].astype("string"))
    uniques = np.asarray(uniques, dtype=object)
    if cache is not None:
        cache[key] = (table, codes, uniques)
    return codes, uniques


def product_eligibility(data: RebateData, program: Program) -> np.ndarray:
    """Boolean per product (plus a False slot for unknown products): eligible for the program."""
    p = data.products
    ok = _attr_mask(
        p, program.products, key="products", what="products", pid=program.id, cache=data.cache
    )
    ok &= ~_attr_mask(
        p,
        program.exclude_products,
        key="products",
        what="exclude_products",
        pid=program.id,
        any_of=True,
        cache=data.cache,
    )
    return np.append(ok, False)


def customer_eligibility(data: RebateData, program: Program) -> np.ndarray:
    """Boolean per customer: passes the program's customer filter."""
    return _attr_mask(
        data.customers,
        program.customers,
        key="customers",
        what="customers",
        pid=program.id,
        cache=data.cache,
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
        ``baseline_given`` [basis unit] (NaN when not given). A variant's customer without
        an enrollment row of the variant keeps the one of the parent program (its
        ``enrolled_on`` and ``baseline``): moving a customer to negotiated terms does not move
        their enrollment date.

    Raises
    ------
    ProgramFileError
        Enrollments that name an unknown program, or customers who fail the program's
        customer filter; a variant's ``customers_only`` naming unknown customers.
    """
    programs = load_programs(programs)
    key = ("members", id(programs))
    hit = data.cache.get(key)
    if hit is not None and hit[0] is programs:
        return hit[1]
    cu = data.customers
    n = len(cu)
    cust_ids = cu["customer_id"].to_numpy(dtype=object)
    cust_index = pd.Index(cu["customer_id"])
    en = data.enrollments
    en_program = en["program_id"].astype(object).to_numpy()
    en_prog = pd.Index(programs.ids).get_indexer(en_program)
    # enrollments of programs left out of a subset of the file are not errors, typos are
    unknown = ~en["program_id"].isin(list(programs.known_ids)).to_numpy(dtype=bool)
    if unknown.any():
        bad = sorted(set(en.loc[unknown, "program_id"]))
        raise ProgramFileError(
            f"{data.source}: enrollments: {int(unknown.sum())} row(s) name programs not in "
            f"{programs.source}: {bad[:5]}"
        )
    en_cust = cust_index.get_indexer(en["customer_id"])
    en_on = (
        en["enrolled_on"].to_numpy(dtype="datetime64[ns]")
        if "enrolled_on" in en.columns
        else np.full(len(en), np.datetime64("NaT"), dtype="datetime64[ns]")
    )
    en_base = (
        en["baseline"].to_numpy(dtype=float)
        if "baseline" in en.columns
        else np.full(len(en), np.nan)
    )
    in_set = np.flatnonzero(en_prog >= 0)  # enrollments of programs outside the set wait
    en_rows = np.split(
        in_set[np.argsort(en_prog[in_set], kind="stable")],
        np.cumsum(np.bincount(en_prog[in_set], minlength=len(programs)))[:-1],
    )
    group = cu["buying_group"].astype("string")
    has_group = (group.notna() & (group.str.len() > 0)).fillna(False).to_numpy(dtype=bool)
    pool_of = np.where(has_group, group.to_numpy(dtype=object), cust_ids)
    parts = []
    for pi, p in enumerate(programs):
        elig = customer_eligibility(data, p)
        rows = en_rows[pi]
        codes = en_cust[rows]
        enrolled_on = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
        baseline = np.full(n, np.nan)
        enrolled_on[codes] = en_on[rows]
        baseline[codes] = en_base[rows]
        if p.variant_of is not None:
            member = np.zeros(n, bool)
            vcodes = cust_index.get_indexer(list(p.customers_only))
            if (vcodes < 0).any():
                bad = [c for c, k in zip(p.customers_only, vcodes, strict=True) if k < 0]
                raise ProgramFileError(
                    f"{programs.source}: program {p.id}: field customers_only: unknown "
                    f"customers {bad[:5]}"
                )
            member[vcodes] = True
            # the parent's enrollment rows of these customers, where the variant has none
            under_parent = np.flatnonzero(en_program == p.variant_of)
            inherit = under_parent[
                np.isin(en_cust[under_parent], vcodes) & ~np.isin(en_cust[under_parent], codes)
            ]
            enrolled_on[en_cust[inherit]] = en_on[inherit]
            baseline[en_cust[inherit]] = en_base[inherit]
            stray = np.setdiff1d(codes, vcodes)
            if len(stray):
                raise ProgramFileError(
                    f"{data.source}: enrollments: program {p.id}: customers "
                    f"{list(cust_ids[stray][:5])} are not in its customers_only list"
                )
            check = member
        elif p.enrollment == "automatic":
            member = elig.copy()
            check = np.zeros(n, bool)
        else:
            member = np.zeros(n, bool)
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
        pooled = p.pool == "buying_group"
        parts.append((pi, idx, pooled, enrolled_on[idx], baseline[idx]))
    if not parts:
        return pd.DataFrame()
    pidx = np.concatenate([np.full(len(x[1]), x[0], dtype=np.int64) for x in parts])
    code = np.concatenate([x[1] for x in parts]).astype(np.int64)
    pooled = np.concatenate([np.full(len(x[1]), x[2]) for x in parts])
    ids = pd.array(cust_ids, dtype="string")
    pools = pd.array(np.concatenate([cust_ids, pool_of]), dtype="string")
    out = pd.DataFrame(
        {
            "program_id": pd.array(list(programs.ids), dtype="string").take(pidx),
            "program_idx": pidx,
            "customer_id": ids.take(code),
            "customer_code": code,
            "pool_id": pools.take(code + n * pooled),
            "enrolled_on": np.concatenate([x[3] for x in parts]),
            "baseline_given": np.concatenate([x[4] for x in parts]),
        }
    )
    data.cache[key] = (programs, out)
    return out
