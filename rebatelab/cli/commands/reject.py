"""Reject a pending change request, with a reason: its terms never accrue.

The same rules as rebatelab approve: not your own request, and only the program's approvers
when its program file lists them.
"""

from __future__ import annotations

from rebatelab.cli.commands.approve import decide
from rebatelab.cli.commands.propose import add_user_arguments

NAME = "reject"


HELP = "reject a pending change request (not your own), with a reason"


def add_arguments(parser) -> None:
    parser.add_argument("request", type=int, help="request id (rebatelab history)")
    parser.add_argument("--reason", required=True, help="why (recorded)")
    add_user_arguments(parser, data=False)


def run(args) -> int:
    from rebatelab.workspace.changes import reject

    return decide(args, reject)
