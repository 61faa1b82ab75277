"""Explain why the lines of one invoice counted, or did not count, toward each program.

Prints one row per (line, program): whether the line counted and, if not, the reason (the
first that applies: unknown customer or product, customer filter, not enrolled, counted
under a variant, before enrollment, product filters, or dated outside the period). Reads
only that invoice's lines.
"""

from __future__ import annotations

from pathlib import Path

from rebatelab.cli.commands._common import add_data_arguments, parse_date, programs_path

NAME = "explain"


HELP = "why one invoice's lines counted or not, program by program"


def add_arguments(parser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--invoice", required=True, help="the invoice id")
    parser.add_argument("--program", default=None, help="only this program id")
    parser.add_argument(
        "--out", type=Path, default=None, help="also write the table (.csv/.parquet/.xlsx)"
    )


def run(args) -> int:
    import pandas as pd

    from rebatelab.cli.commands._common import check_output, write_table
    from rebatelab.engine.reconciliation import explain
    from rebatelab.io.folders import load_data
    from rebatelab.programs.terms import load_programs

    as_of = parse_date(args.as_of)
    if args.out is not None:
        check_output(args.out, option="--out")
    programs = load_programs(programs_path(args))
    data = load_data(args.data, unknown_ids="exclude", lines="lazy", date_format=args.date_format)
    out = explain(data, programs, as_of, invoice_id=args.invoice, program_id=args.program)
    if args.out is not None:
        write_table(out, args.out, sheet="explain")
    n_lines = out["row"].nunique()
    print(
        f"invoice {args.invoice}: {n_lines} line(s), {len(programs) if args.program is None else 1}"
        f" program(s) as of {as_of}; counted in {int(out['counted'].sum())} (line, program) "
        "pair(s)"
    )
    show = out[["program_id", "row", "product_id", "net_amount", "counted", "why"]]
    with pd.option_context("display.width", 200, "display.max_colwidth", 120):
        print(show.to_string(index=False))
    return 0
