"""Propose a change: enroll a customer, a negotiated variant, or a new version of a program.

The request is checked against the terms in force (the program file plus the approved
requests in the workspace) and recorded with who (--user, default $REBATELAB_USER or $USER),
when, why (--reason) and the check's result. A request that breaks a rule or a guardrail is
recorded as refused and the command fails naming the rule (exit status 2). An active program
cannot be edited in place: --change needs --effective DATE and creates a new version. Only
approved requests accrue (rebatelab approve / reject; rebatelab history lists them).
"""

from __future__ import annotations

from pathlib import Path

from rebatelab.cli.commands._common import add_data_arguments, parse_date, programs_path
from rebatelab.errors import ParameterError

#: The workspace file in a data folder (rebatelab.workspace.store.WORKSPACE_NAME; kept here so
#: that ``--help`` imports no pandas).
WORKSPACE_NAME = "rebatelab.duckdb"

NAME = "propose"


HELP = "propose an enrollment, a variant or a new program version (recorded, pending approval)"


def add_user_arguments(parser, *, data: bool = True) -> None:
    """``--user`` and ``--workspace`` (and, for commands without data, ``--data``)."""
    parser.add_argument(
        "--user", default=None, help="who you are (default $REBATELAB_USER, else $USER)"
    )
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help=f"workspace file (default DATA/{WORKSPACE_NAME})",
    )
    if not data:
        parser.add_argument(
            "--data", type=Path, default=None, help=f"data folder holding {WORKSPACE_NAME}"
        )


def workspace_path(args) -> Path:
    """``--workspace``, else ``<data>/rebatelab.duckdb``."""
    if args.workspace is not None:
        return args.workspace
    if getattr(args, "data", None) is None:
        raise ParameterError("give --workspace FILE or --data DIR")
    return args.data / WORKSPACE_NAME


def parse_tiers(text: str) -> list[dict]:
    """``"1300:0.025,3200:0.035"`` -> tiers (lower bound [basis unit] : rate [fraction])."""
    tiers = []
    for part in text.split(","):
        bits = part.strip().split(":")
        try:
            if len(bits) != 2:
                raise ValueError
            tiers.append({"from": float(bits[0]), "rate": float(bits[1])})
        except ValueError:
            raise ParameterError(
                f"--tiers: expected FROM:RATE[,FROM:RATE...] (e.g. 1300:0.025,3200:0.035), "
                f"got {part.strip()!r}"
            ) from None
    return tiers


def add_arguments(parser) -> None:
    add_data_arguments(parser, as_of=False)
    add_user_arguments(parser)
    parser.add_argument("--program", required=True, help="program id (a variant's parent)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--enroll", metavar="CUSTOMER", help="enroll this customer")
    what.add_argument(
        "--variant", metavar="CUSTOMER", nargs="+", help="a negotiated variant for these customers"
    )
    what.add_argument("--change", action="store_true", help="change the program's own terms")
    parser.add_argument(
        "--effective", default=None, help="first day in force, YYYY-MM-DD (default: its start)"
    )
    parser.add_argument("--tiers", default=None, help="tiers FROM:RATE,... (variant or change)")
    parser.add_argument(
        "--terms", default=None, help="further program-file fields as YAML, e.g. '{cap: 700}'"
    )
    parser.add_argument("--variant-id", default=None, help="id of the new variant")
    parser.add_argument("--baseline", type=float, default=None, help="enrollment's baseline")
    parser.add_argument("--reason", required=True, help="why (recorded)")
    parser.add_argument(
        "--today", default=None, help="day of the request, YYYY-MM-DD (default: today)"
    )


def _terms(args) -> dict:
    from rebatelab.programs.terms import parse_yaml

    terms: dict = {}
    if args.terms is not None:
        doc = parse_yaml(args.terms, source="--terms")
        if not isinstance(doc, dict):
            raise ParameterError(
                f"--terms: expected a YAML mapping like '{{cap: 700}}', got {doc!r}"
            )
        terms.update(doc)
    if args.tiers is not None:
        terms["tiers"] = parse_tiers(args.tiers)
    return terms


def run(args) -> int:
    from rebatelab.io.folders import load_data
    from rebatelab.programs.changes import Proposal
    from rebatelab.programs.terms import load_programs
    from rebatelab.workspace.changes import current_user, propose

    user = current_user(args.user)
    eff = None if args.effective is None else parse_date(args.effective)
    terms = _terms(args)
    if args.enroll is not None:
        if terms:
            raise ParameterError("--enroll takes no --tiers/--terms (use --baseline)")
        prop = Proposal.enrollment(
            args.program, args.enroll, effective=eff, reason=args.reason, baseline=args.baseline
        )
    elif args.variant is not None:
        if not terms:
            raise ParameterError("--variant needs its terms: --tiers and/or --terms")
        prop = Proposal.variant(
            args.program,
            args.variant,
            terms=terms,
            effective=eff,
            variant_id=args.variant_id,
            reason=args.reason,
        )
    else:
        prop = Proposal.change(args.program, terms=terms, effective=eff, reason=args.reason)
    data = load_data(args.data, date_format=args.date_format)
    programs = load_programs(programs_path(args))
    ws = args.workspace if args.workspace is not None else args.data / WORKSPACE_NAME
    now = None if args.today is None else parse_date(args.today)
    req = propose(data, programs, prop, user=user, workspace=ws, now=now)
    p = req.proposal
    what = {
        "enrollment": f"enroll {', '.join(p.customers)} in {p.program_id}",
        "variant": f"variant {p.variant_id} of {p.program_id} for {', '.join(p.customers)}",
        "change": f"new version of {p.program_id}",
    }[p.kind]
    print(
        f"request {req.request_id} {req.status}: {what} from {p.effective} "
        f"(proposed by {req.proposed_by}; check: {req.check}) -> {ws}"
    )
    return 0
