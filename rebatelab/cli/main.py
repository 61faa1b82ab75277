"""Command line: ``rebatelab <command> ...``; each command is a module in rebatelab.commands.

Bad input ends with one clear message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from rebatelab.cli import commands
from rebatelab.errors import RebateLabError

__all__ = ["main", "build_parser"]


def _command_modules():
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{commands.__name__}.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command's sub-parser."""
    parser = argparse.ArgumentParser(
        prog="rebatelab",
        description="B2B rebate analytics: accrual, forecasting, simulation, review, liability.",
        epilog="Run 'rebatelab <command> --help' for a command's options. "
        "Exit status: 0 ok, 2 bad input (one message on stderr).",
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.__doc__)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``rebatelab`` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except RebateLabError as exc:
        print(f"rebatelab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"rebatelab {args.command}: error: file not found: {exc.filename}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
