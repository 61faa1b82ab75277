"""Accrue every program and member customer as of a date, and reconcile the lines.

Writes one row per (program, customer): basis, tier, rate, earned, payable, next threshold,
gap to it, earned at the next tier, days left and flags. The output format follows the
extension of --out (.csv, .parquet, .xlsx).

By default the lines of the data folder (CSV or Parquet, a file or a folder of parts) are
read, checked, reduced and reconciled by DuckDB, in time proportional to the lines and
memory bounded by the result; --backend numpy (or duckdb, dask) loads them in memory as
the Python API does. --exclusions writes the detail of every (line, program) pair that did
not count, streamed; 'rebatelab explain' tells why one invoice's lines counted or not.

The approved change requests of the workspace (--workspace, default DATA/rebatelab.duckdb
when it exists) in force on --as-of accrue with the program file's terms; pending, rejected
and refused requests do not.
"""

from __future__ import annotations

from pathlib import Path

from rebatelab.cli.commands._common import (
    add_data_arguments,
    check_memory_limit,
    check_output,
    parse_date,
    programs_path,
    write_table,
)
from rebatelab.errors import ParameterError

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
        "--workspace",
        type=Path,
        default=None,
        help="workspace whose approved change requests accrue (default DATA/rebatelab.duckdb "
        "when it exists)",
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
        default=None,
        help="load the lines in memory and reduce them with this engine (default: DuckDB "
        "reads, checks and reduces the files without loading the lines)",
    )
    parser.add_argument(
        "--lazy",
        action="store_true",
        help="with --backend duckdb or dask: leave the lines in their Parquet files and "
        "stream them through that backend's period sums (no reconciliation)",
    )
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 2GB")
    parser.add_argument(
        "--scheduler", default=None, help="dask.distributed scheduler address (with --backend dask)"
    )


def _backend_options(args) -> dict:
    if args.lazy and args.backend not in ("duckdb", "dask"):
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


def _check_arguments(args) -> None:
    """Every option a user can get wrong, checked before any file is read or written."""
    if not args.data.is_dir():
        raise ParameterError(f"--data: data folder not found: {args.data}")
    check_memory_limit(args.memory_limit)
    check_output(args.out, option="--out")
    if args.exclusions is not None:
        if args.backend is None:  # streamed by DuckDB: CSV or Parquet
            check_output(args.exclusions, option="--exclusions", suffixes=(".csv", ".parquet"))
        else:
            check_output(args.exclusions, option="--exclusions")
        if args.exclusions.resolve() == args.out.resolve():
            raise ParameterError(f"--exclusions and --out name the same file: {args.out}")
    if args.workspace is not None and not args.workspace.is_file():
        raise ParameterError(f"--workspace: no workspace file at {args.workspace}")


def _in_force(args, data, programs, as_of):
    """The data and programs with the workspace's approved requests in force on ``as_of``."""
    from rebatelab.workspace.changes import apply_workspace

    ws = args.workspace
    if ws is None:
        ws = args.data / "rebatelab.duckdb"
        if not ws.exists():
            return data, programs
    new_data, new_programs = apply_workspace(data, programs, ws, as_of)
    store = data.cache.get("line_store")
    if new_data is not data and store is not None:  # the lines are unchanged: keep their store
        new_data.cache["line_store"] = store
    return new_data, new_programs


def _summary(acc, rec, out) -> str:
    counted = rec[rec["reason"] == "counted"]["lines"].sum()
    excluded = rec[~rec["reason"].isin(["counted", "in_period"])]["lines"].sum()
    return (
        f"{len(acc)} rows for {acc['program_id'].nunique()} programs -> {out}; "
        f"(line, program) pairs counted {counted}, excluded {excluded}; "
        f"earned {acc['earned'].sum():,.2f}, payable {acc['payable'].sum():,.2f}"
    )


def run(args) -> int:
    from rebatelab.io.folders import load_data
    from rebatelab.programs.terms import load_programs

    as_of = parse_date(args.as_of)
    _check_arguments(args)
    options = _backend_options(args)
    if args.backend is None:
        return _run_files(args, as_of)
    from rebatelab.engine.accrual import accrue
    from rebatelab.engine.reconciliation import exclusions, reconcile

    data = load_data(
        args.data,
        unknown_ids=args.unknown_ids,
        lines="lazy" if args.lazy else "memory",
        memory_limit=args.memory_limit,
        date_format=args.date_format,
    )
    programs = load_programs(programs_path(args))
    data, programs = _in_force(args, data, programs, as_of)
    acc = accrue(data, programs, as_of, backend=args.backend, **options)
    write_table(acc, args.out, sheet="accrual")
    if args.lazy:
        print(
            f"{len(acc)} rows for {acc['program_id'].nunique()} programs -> {args.out} "
            f"(lines streamed by {args.backend}; no reconciliation with --lazy)"
        )
        return 0
    if args.exclusions is not None:
        exc = exclusions(data, programs, as_of=as_of)
        rec = reconcile(data, programs, as_of=as_of, excluded=exc)
        write_table(exc, args.exclusions, sheet="exclusions")
    else:
        rec = reconcile(data, programs, as_of=as_of)
    print(_summary(acc, rec, args.out))
    return 0


def _run_files(args, as_of) -> int:
    """The default path: DuckDB reads, checks, reduces and reconciles the files."""
    from rebatelab.engine.accrual import accrue_sums
    from rebatelab.engine.backends.sql_reduce import (
        export_exclusions,
        period_and_baseline,
        store_reconciliation,
    )
    from rebatelab.io.folders import load_data
    from rebatelab.programs.terms import load_programs

    programs = load_programs(programs_path(args))  # a bad program file fails before the scan
    data = load_data(
        args.data,
        unknown_ids=args.unknown_ids,
        lines="lazy",
        memory_limit=args.memory_limit,
        date_format=args.date_format,
    )
    data, programs = _in_force(args, data, programs, as_of)
    period, baseline = period_and_baseline(data, programs, as_of)
    acc = accrue_sums(programs, as_of, period, baseline)
    write_table(acc, args.out, sheet="accrual")
    rec = store_reconciliation(data, programs, as_of=as_of, sums=period)
    if args.exclusions is not None:  # the extension was checked before the work
        args.exclusions.parent.mkdir(parents=True, exist_ok=True)
        suffix = args.exclusions.suffix.lower()
        export_exclusions(data, programs, as_of, args.exclusions, fmt=suffix[1:])
    print(_summary(acc, rec, args.out))
    return 0
