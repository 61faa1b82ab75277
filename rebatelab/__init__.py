"""rebatelab: B2B rebate analytics.

The workflow a notebook types, in the order it is usually typed:

==========================  ===================================================================
Load                        ``load_data`` (a data folder), ``load_programs`` (a program file),
                            ``load_sample`` (the bundled sample: ``data, programs``)
Reduce the lines once       ``reduce`` -> :class:`Reduction`, the handoff every step below takes
                            (each also accepts ``(data, programs, as_of)`` and reduces itself)
Accrue and reconcile        ``accrue``, ``reconcile``
Forecast                    ``forecast``, ``backtest``
Simulate and what-if        ``simulate_data``, ``whatif_base``, ``simulate_program`` ->
                            :class:`WhatIfResult`
Review for sales            ``opportunities``, ``risks``, ``money_map``, ``statement``
Finance                     ``liability`` -> :class:`Liability`, ``close``, ``ledger``
==========================  ===================================================================

Types: :class:`RebateData` (the validated tables), :class:`Program` and :class:`ProgramSet`
(the terms), the result types above, and :class:`RebateLabError` (the root of every error
the package raises; the specific ones are in :mod:`rebatelab.errors`).

Everything else lives in the room (subpackage) that owns it, each of which lists its public
names in its docstring: :mod:`rebatelab.programs` (terms and the tier math: ``earned``,
``gap_to_next``, ...), :mod:`rebatelab.data`, :mod:`rebatelab.io`, :mod:`rebatelab.engine`
(``exclusions``, ``period_sums``, ``daily_sums``, ``members``, ``evaluate``, ``schedule``,
backends), :mod:`rebatelab.forecasting` (spend models, count distributions, ``BacktestResult``),
:mod:`rebatelab.simulation` (``SimulatedData``), :mod:`rebatelab.review`
(``eligible_not_enrolled``), :mod:`rebatelab.finance` (distributions, roll-forward),
:mod:`rebatelab.workspace`, :mod:`rebatelab.report`, :mod:`rebatelab.datasets`,
:mod:`rebatelab.plotting` (needs matplotlib) and :mod:`rebatelab.widgets` (needs ipywidgets).

The rooms are attributes too (``rl.programs.earned(...)`` after ``import rebatelab as rl``).
Names are loaded on first use, so ``import rebatelab`` imports neither pandas' heavy users
nor matplotlib, ipywidgets, duckdb or dask.

Examples
--------
>>> import rebatelab as rl
>>> data, programs = rl.load_sample()
>>> acc = rl.accrue(data, programs, "2026-06-30")
>>> sorted(acc["program_id"].unique()) == sorted(p.id for p in programs)
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rebatelab._lazy import lazy_exports

__version__ = "0.1.0"

# where each name lives (in the order of __all__); imported on first use
__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "rebatelab.io.folders": ["load_data"],
        "rebatelab.programs.terms": ["load_programs", "Program", "ProgramSet"],
        "rebatelab.datasets": ["load_sample"],
        "rebatelab.data.tables": ["RebateData"],
        "rebatelab.engine.stage_one": ["reduce", "Reduction"],
        "rebatelab.engine.accrual": ["accrue"],
        "rebatelab.engine.reconciliation": ["reconcile"],
        "rebatelab.forecasting.projection": ["forecast"],
        "rebatelab.forecasting.backtest": ["backtest"],
        "rebatelab.simulation.generator": ["simulate_data"],
        "rebatelab.simulation.whatif": ["whatif_base", "simulate_program", "WhatIfResult"],
        "rebatelab.review.opportunities": ["opportunities"],
        "rebatelab.review.risks": ["risks"],
        "rebatelab.review.moneymap": ["money_map"],
        "rebatelab.report.statement": ["statement"],
        "rebatelab.finance.liability": ["liability", "Liability"],
        "rebatelab.workspace.close": ["close", "ledger"],
        "rebatelab.errors": ["RebateLabError"],
    },
    subpackages=[
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
        "widgets",
        "errors",
        "money",
    ],
)

# The same names, for type checkers and editors. __all__ is built at run time, so the linter
# cannot see that these imports are the re-exports.
# ruff: noqa: F401
if TYPE_CHECKING:
    from rebatelab.data.tables import RebateData
    from rebatelab.datasets import load_sample
    from rebatelab.engine.accrual import accrue
    from rebatelab.engine.reconciliation import reconcile
    from rebatelab.engine.stage_one import Reduction, reduce
    from rebatelab.errors import RebateLabError
    from rebatelab.finance.liability import Liability, liability
    from rebatelab.forecasting.backtest import backtest
    from rebatelab.forecasting.projection import forecast
    from rebatelab.io.folders import load_data
    from rebatelab.programs.terms import Program, ProgramSet, load_programs
    from rebatelab.report.statement import statement
    from rebatelab.review.moneymap import money_map
    from rebatelab.review.opportunities import opportunities
    from rebatelab.review.risks import risks
    from rebatelab.simulation.generator import simulate_data
    from rebatelab.simulation.whatif import WhatIfResult, simulate_program, whatif_base
    from rebatelab.workspace.close import close, ledger
