"""Run the main job on a data folder and print a readable summary.

Accrues every program as of the last transaction date (or --as-of), forecasts each customer's
end of period, writes the accrual, exclusions, reconciliation, forecast and top opportunities
to --out, and prints programs, customers per tier, earned amounts, the customers nearest to
their next tier, the expected rebate at period end and the opportunities to act on.
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

NAME = "demo"


HELP = "accrue the sample (or any data folder) and print a readable summary"


def add_arguments(parser) -> None:
    add_data_arguments(parser, as_of=False)
    parser.add_argument("--as-of", default=None, help="as-of date (default: last transaction)")
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")


def run(args) -> int:
    import pandas as pd

    from rebatelab.engine.accrual import accrue
    from rebatelab.engine.reconciliation import exclusions
    from rebatelab.engine.stage_one import reduce
    from rebatelab.forecasting.projection import forecast
    from rebatelab.io.folders import load_data
    from rebatelab.programs.terms import load_programs
    from rebatelab.report.summary import nearest_to_next_tier, program_summary
    from rebatelab.review.opportunities import opportunities

    check_output(args.out, option="--out", folder=True)
    data = load_data(args.data, date_format=args.date_format)
    programs = load_programs(programs_path(args))
    as_of = parse_date(args.as_of) if args.as_of else data.date_range[1].date()
    red = reduce(data, programs, as_of)  # stage one, once: every step below reads it
    acc = accrue(red)
    exc = exclusions(data, programs, as_of=as_of)
    rec = red.reconciliation
    write_table(acc, args.out / "accrual.csv")
    write_table(exc, args.out / "exclusions.csv")
    write_table(rec, args.out / "reconciliation.csv")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(
            f"rebatelab demo: {data.source}, {data.n_lines:,} lines, "
            f"{len(data.customers):,} customers, {len(programs)} programs, as of {as_of}\n"
        )
        print("Programs (members per tier, basis, earned and payable to date):")
        print(program_summary(acc).to_string(float_format=lambda v: f"{v:,.2f}"), "\n")
        print("Customers nearest to their next tier:")
        near = nearest_to_next_tier(acc, n=10)
        near["gap_share"] = (100 * near["gap_share"]).map(lambda v: f"{v:.1f}%")
        near = near.rename(columns={"gap_share": "gap_%_of_next"})
        print(near.to_string(index=False, float_format=lambda v: f"{v:,.2f}"), "\n")
        fc = forecast(red)
        write_table(fc, args.out / "forecast.csv")
        by_prog = (
            acc.assign(
                expected=fc["expected_rebate"],
                most_likely=fc["most_likely_rebate"],
                likely_next=fc["p_next_tier"] >= 0.5,
            )
            .groupby("program_id", sort=False)
            .agg(
                accrued=("earned", "sum"),
                expected_at_end=("expected", "sum"),
                most_likely=("most_likely", "sum"),
                likely_next_tier=("likely_next", "sum"),
            )
        )
        print(
            f"Forecast to period end ({fc['method'].iloc[0]} method): accrued at the current "
            "tier vs the expected rebate at period end (ASC 606 expected value):"
        )
        print(by_prog.to_string(float_format=lambda v: f"{v:,.2f}"), "\n")
        opp = opportunities(acc, fc, data=data, programs=programs, as_of=as_of, top=5)
        write_table(opp, args.out / "opportunities.csv")
        print("Top opportunities (what a rep can say this week):")
        for r in opp.itertuples():  # five lines of text
            print(f"  {r.rank}. {r.program_id} / {r.customer_id} (rep {r.rep}): {r.sentence}")
        print()
        counted = rec.loc[rec["reason"] == "counted", "net_amount"].sum()
        print(
            f"Reconciliation: {counted:,.2f} counted; every line in a program period is counted "
            f"or listed in {args.out / 'exclusions.csv'} ({len(exc):,} line-program pairs)."
        )
        print(
            f"Wrote {args.out}/accrual.csv, exclusions.csv, reconciliation.csv, forecast.csv, "
            "opportunities.csv"
        )
    return 0
