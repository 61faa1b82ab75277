"""Show what the ledger workspace has recorded: closed periods and the roll-forward.

Prints the closed periods and the roll-forward per period and program, with a check that
each opening equals the previous closing and opening + expense - payments = closing to the
cent. --out also writes the roll-forward (or, with --period, that period's snapshot) as
CSV, Parquet or xlsx. Exit status 1 if the roll-forward does not tie.
"""

from __future__ import annotations

from pathlib import Path

#: The workspace file's name in a data folder (:data:`rebatelab.workspace.store.WORKSPACE_NAME`;
#: not imported here, so that building the parser stays fast).
WORKSPACE_NAME = "rebatelab.duckdb"

NAME = "ledger"


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


def run(args) -> int:
    # the package is imported here, not when the parser is built (fast --help)
    from rebatelab.cli.commands._common import write_table
    from rebatelab.errors import ParameterError
    from rebatelab.workspace.close import ledger

    if args.workspace is None and args.data is None:
        raise ParameterError("give --workspace FILE or --data DIR")
    ws = args.workspace if args.workspace is not None else args.data / WORKSPACE_NAME
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
        audit = view.audit
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
