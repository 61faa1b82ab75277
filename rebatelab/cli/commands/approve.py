"""Approve a pending change request: its terms accrue from its effective date.

The approver (--user, default $REBATELAB_USER or $USER) is recorded with the reason; the
proposer cannot approve their own request, and a program's ``approval: {approvers: [...]}``
restricts who may. Approving a variant or a change records a new program version
(rebatelab history --program P --diff). This is an audit trail, not access control.
"""

from __future__ import annotations

from rebatelab.cli.commands.propose import add_user_arguments, workspace_path

NAME = "approve"


HELP = "approve a pending change request (not your own)"


def add_arguments(parser) -> None:
    parser.add_argument("request", type=int, help="request id (rebatelab history)")
    parser.add_argument("--reason", required=True, help="why (recorded)")
    add_user_arguments(parser, data=False)


def decide(args, decision) -> int:
    """Record ``decision`` (approve or reject) on ``args.request`` and print it."""
    from rebatelab.workspace.changes import current_user

    user = current_user(args.user)
    ws = workspace_path(args)
    req = decision(ws, args.request, user=user, reason=args.reason)
    p = req.proposal
    print(
        f"request {req.request_id} {req.status} by {req.decided_by}: {p.kind} of "
        f"{p.variant_id or p.program_id}"
        f"{' for ' + ', '.join(p.customers) if p.customers else ''} from {p.effective} "
        f"(proposed by {req.proposed_by}) -> {ws}"
    )
    return 0


def run(args) -> int:
    from rebatelab.workspace.changes import approve

    return decide(args, approve)
