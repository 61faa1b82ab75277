"""Simulate a B2B customer base and write it as a data folder, with its ground truth.

Writes transactions, customers, products, enrollments (Parquet by default), programs.yaml
(programs exercising every feature, sized on the simulated spend, unless --no-programs or
--programs FILE) and truth/ (each customer's true parameters and the simulation settings).
The same --seed gives identical files.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rebatelab.cli.commands._common import check_output, parse_date
from rebatelab.errors import ParameterError
from rebatelab.simulation.generator import simulate_data, write_data_folder
from rebatelab.simulation.params import SimulationParams

NAME = "simulate"


HELP = "generate a synthetic B2B data folder with known ground truth"


def add_arguments(parser) -> None:
    parser.add_argument("--customers", type=int, default=300, help="number of customers")
    parser.add_argument("--start", type=str, default="2024-10-01", help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=str, default="2026-09-30", help="last day, YYYY-MM-DD")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    parser.add_argument("--out", type=Path, required=True, help="output data folder")
    parser.add_argument("--products", type=int, default=200, help="number of products")
    parser.add_argument(
        "--response-strength",
        type=float,
        default=None,
        help="probability [0, 1] that a customer buys ahead to reach a worthwhile tier "
        "(0 = no threshold response)",
    )
    parser.add_argument(
        "--format", choices=["parquet", "csv"], default="parquet", help="table file format"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--programs", type=Path, default=None, help="program file the customers respond to"
    )
    group.add_argument(
        "--no-programs", action="store_true", help="write no programs (and no response)"
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="other simulation parameters, e.g. order_rate_mean=5 lifetime_mean_years=3",
    )


def _overrides(items) -> dict:
    fields = {f.name: f for f in dataclasses.fields(SimulationParams)}
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in fields:
            raise ParameterError(
                f"--set: expected NAME=VALUE with NAME a simulation parameter; got {item!r} "
                f"(parameters: {sorted(fields)})"
            )
        default = getattr(SimulationParams(), name)
        try:
            out[name] = int(value) if isinstance(default, int) else float(value)
        except ValueError:
            raise ParameterError(f"--set {name}: not a number: {value!r}") from None
    return out


def run(args) -> int:
    start, end = parse_date(args.start), parse_date(args.end)
    check_output(args.out, option="--out", folder=True)
    overrides = _overrides(args.set)
    if args.response_strength is not None:
        overrides["response_strength"] = args.response_strength
    programs = None if args.no_programs else (args.programs or "default")
    sim = simulate_data(
        args.customers,
        start=start,
        end=end,
        seed=args.seed,
        n_products=args.products,
        programs=programs,
        **overrides,
    )
    out = write_data_folder(sim, args.out, fmt=args.format)
    print(
        f"{len(sim.transactions)} lines, {len(sim.customers)} customers, "
        f"{len(sim.products)} products, {len(sim.enrollments)} enrollments, "
        f"{len(sim.response)} threshold responses -> {out}"
    )
    return 0
