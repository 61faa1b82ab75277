"""Show what the ledger workspace has recorded: closed periods and the roll-forward.

Prints the closed periods and the roll-forward per period and program, with a check that
each opening equals the previous closing and opening + expense - payments = closing to the
cent. --out also writes the roll-forward (or, with --period, that period's snapshot) as
CSV, Parquet or xlsx. Exit status 1 if the roll-forward does not tie.

--report writes a finance report to --out instead: `rollforward` (opening, provision for
current-period sales, adjustment of prior-period estimates, payments, closing; --by program,
customer or total; an .xlsx holds all three levels), `accrual` (one close by customer and
program, with customer names), `aging` (what is payable and unpaid by days since the program's
period ended: 0-30, 31-60, 61-90, 90+) or `journal` (each close as journal entries: date,
journal, account, debit, credit, memo, program, customer; accounts set by --expense-account,
--accrued-account, --cash-account). --period picks the close (default: the latest; for
rollforward and journal, every close). Customer names and program ends come from --data.
"""

from __future__ import annotations

from pathlib import Path

#: The workspace file's name in a data folder (:data:`rebatelab.workspace.store.WORKSPACE_NAME`;
#: not imported here, so that building the parser stays fast).
WORKSPACE_NAME = "rebatelab.duckdb"

NAME = "ledger"

#: The reports of --report.
REPORTS = ("rollforward", "accrual", "aging", "journal")


HELP = "show the ledger: closed periods, roll-forward (with tie checks), snapshots"


def add_arguments(parser) -> None:
    parser.add_argument("--workspace", type=Path, default=None, help="ledger file")
    parser.add_argument(
        "--data", type=Path, default=None, help=f"data folder holding {WORKSPACE_NAME}"
    )
    parser.add_argument("--period", default=None, help="show this period's snapshot")
    parser.add_argument("--out", type=Path, default=None, help="write the table shown")
    parser.add_argument(
        "--audit",
        action="store_true",
        help="show each close's audit record (input file hashes, program-file hash, version, "
        "as-of, forecast method and parameters)",
    )
    parser.add_argument(
        "--report",
        choices=REPORTS,
        default=None,
        help="write a finance report to --out: rollforward, accrual, aging or journal",
    )
    parser.add_argument(
        "--by",
        choices=("program", "customer", "total"),
        default="program",
        help="level of the rollforward report (default program)",
    )
    parser.add_argument("--expense-account", default="Rebate expense", help="journal: debit")
    parser.add_argument("--accrued-account", default="Accrued rebates", help="journal: liability")
    parser.add_argument(
        "--cash-account", default="Cash", help="journal: what payments credit (Cash, or AR)"
    )
    parser.add_argument(
        "--programs", type=Path, default=None, help="program file (default DATA/programs.yaml)"
    )


def run(args) -> int:
    # the package is imported here, not when the parser is built (fast --help)
    from rebatelab.cli.commands._common import check_output, write_table
    from rebatelab.errors import ParameterError
    from rebatelab.workspace.close import ledger

    if args.workspace is None and args.data is None:
        raise ParameterError("give --workspace FILE or --data DIR")
    if args.out is not None:
        check_output(args.out, option="--out")
    ws = args.workspace if args.workspace is not None else args.data / WORKSPACE_NAME
    if args.report is not None:
        return _report(args, ws)
    view = ledger(ws, period=args.period)
    money = lambda v: f"{v:,.2f}"  # noqa: E731
    print(f"rebatelab ledger {ws}: {len(view.closes)} closed period(s)")
    if len(view.closes):
        print(view.closes[["period", "as_of", "method", "book", "n_rows"]].to_string(index=False))
        print()
        print(view.rollforward.to_string(index=False, float_format=money))
    print(f"roll-forward ties to the cent: {'yes' if view.ties else 'NO'}")
    shown = view.rollforward
    if args.audit:
        import pandas as pd

        audit = view.audit if view.audit is not None else pd.DataFrame(columns=["period"])
        if args.period:
            audit = audit[audit["period"].astype(str) == args.period]
        print("\naudit record(s):")
        print(audit.to_string(index=False) if len(audit) else "(none recorded)")
        shown = audit
    if args.period:
        shown = view.snapshot
        print(f"\nsnapshot {args.period}: {len(shown)} rows, booked {shown['booked'].sum():,.2f}")
    if args.out is not None:
        write_table(shown, args.out, sheet="ledger")
    return 0 if view.ties else 1


def _report(args, ws) -> int:
    from rebatelab.cli.commands._common import write_table
    from rebatelab.errors import ParameterError
    from rebatelab.io.folders import find_table, read_table
    from rebatelab.programs.terms import load_programs
    from rebatelab.report import finance as rep
    from rebatelab.report.xlsx import cover_info, write_workbook
    from rebatelab.workspace.close import ledger

    if args.out is None:
        raise ParameterError(f"--report {args.report} needs --out FILE (.csv or .xlsx)")
    view = ledger(ws)
    customers = None
    if args.data is not None:
        found = find_table(args.data, "customers")
        customers = read_table(found) if found is not None else None
    if args.report == "rollforward":
        sheets = {
            f"rollforward_{by}": rep.rollforward_report(
                view, by=by, customers=customers, period=args.period
            )
            for by in ("total", "program", "customer")
        }
        shown = sheets[f"rollforward_{args.by}"]
    elif args.report == "accrual":
        shown = rep.accrual_report(view, period=args.period, customers=customers)
        sheets = {"accrual": shown}
    elif args.report == "aging":
        if args.programs is None and args.data is None:
            raise ParameterError("--report aging needs --data DIR or --programs FILE (period ends)")
        programs = load_programs(args.programs or args.data / "programs.yaml")
        shown = rep.aging_report(view, programs, period=args.period, customers=customers)
        sheets = {"aging": shown}
    else:
        accounts = rep.Accounts(args.expense_account, args.accrued_account, args.cash_account)
        shown = rep.journal_entries(view, accounts=accounts, period=args.period)
        sheets = {"journal": shown}
    out = args.out
    suffix = out.suffix.lower()
    if suffix == ".xlsx":
        closed = view.closes["period"].astype(str).tolist()
        cover = cover_info(
            report=args.report,
            periods=args.period or (", ".join(closed) if closed else "(none closed)"),
            workspace=ws,
            data_source=args.data or "",
            method="; ".join(sorted(set(view.closes["method"].astype(str)))),
            book="; ".join(sorted(set(view.closes["book"].astype(str)))),
            ties_to_the_cent="yes" if view.ties else "NO",
        )
        write_workbook(sheets, out, cover=cover, title=f"rebatelab {args.report}")
    elif args.report == "journal" and suffix == ".csv":
        out.parent.mkdir(parents=True, exist_ok=True)
        rep.journal_csv(shown, out)
    else:
        write_table(shown, out)
    print(f"rebatelab ledger --report {args.report}: {len(shown)} rows -> {out}")
    return 0 if view.ties else 1
