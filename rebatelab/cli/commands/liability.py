"""Rebate liability per program and in total: accrued, expected value, most likely, interval.

Forecasts every program as of --as-of and writes the liability views to --out: an .xlsx
workbook with one sheet per view (total, by_program, by_customer, distribution, notes), or a
.csv of the per-program rows plus a TOTAL row. The total's distribution convolves the
customers' (pools') distributions assuming independence; --common-shock adds one shared
lognormal factor on everyone's spend still to come.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rebatelab.cli.commands._common import (
    add_data_arguments,
    parse_date,
    programs_path,
    write_table,
)
from rebatelab.engine.accrual import accrue
from rebatelab.errors import ParameterError
from rebatelab.finance.distributions import liability_levels
from rebatelab.finance.liability import liability
from rebatelab.io.folders import load_data
from rebatelab.programs.terms import load_programs

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
        default=None,
        help="sd of the log of a factor shared by all customers' spend to come (e.g. 0.1)",
    )
    parser.add_argument(
        "--levels",
        type=int,
        default=16,
        help="evenly spread quantile levels per customer (default 16), plus 0.99, 0.997, 0.999",
    )


def run(args) -> int:
    from rebatelab.forecasting.projection import forecast

    as_of = parse_date(args.as_of)
    if not 0 < args.percentile < 1:
        raise ParameterError(f"--percentile must be inside (0, 1), got {args.percentile}")
    if args.levels < 3:
        raise ParameterError(f"--levels must be >= 3, got {args.levels}")
    data = load_data(args.data)
    programs = load_programs(programs_path(args))
    kw = {} if args.method is None else {"method": args.method}
    levels = liability_levels(args.levels)
    acc = accrue(data, programs, as_of)
    fc = forecast(data, programs, as_of, levels=levels, **kw)
    res = liability(
        acc, fc, programs=programs, percentile=args.percentile, common_shock=args.common_shock
    )
    out = Path(args.out)
    if out.suffix.lower() == ".xlsx":
        res.to_xlsx(out)
    else:
        table = pd.concat([res.by_program, res.total.assign(program_id="TOTAL")], ignore_index=True)
        write_table(table, out)
    t = res.total.iloc[0]
    print(
        f"rebatelab liability as of {as_of} ({len(acc)} customer rows, {int(t['pools'])} pools): "
        f"accrued {t['accrued']:,.2f}; expected {t['expected']:,.2f}; most likely "
        f"{t['most_likely']:,.2f}; p10-p90 {t['p10']:,.2f} - {t['p90']:,.2f}; constrained "
        f"({args.percentile:.0%}) {t['constrained']:,.2f} -> {out}"
    )
    return 0
