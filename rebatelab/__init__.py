"""rebatelab: B2B rebate analytics.

The public API in one place: load a data folder and a program file (``load_data``,
``load_programs``); accrue and reconcile; forecast and backtest; simulate and run what-ifs;
rank opportunities and risks; estimate the liability; close periods. Plotting helpers live in
``rebatelab.plot_*`` and the notebook views in ``rebatelab.widgets`` (not imported here, so the
core needs neither matplotlib nor ipywidgets).
"""

from .accrual import accrue, evaluate, schedule
from .backtest import BacktestResult, backtest, plot_reliability
from .errors import (
    DataValidationError,
    LedgerError,
    ParameterError,
    ProgramFileError,
    RebateLabError,
)
from .forecasting import basis_quantiles, forecast
from .io import RebateData, load_data
from .liabilities import (
    Liability,
    cumulative_catch_up,
    expected_value,
    liability,
    most_likely_amount,
    sum_distribution,
)
from .moneymap import money_map, statement
from .period_close import close, ledger, period_end
from .programs import Program, ProgramSet, load_programs
from .reduce import daily_sums, exclusions, members, period_sums, reconcile
from .review import eligible_not_enrolled, opportunities, risks
from .simulate import SimulatedData, SimulationParams, simulate_data
from .tiers import (
    apply_cap,
    earned,
    earned_at_next,
    gap_to_next,
    next_threshold,
    payable,
    tier_rate,
    tier_reached,
)
from .whatif import WhatIfResult, simulate_program, whatif_base

__version__ = "0.1.0"

__all__ = [
    "accrue", "evaluate", "schedule",
    "RebateLabError", "DataValidationError", "ProgramFileError", "ParameterError", "LedgerError",
    "RebateData", "load_data", "Program", "ProgramSet", "load_programs",
    "daily_sums", "exclusions", "members", "period_sums", "reconcile",
    "apply_cap", "earned", "earned_at_next", "gap_to_next", "next_threshold", "payable",
    "tier_rate", "tier_reached",
    "SimulatedData", "SimulationParams", "simulate_data",
    "WhatIfResult", "simulate_program", "whatif_base",
    "close", "ledger", "liability", "period_end",
    "BacktestResult", "backtest", "plot_reliability", "basis_quantiles", "forecast",
    "Liability", "cumulative_catch_up", "expected_value", "most_likely_amount",
    "sum_distribution", "money_map", "statement", "eligible_not_enrolled", "opportunities", "risks",
]  # fmt: skip
