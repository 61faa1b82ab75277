"""Accrue every program and member customer as of a date, and list excluded lines.

Writes one row per (program, customer): basis, tier, rate, earned, payable, next threshold,
gap to it, earned at the next tier, days left and flags. The output format follows the
extension of --out (.csv, .parquet, .xlsx).
"""

from __future__ import annotations

from pathlib import Path

from rebatelab.cli.commands._common import (
    add_data_arguments,
    parse_date,
    programs_path,
    write_table,
)
from rebatelab.engine.accrual import accrue
from rebatelab.engine.reconciliation import exclusions, reconcile
from rebatelab.errors import ParameterError
from rebatelab.io.folders import load_data
from rebatelab.programs.terms import load_programs

NAME = "accrue"


HELP = "accrual per program and customer as of a date"


def add_arguments(parser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="output file (.csv/.parquet/.xlsx)")
    parser.add_argument(
        "--exclusions",
        type=Path,
        default=None,
        help="also write every (line, program) pair that did not count, with its reason",
    )
    parser.add_argument(
        "--unknown-ids",
        choices=["error", "exclude"],
        default="error",
        help="lines with unknown customer/product ids: fail (default) or list as excluded",
    )
    parser.add_argument(
        "--backend",
        choices=["numpy", "duckdb", "dask"],
        default="numpy",
        help="engine of the line reduction (default numpy, in memory)",
    )
    parser.add_argument(
        "--lazy",
        action="store_true",
        help="leave the transaction lines on disk (Parquet) and stream them with DuckDB or Dask; "
        "files may be larger than memory (no reconciliation or exclusions then)",
    )
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 2GB")
    parser.add_argument(
        "--scheduler", default=None, help="dask.distributed scheduler address (with --backend dask)"
    )


def _backend_options(args) -> dict:
    if args.lazy and args.backend == "numpy":
        raise ParameterError("--lazy needs --backend duckdb or --backend dask")
    if args.scheduler and args.backend != "dask":
        raise ParameterError("--scheduler needs --backend dask")
    options = {}
    if args.backend == "duckdb" and args.memory_limit:
        options["memory_limit"] = args.memory_limit
    if args.scheduler:
        from distributed import Client

        options["client"] = Client(args.scheduler)
    return options


def run(args) -> int:
    as_of = parse_date(args.as_of)
    options = _backend_options(args)
    data = load_data(
        args.data,
        unknown_ids=args.unknown_ids,
        lines="lazy" if args.lazy else "memory",
        memory_limit=args.memory_limit,
    )
    programs = load_programs(programs_path(args))
    acc = accrue(data, programs, as_of, backend=args.backend, **options)
    write_table(acc, args.out, sheet="accrual")
    if args.lazy:
        print(
            f"{len(acc)} rows for {acc['program_id'].nunique()} programs -> {args.out} "
            f"(lines streamed by {args.backend}; no reconciliation with --lazy)"
        )
        return 0
    exc = exclusions(data, programs, as_of=as_of)
    rec = reconcile(data, programs, as_of=as_of, excluded=exc)
    counted = rec[rec["reason"] == "counted"]["lines"].sum()
    excluded = rec[~rec["reason"].isin(["counted", "in_period"])]["lines"].sum()
    if args.exclusions is not None:
        write_table(exc, args.exclusions, sheet="exclusions")
    print(
        f"{len(acc)} rows for {acc['program_id'].nunique()} programs -> {args.out}; "
        f"(line, program) pairs counted {counted}, excluded {excluded}; "
        f"earned {acc['earned'].sum():,.2f}, payable {acc['payable'].sum():,.2f}"
    )
    return 0
