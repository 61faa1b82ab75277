"""Rebate liability per program and in total: accrued, expected value, most likely, interval.

Forecasts every program as of --as-of and writes the liability views to --out: an .xlsx
workbook with one sheet per view (total, by_program, by_customer, distribution, notes), or a
.csv of the per-program rows plus a TOTAL row. The total's distribution convolves the
customers' (pools') distributions assuming independence; --common-shock adds one shared
lognormal factor on everyone's spend still to come.

The terms are the program file's plus the approved change requests of the workspace in force
on --as-of (--workspace, default DATA/rebatelab.duckdb when it exists), as `rebatelab close`
applies them; --no-workspace uses the program file alone. The xlsx workbook opens with a cover
sheet (as-of, method, data source, terms, generated at, version).
"""

from __future__ import annotations

from pathlib import Path

from rebatelab.cli.commands._common import add_data_arguments

NAME = "liability"


HELP = "rebate liability: accrued, expected value, most likely, p10/p50/p90, constrained"


def add_arguments(parser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="output file (.xlsx or .csv)")
    parser.add_argument("--method", default=None, help="forecast method (default: the default)")
    parser.add_argument(
        "--percentile", type=float, default=0.8, help="level of the constrained estimate"
    )
    parser.add_argument(
        "--common-shock",
        type=float,
        default=0.0,
        help="sd of the log of a factor shared by all customers' spend to come (e.g. 0.1)",
    )
    parser.add_argument(
        "--levels",
        type=int,
        default=16,
        help="evenly spread quantile levels per customer (default 16), plus 0.99, 0.997, 0.999",
    )
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="workspace whose approved change requests apply (default DATA/rebatelab.duckdb "
        "when it exists)",
    )
    parser.add_argument(
        "--no-workspace",
        action="store_true",
        help="the program file's terms alone, without the workspace's approved changes",
    )


def run(args) -> int:
    # the package is imported here, not when the parser is built (fast --help)
    import pandas as pd

    from rebatelab.cli.commands._common import check_output, parse_date, programs_path, write_table
    from rebatelab.errors import ParameterError
    from rebatelab.finance.liability import LiabilityOptions, liability
    from rebatelab.io.folders import load_data
    from rebatelab.programs.terms import load_programs
    from rebatelab.report.finance import liability_sheets
    from rebatelab.report.xlsx import write_workbook
    from rebatelab.workspace.changes import apply_workspace, in_force
    from rebatelab.workspace.store import default_workspace

    as_of = parse_date(args.as_of)
    options = LiabilityOptions(
        percentile=args.percentile,
        common_shock=args.common_shock,
        method=args.method,
        n_levels=args.levels,
    )  # checked before the data is read
    if args.no_workspace and args.workspace is not None:
        raise ParameterError("give --workspace or --no-workspace, not both")
    check_output(args.out, option="--out")
    data = load_data(args.data, date_format=args.date_format)
    programs = load_programs(programs_path(args))
    ws = None if args.no_workspace else (args.workspace or default_workspace(data))
    terms = "the program file"
    if ws is not None and (ws.exists() or args.workspace is not None):
        used = in_force(ws, as_of)
        if len(used):
            data, programs = apply_workspace(data, programs, ws, as_of)
            ids = ", ".join(f"#{i}" for i in used["request_id"])
            terms = f"the program file + approved change request(s) {ids} of {ws}"
    res = liability(data, programs, as_of, options=options)
    out = Path(args.out)
    if out.suffix.lower() == ".xlsx":
        sheets, cover = liability_sheets(res, data=data, terms=terms)
        write_workbook(sheets, out, cover=cover)
    else:
        table = pd.concat([res.by_program, res.total.assign(program_id="TOTAL")], ignore_index=True)
        write_table(table, out)
    t = res.total.iloc[0]
    print(
        f"rebatelab liability as of {as_of} ({int(t['customers'])} customer rows, "
        f"{int(t['pools'])} pools): accrued {t['accrued']:,.2f}; expected {t['expected']:,.2f}; "
        f"most likely {t['most_likely']:,.2f}; p10-p90 {t['p10']:,.2f} - {t['p90']:,.2f}; "
        f"constrained ({options.percentile:.0%}) {t['constrained']:,.2f} -> {out}"
    )
    print(f"terms: {terms}")
    return 0
