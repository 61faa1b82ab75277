"""Forecast against accrual speed on about 100,000 (program, customer) rows of Online Retail.

Usage::

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
import sys
import time
import warnings

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=12, help="copies of each program (12)")
    ap.add_argument("--repeat", type=int, default=2, help="timed calls of forecast (2)")
    ap.add_argument(
        "--vary", choices=("thresholds", "rates"), default="thresholds", help="what copies change"
    )
    args = ap.parse_args(argv)
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
