"""Response times of the dashboards, against their targets, on a data folder.

For each dashboard (program designer, sales review, liability forecast) and each of its
interactions, two in-process wall-clock figures:

- *compute*: the package call behind the callback (what-if runs of the changed design, the
  work lists under the filters, the liability at the new settings); target < 100 ms;
- *full update*: setting the control's value in-process, i.e. compute plus building the page's
  HTML and redrawing the figure to PNG (what the kernel does before the browser shows it);
  target < 300 ms;

and the *render* of each view: building it from the loaded data (estimation, accrual,
forecast, first drawing); target < 3 s. Loading the data folder is timed once, separately
(every dashboard needs it, and it is the io room's cost). With ``--voila`` the whole page is
also timed in Voila through headless Chromium (from the request to the view's first status
line; kernel start included), for the bundled notebooks (they read the sample).

Each interaction is timed ``--repeat`` times after one warm-up; every call is a new input (a
new rate, not a value seen before), so no cached result is reused where a user would get
none. Median and best [ms]. Nothing is asserted; the machine may be shared, so figures are
noisy: compare them with the load average printed in the header.

Usage::

    python benchmarks/widgets.py --data data/sample [--repeat 7] [--voila]
    python benchmarks/widgets.py --data /tmp/rebatelab-bench/2000000_50000_50 --program P0001
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {"compute": 100.0, "full": 300.0, "render": 3000.0}


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


def stepper(control, start, step):
    """A function that sets ``control`` to a value never set before (start + k * step)."""
    count = itertools.count(1)
    return lambda: setattr(control, "value", round(start + next(count) * step, 6))


class Table:
    """Rows of (view, interaction, compute median/best, full median, render) [ms]."""

    def __init__(self):
        self.rows = []

    def add(self, view, what, compute=None, full=None, render=None):
        self.rows.append((view, what, compute, full, render))
        # progress as it goes (a large base takes minutes), the table at the end
        print(f"  {view}: {what}: compute {compute}, full {full}, render {render}",
              file=sys.stderr, flush=True)  # fmt: skip

    def print(self, title: str) -> None:
        print(title + "\n")
        vw = max(18, *(len(r[0]) for r in self.rows))
        head = (f"| {'view':<{vw}} | {'interaction':<40} | {'compute med / best':>18} | "
                f"{'full update med':>15} | {'render':>8} | {'targets met':<11} |")  # fmt: skip
        print(head)
        print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
        for view, what, compute, full, render in self.rows:
            c = f"{compute[0]:,.0f} / {compute[1]:,.0f}" if compute else "-"
            f = f"{full:,.0f}" if full is not None else "-"
            r = f"{render:,.0f}" if render is not None else "-"
            ok = []
            if compute:
                ok.append(compute[0] < TARGETS["compute"])
            if full is not None:
                ok.append(full < TARGETS["full"])
            if render is not None:
                ok.append(render < TARGETS["render"])
            met = "yes" if ok and all(ok) else "no" if ok else "-"
            print(f"| {view:<{vw}} | {what:<40} | {c:>18} | {f:>15} | {r:>8} | {met:<11} |")


def build(table, name, factory):
    t = time.perf_counter()
    view = factory()
    table.add(name, "render: build the view (once)", render=(time.perf_counter() - t) * 1000)
    return view


def bench_designer(table, data, programs, args, tmp):
    from rebatelab.widgets import ProgramDesigner

    bases = [p for p in programs if p.variant_of is None]
    pid = args.program or next((p.id for p in bases if len(p.tiers) >= 2), bases[0].id)
    d = build(table, "program designer", lambda: ProgramDesigner(
        data, programs, program_id=pid, save_dir=tmp, as_of=args.as_of))  # fmt: skip
    name = f"program designer ({pid}, {d.n_scenarios} scen.)"
    table.rows[-1] = (name, *table.rows[-1][1:])
    top = d.n_tiers.value - 1
    rate = d.tier_rate[top].value
    k = itertools.count(1)

    def compute_new_design():  # a design never run before, as a user's new input
        terms = d.designs["design 1"]
        tiers = [dict(t) for t in terms["tiers"]]
        tiers[top]["rate"] = round(rate / 100 + next(k) * 1e-5, 8)
        d.designs["design 1"] = {**terms, "tiers": tiers}
        d.compute()

    table.add(name, "top tier rate (a new rate each time)",
              compute=timed(compute_new_design, args.repeat),
              full=timed(stepper(d.tier_rate[top], rate, 0.01), args.repeat)[0])  # fmt: skip
    d.add_design()
    first = stepper(d.tier_from[0], d.tier_from[0].value, 1.0)
    table.add(name, "a second design: its tier 1 threshold",
              full=timed(first, args.repeat)[0])  # fmt: skip
    table.add(name, "margin (no rerun, no redraw)",
              full=timed(toggler(d.margin, 0.3, 0.35), args.repeat)[0])  # fmt: skip
    table.add(name, "switch the design edited",
              full=timed(toggler(d.selected, "design 1", "design 2"), args.repeat)[0])  # fmt: skip
    n = d.n_tiers.value
    if n < len(d.tier_from):
        table.add(name, f"tiers {n} <-> {n + 1} (proposed tier)",
                  full=timed(toggler(d.n_tiers, n, n + 1), args.repeat)[0])  # fmt: skip
    t = time.perf_counter()
    d.compare_with_forecast()
    table.add(name, "compare with the forecast (button, once)",
              full=(time.perf_counter() - t) * 1000)  # fmt: skip


def bench_review(table, data, programs, args):
    from rebatelab.widgets import ReviewDashboard

    r = build(table, "sales review", lambda: ReviewDashboard(
        data, programs, as_of=args.as_of, method=args.method))  # fmt: skip
    reps = list(r.rep.options)
    if len(reps) >= 2:
        r.rep.value = reps[1]
        table.add("sales review", "rep filter", compute=timed(r.compute, args.repeat),
                  full=timed(toggler(r.rep, reps[0], reps[1]), args.repeat)[0])  # fmt: skip
    mv = r.min_value.value
    table.add("sales review", "minimum value",
              full=timed(toggler(r.min_value, mv, mv + 25), args.repeat)[0])  # fmt: skip
    rows = []
    for sel in (r.result or {}).values():
        if sel is not None and len(sel):
            rows += [(str(a), str(b)) for a, b in sel[["program_id", "customer_id"]].head(2)
                     .itertuples(index=False)]  # fmt: skip
    rows = [x for x in dict.fromkeys(rows) if x in r._keys][:2]
    if len(rows) == 2:
        state = itertools.cycle(rows)
        table.add("sales review", "click a row (drill-down)",
                  full=timed(lambda: r.select(*next(state)), args.repeat)[0])  # fmt: skip


def bench_liability(table, data, programs, args, tmp):
    from rebatelab.widgets import LiabilityForecast

    f = build(table, "liability forecast", lambda: LiabilityForecast(
        data, programs, as_of=args.as_of, method=args.method, export_dir=tmp))  # fmt: skip
    steps = itertools.count(1)

    def new_percentile():  # a value never set before: no cached result
        f.percentile.value = round(0.5 + (next(steps) % 400) * 0.001, 3)

    base = f.compute()  # the distributions at the current common shock

    def read_quantile():  # what a new percentile costs: another quantile of them
        base.at_percentile(round(0.5 + (next(steps) % 400) * 0.001, 3))

    def recompute():  # what a new common shock costs: the distributions again
        f._cache.clear()
        f.compute()

    shock = f.common_shock.value
    table.add("liability forecast", "percentile (a new value each time)",
              compute=timed(read_quantile, args.repeat),
              full=timed(new_percentile, args.repeat)[0])  # fmt: skip
    flip = toggler(f.common_shock, shock, 0.2)

    def new_shock():
        f._cache.clear()
        flip()

    table.add("liability forecast", "common shock",
              compute=timed(recompute, args.repeat),
              full=timed(new_shock, args.repeat)[0])  # fmt: skip


def bench_voila(table, repeat: int) -> None:
    """Whole-page render in Voila through headless Chromium (the bundled notebooks)."""
    import socket
    import subprocess
    import urllib.request

    chromium = Path("/usr/bin/chromium")
    voila = ROOT / ".venv" / "bin" / "voila"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("--voila: playwright not installed; whole-page render skipped")
        return
    if not chromium.exists() or not voila.exists():
        print(f"--voila: {chromium} or {voila} missing; whole-page render skipped")
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(voila), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
         str(ROOT / "notebooks")], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        pages = {
            "program designer": ("01_program_design.ipynb", ".rl-status b"),
            "sales review": ("02_opportunity_review.ipynb", ".rl-status"),
            "liability forecast": ("03_liability_forecast.ipynb", ".rl-status b"),
        }
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=str(chromium), headless=True,
                                  args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
            for name, (nb, ready) in pages.items():
                times = []
                for _ in range(max(1, min(repeat, 3))):
                    ctx = b.new_context(viewport={"width": 1280, "height": 1000})
                    page = ctx.new_page()
                    t = time.perf_counter()
                    page.goto(f"{url}/voila/render/{nb}", timeout=120_000)
                    page.wait_for_selector(ready, timeout=120_000, state="attached")
                    times.append((time.perf_counter() - t) * 1000)
                    ctx.close()
                table.add(name, "render: whole page in Voila (kernel start incl.)",
                          render=statistics.median(times))  # fmt: skip
            b.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "sample")
    parser.add_argument("--programs", type=Path, default=None)
    parser.add_argument("--as-of", default=None, help="as-of date (default: the last line's)")
    parser.add_argument("--program", default=None, help="the designer's program id")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--method", default=None, help="forecast method (default: its default)")
    parser.add_argument("--only", nargs="*", default=["design", "review", "liability"],
                        choices=["design", "review", "liability"])  # fmt: skip
    parser.add_argument("--voila", action="store_true", help="also time whole pages in Voila")
    args = parser.parse_args(argv)

    import rebatelab as rl

    warnings.simplefilter("ignore", UserWarning)
    t = time.perf_counter()
    data = rl.load_data(args.data)
    load_ms = (time.perf_counter() - t) * 1000
    programs = rl.load_programs(args.programs or args.data / "programs.yaml")
    table = Table()
    tmp = Path(tempfile.mkdtemp())
    import gc

    # one view at a time: each is dropped (and collected) before the next is built
    if "design" in args.only:
        bench_designer(table, data, programs, args, tmp)
        gc.collect()
    if "review" in args.only:
        bench_review(table, data, programs, args)
        gc.collect()
    if "liability" in args.only:
        bench_liability(table, data, programs, args, tmp)
        gc.collect()
    if args.voila:
        bench_voila(table, args.repeat)
    load = os.getloadavg()[0]
    table.print(
        f"Dashboards on {args.data} ({len(data.transactions):,} lines, "
        f"{len(data.customers):,} customers, {len(programs)} programs); in-process, warm, "
        f"median (and best) of {args.repeat} [ms]; loading the folder took {load_ms:,.0f} ms "
        f"(not counted in render); load average {load:.1f} on {os.cpu_count()} cores.\n"
        f"Targets: compute < {TARGETS['compute']:.0f} ms, full update < "
        f"{TARGETS['full']:.0f} ms, render < {TARGETS['render'] / 1000:.0f} s."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
