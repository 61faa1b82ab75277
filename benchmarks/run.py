"""Benchmarks of what users run: the ``rebatelab`` command, whole process, on data folders.

Usage::

    python benchmarks/run.py             # make bench: 1M and 5M lines (a few minutes)
    python benchmarks/run.py --full      # + 50M lines in Parquet parts, the Dask cluster run
    python benchmarks/run.py --sizes 5e6,20000,50 --runs 5 --no-warm

Table 1 (whole process) times commands as a user types them, each a fresh process run
under ``/usr/bin/time -v`` (peak resident memory = its "Maximum resident set size"):

- ``rebatelab accrue --data DIR --programs DIR/programs.yaml --as-of 2025-09-30 --out F``
  (import, load, validation, reduction, reconciliation, writing the CSV), again with
  ``--exclusions E``, and ``rebatelab --help``;
- the same accrual as one DuckDB SQL statement over the same Parquet files, writing the
  same CSV (``analyst.py sql``);
- the pandas code an analyst would write (``analyst.py pandas``);
- the grouped-sum lower bound: DuckDB reading the two columns it needs and one GROUP BY.

Each is run ``--runs`` times (pandas once); min and median are reported. The CSVs of
rebatelab and of the SQL statement are compared row by row to the cent.

Table 2 (warm, in process) times calls inside one Python process that has already
imported rebatelab and loaded the data, as in a notebook or a widget session.

Data folders are written by ``generate.py`` under ``--root`` (default
``/tmp/rebatelab-bench``) and reused by later runs. Writes ``benchmarks/results/latest.md``
and ``latest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

BIN = Path(sys.executable).parent
REBATELAB = str(BIN / "rebatelab")
AS_OF = "2025-09-30"

#: (lines, customers, programs, parquet parts) of ``make bench``.
DEFAULT = [
    (1_000_000, 20_000, 50, 1),
    (5_000_000, 20_000, 50, 1),
    (5_000_000, 100_000, 300, 1),
]
#: Added by ``--full``.
LARGE = [(50_000_000, 20_000, 50, 25)]
#: The Dask run of ``--full``: lines in Parquet parts, workers' memory limit below the data.
DASK = (50_000_000, 20_000, 50, 25)


# ------------------------------------------------------------------------------ measuring
def _tree_rss(proc) -> int:
    """Resident memory of a process and all its descendants [bytes]."""
    import psutil

    try:
        p = psutil.Process(proc.pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.Error:
            pass
    return total


def _watch(proc, t0: float, *, max_rss: float, timeout: float):
    """Wait for ``proc``; kill its group above ``max_rss`` bytes or after ``timeout`` s."""
    killed, watched = None, 0
    while True:
        try:
            out, err = proc.communicate(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            pass
        rss = _tree_rss(proc)
        watched = max(watched, rss)
        elapsed = time.perf_counter() - t0
        if rss > max_rss or elapsed > timeout:
            killed = (
                f"killed at {rss / 2**30:.1f} GB resident after {elapsed:.0f} s"
                if rss > max_rss
                else f"killed after {elapsed:.0f} s (timeout)"
            )
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            break
    return out, err, killed, watched


def run_process(cmd: list[str], *, cwd: Path, max_rss: float, timeout: float) -> dict:
    """Run ``cmd`` under ``/usr/bin/time -v``: wall time [s], peak RSS [bytes], status.

    A watchdog kills the process group when the resident memory of the tree exceeds
    ``max_rss`` or when it runs longer than ``timeout`` seconds (shared machine).
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time", delete=False) as fh:
        tfile = fh.name
    full = ["/usr/bin/time", "-v", "-o", tfile, *cmd]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        full,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    killed, watched = None, 0
    try:
        out, err, killed, watched = _watch(proc, t0, max_rss=max_rss, timeout=timeout)
    except BaseException:  # interrupted: do not leave the measured process running
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    wall = time.perf_counter() - t0
    peak = 0
    try:
        for line in Path(tfile).read_text().splitlines():
            if "Maximum resident set size" in line:
                peak = int(line.split(":")[1]) * 1024
    finally:
        os.unlink(tfile)
    res = {"wall": wall, "peak": max(peak, watched) if killed else peak, "rc": proc.returncode}
    if killed:
        res["killed"] = killed
    elif proc.returncode != 0:
        lines = [x for x in (err or out or "").strip().splitlines() if x.strip()]
        res["error"] = " | ".join(lines[-2:])[:300]
    res["stdout"] = (out or "").strip()
    return res


#: A command whose first run takes longer than this [s] is not repeated.
SLOW = 60.0


def repeat_process(cmd, *, runs: int, cwd: Path, max_rss: float, timeout: float) -> dict:
    """``runs`` runs of one command: min and median wall time, max peak RSS.

    A command whose first run takes longer than :data:`SLOW` seconds runs once.
    """
    walls, peaks, last = [], [], {}
    for _ in range(runs):
        last = run_process(cmd, cwd=cwd, max_rss=max_rss, timeout=timeout)
        if "killed" in last or "error" in last:
            break
        walls.append(last["wall"])
        peaks.append(last["peak"])
        if last["wall"] > SLOW:
            break
    out = {"cmd": " ".join(cmd), "runs": len(walls)}
    if walls:
        out.update(min=min(walls), median=statistics.median(walls), peak=max(peaks))
    for k in ("killed", "error"):
        if k in last:
            out[k] = last[k]
            out["peak_at_failure"] = last["peak"]
            out["wall_at_failure"] = last["wall"]
    out["stdout"] = last.get("stdout", "")[-400:]
    return out


# ------------------------------------------------------------------------------ checking
def compare(rl_csv: Path, other_csv: Path) -> dict:
    """Row-by-row comparison of two accrual CSVs keyed by (program_id, customer_id).

    ``basis``, ``pool_basis``, ``earned`` and ``payable`` are compared in integer cents
    (a basis in units of quantity to 0.01 unit); ``tier`` exactly.
    """
    import numpy as np
    import pandas as pd

    ids = {"program_id": str, "customer_id": str, "pool_id": str}
    key = ["program_id", "customer_id"]
    a = pd.read_csv(rl_csv, dtype=ids).set_index(key)
    b = pd.read_csv(other_csv, dtype=ids).set_index(key)
    out = {"rows": len(a), "other_rows": len(b)}
    out["missing"] = int((~a.index.isin(b.index)).sum()) + int((~b.index.isin(a.index)).sum())
    b = b.reindex(a.index)
    for c in ("basis", "pool_basis", "earned", "payable"):
        x = np.round(a[c].to_numpy(float) * 100)
        y = np.round(b[c].to_numpy(float) * 100)
        d = np.abs(x - y)
        d = np.where(np.isnan(x) & np.isnan(y), 0.0, d)
        out[f"{c}_rows"] = int(np.sum(~(d == 0)))
        out[f"{c}_max_cents"] = float(np.nanmax(d)) if len(d) else 0.0
    out["tier_rows"] = int((a["tier"].to_numpy() != b["tier"].to_numpy()).sum())
    out["earned_total"] = float(a["earned"].sum())
    out["other_earned_total"] = float(b["earned"].sum())
    bad = out["missing"] + sum(
        out[f"{c}_rows"] for c in ("basis", "pool_basis", "earned", "payable", "tier")
    )
    out["agree"] = bad == 0 and out["rows"] == out["other_rows"]
    return out


def describe(check: dict) -> str:
    if not check:
        return "not compared"
    if "error" in check:
        return f"not compared: {check['error']}"
    head = (
        f"rows {check['rows']:,} / {check['other_rows']:,}, earned "
        f"{check['earned_total']:,.2f} / {check['other_earned_total']:,.2f}"
    )
    if check["agree"]:
        return f"**agree to the cent** ({head})"
    parts = [f"{check['missing']} rows missing"] + [
        f"{c} differs on {check[c + '_rows']} rows (max {check[c + '_max_cents']:.0f} cents)"
        for c in ("basis", "pool_basis", "earned", "payable")
        if check[c + "_rows"]
    ]
    if check["tier_rows"]:
        parts.append(f"tier differs on {check['tier_rows']} rows")
    return f"DIFFER: {'; '.join(parts)} ({head})"


# ------------------------------------------------------------------------------ whole process
def cli_help_has(flag: str) -> bool:
    res = subprocess.run([REBATELAB, "accrue", "--help"], capture_output=True, text=True)
    return flag in res.stdout


def whole_process(folder: Path, cfg, args, scratch: Path) -> dict:
    """Table 1 for one data folder."""
    n_lines, n_c, n_p, parts = cfg
    py = sys.executable
    accrue = [
        REBATELAB,
        "accrue",
        "--data",
        str(folder),
        "--programs",
        str(folder / "programs.yaml"),
        "--as-of",
        AS_OF,
    ]
    methods = {
        "cli": [*accrue, "--out", str(scratch / "rl.csv")],
        "cli_exclusions": [
            *accrue,
            "--out",
            str(scratch / "rl_exc.csv"),
            "--exclusions",
            str(scratch / "exc.csv"),
        ],
        "sql": [
            py,
            str(HERE / "analyst.py"),
            "sql",
            str(folder),
            "--out",
            str(scratch / "sql.csv"),
        ],
        "pandas": [
            py,
            str(HERE / "analyst.py"),
            "pandas",
            str(folder),
            "--out",
            str(scratch / "pd.csv"),
        ],
        "lower_bound": [
            py,
            str(HERE / "analyst.py"),
            "lower-bound",
            str(folder),
            "--out",
            str(scratch / "lb.csv"),
        ],
    }
    row = {"lines": n_lines, "customers": n_c, "programs": n_p, "parts": parts}
    skip_pandas = n_lines * n_p > args.pandas_limit
    for name, cmd in methods.items():
        if name == "pandas" and skip_pandas:
            row[name] = {"skipped": f"lines x programs > {args.pandas_limit:g} (--pandas-limit)"}
            continue
        if name == "cli_exclusions" and n_lines > args.exclusions_limit:
            row[name] = {"skipped": f"lines > {args.exclusions_limit:g} (--exclusions-limit)"}
            continue
        log(f"{n_lines:,} lines, {n_c:,} customers, {n_p} programs: {name}")
        runs = 1 if name == "pandas" else args.runs
        row[name] = repeat_process(
            cmd, runs=runs, cwd=scratch, max_rss=args.max_rss, timeout=args.timeout
        )
        if name == "cli_exclusions" and (scratch / "exc.csv").exists():
            row[name]["exclusions_bytes"] = (scratch / "exc.csv").stat().st_size
            (scratch / "exc.csv").unlink()
    if (scratch / "sql.csv").exists():  # the Dask run compares with it
        shutil.copyfile(scratch / "sql.csv", folder / "_sql_reference.csv")
    for name, f in (("sql", "sql.csv"), ("pandas", "pd.csv"), ("cli_exclusions", "rl_exc.csv")):
        if (scratch / "rl.csv").exists() and (scratch / f).exists() and row[name].get("runs"):
            try:
                row[name]["check"] = compare(scratch / "rl.csv", scratch / f)
            except Exception as exc:  # a changed output format must not lose the timings
                row[name]["check"] = {"error": repr(exc)[:200]}
    return row


def help_timing(args, scratch: Path) -> dict:
    out = {}
    for name, cmd in (
        ("python", [sys.executable, "-c", "pass"]),
        ("help", [REBATELAB, "--help"]),
        ("accrue_help", [REBATELAB, "accrue", "--help"]),
    ):
        log(f"{' '.join(cmd[1:])}")
        out[name] = repeat_process(
            [*cmd], runs=max(args.runs, 5), cwd=scratch, max_rss=args.max_rss, timeout=60
        )
    return out


# ------------------------------------------------------------------------------ warm
def warm_worker(folder: Path, repeat: int, reference: str | None) -> dict:
    """Table 2, in this process: the API on loaded data, DuckDB on loaded tables."""
    import numpy as np
    import pandas as pd

    import rebatelab as rl

    out = {}
    programs = rl.load_programs((folder / "programs.yaml").read_text())
    t = time.perf_counter()
    data = rl.load_data(folder)
    out["load_data"] = time.perf_counter() - t
    reduce_ = getattr(rl, "reduce", None)
    if reduce_ is not None:
        t = time.perf_counter()
        red = reduce_(data, programs, AS_OF)
        out["reduce"] = time.perf_counter() - t
        times = []
        try:
            for _ in range(repeat):
                t = time.perf_counter()
                rl.accrue(red)
                times.append(time.perf_counter() - t)
            out["accrue_reduction"] = min(times)
        except TypeError as exc:  # accrue does not take a Reduction (yet)
            out["accrue_reduction_error"] = repr(exc)[:200]
    t = time.perf_counter()
    acc = rl.accrue(data, programs, AS_OF)
    out["accrue_cold"] = time.perf_counter() - t
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        acc = rl.accrue(data, programs, AS_OF)
        times.append(time.perf_counter() - t)
    out["accrue_warm"] = min(times)
    out["rows"] = len(acc)
    if reference and Path(reference).exists():
        with tempfile.TemporaryDirectory() as tmp:
            acc.to_csv(Path(tmp) / "api.csv", index=False)
            out["check"] = compare(Path(tmp) / "api.csv", Path(reference))
    # DuckDB: the same statement on tables already loaded into DuckDB
    import analyst
    import duckdb

    con = duckdb.connect()
    t = time.perf_counter()
    con.execute(
        f"CREATE TABLE tx AS SELECT * FROM read_parquet('{analyst.transactions_path(folder)}')"
    )
    for name in ("membership", "elig", "terms", "tiers"):
        path = folder / "analyst" / f"{name}.parquet"
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{path}')")
    out["duckdb_load"] = time.perf_counter() - t
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        con.execute(analyst.ACCRUE_SQL).df()
        times.append(time.perf_counter() - t)
    out["duckdb_warm"] = min(times)
    con.close()
    # lower bound: one bincount over integer codes prepared beforehand
    import pyarrow.parquet as pq

    tab = pq.read_table(
        analyst.transactions_path(folder).replace("*.parquet", ""),
        columns=["customer_id", "net_amount"],
    )
    codes = pd.factorize(tab.column("customer_id").to_pandas())[0]
    amount = tab.column("net_amount").to_numpy()
    del tab
    times = []
    for _ in range(max(repeat, 5)):
        t = time.perf_counter()
        np.bincount(codes, weights=amount)
        times.append(time.perf_counter() - t)
    out["bincount"] = min(times)
    return out


# ------------------------------------------------------------------------------ dask
def dask_run(folder: Path, cfg, args, scratch: Path, reference: Path | None) -> dict:
    """``rebatelab accrue --backend dask --scheduler ...`` on a local cluster."""
    import psutil

    n_lines, n_c, n_p, parts = cfg
    sched_file = scratch / "scheduler.json"
    dask = str(BIN / "dask")
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")
    procs = [
        subprocess.Popen(
            [
                dask,
                "scheduler",
                "--scheduler-file",
                str(sched_file),
                "--port",
                "0",
                "--dashboard-address",
                ":0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )  # fmt: skip
    ]
    out = {
        "lines": n_lines,
        "customers": n_c,
        "programs": n_p,
        "parts": parts,
        "workers": args.dask_workers,
        "worker_memory": args.dask_memory,
    }
    try:
        for _ in range(100):
            if sched_file.exists() and sched_file.stat().st_size:
                break
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        procs.append(
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    "--scheduler-file",
                    str(sched_file),
                    "--nworkers",
                    str(args.dask_workers),
                    "--nthreads",
                    "1",
                    "--memory-limit",
                    args.dask_memory,
                    "--dashboard-address",
                    ":0",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )  # fmt: skip
        )
        from distributed import Client

        with Client(address, timeout=60) as c:
            c.wait_for_workers(args.dask_workers, timeout=120)
        cmd = [
            REBATELAB, "accrue", "--data", str(folder), "--programs",
            str(folder / "programs.yaml"), "--as-of", AS_OF, "--out", str(scratch / "dask.csv"),
            "--backend", "dask", "--scheduler", address,
        ]  # fmt: skip
        if cli_help_has("--lazy"):
            cmd.append("--lazy")
        out["cmd"] = " ".join(cmd).replace(address, "tcp://SCHEDULER:PORT")
        log(f"dask: {n_lines:,} lines, {args.dask_workers} workers x {args.dask_memory}")
        worker_peak = 0
        res = None
        import threading

        done = threading.Event()

        def watch():
            nonlocal worker_peak
            w = psutil.Process(procs[1].pid)
            while not done.is_set():
                try:
                    kids = w.children(recursive=True)
                    rss = max((k.memory_info().rss for k in kids), default=0)
                    worker_peak = max(worker_peak, rss)
                except psutil.Error:
                    pass
                time.sleep(0.25)

        th = threading.Thread(target=watch, daemon=True)
        th.start()
        res = run_process(cmd, cwd=scratch, max_rss=args.max_rss, timeout=args.timeout)
        done.set()
        th.join()
        out.update(res)
        out["worker_peak"] = worker_peak
        if reference is not None and reference.exists() and (scratch / "dask.csv").exists():
            out["check"] = compare(scratch / "dask.csv", reference)
    except Exception as exc:
        out["error"] = repr(exc)[:300]
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(p.pid, signal.SIGKILL)
    return out


# ------------------------------------------------------------------------------ report
STARTED = time.perf_counter()


LOADS: list[float] = []


def log(msg: str) -> None:
    LOADS.append(os.getloadavg()[0])
    print(f"[{time.perf_counter() - STARTED:6.0f} s] {msg}", flush=True)


def fmt_s(x) -> str:
    if x is None:
        return "n/a"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def fmt_mb(x) -> str:
    return "n/a" if x is None else f"{x / 2**20:,.0f} MB"


def parse_bytes(text: str) -> float:
    text = text.strip().upper().removesuffix("B")
    mult = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    if text and text[-1] in mult:
        return float(text[:-1]) * mult[text[-1]]
    return float(text)


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


def cell(m: dict | None) -> str:
    """``min / median (peak)`` of one method, or why it has no figure."""
    if not m:
        return "n/a"
    if "skipped" in m:
        return "skipped"
    if "killed" in m:
        return f"{m['killed']}"
    if "error" in m:
        return f"failed ({fmt_s(m.get('wall_at_failure'))})"
    if m.get("runs", 0) > 1:
        return f"{fmt_s(m['min'])} / {fmt_s(m['median'])}"
    return fmt_s(m.get("min"))


def peak(m: dict | None) -> str:
    if not m or "skipped" in m:
        return ""
    return fmt_mb(m.get("peak", m.get("peak_at_failure")))


def ratio(a: dict | None, b: dict | None) -> str:
    try:
        return f"{a['median'] / b['median']:.2f}"
    except (KeyError, TypeError, ZeroDivisionError):
        return "n/a"


def write_results(results: dict, out: Path) -> str:
    """Write the markdown tables (and the raw JSON next to it); return the markdown."""
    if LOADS:
        results["load"] = (
            f"{min(LOADS):.1f} to {max(LOADS):.1f}, median {statistics.median(LOADS):.1f}"
        )
    L = [
        "# Benchmark results",
        "",
        f"Machine: {results['machine']}.  ",
        f"Run: {results['started']} UTC"
        + (f", {results['elapsed'] / 60:.1f} min in all" if "elapsed" in results else "")
        + f"; commit {results.get('commit', '?')}; `{results.get('argv', '')}`.  ",
        f"Load average (1 min) when each measurement started: {results.get('load', 'n/a')} "
        "(other jobs shared the machine: figures vary with it; ratios measured in the same run "
        "are steadier).",
        "",
        "## 1. Whole process: the commands users run, on files",
        "",
        "Wall time of a fresh process, min / median of the runs (pandas: one run); "
        "peak = its maximum resident set size (`/usr/bin/time -v`). *rebatelab* = "
        "`rebatelab accrue --data DIR --programs DIR/programs.yaml --as-of 2025-09-30 --out "
        "acc.csv`; *+ --exclusions* = the same with `--exclusions exc.csv`; *DuckDB SQL* = "
        "one statement over the same Parquet files writing the same CSV "
        "(`benchmarks/analyst.py sql`); *pandas* = an analyst's pandas code "
        "(`analyst.py pandas`); *lower bound* = DuckDB reading `customer_id, net_amount` "
        "and one GROUP BY (`analyst.py lower-bound`). Ratios = median / median. A single "
        "figure = one run (pandas, or a first run over 60 s).",
        "",
        "| lines | customers | programs | rows | rebatelab | peak | + --exclusions | peak "
        "| DuckDB SQL | peak | pandas | peak | lower bound | peak | rebatelab / SQL "
        "| --exclusions / SQL | rebatelab / lower bound |",
        "|" + "---:|" * 17,
    ]
    for r in results["whole"]:
        cli, exc, sql, pdx, lb = (
            r.get(k) for k in ("cli", "cli_exclusions", "sql", "pandas", "lower_bound")
        )
        rows = (sql or {}).get("check", {}).get("rows", "n/a")
        if isinstance(rows, int):
            rows = f"{rows:,}"
        lines_txt = f"{r['lines']:,}" + (f" ({r['parts']} parts)" if r["parts"] > 1 else "")
        L.append(
            f"| {lines_txt} | {r['customers']:,} | {r['programs']} | {rows} "
            f"| {cell(cli)} | {peak(cli)} | {cell(exc)} | {peak(exc)} "
            f"| {cell(sql)} | {peak(sql)} | {cell(pdx)} | {peak(pdx)} "
            f"| {cell(lb)} | {peak(lb)} | {ratio(cli, sql)} | {ratio(exc, sql)} "
            f"| {ratio(cli, lb)} |"
        )
    h = results.get("help", {})
    if h:
        L += [
            "",
            f"`rebatelab --help`: {cell(h.get('help'))} (min / median of "
            f"{h.get('help', {}).get('runs', 0)}), peak {peak(h.get('help'))}; "
            f"`rebatelab accrue --help`: {cell(h.get('accrue_help'))}; for scale, the "
            f"interpreter alone (`python -c pass`): {cell(h.get('python'))}.",
        ]
    L += ["", "Agreement of the outputs with rebatelab's CSV (row by row, in cents):", ""]
    for r in results["whole"]:
        for k, label in (
            ("sql", "DuckDB SQL"),
            ("cli_exclusions", "rebatelab with --exclusions"),
            ("pandas", "pandas (shares rounded per member)"),
        ):
            m = r.get(k) or {}
            if "check" in m:
                L.append(f"- {r['lines']:,} lines / {r['programs']} programs, {label}: "
                         f"{describe(m['check'])}")  # fmt: skip
        for k in ("cli", "cli_exclusions", "sql", "pandas", "lower_bound"):
            m = r.get(k) or {}
            if "error" in m or "killed" in m:
                L.append(f"- {r['lines']:,} lines / {r['programs']} programs, {k}: "
                         f"{m.get('killed') or 'ERROR ' + m['error']}")  # fmt: skip
            if "exclusions_bytes" in m:
                L.append(f"- {r['lines']:,} lines / {r['programs']} programs: exclusions file "
                         f"{fmt_mb(m['exclusions_bytes'])}")  # fmt: skip
    warm = [w for w in results.get("warm", []) if w]
    if warm:
        L += [
            "",
            "## 2. Warm, in process (NOT what a command costs)",
            "",
            "Inside one Python process, after `import rebatelab` and with the data already "
            "loaded, as in a notebook or a widget session. *load_data* = `rl.load_data(DIR)`; "
            "*reduce* = `rl.reduce(data, programs, as_of)` (stage one, once); *accrue on the "
            "reduction* = `rl.accrue(reduction)`, best of the repeats; *accrue cold / warm* = "
            "`rl.accrue(data, programs, as_of)` first call / best later call; *DuckDB warm* = "
            "the SQL statement on tables already loaded into DuckDB (load time apart); "
            "*bincount* = one `np.bincount` over prepared integer customer codes.",
            "",
            "| lines | customers | programs | load_data | reduce | accrue on the "
            "reduction | accrue cold | accrue warm | DuckDB load | DuckDB warm | bincount "
            "| API vs CLI |",
            "|" + "---:|" * 11 + "---|",
        ]
        for w in warm:
            if "error" in w:
                L.append(f"| {w['lines']:,} | {w['customers']:,} | {w['programs']} | "
                         f"ERROR {w['error']} |" + " |" * 8)  # fmt: skip
                continue
            chk = w.get("check")
            agree = (
                "agree to the cent" if chk and chk.get("agree") else describe(chk) if chk else "n/a"
            )
            L.append(
                f"| {w['lines']:,} | {w['customers']:,} | {w['programs']} "
                f"| {fmt_s(w.get('load_data'))} "
                f"| {fmt_s(w.get('reduce'))} | {fmt_s(w.get('accrue_reduction'))} "
                f"| {fmt_s(w.get('accrue_cold'))} | {fmt_s(w.get('accrue_warm'))} "
                f"| {fmt_s(w.get('duckdb_load'))} | {fmt_s(w.get('duckdb_warm'))} "
                f"| {fmt_s(w.get('bincount'))} | {agree} |"
            )
    d = results.get("dask")
    if d:
        L += ["", "## 3. Dask: `rebatelab accrue --backend dask` on a local cluster", ""]
        L.append(
            f"{d['lines']:,} lines in {d['parts']} Parquet parts ({fmt_mb(d.get('parquet_bytes'))}"
            f" on disk, {fmt_mb(d.get('columns_bytes'))} as in-memory columns), "
            f"{d['customers']:,} customers, {d['programs']} programs; {d['workers']} workers "
            f"(`dask worker --nthreads 1 --memory-limit {d['worker_memory']}`)."
        )
        L.append("")
        if "cmd" in d:
            L.append(f"`{d['cmd']}`")
            L.append("")
        if "error" in d or "killed" in d:
            L.append(f"- result: {d.get('killed') or 'ERROR ' + d.get('error', '')}")
        else:
            L.append(f"- wall time {fmt_s(d.get('wall'))}, client peak {fmt_mb(d.get('peak'))}, "
                     f"largest worker peak {fmt_mb(d.get('worker_peak'))}")  # fmt: skip
        if "check" in d:
            L.append(f"- against the DuckDB SQL statement on the same files: "
                     f"{describe(d['check'])}")  # fmt: skip
    text = "\n".join(L) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    return text


def columns_bytes(folder: Path) -> int:
    """In-memory size of the columns accrue uses (Arrow strings), from Parquet metadata."""
    import analyst
    import pyarrow.parquet as pq

    ds = pq.ParquetDataset(analyst.transactions_path(folder).replace("*.parquet", ""))
    n = sum(f.metadata.num_rows for f in ds.fragments)
    # date, quantity, net_amount: 8 bytes; two ids ~8 chars + 4-byte offsets
    return n * (3 * 8 + 2 * 12)


def main(argv=None) -> int:
    import generate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="add 50M lines (Parquet parts) and Dask")
    sizes_help = "LINES,CUSTOMERS,PROGRAMS[,PARTS] (repeatable) instead of the defaults"
    ap.add_argument("--sizes", action="append", default=None, help=sizes_help)
    ap.add_argument("--root", type=Path, default=generate.ROOT, help="where data folders go")
    ap.add_argument("--runs", type=int, default=3, help="runs per command (min/median)")
    ap.add_argument("--repeat", type=int, default=3, help="warm repetitions (best is kept)")
    ap.add_argument("--max-rss", default="8GB", help="kill a process above this resident memory")
    ap.add_argument("--timeout", type=float, default=900, help="kill a process after [s]")
    pandas_help = "skip pandas above this many lines x programs (default 5e8; --full 3e9)"
    ap.add_argument("--pandas-limit", type=float, default=None, help=pandas_help)
    ap.add_argument("--exclusions-limit", type=float, default=6e7,
                    help="skip the --exclusions run above this many lines")  # fmt: skip
    ap.add_argument("--no-warm", action="store_true", help="skip table 2")
    ap.add_argument("--no-whole", action="store_true", help="skip table 1")
    ap.add_argument("--dask", action="store_true", help="the Dask run (implied by --full)")
    ap.add_argument("--dask-size", default=None, help="LINES,CUSTOMERS,PROGRAMS,PARTS of it")
    ap.add_argument("--dask-workers", type=int, default=2)
    ap.add_argument("--dask-memory", default="1GB", help="memory limit of each Dask worker")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "latest.md")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--reference", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up children on kill
    if args.worker == "warm":
        try:
            res = warm_worker(args.folder, args.repeat, args.reference)
        except Exception as exc:
            res = {"error": repr(exc)[:300]}
        print(json.dumps(res))
        return 0
    args.max_rss = parse_bytes(args.max_rss)
    if args.pandas_limit is None:
        args.pandas_limit = 3e9 if args.full else 5e8

    def parse(s):
        v = [int(float(x)) for x in s.split(",")]
        return tuple(v) if len(v) == 4 else (*v, 1)

    configs = (
        [parse(s) for s in args.sizes] if args.sizes else DEFAULT + (LARGE if args.full else [])
    )
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=REPO).stdout.strip()  # fmt: skip
    results = {
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "commit": commit,
        "argv": "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "whole": [],
        "warm": [],
    }
    with tempfile.TemporaryDirectory(prefix="rebatelab-bench-out-") as tmp:
        scratch = Path(tmp)
        if not args.no_whole:
            results["help"] = help_timing(args, scratch)
        for cfg in configs:
            log(f"data {generate.folder_name(*cfg)}")
            folder = generate.build(cfg[0], cfg[1], cfg[2], parts=cfg[3], root=args.root)
            for f in scratch.glob("*.csv"):
                f.unlink()
            if not args.no_whole:
                row = whole_process(folder, cfg, args, scratch)
                row["columns_bytes"] = columns_bytes(folder)
                results["whole"].append(row)
                write_results(results, args.out)
            if not args.no_warm and cfg[0] <= 10_000_000:
                log(f"{cfg[0]:,} lines: warm, in process")
                ref = scratch / "sql.csv"
                res = run_process(
                    [sys.executable, str(Path(__file__).resolve()), "--worker", "warm",
                     "--folder", str(folder), "--repeat", str(args.repeat),
                     "--reference", str(ref)],
                    cwd=REPO, max_rss=args.max_rss, timeout=args.timeout,
                )  # fmt: skip
                try:
                    w = json.loads(res["stdout"].splitlines()[-1])
                except (ValueError, IndexError):
                    w = {"error": res.get("killed") or res.get("error") or "no output"}
                w.update(lines=cfg[0], customers=cfg[1], programs=cfg[2], peak=res["peak"])
                results["warm"].append(w)
                write_results(results, args.out)
        if args.dask or args.full:
            cfg = parse(args.dask_size) if args.dask_size else DASK
            folder = generate.build(cfg[0], cfg[1], cfg[2], parts=cfg[3], root=args.root)
            ref = folder / "_sql_reference.csv"  # kept with the data for later runs
            if not ref.exists():
                log("dask: reference by the DuckDB SQL statement")
                run_process(
                    [sys.executable, str(HERE / "analyst.py"), "sql", str(folder), "--out",
                     str(ref)],
                    cwd=scratch, max_rss=args.max_rss, timeout=args.timeout,
                )  # fmt: skip
            d = dask_run(folder, cfg, args, scratch, ref)
            d["parquet_bytes"] = sum(p.stat().st_size for p in (folder / "transactions").glob("*"))
            d["columns_bytes"] = columns_bytes(folder)
            results["dask"] = d
    results["elapsed"] = time.perf_counter() - STARTED
    text = write_results(results, args.out)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
