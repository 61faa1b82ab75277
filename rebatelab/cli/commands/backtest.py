"""Backtest the forecast methods: cut the history at as-of dates and score against period ends.

Prints one line per method (Brier score and log loss of the next-tier probability, expected
calibration error, pinball loss, p10-p90 coverage, error of the total expected rebate) and
writes the metrics, per-date scores and calibration table when --out is given.
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
from rebatelab.cli.commands.forecast import METHODS
from rebatelab.errors import ParameterError

NAME = "backtest"


HELP = "score forecast methods at past as-of dates against what happened"


def add_arguments(parser) -> None:
    add_data_arguments(parser, as_of=False)
    parser.add_argument(
        "--as-of",
        required=True,
        nargs="+",
        help="one or more as-of dates, YYYY-MM-DD",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        default=list(METHODS),
        help="methods to compare (default: all)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write metrics here (.csv/.parquet/.xlsx); calibration and per-date scores go "
        "next to it with suffixes _calibration and _by_date",
    )


def run(args) -> int:
    import pandas as pd

    from rebatelab.forecasting.backtest import METRIC_COLUMNS, backtest
    from rebatelab.io.folders import load_data
    from rebatelab.programs.terms import load_programs

    dates = [parse_date(d) for d in args.as_of]
    if not dates:
        raise ParameterError("--as-of: give at least one date")
    if args.out is not None:
        check_output(args.out, option="--out")
    data = load_data(args.data, date_format=args.date_format)
    programs = load_programs(programs_path(args))
    res = backtest(data, programs, dates, args.methods)
    cols = METRIC_COLUMNS
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(res.metrics[cols].round(4).to_string(index=False))
    if args.out is not None:
        out = Path(args.out)
        write_table(res.metrics, out, sheet="metrics")
        write_table(
            res.calibration,
            out.with_name(f"{out.stem}_calibration{out.suffix}"),
            sheet="calibration",
        )
        write_table(res.by_date, out.with_name(f"{out.stem}_by_date{out.suffix}"), sheet="by_date")
    return 0
