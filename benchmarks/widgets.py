"""Response time of one interaction of each dashboard on the sample data.

For every view, one control change is timed twice:

- *compute*: the package call behind the callback (what-if runs, opportunities, liability);
  the target is under 100 ms on the sample;
- *full callback*: setting the control's value in-process, i.e. compute plus drawing the
  figures and rendering them to PNG (what the user waits for, before the browser shows it).

Each is the median and the best of ``--repeat`` runs after one warm-up, wall-clock. Building a
view (accrual and forecast, computed once per view) is reported separately. Nothing is
asserted: timings depend on the machine.

Usage::

    python benchmarks/widgets.py [--data data/sample] [--repeat 7] [--method hierarchical]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(fn, repeat: int) -> tuple[float, float]:
    """Median and best wall-clock time of ``fn()`` over ``repeat`` runs after a warm-up [ms]."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times)


def toggler(control, a, b):
    """A function that flips ``control`` between two values, so every call is a change."""
    state = {"next": b}

    def flip():
        control.value = state["next"]
        state["next"] = a if state["next"] == b else b

    return flip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "sample")
    parser.add_argument("--programs", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--method", default=None, help="forecast method (default: its default)")
    args = parser.parse_args(argv)

    import rebatelab as rl
    from rebatelab.widgets import LiabilityForecast, OpportunityReview, ProgramDesigner

    warnings.simplefilter("ignore", UserWarning)
    data = rl.load_data(args.data)
    programs = rl.load_programs(args.programs or args.data / "programs.yaml")
    rows = []

    def build(name, factory):
        t = time.perf_counter()
        view = factory()
        rows.append((name, "build the view (once)", None, None, (time.perf_counter() - t) * 1000))
        return view

    tmp = Path(tempfile.mkdtemp())
    design = build("program design", lambda: ProgramDesigner(data, programs, save_dir=tmp))
    top = design.n_tiers.value - 1
    rate = design.tier_rate[top].value
    compute = timed(lambda: design.compare(*design.candidates()), args.repeat)
    full = timed(toggler(design.tier_rate[top], rate, rate + 1.0), args.repeat)
    rows.append(("program design", f"top tier rate {rate:g}% <-> {rate + 1:g}%", *compute, full[0]))

    review = build(
        "opportunity review",
        lambda: OpportunityReview(data, programs, method=args.method),
    )
    rep = review.rep.options[1]
    review.rep.value = rep
    compute = timed(review.compute, args.repeat)
    full = timed(toggler(review.rep, review.rep.options[0], rep), args.repeat)
    rows.append(("opportunity review", "rep filter", *compute, full[0]))
    opts = [v for _, v in review.customer.options]
    if len(opts) >= 2:
        full = timed(toggler(review.customer, opts[0], opts[1]), args.repeat)
        rows.append(("opportunity review", "drill-down to another row", None, None, full[0]))

    finance = build(
        "liability forecast",
        lambda: LiabilityForecast(data, programs, method=args.method, export_dir=tmp),
    )
    compute = timed(finance.compute, args.repeat)
    full = timed(toggler(finance.percentile, 0.8, 0.9), args.repeat)
    rows.append(("liability forecast", "percentile 80% <-> 90%", *compute, full[0]))

    print(
        f"Dashboard interactions on {args.data} ({len(data.transactions):,} lines, "
        f"{len(data.customers):,} customers, {len(programs)} programs); "
        f"median and best of {args.repeat} [ms]; target: compute < 100 ms\n"
    )
    head = f"{'view':<20} {'interaction':<34} {'compute med':>11} {'best':>7} {'full cb med':>11}"
    print(head)
    print("-" * len(head))

    def ms(v):
        return f"{v:,.0f}" if v is not None else "-"

    for view, what, med, best, total in rows:
        if what.startswith("build"):
            print(f"{view:<20} {what:<34} {'-':>11} {'-':>7} {ms(total):>11}")
        else:
            print(f"{view:<20} {what:<34} {ms(med):>11} {ms(best):>7} {ms(total):>11}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
