"""Close a period: record the accrual snapshot and the roll-forward in the ledger workspace.

As of the last day of --period (YYYY-MM), records per program and customer the basis, the
accrued amount (current tier), the expected rebate (forecast) and the method, imports the
payments of the data folder's payments table not yet recorded, and writes the roll-forward
per program: opening + expense (cumulative catch-up) - payments = closing. The workspace is
an embedded DuckDB file (default: rebatelab.duckdb in the data folder). A period is closed
once; --reopen replaces the latest closed period. A failed close changes nothing.

Payments are a journal: a payment booked by a close may not be changed or removed in the
input afterwards (the close is refused, naming it); enter a correction instead, a new line with
the difference (negative to reverse) and `corrects` naming the payment's id. Overpayments,
payments for unknown programs or customers and possible duplicates are refused unless
--accept-flagged is given. A file that is not a rebatelab workspace, or a damaged one, is
refused (exit 2).

The terms are the program file's plus the change requests approved in the workspace and in
force on the period's last day (rebatelab propose/approve); the audit record names them
(rebatelab ledger --audit). A change approved later but back-dated shows in the next close as
a catch-up; the closed period is not rewritten. See docs/finance.md.
"""

from __future__ import annotations

from pathlib import Path

from rebatelab.cli.commands._common import add_data_arguments

#: What the ledger books (:data:`rebatelab.workspace.close.BOOKS`; not imported here, so that
#: building the parser stays fast).
BOOKS = ("expected", "accrued")

NAME = "close"


HELP = "close a period (YYYY-MM): accrual snapshot and roll-forward in the ledger"


def add_arguments(parser) -> None:
    add_data_arguments(parser, as_of=False)
    parser.add_argument("--period", required=True, help="period to close, YYYY-MM")
    parser.add_argument(
        "--workspace", type=Path, default=None, help="ledger file (default DATA/rebatelab.duckdb)"
    )
    parser.add_argument("--reopen", action="store_true", help="replace the latest closed period")
    parser.add_argument("--method", default=None, help="forecast method (default: the default)")
    parser.add_argument(
        "--book", choices=BOOKS, default="expected", help="what to book (default: expected)"
    )
    parser.add_argument(
        "--accept-flagged",
        "--accept-overpayment",
        dest="accept_flagged",
        action="store_true",
        help="book flagged payments (overpayment, unknown program or customer, possible "
        "duplicate) as they are; without it such a close is refused, naming them",
    )


def run(args) -> int:
    # the package is imported here, not when the parser is built (fast --help)
    from rebatelab.cli.commands._common import programs_path
    from rebatelab.io.folders import load_data
    from rebatelab.programs.terms import load_programs
    from rebatelab.workspace.close import close, period_end
    from rebatelab.workspace.store import default_workspace

    period_end(args.period)  # a bad period is refused before the data is read
    data = load_data(args.data, date_format=args.date_format)
    ws = args.workspace if args.workspace is not None else default_workspace(data)
    # close() reduces the lines once, after checking the period against the ledger
    res = close(
        data,
        load_programs(programs_path(args)),
        args.period,
        workspace=ws,
        reopen=args.reopen,
        method=args.method,
        book=args.book,
        accept_flagged=args.accept_flagged,
    )
    rf = res.rollforward
    print(
        f"rebatelab close {res.period} (as of {res.as_of}): {len(res.snapshot)} rows, "
        f"{len(res.payments)} new payments -> {ws}"
    )
    print(rf.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    if res.flags is not None and len(res.flags):
        print(f"flagged payments booked (--accept-flagged): {len(res.flags)}")
        print(res.flags.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    tot = rf[["opening", "expense", "payments", "closing"]].sum()
    print(
        f"total: opening {tot['opening']:,.2f} + expense {tot['expense']:,.2f} - payments "
        f"{tot['payments']:,.2f} = closing {tot['closing']:,.2f}"
    )
    return 0
