"""Stage one over a :class:`~rebatelab.engine.backends.store.LineStore`: grouped sums in SQL.

Every result is a grouped sum over the store's table of codes, joined only to small tables:

- ``rl_mc``: one row per (member, accepted product class) with the member's customer code
  and its windows (period from its enrollment day, baseline, previous year's period). The
  lines meet it on (customer, class), so a line pairs only with the members whose program
  counts it: the pairs are the counted lines, not lines x programs.
- ``rl_seg``: day -> segment between consecutive program period bounds; the reconciliation
  sums lines per (customer, segment) and each program adds up the segments of its period.

The members, the product classes (products with the same eligibility in every program) and
the windows come from the in-memory path's functions, so both paths count the same lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebatelab.engine.backends.store import TABLE, LineStore, line_store
from rebatelab.engine.eligibility import customer_eligibility, members, product_eligibility
from rebatelab.engine.lines import _EPOCH, to_day
from rebatelab.engine.reconciliation import (
    EXCLUSION_REASONS,
    SegmentSums,
    reconcile_segments,
    segment_bounds,
)
from rebatelab.engine.reduction import MICRO, from_micro
from rebatelab.engine.sums import SUM_DECIMALS, _period_days, _product_classes
from rebatelab.programs.terms import ProgramSet

__all__ = ["reduce_files", "period_and_baseline", "store_customer_daily", "store_reconciliation"]


_INT_MIN = np.iinfo(np.int64).min


def _member_table(data, programs: ProgramSet, mem: pd.DataFrame, as_of, last_end):
    """Per member row: program, customer code, and its period / baseline / prior windows."""
    pidx = mem["program_idx"].to_numpy(dtype=np.int64)
    pw = np.array([_period_days(p, as_of) for p in programs], dtype=np.int64).reshape(-1, 2)
    bw = np.array([_period_days(p, as_of, 1) for p in programs], dtype=np.int64).reshape(-1, 2)
    rw = np.array([_period_days(p, last_end, 1) for p in programs], dtype=np.int64).reshape(-1, 2)
    from_day = np.full(len(mem), _INT_MIN, dtype=np.int64)
    eo = mem["enrolled_on"].to_numpy(dtype="datetime64[ns]")
    has = ~np.isnat(eo)
    from_day[has] = to_day(eo[has])
    return pd.DataFrame(
        {
            "member": np.arange(len(mem), dtype=np.int64),
            "cust": mem["customer_code"].to_numpy(dtype=np.int32),
            "pf": np.maximum(pw[pidx, 0], from_day),
            "pl": pw[pidx, 1],
            "bf": bw[pidx, 0],
            "bl": bw[pidx, 1],
            "rf": rw[pidx, 0],
            "rl": rw[pidx, 1],
        }
    ), pidx


def _classes(data, programs: ProgramSet):
    elig = np.stack([product_eligibility(data, p) for p in programs])
    cls_of_prod, cls_elig = _product_classes(elig)
    return elig, cls_of_prod, cls_elig > 0


def _table(store: LineStore, name: str, frame: pd.DataFrame) -> None:
    """A small frame as a DuckDB table (with statistics: joins build their hash on it)."""
    store.register(f"{name}_frame", frame)
    store.query(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_frame")
    store.con.unregister(f"{name}_frame")


def _register_joins(
    store: LineStore, mt: pd.DataFrame, pidx, cls_of_prod, cls_ok, *, windows: bool = True
) -> None:
    """``rl_pcls`` (product -> class) and ``rl_mc`` (member x accepted class, with windows).

    Without ``windows`` ``rl_mc`` has only ``member, cust, cls`` (the windows applied after).
    """
    n_prod = store.n_products
    _table(
        store,
        "rl_pcls",
        pd.DataFrame(
            {
                "prod": np.arange(n_prod, dtype=np.int32),
                "cls": cls_of_prod[:n_prod].astype(np.int32),
            }
        ),
    )
    # each member's row repeated for every class its program accepts (no loop over members)
    per_prog = cls_ok.sum(axis=1).astype(np.int64)
    flat = np.flatnonzero(cls_ok.ravel()) % cls_ok.shape[1]  # accepted classes, by program
    offset = np.concatenate([[0], np.cumsum(per_prog)[:-1]]) if len(per_prog) else per_prog
    counts = per_prog[pidx]
    rows = np.repeat(np.arange(len(mt)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    cls = flat[np.repeat(offset[pidx], counts) + np.arange(len(rows)) - first].astype(np.int32)
    cols = list(mt.columns) if windows else ["member", "cust"]
    mc = {c: mt[c].to_numpy()[rows] for c in cols}
    mc = pd.DataFrame({"member": mc.pop("member"), "cust": mc.pop("cust"), "cls": cls, **mc})
    _table(store, "rl_mc", mc)


_SUMS = """
    sum(net) FILTER (WHERE day BETWEEN {f} AND {l}) AS {k}_net,
    sum(qty) FILTER (WHERE day BETWEEN {f} AND {l}) AS {k}_qty,
    {count} FILTER (WHERE day BETWEEN {f} AND {l}) AS {k}_n"""


def _window_sums(keys, count: str) -> str:
    return ",".join(_SUMS.format(f=f"{k[0]}f", l=f"{k[0]}l", k=k, count=count) for k in keys)


def _frames(mem: pd.DataFrame, res: dict, keys) -> dict[str, pd.DataFrame]:
    """Period-sum frames (members + net_amount, quantity, n_lines) from per-member results."""
    out = {}
    rows = np.asarray(res["member"], dtype=np.int64)
    for k in keys:
        sums = {c: np.zeros(len(mem)) for c in ("net", "qty", "n")}
        for c in sums:
            v = np.asarray(res[f"{k}_{c}"], dtype=float)
            sums[c][rows] = np.nan_to_num(v, nan=0.0)
        f = mem.copy(deep=False)
        f["net_amount"] = np.round(sums["net"], SUM_DECIMALS)
        f["quantity"] = np.round(sums["qty"], SUM_DECIMALS)
        f["n_lines"] = np.round(sums["n"]).astype(np.int64)
        out[k] = f
    return out


def period_and_baseline(data, programs: ProgramSet, as_of) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Period sums and growth-baseline sums of the members, in one pass over the lines.

    What :func:`rebatelab.accrue` needs (``Reduction.period`` and ``Reduction.baseline``).
    """
    store = line_store(data)
    mem = members(data, programs)
    as_of = pd.Timestamp(as_of).normalize()
    mt, pidx = _member_table(data, programs, mem, as_of, as_of)
    _, cls_of_prod, cls_ok = _classes(data, programs)
    _register_joins(store, mt, pidx, cls_of_prod, cls_ok)
    lo = int(min(mt["bf"].min(), mt["pf"].min())) if len(mt) else 0
    hi = int(max(mt["bl"].max(), mt["pl"].max())) if len(mt) else -1
    res = store.query(
        f"""
        SELECT m.member, {_window_sums(["p", "b"], "count(*)")}
        FROM (SELECT t.cust, t.day, t.net, t.qty, c.cls FROM {TABLE} t
              JOIN rl_pcls c ON c.prod = t.prod WHERE t.day BETWEEN {lo} AND {hi}) t
        JOIN rl_mc m ON m.cust = t.cust AND m.cls = t.cls
        GROUP BY m.member
        """
    ).fetchnumpy()
    frames = _frames(mem, res, ["p", "b"])
    return frames["p"], frames["b"]


#: A line's amounts in integer millionths, rounded half to even like
#: :func:`rebatelab.engine.reduction.to_micro`: integer sums are exact in any order.
_MICRO_NET = f"CAST(round_even(t.net * {MICRO}, 0) AS BIGINT)"
_MICRO_QTY = f"CAST(round_even(t.qty * {MICRO}, 0) AS BIGINT)"


def reduce_files(data, programs: ProgramSet, as_of, *, members_only: bool = False, **options):
    """:func:`rebatelab.engine.stage_one.reduce` of lines held in a line store.

    The daily sums are the exact sums of the amounts in millionths, as in
    :func:`rebatelab.engine.reduction.daily_sums`, and the period, baseline and prior sums
    are exact sums of these: both paths give the same bits. With ``members_only`` the
    candidates, their daily sums and ``customer_daily`` are None and only the members'
    lines are summed (what the accrual and the forecast read). ``options`` (DuckDB
    settings) apply when the store is opened here.
    """
    from rebatelab.engine.stage_one import Reduction, _candidate_rows, _last_end, required_auto

    store = line_store(data, **options)
    as_of = pd.Timestamp(as_of).normalize()
    last_end = _last_end(programs, as_of)
    mem = members(data, programs)
    auto = None if members_only else required_auto(programs)
    if auto is not None:
        auto_mem = members(data, auto)
        keep = _candidate_rows(mem, auto_mem, programs)
        cand = auto_mem[keep].reset_index(drop=True)
    else:
        cand = mem.iloc[:0].copy()
    both = pd.concat([mem, cand], ignore_index=True)
    mt, pidx = _member_table(data, programs, both, as_of, last_end)
    _, cls_of_prod, cls_ok = _classes(data, programs)
    _register_joins(store, mt, pidx, cls_of_prod, cls_ok, windows=False)
    as_day = to_day(as_of)
    hi = max(as_day, int(mt["rl"].max()) if len(mt) else as_day)
    d0 = min(store.first_day, hi) if store.n_lines else hi
    n_days = hi - d0 + 1
    # one integer key per (member, day): a one-column hash aggregate, sorted here after
    res = store.query(
        f"""
        SELECT md, CAST(sum(net) AS BIGINT) AS net, CAST(sum(qty) AS BIGINT) AS qty,
               CAST(sum(n) AS BIGINT) AS n_lines, count(*) AS n_invoices
        FROM (
            SELECT m.member::BIGINT * {n_days} + (t.day - {d0}) AS md, t.inv,
                   CAST(sum({_MICRO_NET}) AS BIGINT) AS net,
                   CAST(sum({_MICRO_QTY}) AS BIGINT) AS qty, count(*) AS n
            FROM {TABLE} t
            JOIN rl_pcls c ON c.prod = t.prod
            JOIN rl_mc m ON m.cust = t.cust AND m.cls = c.cls
            WHERE t.day <= {hi}
            GROUP BY ALL
        )
        GROUP BY md
        """
    ).fetchnumpy()
    key = np.asarray(res.pop("md"), dtype=np.int64)
    order = np.argsort(key)
    key = key[order]
    md = {"member": key // n_days, "day": key % n_days + d0}
    for k in ("net", "qty", "n_lines", "n_invoices"):
        md[k] = np.asarray(res.pop(k), dtype=np.int64)[order]
    del res, order
    frames = _window_frames(both, mt, md, key, n_days, d0)
    m = len(mem)
    period = frames["p"].iloc[:m].reset_index(drop=True)
    del key
    if hi > as_day:  # a previous-year period ends after as_of: those days are not history
        upto = md["day"] <= as_day
        md = {k: v[upto] for k, v in md.items()}
    daily, cand_daily = _daily_frames(both, m, md)
    del md
    first, last = store.first_date, store.last_date
    return Reduction(
        programs=programs,
        as_of=as_of,
        members=mem,
        period=period,
        baseline=frames["b"].iloc[:m].reset_index(drop=True),
        prior=frames["r"].iloc[:m].reset_index(drop=True),
        daily=daily,
        customer_daily=None if members_only else store_customer_daily(data, as_of=as_of),
        reconciliation=store_reconciliation(data, programs, as_of=as_of, sums=period, mem=mem),
        candidates=None if members_only else frames["p"].iloc[m:].reset_index(drop=True),
        candidate_daily=None if members_only else cand_daily,
        customers=data.customers,
        products=data.products,
        enrollments=data.enrollments,
        payments=data.payments,
        first_date=first,
        last_date=last,
        source=data.source,
    )


def _window_frames(both: pd.DataFrame, mt: pd.DataFrame, md: dict, key, n_days: int, d0: int):
    """Period / baseline / prior sums per member from its per-day sums.

    ``key`` is ``member * n_days + day - d0`` of the per-day sums, sorted: each member's
    window is one slice of it, and its sums a difference of running sums. Integer sums of
    the daily millionths: exact, so equal to the in-memory path's float sums rounded to
    :data:`SUM_DECIMALS` decimals (for amounts with up to 6 decimals).
    """
    n = len(both)
    base = np.arange(n, dtype=np.int64) * n_days - d0
    run = {}
    for col in ("net", "qty", "n_lines"):  # int64 running sums: differences stay exact
        run[col] = np.zeros(len(key) + 1, dtype=np.int64)
        np.cumsum(md[col], out=run[col][1:])
    out = {}
    for k in ("p", "b", "r"):
        f = mt[f"{k}f"].to_numpy(dtype=np.int64)
        la = mt[f"{k}l"].to_numpy(dtype=np.int64)
        # an open start (no enrollment day) is the member's first day
        lo = np.searchsorted(key, base + np.maximum(f, d0), side="left")
        hi = np.searchsorted(key, base + np.minimum(la, d0 + n_days - 1), side="right")
        hi = np.maximum(hi, lo)  # an empty window (last < first)
        frame = both.copy(deep=False)
        frame["net_amount"] = from_micro(run["net"][hi] - run["net"][lo])
        frame["quantity"] = from_micro(run["qty"][hi] - run["qty"][lo])
        frame["n_lines"] = run["n_lines"][hi] - run["n_lines"][lo]
        out[k] = frame
    return out


def _daily_frames(both: pd.DataFrame, m: int, res: dict):
    """The members' and the candidates' daily sums (``res`` sorted by member, day)."""
    split = int(np.searchsorted(res["member"], m))

    def frame(rows: slice, shift: int) -> pd.DataFrame:
        member = np.asarray(res["member"][rows], dtype=np.int64)
        day = np.asarray(res["day"][rows], dtype=np.int64)
        out = {
            c: pd.array(both[c], dtype="string").take(member)
            for c in ("program_id", "customer_id", "pool_id")
        }
        out["member"] = member - shift
        out["date"] = (_EPOCH + day.astype("timedelta64[D]")).astype("datetime64[ns]")
        out["net_amount"] = from_micro(res["net"][rows])
        out["quantity"] = from_micro(res["qty"][rows])
        out["n_lines"] = np.asarray(res["n_lines"][rows], dtype=np.int64)
        out["n_invoices"] = np.asarray(res["n_invoices"][rows], dtype=np.int64)
        return pd.DataFrame(out)

    return frame(slice(0, split), 0), frame(slice(split, None), m)


def store_customer_daily(data, *, as_of) -> pd.DataFrame:
    """:func:`rebatelab.engine.stage_one.customer_daily` of lines held in a line store."""
    store = line_store(data)
    as_day = to_day(as_of)
    res = store.query(
        f"""
        SELECT cust, cid, day, sum(net) AS net, sum(qty) AS qty, sum(n) AS n_lines,
               count(*) AS n_invoices
        FROM (SELECT cust, cid, day, inv, sum(net) AS net, sum(qty) AS qty, count(*) AS n
              FROM {TABLE} WHERE day <= {as_day} GROUP BY ALL)
        GROUP BY ALL ORDER BY cust NULLS LAST, cid, day
        """
    ).fetchnumpy()
    cust = res["cust"]
    known = ~np.ma.getmaskarray(cust) if np.ma.isMaskedArray(cust) else ~pd.isna(cust)
    code = np.where(known, np.ma.filled(cust, 0) if np.ma.isMaskedArray(cust) else cust, 0)
    code = np.asarray(code, dtype=np.int64)
    # without customers no code is known: the placeholder is never picked
    known_ids = (
        store.customer_ids[code] if len(store.customer_ids) else np.full(len(code), None, object)
    )
    ids = np.where(known, known_ids, _text(res["cid"]))
    day = np.asarray(res["day"], dtype=np.int64)
    return pd.DataFrame(
        {
            "customer_id": pd.array(ids.astype(object), dtype="string"),
            "date": (_EPOCH + day.astype("timedelta64[D]")).astype("datetime64[ns]"),
            "net_amount": np.asarray(res["net"], dtype=float),
            "quantity": np.asarray(res["qty"], dtype=float),
            "n_lines": np.asarray(res["n_lines"], dtype=np.int64),
            "n_invoices": np.asarray(res["n_invoices"], dtype=np.int64),
        }
    )


def _text(values) -> np.ndarray:
    if np.ma.isMaskedArray(values):
        return np.ma.filled(values.astype(object), None)
    return np.asarray(values, dtype=object)


def _codes(values) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and a known mask from a DuckDB column that may hold NULLs."""
    if np.ma.isMaskedArray(values):
        known = ~np.ma.getmaskarray(values)
        return np.asarray(np.ma.filled(values, 0), dtype=np.int64), known
    arr = np.asarray(values)
    if arr.dtype == object:
        known = ~pd.isna(arr)
        return np.where(known, arr, 0).astype(np.int64), known
    return arr.astype(np.int64), np.ones(len(arr), bool)


def store_reconciliation(
    data, programs: ProgramSet, *, as_of, sums: pd.DataFrame, mem: pd.DataFrame | None = None
) -> pd.DataFrame:
    """:func:`rebatelab.engine.reconciliation.reconcile` of lines held in a line store.

    One grouped sum per (customer, segment) (see
    :func:`rebatelab.engine.reconciliation.reconcile_segments`), and one join on the
    late-enrolled members for their lines before enrollment.

    Parameters
    ----------
    sums : DataFrame
        The period sums of ``programs`` (counted lines).
    mem : DataFrame, optional
        ``members(data, programs)``, when the caller has it.
    """
    store = line_store(data)
    as_of = pd.Timestamp(as_of).normalize()
    windows, bounds = segment_bounds(programs, as_of)
    n_cust = store.n_customers
    if bounds is None:
        return reconcile_segments(data, programs, as_of, sums=sums, parts=None)
    days = np.arange(bounds[0], bounds[-1], dtype=np.int64)
    store.register(
        "rl_seg",
        pd.DataFrame(
            {
                "day": days.astype(np.int32),
                "seg": (np.searchsorted(bounds, days, side="right") - 1).astype(np.int32),
            }
        ),
    )
    res = store.query(
        f"""
        SELECT t.cust, s.seg, (t.prod IS NULL) AS up, count(*) AS n, sum(t.net) AS net,
               sum(t.qty) AS qty
        FROM {TABLE} t JOIN rl_seg s ON s.day = t.day
        GROUP BY ALL
        """
    ).fetchnumpy()
    n_seg = len(bounds) - 1
    cust, known = _codes(res["cust"])
    seg = np.asarray(res["seg"], dtype=np.int64)
    up = np.asarray(res["up"], dtype=bool)
    vals = {
        "n": np.asarray(res["n"], dtype=float),
        "net": np.asarray(res["net"], dtype=float),
        "qty": np.asarray(res["qty"], dtype=float),
    }
    kk = known & ~up
    parts = SegmentSums(
        bounds=bounds,
        grid={k: np.zeros((n_cust, n_seg)) for k in vals},
        unknown_customer={k: np.zeros(n_seg) for k in vals},
        unknown_product={k: np.zeros(n_seg) for k in vals},
        before=_before_enrollment(store, members(data, programs) if mem is None else mem, windows),
    )
    for k, v in vals.items():
        np.add.at(parts.grid[k], (cust[kk], seg[kk]), v[kk])
        np.add.at(parts.unknown_customer[k], seg[~known], v[~known])
        np.add.at(parts.unknown_product[k], seg[known & up], v[known & up])
    return reconcile_segments(data, programs, as_of, sums=sums, parts=parts)


def _before_enrollment(store: LineStore, mem: pd.DataFrame, windows) -> dict:
    """Per program: the known-product lines of late-enrolled members before enrollment."""
    if not len(mem):
        return {}
    eo = mem["enrolled_on"].to_numpy(dtype="datetime64[ns]")
    has = ~np.isnat(eo)
    if not has.any():
        return {}
    pidx = mem["program_idx"].to_numpy(dtype=np.int64)
    win = np.asarray(windows, dtype=np.int64).reshape(-1, 2)
    from_day = np.full(len(mem), _INT_MIN, dtype=np.int64)
    from_day[has] = to_day(eo[has])
    f, la = win[pidx, 0], win[pidx, 1]
    late = has & (from_day > f) & (la >= f)
    if not late.any():
        return {}
    store.register(
        "rl_late",
        pd.DataFrame(
            {
                "pi": pidx[late],
                "cust": mem["customer_code"].to_numpy(dtype=np.int32)[late],
                "f": f[late],
                "b": np.minimum(from_day[late] - 1, la[late]),
            }
        ),
    )
    res = store.query(
        f"""
        SELECT w.pi, count(*) AS n, sum(t.net) AS net, sum(t.qty) AS qty
        FROM {TABLE} t JOIN rl_late w ON t.cust = w.cust
        WHERE t.prod IS NOT NULL AND t.day BETWEEN w.f AND w.b
        GROUP BY w.pi
        """
    ).fetchnumpy()
    out = {}
    for i, pi in enumerate(np.asarray(res["pi"], dtype=np.int64)):
        out[int(pi)] = {
            "n": float(res["n"][i]),
            "net": float(res["net"][i]),
            "qty": float(res["qty"][i]),
        }
    return out


def export_exclusions(data, programs: ProgramSet, as_of, path, *, fmt: str = "csv") -> int:
    """Write every (line, program) pair that did not count, streamed by DuckDB ``COPY``.

    The columns of :func:`rebatelab.engine.reconciliation.exclusions` (``row`` is the line
    number over the files, from 0), in no particular order. Memory stays bounded whatever
    the number of pairs: DuckDB writes them as they are produced.

    Parameters
    ----------
    path : str or Path
        The file to write.
    fmt : {"csv", "parquet"}

    Returns
    -------
    int
        Pairs written.
    """
    store = line_store(data)
    as_of = pd.Timestamp(as_of).normalize()
    plist = list(programs)
    mem = members(data, programs)
    n_cust = store.n_customers
    cust_index = pd.Index(data.customers["customer_id"])
    live, status, elig_rows = [], [], []
    mem_pidx = mem["program_idx"].to_numpy(dtype=np.int64)
    mem_code = mem["customer_code"].to_numpy(dtype=np.int64)
    eo = mem["enrolled_on"].to_numpy(dtype="datetime64[ns]")
    mem_from = np.full(len(mem), _INT_MIN, dtype=np.int64)
    mem_from[~np.isnat(eo)] = to_day(eo[~np.isnat(eo)])
    for pi, p in enumerate(plist):
        f, la = _period_days(p, as_of)
        if la < f:
            continue
        live.append((pi, p.id, f, la))
        st = np.where(customer_eligibility(data, p), 3, 2).astype(np.int8)  # 3: not enrolled
        for v in programs.variants_of(p.id):
            vi = cust_index.get_indexer(list(v.customers_only or ()))
            st[vi] = np.where(st[vi] == 2, 2, 4)
        fd = np.full(n_cust, _INT_MIN, dtype=np.int64)
        mine = mem_pidx == pi
        st[mem_code[mine]] = 9
        fd[mem_code[mine]] = mem_from[mine]
        status.append(pd.DataFrame({"pi": pi, "cust": np.arange(n_cust), "status": st, "fd": fd}))
        ok = product_eligibility(data, p)[: store.n_products]
        elig_rows.append(pd.DataFrame({"pi": pi, "prod": np.flatnonzero(ok)}))
    if not live:  # nothing in a period yet: an empty file with the columns
        status = [pd.DataFrame({"pi": [0], "cust": [0], "status": [9], "fd": [0]})]
        elig_rows = [pd.DataFrame({"pi": [0], "prod": [0]})]
        live = [(-1, "", 1, 0)]
    store.register(
        "rl_xp", pd.DataFrame(live, columns=["pi", "program_id", "f", "l"]).astype({"pi": int})
    )
    store.register("rl_xs", pd.concat(status, ignore_index=True))
    store.register("rl_xe", pd.concat(elig_rows, ignore_index=True).assign(ok=True))
    reasons = ", ".join(f"'{r}'" for r in EXCLUSION_REASONS)
    sql = f"""
        SELECT t.row, x.program_id, CAST(CASE
                 WHEN t.cust IS NULL THEN 'unknown_customer'
                 WHEN t.prod IS NULL THEN 'unknown_product'
                 WHEN s.status = 2 THEN 'customer_not_eligible'
                 WHEN s.status = 3 THEN 'customer_not_enrolled'
                 WHEN s.status = 4 THEN 'customer_in_variant'
                 WHEN t.day < s.fd THEN 'before_enrollment'
                 WHEN e.ok IS NULL THEN 'product_not_eligible'
               END AS ENUM ({reasons})) AS reason,
               t.invoice_id, t.date, t.customer_id, t.product_id, t.quantity, t.net_amount
        FROM ({store.numbered()}) t
        JOIN rl_xp x ON t.day BETWEEN x.f AND x.l
        LEFT JOIN rl_xs s ON s.pi = x.pi AND s.cust = t.cust
        LEFT JOIN rl_xe e ON e.pi = x.pi AND e.prod = t.prod
        WHERE t.cust IS NULL OR t.prod IS NULL OR s.status < 9 OR t.day < s.fd OR e.ok IS NULL
    """
    target = str(path).replace("'", "''")
    options = "FORMAT PARQUET" if fmt == "parquet" else "FORMAT CSV, HEADER"
    got = store.query(f"COPY ({sql}) TO '{target}' ({options})").fetchone()
    return int(got[0]) if got else 0
