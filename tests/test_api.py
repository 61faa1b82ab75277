"""The public API: the small top level, the rooms' re-exports, a light ``import rebatelab``."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest

import rebatelab

ROOMS = [
    "programs",
    "data",
    "io",
    "engine",
    "forecasting",
    "simulation",
    "review",
    "finance",
    "workspace",
    "report",
    "datasets",
    "plotting",
]

WORKFLOW = [
    "load_data",
    "load_programs",
    "load_sample",
    "reduce",
    "accrue",
    "reconcile",
    "forecast",
    "backtest",
    "simulate_data",
    "whatif_base",
    "simulate_program",
    "opportunities",
    "risks",
    "money_map",
    "statement",
    "liability",
    "close",
    "ledger",
]
TYPES = [
    "RebateData",
    "Program",
    "ProgramSet",
    "Reduction",
    "WhatIfResult",
    "Liability",
    "RebateLabError",
]


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    return out.stdout


def test_top_level_is_the_workflow_and_its_types():
    assert sorted(rebatelab.__all__) == sorted(WORKFLOW + TYPES)
    assert len(rebatelab.__all__) <= 25
    for name in rebatelab.__all__:
        assert getattr(rebatelab, name) is not None, name
        assert name in rebatelab.__doc__, f"{name} missing from the package docstring"
    assert issubclass(rebatelab.RebateLabError, ValueError)


def test_internals_are_not_at_the_top_level():
    for name in ["earned", "gap_to_next", "period_sums", "daily_sums", "members", "evaluate",
                 "schedule", "sum_distribution", "expected_value", "plot_reliability"]:  # fmt: skip
        with pytest.raises(AttributeError):
            getattr(rebatelab, name)
    from rebatelab.engine import daily_sums, evaluate, members, period_sums, schedule
    from rebatelab.finance import expected_value, sum_distribution
    from rebatelab.programs import earned, gap_to_next

    assert earned(250_000, thresholds=[100_000, 200_000], rates=[0.01, 0.02]) == 5000.0
    assert all(callable(f) for f in (daily_sums, evaluate, members, period_sums, schedule))
    assert all(callable(f) for f in (expected_value, sum_distribution, gap_to_next))
    # moved off the top level, still importable from their rooms
    moved = {"exclusions": "engine", "eligible_not_enrolled": "review",
             "BacktestResult": "forecasting", "SimulatedData": "simulation"}  # fmt: skip
    for name, room in moved.items():
        with pytest.raises(AttributeError):
            getattr(rebatelab, name)
        assert name in importlib.import_module(f"rebatelab.{room}").__all__
    # the rooms are reachable as attributes after a bare `import rebatelab`
    assert rebatelab.programs.earned is earned
    assert rebatelab.engine.period_sums is period_sums


def test_top_level_names_are_the_rooms_objects():
    from rebatelab.engine.accrual import accrue
    from rebatelab.forecasting.backtest import backtest
    from rebatelab.programs.terms import ProgramSet
    from rebatelab.workspace.close import close

    assert rebatelab.accrue is accrue
    assert rebatelab.backtest is backtest
    assert rebatelab.ProgramSet is ProgramSet
    assert rebatelab.close is close
    assert "accrue" in dir(rebatelab)


@pytest.mark.parametrize("room", ROOMS)
def test_room_reexports_resolve_and_are_listed(room):
    pkg = importlib.import_module(f"rebatelab.{room}")
    assert pkg.__doc__
    names = pkg.__all__
    assert len(names) == len(set(names))
    submodules = {m.name for m in pkgutil.iter_modules(pkg.__path__)}
    for name in names:
        assert getattr(pkg, name) is not None, f"rebatelab.{room}.{name}"
        assert f"``{name}``" in pkg.__doc__ or name in pkg.__doc__, f"{room}: {name} not listed"
        # a function named like a module of its room would hide the module: not re-exported
        assert name not in submodules, f"rebatelab.{room}.{name} shadows a module"
    with pytest.raises(AttributeError):
        pkg.no_such_name  # noqa: B018


def test_import_is_light():
    heavy = ["matplotlib", "ipywidgets", "duckdb", "dask", "scipy", "pandas"]
    loaded = json.loads(
        _run(
            "import json, sys, rebatelab\n"
            f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
        )
    )
    assert loaded == []


def test_workflow_needs_no_plotting_or_widgets():
    code = (
        "import json, sys, rebatelab as rl\n"
        "data, programs = rl.load_sample()\n"
        "acc = rl.accrue(data, programs, '2026-06-30')\n"
        "print(json.dumps([m for m in ['matplotlib', 'ipywidgets', 'duckdb', 'dask'] "
        "if m in sys.modules]))\n"
    )
    assert json.loads(_run(code).splitlines()[-1]) == []


def test_load_sample_matches_the_folder(sample):
    from rebatelab.datasets import Sample, sample_path

    folder = sample_path()
    assert (folder / "programs.yaml").is_file()
    assert (folder / "transactions.parquet").is_file()
    assert (folder / "truth" / "simulation.json").is_file()
    assert isinstance(sample, Sample)
    data, programs = sample
    assert len(data.customers) == 400
    assert len(programs) == 9
    assert isinstance(programs, rebatelab.ProgramSet)
    assert isinstance(data, rebatelab.RebateData)
    again = rebatelab.load_data(folder)
    assert len(again.transactions) == len(data.transactions)
