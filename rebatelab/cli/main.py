"""Command line: ``rebatelab <command> ...``; each command is a module in rebatelab.cli.commands.

Bad input ends with one clear message on stderr and exit status 2, never a traceback.

Start-up stays short: the parser reads each command's ``NAME``, ``HELP`` and docstring from
its source without importing it, and imports only the module of the command being run (which
imports pandas and the package inside its ``run``).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
import sys
from pathlib import Path

from rebatelab.cli import commands
from rebatelab.errors import RebateLabError

__all__ = ["main", "build_parser", "command_table"]


def command_table() -> dict[str, tuple[str, str, str | None]]:
    """``NAME -> (module, HELP, docstring)`` of every command, read from the sources."""
    table: dict[str, tuple[str, str, str | None]] = {}
    folder = Path(commands.__path__[0])
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        tree = ast.parse((folder / f"{info.name}.py").read_text(encoding="utf-8"))
        consts: dict[str, str] = {}
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                consts[node.targets[0].id] = node.value.value
        name = consts.get("NAME", info.name)
        table[name] = (info.name, consts.get("HELP", ""), ast.get_docstring(tree))
    return table


def build_parser(argv=None) -> argparse.ArgumentParser:
    """The argument parser; only the command named in ``argv`` gets its options (imported).

    With ``argv=None`` every command's module is imported, so that each sub-parser is
    complete (for documentation tools).
    """
    parser = argparse.ArgumentParser(
        prog="rebatelab",
        description="B2B rebate analytics: accrual, forecasting, simulation, review, liability.",
        epilog="Run 'rebatelab <command> --help' for a command's options. "
        "Exit status: 0 ok, 2 bad input (one message on stderr).",
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    table = command_table()
    everything = argv is None
    chosen = None if everything else next((w for w in argv if not w.startswith("-")), None)
    for name, (module, help_text, doc) in table.items():
        p = sub.add_parser(name, help=help_text, description=doc)
        if name == chosen or everything:
            mod = importlib.import_module(f"{commands.__name__}.{module}")
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``rebatelab`` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
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
