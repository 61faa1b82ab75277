"""Benchmarks: rebatelab against DuckDB SQL, naive pandas, a lower bound; out of core; downstream.

Usage::

    python benchmarks/run.py            # 1M and 10M lines (about 15 minutes on 2 cores)
    python benchmarks/run.py --quick    # 1M lines only (about 3 minutes)

Every measurement runs in its own subprocess, so that its peak memory (the growth of the
process's resident set while the measured call runs, read from ``/proc/self/status`` after
resetting the high-water mark) is its own. Each configuration's data is generated once
(``benchmarks/generate.py``: vectorized, seconds for 10M lines), written to Parquet and read
back by each subprocess. Timings are wall-clock seconds; "cold" is the first call on a fresh
data object (integer-coding the lines, building the memberships), "warm" the best of the
following calls (codes cached on the data object, as in a notebook or a widget session).

Writes ``benchmarks/results/latest.md`` (and ``.json``) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

FULL = [
    (1_000_000, 10_000, 50),
    (1_000_000, 100_000, 300),
    (10_000_000, 10_000, 50),
    (10_000_000, 100_000, 300),
]
QUICK = FULL[:2]
#: Downstream benchmarks: about 100k accrual rows (25k customers x 4 programs each).
DOWNSTREAM = (2_000_000, 25_000, 40)
WIDGET_CUSTOMERS = 50_000


# ------------------------------------------------------------------------------ measuring
def _status(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def measure(fn, *, repeat: int = 1):
    """Run ``fn`` ``repeat`` times: (first time, best time, peak RSS growth [bytes], result)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak RSS (VmHWM) to the current RSS
    except OSError:
        pass
    before = _status("VmRSS")
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    peak = _status("VmHWM") - before
    return times[0], min(times), max(peak, 0), result


def traced_peak(fn) -> int:
    """Peak of the memory Python and numpy allocate during ``fn()`` [bytes] (tracemalloc).

    The growth of the resident set misses allocations that reuse memory freed earlier (by
    the Parquet reader, say); tracemalloc sees every numpy and Python allocation, though not
    DuckDB's or Arrow's own. The benchmark reports the larger of the two.
    """
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def load_folder(folder: Path):
    """The benchmark data folder as a RebateData (frames already typed: no validation)."""
    import numpy as np
    import pandas as pd

    from rebatelab.data.tables import RebateData

    tx = pd.read_parquet(folder / "transactions.parquet")
    cu = pd.read_parquet(folder / "customers.parquet")
    pr = pd.read_parquet(folder / "products.parquet")
    en = pd.read_parquet(folder / "enrollments.parquet")
    en["enrolled_on"] = pd.Series(pd.NaT, index=en.index, dtype="datetime64[ns]")
    en["baseline"] = np.nan
    data = RebateData(transactions=tx, customers=cu, products=pr, enrollments=en)
    return data, (folder / "programs.yaml").read_text()


USED = ["date", "customer_id", "product_id", "quantity", "net_amount"]


# ------------------------------------------------------------------------------ workers
def worker(method: str, folder: Path, repeat: int) -> dict:
    """One measurement in this process; returns a JSON-able dict."""
    import numpy as np
    from generate import AS_OF

    import rebatelab as rl

    data, yaml_text = load_folder(folder)
    programs = rl.load_programs(yaml_text)
    used = int(data.transactions[USED].memory_usage(deep=True, index=False).sum())
    out = {"method": method, "columns_bytes": used}
    if method == "rebatelab":
        cold, _, peak, acc = measure(lambda: rl.accrue(data, programs, AS_OF))
        _, warm, _, _ = measure(lambda: rl.accrue(data, programs, AS_OF), repeat=repeat)
        _, out["reduce_warm"], _, _ = measure(
            lambda: rl.period_sums(data, programs, as_of=AS_OF), repeat=repeat
        )
        data.cache.clear()  # the cold call again, traced
        traced = traced_peak(lambda: rl.accrue(data, programs, AS_OF))
        out.update(cold=cold, warm=warm, peak=max(peak, traced), rss_peak=peak, rows=len(acc))
    elif method == "rebatelab_duckdb":
        cold, warm, peak, acc = measure(
            lambda: rl.accrue(data, programs, AS_OF, backend="duckdb"), repeat=repeat
        )
        out.update(cold=cold, warm=warm, peak=peak, rows=len(acc))
    elif method in ("duckdb", "pandas"):
        import competitors as c
        import duckdb

        tabs = c.analyst_tables(data, programs, AS_OF)
        tx = data.transactions
        if method == "duckdb":
            con = duckdb.connect()  # on the DataFrames as they are (replacement scans)
            c.duckdb_load(con, tx, *tabs, native=False)
            out["frames"], _, out["frames_peak"], _ = measure(lambda: c.duckdb_accrue(con))
            con.close()
            con = duckdb.connect()  # loaded into DuckDB tables first: cold = load + query

            def load_and_query():
                c.duckdb_load(con, tx, *tabs, native=True)
                return c.duckdb_accrue(con)

            cold, _, peak, res = measure(load_and_query)
            _, warm, peak2, res = measure(lambda: c.duckdb_accrue(con), repeat=repeat)
            peak = max(peak, peak2)
        else:
            cold, warm, peak, res = measure(lambda: c.pandas_accrue(tx, *tabs), repeat=1)
        out.update(cold=cold, warm=warm, peak=peak, rows=len(res))
        acc = rl.accrue(data, programs, AS_OF)
        out["check"] = _check(acc, res)
    elif method == "lower_bound":
        from rebatelab.engine.lines import prepare_lines

        lines = prepare_lines(data)  # prepared integer codes (not timed)
        n = lines.n_customers + 1
        cold, warm, peak, _ = measure(
            lambda: np.bincount(lines.customer, weights=lines.net_amount, minlength=n),
            repeat=max(repeat, 5),
        )
        out.update(cold=cold, warm=warm, peak=peak, rows=n)
    else:
        raise SystemExit(f"unknown method {method}")
    return out


def _check(acc, res) -> str:
    """Compare a competitor's result with rebatelab's: basis and tier exact, earned in cents."""
    import numpy as np

    key = ["program_id", "customer_id"]

    def norm(df):
        df = df.assign(program_id=df["program_id"].astype(str))
        return df.assign(customer_id=df["customer_id"].astype(str)).set_index(key)

    a = norm(acc)
    o = norm(res).reindex(a.index)
    basis = float(np.abs(o["basis"] - a["basis"]).max())
    tier = int((o["tier"] != a["tier"]).sum())
    earned = float(np.nanmax(np.abs(o["earned"] - a["earned"]))) if len(a) else 0.0
    return (
        f"rows {len(o)}/{len(a)}, max |basis diff| {basis:.2g}, tier mismatches {tier}, "
        f"max |earned diff| {earned:.2f}"
    )


def worker_out_of_core(folder: Path, limit: str) -> dict:
    """Lazy lines (Parquet parts) reduced by DuckDB under a memory limit."""
    from generate import AS_OF

    import rebatelab as rl

    programs = rl.load_programs((folder / "programs.yaml").read_text())
    t = time.perf_counter()
    load_t, _, load_peak, data = measure(
        lambda: rl.load_data(folder, lines="lazy", memory_limit=limit)
    )
    cold, warm, peak, acc = measure(
        lambda: rl.accrue(
            data,
            programs,
            AS_OF,
            backend="duckdb",
            memory_limit=limit,
            threads=2,
            temp_directory=str(folder / "spill"),
        )  # fmt: skip
    )
    return {
        "method": "out_of_core",
        "load": load_t,
        "load_peak": load_peak,
        "cold": cold,
        "peak": peak,
        "rows": len(acc),
        "total": time.perf_counter() - t,
        "rss_end": _status("VmRSS"),
    }


def worker_downstream(repeat: int) -> dict:
    """forecast, opportunities, liability on ~100k rows; a widget recompute on 50k customers."""
    import warnings

    from generate import AS_OF, make_data

    import rebatelab as rl
    from rebatelab.data.tables import RebateData

    out = {"method": "downstream"}
    n_lines, n_c, n_p = DOWNSTREAM
    tx, cu, pr, en, y = make_data(n_lines, n_c, n_p, seed=3)
    data = RebateData.from_frames(tx, cu, pr, en)
    programs = rl.load_programs(y)
    cold, warm, peak, acc = measure(lambda: rl.accrue(data, programs, AS_OF), repeat=repeat)
    out["accrue"] = dict(cold=cold, warm=warm, peak=peak, rows=len(acc), lines=n_lines)
    try:
        from rebatelab.forecasting.projection import forecast
    except ImportError as exc:
        out["forecast"] = f"skipped: {exc}"
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cold, _, peak, fc = measure(lambda: forecast(data, programs, AS_OF))
    out["forecast"] = dict(cold=cold, warm=cold, peak=peak, rows=len(fc))
    try:
        from rebatelab.review.opportunities import opportunities

        cold, warm, peak, opp = measure(
            lambda: opportunities(acc, fc, data=data, programs=programs, as_of=AS_OF),
            repeat=repeat,
        )
        out["opportunities"] = dict(cold=cold, warm=warm, peak=peak, rows=len(opp))
    except ImportError as exc:
        out["opportunities"] = f"skipped: {exc}"
    try:
        from rebatelab.finance.liability import liability

        cold, warm, peak, _ = measure(lambda: liability(acc, fc, programs=programs), repeat=repeat)
        out["liability"] = dict(cold=cold, warm=warm, peak=peak, rows=len(acc))
    except ImportError as exc:
        out["liability"] = f"skipped: {exc}"
    out["widget"] = _widget(repeat)
    return out


def _widget(repeat: int):
    """OpportunityReview on 50k customers: time one filter change (the recompute)."""
    import warnings

    try:
        from rebatelab.widgets import OpportunityReview
    except ImportError as exc:
        return f"skipped: {exc}"
    from generate import AS_OF, make_data

    from rebatelab.data.tables import RebateData

    tx, cu, pr, en, y = make_data(2_000_000, WIDGET_CUSTOMERS, 50, seed=4)
    data = RebateData.from_frames(tx, cu, pr, en)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        view = OpportunityReview(data, y, as_of=AS_OF)
    reps = [o for o in view.rep.options if o != view.rep.value][: max(repeat, 2)]

    def change(rep):
        view.rep.value = rep  # the observer runs refresh(): re-rank, table, drill-down

    times = []
    for r in reps:
        t, _, peak, _ = measure(lambda r=r: change(r))
        times.append((t, peak))
    return dict(
        cold=times[0][0],
        warm=min(t for t, _ in times),
        peak=max(p for _, p in times),
        rows=len(view.accrual),
        customers=WIDGET_CUSTOMERS,
    )


# ------------------------------------------------------------------------------ driver
def run_worker(args: list[str], timeout: float = 1800) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail)}
    return json.loads(res.stdout.strip().splitlines()[-1])


def fmt_s(x) -> str:
    if x is None:
        return "n/a"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def fmt_mb(x) -> str:
    return "n/a" if x is None else f"{x / 2**20:,.0f} MB"


def machine() -> str:
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor()
    mem = 0
    try:
        with open("/proc/meminfo") as fh:
            mem = int(fh.readline().split()[1]) * 1024
    except OSError:
        pass
    import duckdb
    import numpy
    import pandas

    return (
        f"{cpu}, {os.cpu_count()} cores, {mem / 2**30:.0f} GB RAM, {platform.system()}; "
        f"Python {platform.python_version()}, numpy {numpy.__version__}, pandas "
        f"{pandas.__version__}, duckdb {duckdb.__version__}"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1M lines only")
    ap.add_argument("--repeat", type=int, default=3, help="warm repetitions (best is kept)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "latest.md")
    ap.add_argument("--pandas-limit", type=float, default=1e9,
                    help="skip naive pandas above this many lines x programs (10M x 300 "
                    "takes ~7 min)")  # fmt: skip
    ap.add_argument("--memory-limit", default="256MB", help="DuckDB limit, out-of-core run")
    ap.add_argument("--sizes", action="append", default=None,
                    help="LINES,CUSTOMERS,PROGRAMS (repeatable) instead")  # fmt: skip
    ap.add_argument("--no-downstream", action="store_true", help="skip forecast/review/widget")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        if args.worker == "out_of_core":
            res = worker_out_of_core(args.folder, args.memory_limit)
        elif args.worker == "downstream":
            res = worker_downstream(args.repeat)
        else:
            res = worker(args.worker, args.folder, args.repeat)
        print(json.dumps(res))
        return 0

    import generate as g

    configs = QUICK if args.quick else FULL
    if args.sizes:
        configs = [tuple(int(float(x)) for x in s.split(",")) for s in args.sizes]
    started = time.perf_counter()
    results = {"machine": machine(), "configs": [], "started": time.strftime("%Y-%m-%d %H:%M")}
    with tempfile.TemporaryDirectory(prefix="rebatelab-bench-") as tmp:
        for n_lines, n_c, n_p in configs:
            folder = Path(tmp) / f"{n_lines}_{n_c}_{n_p}"
            t = time.perf_counter()
            g.write(folder, *g.make_data(n_lines, n_c, n_p))
            gen = time.perf_counter() - t
            row = {"lines": n_lines, "customers": n_c, "programs": n_p, "generate": gen}
            methods = ["rebatelab", "rebatelab_duckdb", "duckdb", "lower_bound"]
            if n_lines * n_p <= args.pandas_limit:
                methods.insert(3, "pandas")
            else:
                row["pandas"] = {"skipped": f"lines x programs > {args.pandas_limit:g}"}
            for m in methods:
                print(f"[{time.perf_counter() - started:6.0f} s] {n_lines:,} lines, {n_c:,} "
                      f"customers, {n_p} programs: {m}", flush=True)  # fmt: skip
                row[m] = run_worker(["--worker", m, "--folder", str(folder),
                                     "--repeat", str(args.repeat)])  # fmt: skip
            results["configs"].append(row)
            write_results(results, args.out)
        # out of core: the largest configuration's lines as Parquet parts, under a limit
        n_lines, n_c, n_p = configs[-1]
        folder = Path(tmp) / "out_of_core"
        print(f"[{time.perf_counter() - started:6.0f} s] out of core, {n_lines:,} lines",
              flush=True)  # fmt: skip
        g.write(folder, *g.make_data(n_lines, n_c, n_p), parts=20)
        ooc = run_worker(["--worker", "out_of_core", "--folder", str(folder),
                          "--memory-limit", args.memory_limit])  # fmt: skip
        ooc.update(lines=n_lines, customers=n_c, programs=n_p, limit=args.memory_limit)
        ooc["parquet_bytes"] = sum(
            p.stat().st_size for p in (folder / "transactions").glob("*.parquet")
        )
        ref = next(r for r in results["configs"] if r["lines"] == n_lines and r["programs"] == n_p)
        ooc["columns_bytes"] = ref.get("rebatelab", {}).get("columns_bytes")
        results["out_of_core"] = ooc
    if not args.no_downstream:
        print(f"[{time.perf_counter() - started:6.0f} s] downstream", flush=True)
        results["downstream"] = run_worker(["--worker", "downstream", "--repeat", str(args.repeat)])
    results["elapsed"] = time.perf_counter() - started
    text = write_results(results, args.out)
    print(text)
    return 0


def _ratio(a, b) -> str:
    try:
        return f"{a / b:.2f}"
    except (TypeError, ZeroDivisionError):
        return "n/a"


def write_results(results: dict, out: Path) -> str:
    """Write the markdown table (and the raw JSON next to it); return the markdown."""
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {results['machine']}.  ",
        f"Run: {results['started']} UTC"
        + (f", {results['elapsed'] / 60:.1f} min in all." if "elapsed" in results else "."),
        "",
        "## accrue against DuckDB SQL, naive pandas and the lower bound",
        "",
        "Times are wall clock; *cold* = first call on a fresh data object, *warm* = best of "
        "the next calls. DuckDB SQL *cold* = loading the frames into DuckDB tables + the "
        "query, *warm* = best repeated query on those tables, *on frames* = the query run "
        "directly on the pandas DataFrames (one run). Ratios use warm times; "
        "`rl/DuckDB (cold)` compares the cold times. *period_sums warm* = the reduction "
        "of lines to per (program, customer) sums alone (what the lower bound compares "
        "with); accrue adds growth baselines, pools, tiers and the output frame. "
        "Peak = growth of "
        "the process's resident memory during the call or, if larger, the peak of the memory "
        "numpy and Python allocate during it (tracemalloc; rebatelab's cold call only: "
        "tracing slows pandas down tenfold); *columns* = the in-memory size of "
        "the transaction columns accrue uses (date, customer_id, product_id, quantity, "
        "net_amount).",
        "",
        "| lines | customers | programs | rows | rebatelab cold | rebatelab warm | "
        "period_sums warm | "
        "rl backend=duckdb | DuckDB SQL cold | DuckDB SQL warm | DuckDB SQL on frames | "
        "naive pandas | lower bound | rl/DuckDB | rl/DuckDB (cold) | naive/rl | "
        "rl/lower bound | period_sums/lower bound | rl peak / columns | DuckDB peak | "
        "pandas peak |",
        "|" + "---:|" * 21,
    ]
    for r in results["configs"]:
        rl_, dd, pdx, lb = (r.get(k, {}) for k in ("rebatelab", "duckdb", "pandas", "lower_bound"))
        rdd = r.get("rebatelab_duckdb", {})
        cols = rl_.get("columns_bytes")
        lines.append(
            f"| {r['lines']:,} | {r['customers']:,} | {r['programs']} | {rl_.get('rows', 'n/a')} "
            f"| {fmt_s(rl_.get('cold'))} | {fmt_s(rl_.get('warm'))} "
            f"| {fmt_s(rl_.get('reduce_warm'))} | {fmt_s(rdd.get('warm'))} "
            f"| {fmt_s(dd.get('cold'))} | {fmt_s(dd.get('warm'))} | {fmt_s(dd.get('frames'))} "
            f"| {fmt_s(pdx.get('warm'))} | {fmt_s(lb.get('warm'))} "
            f"| {_ratio(rl_.get('warm'), dd.get('warm'))} "
            f"| {_ratio(rl_.get('cold'), dd.get('cold'))} "
            f"| {_ratio(pdx.get('warm'), rl_.get('warm'))} "
            f"| {_ratio(rl_.get('warm'), lb.get('warm'))} "
            f"| {_ratio(rl_.get('reduce_warm'), lb.get('warm'))} "
            f"| {fmt_mb(rl_.get('peak'))} / {fmt_mb(cols)} = {_ratio(rl_.get('peak'), cols)} "
            f"| {fmt_mb(dd.get('peak'))} | {fmt_mb(pdx.get('peak'))} |"
        )
    lines += ["", "Checks of the competitors against rebatelab (same data):", ""]
    for r in results["configs"]:
        for k in ("duckdb", "pandas"):
            res = r.get(k, {})
            msg = res.get("check") or res.get("error") or res.get("skipped") or "not run"
            lines.append(f"- {r['lines']:,} lines, {r['programs']} programs, {k}: {msg}")
        for k in ("rebatelab", "rebatelab_duckdb", "lower_bound"):
            if "error" in r.get(k, {}):
                lines.append(f"- {r['lines']:,} lines, {k}: ERROR {r[k]['error']}")
    ooc = results.get("out_of_core")
    if ooc:
        lines += ["", "## Out of core: lines in Parquet parts, DuckDB under a memory limit", ""]
        if "error" in ooc:
            lines.append(f"ERROR: {ooc['error']}")
        else:
            lines += [
                f"{ooc['lines']:,} lines in 20 Parquet parts ({fmt_mb(ooc['parquet_bytes'])} on "
                f"disk; {fmt_mb(ooc.get('columns_bytes'))} as in-memory columns), "
                f"{ooc['customers']:,} customers, {ooc['programs']} programs, DuckDB "
                f"`memory_limit={ooc['limit']}`, 2 threads:",
                "",
                "| step | time | peak RSS growth |",
                "|---|---:|---:|",
                f'| `load_data(folder, lines="lazy")` (checks every line in DuckDB) '
                f"| {fmt_s(ooc['load'])} | {fmt_mb(ooc['load_peak'])} |",
                f'| `accrue(..., backend="duckdb")` ({ooc["rows"]:,} rows) '
                f"| {fmt_s(ooc['cold'])} | {fmt_mb(ooc['peak'])} |",
            ]
    ds = results.get("downstream")
    if ds:
        lines += ["", "## Downstream", ""]
        if "error" in ds:
            lines.append(f"ERROR: {ds['error']}")
        else:
            acc = ds.get("accrue", {})
            lines += [
                f"Accrual of {acc.get('lines', 0):,} lines -> {acc.get('rows', 0):,} rows: "
                f"{fmt_s(acc.get('cold'))} cold, {fmt_s(acc.get('warm'))} warm.",
                "",
                "| step | rows | first | best | peak RSS growth |",
                "|---|---:|---:|---:|---:|",
            ]
            for k in ("forecast", "opportunities", "liability", "widget"):
                v = ds.get(k)
                if isinstance(v, dict):
                    name = (
                        f"widget recompute (OpportunityReview filter change, "
                        f"{v.get('customers', 0):,} customers)"
                        if k == "widget"
                        else k
                    )
                    lines.append(
                        f"| {name} | {v['rows']:,} | {fmt_s(v['cold'])} | {fmt_s(v['warm'])} "
                        f"| {fmt_mb(v['peak'])} |"
                    )
                else:
                    lines.append(f"| {k} | | {v} | | |")
    text = "\n".join(lines) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    return text


if __name__ == "__main__":
    raise SystemExit(main())
