"""Forecast against accrual speed: whole processes on generated folders, or Online Retail.

Whole process (what a user types, timed by ``/usr/bin/time -v``: wall clock and peak RSS)::

    .venv/bin/python benchmarks/forecast_speed.py --data /tmp/rebatelab-bench/1000000_20000_50
    .venv/bin/python benchmarks/forecast_speed.py --data D1 --data D2 --methods hierarchical

runs ``rebatelab forecast --data D --as-of 2025-09-30 --out <tmp>.csv --method M`` for every
folder and method, and ``rebatelab accrue`` on the same folder, in the environment as it
is, and prints one Markdown table (folders from
``benchmarks/generate.py``; the timings are those of one run on whatever else the machine is
doing).

In process, on about 100,000 (program, customer) rows of Online Retail::

    .venv/bin/python benchmarks/forecast_speed.py              # 24 programs, 104,928 rows
    .venv/bin/python benchmarks/forecast_speed.py --copies 3   # 6 programs, a quicker run
    .venv/bin/python benchmarks/forecast_speed.py --vary rates # copies differ in rates only

The case of issue 4's speed target: the two quarterly Q3 2011 programs of
:func:`rebatelab.datasets.online_retail.quarterly_programs` (net sales and quantity, every
customer enrolled), each copied ``--copies`` times with its tier thresholds (or, with
``--vary rates``, its rates) scaled by ``1 + 0.1 k``, as of 2011-08-15. Copies share members,
products, basis and period, as the programs of a real book often do, so the forecast fits
and evaluates their unit models once and only the tier-dependent evaluations are repeated
(with ``--vary rates`` the evaluations at the thresholds are shared too).

Times are wall-clock seconds, the best of ``--repeat`` calls on the same data object (codes
cached, as in a notebook). ``forecast`` includes its own accrual, the history reduction, all
model fits, tier probabilities, expected settlements and quantiles. Needs
``../shared/data/online_retail.parquet`` (relative to the project root); exits with a message
when it is absent.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import rebatelab as rl
from rebatelab.datasets import online_retail as orl
from rebatelab.forecasting.projection import forecast

AS_OF = "2011-08-15"


def programs(copies: int, vary: str = "thresholds"):
    """``copies`` copies of the Q3 2011 programs, thresholds (or rates) scaled by 1 + 0.1 k."""
    base = [p for p in orl.quarterly_programs() if p.id.endswith("Q3")]
    raw = []
    for k in range(copies):  # loop over program copies
        for p in base:
            d = p.model_dump(by_alias=True, exclude_none=True)
            d["id"] = f"{p.id}-{k}"
            f_thr, f_rate = (1 + 0.1 * k, 1.0) if vary == "thresholds" else (1.0, 1 + 0.1 * k)
            d["tiers"] = [{"from": t.from_ * f_thr, "rate": t.rate * f_rate} for t in p.tiers]
            raw.append(d)
    return rl.load_programs(raw)


def best_time(fn, repeat: int) -> tuple[float, object]:
    """Smallest wall-clock time of ``repeat`` calls [s], and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def whole_process(cmd: list[str]) -> tuple[float, float]:
    """Wall clock [s] and peak resident memory [MB] of one command, from ``/usr/bin/time -v``."""
    # the user's environment as it is: the fits hold BLAS to one thread themselves
    out = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", out.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    parts = [float(v) for v in wall.group(1).split(":")]
    seconds = sum(v * 60**k for k, v in enumerate(reversed(parts)))
    return seconds, int(rss.group(1)) / 1024


def folders_table(folders: list[str], methods: list[str], as_of: str) -> str:
    """Markdown table of whole-process forecasts and accruals of each folder."""
    exe = str(Path(sys.executable).with_name("rebatelab"))
    rows = ["| folder | command | wall [s] | peak RSS [MB] |", "|---|---|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "out.csv")
        for d in folders:  # loop over folders and commands (a handful)
            name = Path(d).name
            base = ["--data", d, "--as-of", as_of, "--out", out]
            runs = [("accrue", [exe, "accrue", *base])]
            runs += [
                (f"forecast --method {m}", [exe, "forecast", *base, "--method", m]) for m in methods
            ]
            for label, cmd in runs:
                wall, rss = whole_process(cmd)
                rows.append(f"| {name} | {label} | {wall:.1f} | {rss:,.0f} |")
                print(rows[-1], flush=True)
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append", help="whole-process run on this folder (repeatable)")
    ap.add_argument(
        "--methods", default="hierarchical,bgnbd,run_rate", help="forecast methods (comma list)"
    )
    ap.add_argument("--as-of", default="2025-09-30", help="as-of date of the folders")
    ap.add_argument("--copies", type=int, default=12, help="copies of each program (12)")
    ap.add_argument("--repeat", type=int, default=2, help="timed calls of forecast (2)")
    ap.add_argument(
        "--vary", choices=("thresholds", "rates"), default="thresholds", help="what copies change"
    )
    args = ap.parse_args(argv)
    if args.data:
        missing = [d for d in args.data if not Path(d).is_dir()]
        if missing:
            print(f"skipped: {missing} absent (make them with benchmarks/generate.py)")
            return 0
        print(folders_table(args.data, args.methods.split(","), args.as_of))
        return 0
    path = orl.default_path()
    if not path.exists():
        print(f"skipped: {path} is absent (download the UCI 'Online Retail' data set there)")
        return 0
    data, _ = orl.to_rebate_data(orl.read_online_retail(path))
    progs = programs(args.copies, args.vary)
    rl.accrue(data, progs, AS_OF)  # warm the data object's caches for both
    t_acc, acc = best_time(lambda: rl.accrue(data, progs, AS_OF), max(args.repeat, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_fc, fc = best_time(lambda: forecast(data, progs, AS_OF), args.repeat)
    print(
        f"{len(acc):,} (program, customer) rows, {len(progs)} programs, as of {AS_OF}:\n"
        f"  accrue   {t_acc:8.3f} s\n"
        f"  forecast {t_fc:8.3f} s  ({len(fc) / t_fc:,.0f} rows/s; "
        f"{t_fc / t_acc:.0f} x accrue)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
