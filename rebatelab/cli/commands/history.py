"""List every change request and decision in order, or diff a program's versions.

Shows who proposed, approved, rejected (or what check refused) which change, when and why,
filtered by --program and --customer; --pending shows only requests waiting for a decision.
--diff (with --program) lists field-by-field changes between the program's versions. --out
writes the table shown as CSV, Parquet or xlsx (by extension), for audit.
"""

from __future__ import annotations

from pathlib import Path

from rebatelab.cli.commands._common import check_output, write_table
from rebatelab.cli.commands.propose import WORKSPACE_NAME, workspace_path
from rebatelab.errors import ParameterError

NAME = "history"


HELP = "every change request and decision in order; --diff a program's versions"


_SHOWN = [
    "seq",
    "at",
    "event",
    "request_id",
    "kind",
    "program_id",
    "customers",
    "effective",
    "user",
    "reason",
    "status",
]


def add_arguments(parser) -> None:
    parser.add_argument("--workspace", type=Path, default=None, help="workspace file")
    parser.add_argument(
        "--data", type=Path, default=None, help=f"data folder holding {WORKSPACE_NAME}"
    )
    parser.add_argument("--program", default=None, help="only this program")
    parser.add_argument("--customer", default=None, help="only requests naming this customer")
    parser.add_argument("--pending", action="store_true", help="only requests still pending")
    parser.add_argument("--diff", action="store_true", help="field changes between versions")
    parser.add_argument("--out", type=Path, default=None, help="write the table (.csv/.xlsx)")


def run(args) -> int:
    import pandas as pd

    from rebatelab.workspace.changes import diff, history

    ws = workspace_path(args)
    if args.out is not None:
        check_output(args.out, option="--out")
    if not ws.exists():
        raise ParameterError(f"no workspace at {ws}")
    if args.diff:
        if args.program is None:
            raise ParameterError("--diff needs --program P")
        table = diff(ws, args.program)
        print(f"rebatelab history {args.program} --diff: {len(table)} changed field(s)")
        if len(table):
            print(table.to_string(index=False))
    else:
        table = history(ws, program=args.program, customer=args.customer)
        if args.pending:
            table = table[table["status"] == "pending"]
        n = table["request_id"].nunique()
        print(f"rebatelab history {ws}: {n} request(s), {len(table)} event(s)")
        if len(table):
            shown = table[_SHOWN].copy()
            shown["at"] = pd.to_datetime(shown["at"]).dt.strftime("%Y-%m-%d %H:%M:%S")
            shown["effective"] = (
                shown["effective"].astype(object).where(shown["effective"].notna(), "")
            )
            reason = shown["reason"].astype(str)
            long = reason.str.len() > 72
            shown["reason"] = reason.where(~long, reason.str.slice(0, 69) + "...")
            print(shown.to_string(index=False))
    if args.out is not None:
        write_table(table, args.out, sheet="history")
    return 0
