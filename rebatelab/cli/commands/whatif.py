"""Compare candidate designs of one program with the program as it is, on the same scenarios.

Reads the candidate designs from --candidates (YAML in the program file's syntax: a
'programs:' list, each with an id and the terms it changes, usually its tiers; what a design
does not give is the current program's, as the program designer saves them) and writes one
row per design, the current program first: mean payout, payout without response, eligible
sales, cost share of eligible sales, customers per tier, provoked revenue, cost per unit of
provoked revenue, profit at --margin, each with its difference to the current program, and
the findings in words (0% tier, a design that pays more for less).
"""

from __future__ import annotations

from pathlib import Path

from rebatelab.cli.commands._common import add_data_arguments, check_output, parse_date

NAME = "whatif"


HELP = "compare candidate designs of a program with the current one (what-if table)"


def add_arguments(parser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--program", required=True, help="id of the current program")
    parser.add_argument(
        "--candidates", required=True, type=Path, help="YAML (or JSON) file of candidate designs"
    )
    parser.add_argument("--out", required=True, type=Path, help="table (.csv/.parquet/.xlsx)")
    parser.add_argument(
        "--margin", type=float, default=None, help="gross margin on provoked revenue [0-1]"
    )
    parser.add_argument("--scenarios", type=int, default=500, help="number of scenarios")
    parser.add_argument(
        "--response-strength",
        type=float,
        default=0.5,
        help="probability [0, 1] that a customer buys ahead to reach a worthwhile tier",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the scenarios")


def _read_candidates(path: Path):
    import yaml

    from rebatelab.errors import ProgramFileError
    from rebatelab.simulation.compare import parse_designs

    if not path.is_file():
        raise ProgramFileError(f"--candidates: no such file: {path}")
    try:
        parsed = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProgramFileError(f"{path}: not valid YAML: {exc}") from None
    return parse_designs(parsed, source=str(path))


def run(args) -> int:
    import pandas as pd

    from rebatelab.cli.commands._common import programs_path, write_table
    from rebatelab.errors import ParameterError
    from rebatelab.io.folders import load_data
    from rebatelab.programs.terms import load_programs
    from rebatelab.simulation.compare import compare_designs
    from rebatelab.simulation.whatif import whatif_base

    as_of = parse_date(args.as_of)
    check_output(args.out, option="--out")
    if args.margin is not None and not 0 <= args.margin <= 1:
        raise ParameterError(f"--margin must be a fraction between 0 and 1; got {args.margin}")
    designs = _read_candidates(args.candidates)
    programs = load_programs(programs_path(args))
    current = programs[args.program]
    if current.variant_of is not None:
        raise ParameterError(
            f"--program {args.program} is a variant of {current.variant_of}; compare designs "
            "of the base program"
        )
    data = load_data(args.data, date_format=args.date_format)
    base = whatif_base(data, as_of=as_of)
    table = compare_designs(
        base, current, designs, margin=args.margin, n_scenarios=args.scenarios,
        response_strength=args.response_strength, seed=args.seed,
    )  # fmt: skip
    write_table(table.reset_index(), args.out, sheet="whatif")
    show = table[["payout", "payout_vs_current", "cost_share", "provoked_revenue"]].copy()
    show["cost_share"] = show["cost_share"].map("{:.2%}".format)
    with pd.option_context("display.width", 160, "display.float_format", "{:,.2f}".format):
        print(
            f"{args.program}: {len(designs)} design(s) against the current program, "
            f"{args.scenarios} scenarios (means), as of {as_of}; wrote {args.out}"
        )
        print(show.to_string())
    for name, text in table["findings"].items():
        if text:
            print(f"{name}: {text}")
    return 0
