"""Forecast every program and member customer's end-of-period basis, tiers and rebate.

Writes one row per (program, customer), aligned with ``rebatelab accrue``: basis to date,
projected mean / p10 / p50 / p90 of the end-of-period basis, probability of the next tier and
of each tier, expected and most likely rebate, and basis quantiles (``q_<level>`` columns).

DuckDB reads, checks and reduces the line files (CSV or Parquet, a file or a folder of
parts) to the members' sums, as ``rebatelab accrue`` does: the lines never come into
memory, and the result is the in-memory path's to the bit.

The approved change requests of the workspace (--workspace, default DATA/rebatelab.duckdb
when it exists) in force on --as-of are forecast with the program file's terms; pending,
rejected and refused requests are not.
"""

from __future__ import annotations

from pathlib import Path

from rebatelab.cli.commands._common import (
    add_data_arguments,
    check_output,
    parse_date,
    programs_path,
    write_table,
)
from rebatelab.errors import ParameterError

NAME = "forecast"


HELP = "end-of-period basis, tier probabilities and expected rebate per customer"


#: :data:`rebatelab.forecasting.projection.METHODS`, spelled out so that ``--help`` imports
#: neither numpy nor scipy (a test checks that the two agree).
METHODS = ("hierarchical", "bgnbd", "run_rate", "learned")


def add_arguments(parser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="output file (.csv/.parquet/.xlsx)")
    parser.add_argument(
        "--method",
        choices=list(METHODS),
        default="hierarchical",
        help="forecast model (default: hierarchical; bgnbd and run_rate are comparators; "
        "learned needs the learn extra)",
    )
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="workspace whose approved change requests apply (default DATA/rebatelab.duckdb "
        "when it exists)",
    )


def run(args) -> int:
    import pandas as pd

    from rebatelab.cli.commands.accrue import _in_force
    from rebatelab.engine.stage_one import reduce
    from rebatelab.forecasting.projection import _check_as_of, forecast
    from rebatelab.io.folders import load_data
    from rebatelab.programs.terms import load_programs

    as_of = parse_date(args.as_of)
    check_output(args.out, option="--out")
    if args.workspace is not None and not args.workspace.is_file():
        raise ParameterError(f"--workspace: no workspace file at {args.workspace}")
    if args.method == "learned":
        from rebatelab.forecasting.learned import _sklearn

        _sklearn()  # the optional dependency, before the lines are read
    # DuckDB checks and reduces the line files; the lines never come into memory
    data = load_data(args.data, date_format=args.date_format, lines="lazy")
    programs = load_programs(programs_path(args))
    data, programs = _in_force(args, data, programs, as_of)  # only approved terms are forecast
    _check_as_of(pd.Timestamp(as_of), *data.date_range)  # before the reduction
    red = reduce(data, programs, as_of, members_only=True)
    fc = forecast(red, method=args.method)
    write_table(fc, args.out, sheet="forecast")
    nxt = fc["p_next_tier"].dropna()
    print(
        f"{len(fc)} rows for {fc['program_id'].nunique()} programs ({args.method}) -> {args.out}; "
        f"expected rebate {fc['expected_rebate'].sum():,.2f}, most likely "
        f"{fc['most_likely_rebate'].sum():,.2f}; {int((nxt >= 0.5).sum())} customers more "
        "likely than not to reach their next tier"
    )
    return 0
