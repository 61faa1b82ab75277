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

``--cache`` says where the sales review and the liability dashboard get their results:
``none`` (built from the loaded data, as before the cache), ``cold`` (``from_folder`` with an
empty cache folder: computed and written) or ``warm`` (``from_folder`` reading the entry of
``--cache-dir``, filled first by ``rebatelab precompute`` if it is not). The program
designer opens from the same cache with ``--cache cold|warm``
(``ProgramDesigner.from_folder``: its what-if base, no lines) and reads the lines with
``--cache none`` (its render then includes loading the folder).
With ``--process`` each view is also built in a fresh process under ``/usr/bin/time -v``
(interpreter start, imports, reading the cache or the folder, the first drawing): wall time
and peak resident memory.

Usage::

    python benchmarks/widgets.py --data data/sample [--repeat 7] [--voila]
    python benchmarks/widgets.py --data /tmp/rebatelab-bench/2000000_50000_50 --program P0001
    python benchmarks/widgets.py --data DIR --as-of D --cache warm --cache-dir C --process
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


def bench_designer(table, data, programs, args, tmp, load_ms=0.0, cache_dir=None):
    from rebatelab.widgets import ProgramDesigner

    bases = [p for p in programs if p.variant_of is None]
    pid = args.program or next((p.id for p in bases if len(p.tiers) >= 2), bases[0].id)
    if args.cache == "none":
        d = build(table, "program designer", lambda: ProgramDesigner(
            data, programs, program_id=pid, save_dir=tmp, as_of=args.as_of))  # fmt: skip
    else:  # the what-if base from the cache: the lines are not loaded
        d = build(table, "program designer", lambda: ProgramDesigner.from_folder(
            args.data, args.programs, args.as_of, cache_dir=cache_dir, program_id=pid,
            save_dir=tmp))  # fmt: skip
    name = f"program designer ({pid}, {d.n_scenarios} scen.)"
    row = table.rows[-1]
    if args.cache == "none":  # the designer reads the lines: loading the folder is its render too
        table.rows[-1] = (name, "render: load the folder + build the view", None, None,
                          row[4] + load_ms)  # fmt: skip
    else:
        table.rows[-1] = (name, "render: build the view from the cache", None, None, row[4])
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


def review_factory(data, programs, args, cache_dir):
    from rebatelab.widgets import ReviewDashboard

    if args.cache == "none":
        return lambda: ReviewDashboard(data, programs, as_of=args.as_of, method=args.method)
    return lambda: ReviewDashboard.from_folder(args.data, args.programs, args.as_of,
                                               method=args.method, cache_dir=cache_dir)  # fmt: skip


def liability_factory(data, programs, args, cache_dir, tmp):
    from rebatelab.widgets import LiabilityForecast

    if args.cache == "none":
        return lambda: LiabilityForecast(data, programs, as_of=args.as_of, method=args.method,
                                         export_dir=tmp)  # fmt: skip
    return lambda: LiabilityForecast.from_folder(args.data, args.programs, args.as_of,
                                                 method=args.method, cache_dir=cache_dir,
                                                 export_dir=tmp)  # fmt: skip


def bench_review(table, data, programs, args, cache_dir):
    r = build(table, "sales review", review_factory(data, programs, args, cache_dir))
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


def bench_liability(table, data, programs, args, tmp, cache_dir):
    f = build(table, "liability forecast", liability_factory(data, programs, args, cache_dir, tmp))
    steps = itertools.count(1)

    def new_percentile():  # a value never set before: no cached result
        f.percentile.value = round(0.5 + (next(steps) % 400) * 0.001, 3)

    base = f.compute()  # the distributions at the current common shock

    def read_quantile():  # what a new percentile costs: another quantile of them
        base.at_percentile(round(0.5 + (next(steps) % 400) * 0.001, 3))

    def forget():  # as in a new session: nothing kept in memory (the disk cache stays)
        f._cache.clear()
        f._backgrounds.clear()  # the figure's pixels per shock drawn
        if f.cache is not None:
            for k in [k for k in f.cache._memo if k.startswith("liability-")]:
                del f.cache._memo[k]

    def recompute():  # what a new common shock costs: the distributions again (or read)
        forget()
        f.compute()

    shock = f.common_shock.value
    table.add("liability forecast", "percentile (a new value each time)",
              compute=timed(read_quantile, args.repeat),
              full=timed(new_percentile, args.repeat)[0])  # fmt: skip
    flip = toggler(f.common_shock, shock, 0.2)

    def new_shock():
        forget()
        flip()

    stored = f.cache is not None and f.cache.has(
        "liability-shock=0.2-earned-grid=65536-levels=16-nodes=15")  # fmt: skip
    what = "common shock 0 <-> 0.2" + (" (both stored)" if stored else " (first time)")
    if args.cache == "none" or stored:
        table.add("liability forecast", what, compute=timed(recompute, args.repeat),
                  full=timed(new_shock, args.repeat)[0])  # fmt: skip
    else:  # each first time computes (and stores) it: time that once
        t = time.perf_counter()
        new_shock()
        table.add("liability forecast", what, full=(time.perf_counter() - t) * 1000)
    for v in (0.2, shock, 0.2, shock):  # each shown since the last forget: both kept
        f.common_shock.value = v
    times = []
    for v in (0.2, shock) * max(1, args.repeat // 2):
        t = time.perf_counter()
        f.common_shock.value = v
        times.append((time.perf_counter() - t) * 1000)
    table.add("liability forecast", "common shock back (results, pixels kept)",
              full=statistics.median(times))  # fmt: skip


_PROCESS = {
    "program designer": (
        "import rebatelab as rl\n"
        "from rebatelab.widgets import ProgramDesigner\n"
        "data = rl.load_data({data!r})\n"
        "v = ProgramDesigner(data, {programs!r}, as_of={as_of!r}, program_id={program!r}, "
        "save_dir={tmp!r})\n"
    ),
    "program designer (cache)": (
        "from rebatelab.widgets import ProgramDesigner\n"
        "v = ProgramDesigner.from_folder({data!r}, {programs!r}, {as_of!r}, "
        "cache_dir={cache_dir!r}, program_id={program!r}, save_dir={tmp!r})\n"
    ),
    "sales review": (
        "from rebatelab.widgets import ReviewDashboard\n"
        "v = ReviewDashboard.from_folder({data!r}, {programs!r}, {as_of!r}, method={method!r}, "
        "cache_dir={cache_dir!r})\n"
    ),
    "liability forecast": (
        "from rebatelab.widgets import LiabilityForecast\n"
        "v = LiabilityForecast.from_folder({data!r}, {programs!r}, {as_of!r}, method={method!r}, "
        "cache_dir={cache_dir!r})\n"
    ),
}


def bench_process(table, args, cache_dir) -> None:
    """Each view built in a fresh process under /usr/bin/time -v: wall time and peak RSS."""
    import re
    import subprocess

    time_bin = Path("/usr/bin/time")
    if not time_bin.exists():
        print("--process: /usr/bin/time missing; skipped", file=sys.stderr)
        return
    programs = str(args.programs or args.data / "programs.yaml")
    names = {"design": "program designer", "review": "sales review",
             "liability": "liability forecast"}  # fmt: skip
    for key in args.only:
        name = names[key]
        if args.cache == "none" and key != "design":
            continue  # the fresh-process figure is the cache's (cold or warm)
        if key == "design" and args.cache != "none":
            name = "program designer (cache)"
        code = _PROCESS[name].format(
            data=str(args.data), programs=programs, as_of=args.as_of, method=args.method,
            program=args.program, tmp=tempfile.mkdtemp(),
            cache_dir=None if cache_dir is None else str(cache_dir),
        )  # fmt: skip
        if key == "design" and args.program is None:
            code = code.replace("program_id=None, ", "")
        name = name.replace(" (cache)", "")
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        out = subprocess.run([str(time_bin), "-v", sys.executable, "-c", code], cwd=ROOT,
                             capture_output=True, text=True, env=env)  # fmt: skip
        if out.returncode != 0:
            print(f"--process {name}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", out.stderr)
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
        h, m, sec = wall.groups()
        ms = ((int(h or 0) * 60 + int(m)) * 60 + float(sec)) * 1000
        peak = int(rss.group(1)) / 1e6
        table.add(name, f"render: fresh process, /usr/bin/time (peak {peak:,.2f} GB)", render=ms)


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
    parser.add_argument("--cache", choices=["none", "cold", "warm"], default="none",
                        help="where the review and liability views get their results")  # fmt: skip
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="cache of --cache warm (default DATA/.rebatelab-cache)")  # fmt: skip
    parser.add_argument("--process", action="store_true",
                        help="also build each view in a new process (time -v)")  # fmt: skip
    args = parser.parse_args(argv)

    import rebatelab as rl

    warnings.simplefilter("ignore", UserWarning)
    tmp = Path(tempfile.mkdtemp())
    cache_dir = {"none": None, "cold": tmp / "empty-cache", "warm": args.cache_dir}[args.cache]
    fill_ms = None
    if args.cache == "warm":
        from rebatelab.report.dashboard_inputs import dashboard_cache

        t = time.perf_counter()
        cache, _ = dashboard_cache(args.data, args.programs, args.as_of, method=args.method,
                                   cache_dir=cache_dir)  # fmt: skip
        cache.precompute(shocks=(0.0, 0.2), eligible=False)  # read when already stored
        from rebatelab.io.cache import InputCache

        designer = InputCache(args.data, args.programs, as_of=args.as_of, cache_dir=cache_dir)
        designer.precompute_designer()  # the designer's base (the program file's terms)
        fill_ms = (time.perf_counter() - t) * 1000
        misses = [*cache.misses, *designer.misses]
        print(f"cache {cache.path}: {'filled' if misses else 'read'} in "
              f"{fill_ms:,.0f} ms (computed {misses})", file=sys.stderr)  # fmt: skip
        del cache, designer
    t = time.perf_counter()
    data = rl.load_data(args.data)
    load_ms = (time.perf_counter() - t) * 1000
    programs = rl.load_programs(args.programs or args.data / "programs.yaml")
    table = Table()
    n_lines, n_customers = len(data.transactions), len(data.customers)
    import gc

    # one view at a time: each is dropped (and collected) before the next is built
    if "design" in args.only:
        bench_designer(table, data, programs, args, tmp, load_ms, cache_dir)
        gc.collect()
    if args.cache != "none":
        del data  # the views read the cache (and the folder on a miss), not these frames
        data = None
        gc.collect()
    if "review" in args.only:
        bench_review(table, data, programs, args, cache_dir)
        gc.collect()
    if "liability" in args.only:
        bench_liability(table, data, programs, args, tmp, cache_dir)
        gc.collect()
    if args.process:
        bench_process(table, args, cache_dir)
    if args.voila:
        bench_voila(table, args.repeat)
    load = os.getloadavg()[0]
    mode = {"none": "views built from the loaded data, no cache",
            "cold": "review and liability opened from an empty cache (computed and written)",
            "warm": "review and liability opened from the filled cache"}[args.cache]  # fmt: skip
    table.print(
        f"Dashboards on {args.data} ({n_lines:,} lines, {n_customers:,} customers, "
        f"{len(programs)} programs), as of {args.as_of or 'the last line'}; {mode}; "
        f"in-process, median (and best) of {args.repeat} [ms]; loading the folder took "
        f"{load_ms:,.0f} ms (counted in the designer's render only); load average "
        f"{load:.1f} on {os.cpu_count()} cores.\n"
        f"Targets: compute < {TARGETS['compute']:.0f} ms, full update < "
        f"{TARGETS['full']:.0f} ms, render < {TARGETS['render'] / 1000:.0f} s."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
