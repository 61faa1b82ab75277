"""Fill the dashboards' cache ahead of time (e.g. nightly): no reduction or forecast on opening.

Reduces the lines, accrues, forecasts, builds the review's three lists and the liability's
distributions at each --common-shock, estimates the program designer's what-if base (the
spend model and each program's members, shares and baselines), and stores them under
DATA/.rebatelab-cache/ (or --cache-dir), keyed by the content of the data files, the terms
(program file plus the workspace's approved change requests in force on --as-of), the as-of
day, the forecast method and the rebatelab version. Results already stored for these inputs
are not recomputed; a changed input gets a new entry (--prune removes the older ones). The
sales review and the liability dashboard read the entry when they are opened with the same
inputs (`ReviewDashboard.from_folder`, `LiabilityForecast.from_folder`); the designer reads
its base from the entry of the program file's terms (`ProgramDesigner.from_folder`).
"""

from __future__ import annotations

from pathlib import Path

from rebatelab.cli.commands._common import add_data_arguments

NAME = "precompute"

HELP = (
    "fill the dashboards' cache (stage one, forecast, review lists, liability, the designer's "
    "base) ahead of time"
)


def add_arguments(parser) -> None:
    add_data_arguments(parser, as_of=False)
    parser.add_argument(
        "--as-of", default=None, help="as-of date, YYYY-MM-DD (default: the last line's date)"
    )
    parser.add_argument("--method", default=None, help="forecast method (default: the default)")
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="cache folder (default DATA/.rebatelab-cache)"
    )
    parser.add_argument(
        "--common-shock",
        default="0",
        help="comma-separated common shocks whose liability is stored (default 0; the "
        "dashboard's slider goes 0, 0.05, ..., 0.5)",
    )
    parser.add_argument(
        "--no-eligible",
        action="store_true",
        help="skip the eligible-not-enrolled list (it forecasts every eligible customer)",
    )
    parser.add_argument(
        "--no-designer",
        action="store_true",
        help="skip the program designer's what-if base (its spend model and each program's "
        "members, shares and baselines, estimated from the lines)",
    )
    parser.add_argument(
        "--no-workspace",
        action="store_true",
        help="the program file's terms alone, without the workspace's approved changes",
    )
    parser.add_argument(
        "--workspace", type=Path, default=None, help="workspace (default DATA/rebatelab.duckdb)"
    )
    parser.add_argument(
        "--check",
        choices=["content", "stat"],
        default="content",
        help="tell input files apart by their content (default) or by size and time only",
    )
    parser.add_argument("--prune", action="store_true", help="remove entries of older inputs")


def run(args) -> int:
    import time

    from rebatelab.cli.commands._common import parse_date, programs_path
    from rebatelab.errors import ParameterError
    from rebatelab.io.cache import dir_size
    from rebatelab.report.dashboard_inputs import dashboard_cache

    as_of = None if args.as_of is None else parse_date(args.as_of)
    try:
        shocks = [float(x) for x in str(args.common_shock).split(",") if x.strip()]
    except ValueError:
        raise ParameterError(
            f"--common-shock: expected numbers separated by commas, got {args.common_shock!r}"
        ) from None
    if any(not s >= 0 for s in shocks):
        raise ParameterError(f"--common-shock: each sd must be >= 0, got {shocks}")
    if args.no_workspace and args.workspace is not None:
        raise ParameterError("give --workspace or --no-workspace, not both")
    t = time.perf_counter()
    cache, terms = dashboard_cache(
        args.data,
        programs_path(args),
        as_of,
        method=args.method,
        workspace=args.workspace,
        apply_changes=not args.no_workspace,
        cache_dir=args.cache_dir,
        check=args.check,
        load_options=None if args.date_format is None else {"date_format": args.date_format},
    )
    designer, dcache = [], None
    if not args.no_designer:
        from rebatelab.io.cache import InputCache

        # the designer compares designs with the program file's terms (no approved changes)
        dcache = InputCache(args.data, programs_path(args), as_of=as_of,
                            cache_dir=args.cache_dir, check=args.check,
                            load_options=cache.load_options)  # fmt: skip
        if dcache.key == cache.key:  # the same entry: first, while the lines are loaded
            dcache = cache
            designer = cache.precompute_designer()
    stored = cache.precompute(shocks=shocks, eligible=not args.no_eligible)
    pruned = cache.prune() if args.prune else []
    if dcache is not None and dcache is not cache:  # its own entry (kept by the prune)
        designer = dcache.precompute_designer()
        stored = [*stored, *designer]
    read = sorted(set(cache.hits))
    print(
        f"rebatelab precompute: {len(stored)} results for {args.data} as of "
        f"{cache.reduction().as_of.date()} ({terms}) in {cache.path} "
        f"({dir_size(cache.path) / 1e6:,.0f} MB); computed {len(cache.misses)}, already "
        f"stored {len(read)}; {time.perf_counter() - t:,.1f} s"
        + (f"; removed {len(pruned)} older entries" if pruned else "")
    )
    return 0
