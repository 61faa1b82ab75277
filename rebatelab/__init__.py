"""rebatelab: B2B rebate analytics.

The public API in one place: load a data folder and a program file (``load_data``,
``load_programs``); accrue and reconcile; forecast and backtest; simulate and run what-ifs;
rank opportunities and risks; estimate the liability; close periods. Plotting helpers live in
``rebatelab.plot_*`` and the notebook views in ``rebatelab.widgets`` (not imported here, so the
core needs neither matplotlib nor ipywidgets).
"""

from rebatelab.data.tables import RebateData
from rebatelab.engine.accrual import accrue
from rebatelab.engine.eligibility import members
from rebatelab.engine.reconciliation import exclusions, reconcile
from rebatelab.engine.reduction import daily_sums, period_sums
from rebatelab.engine.settlement import evaluate, schedule
from rebatelab.errors import (
    DataValidationError,
    LedgerError,
    ParameterError,
    ProgramFileError,
    RebateLabError,
)
from rebatelab.finance.distributions import (
    expected_value,
    most_likely_amount,
    sum_distribution,
)
from rebatelab.finance.liability import Liability, liability
from rebatelab.finance.rollforward import cumulative_catch_up
from rebatelab.forecasting.backtest import BacktestResult, backtest
from rebatelab.forecasting.projection import basis_quantiles, forecast
from rebatelab.io.folders import load_data
from rebatelab.plotting.backtest import plot_reliability
from rebatelab.programs.terms import Program, ProgramSet, load_programs
from rebatelab.programs.tiers import (
    apply_cap,
    earned,
    earned_at_next,
    gap_to_next,
    next_threshold,
    payable,
    tier_rate,
    tier_reached,
)
from rebatelab.report.statement import statement
from rebatelab.review.eligibility import eligible_not_enrolled
from rebatelab.review.moneymap import money_map
from rebatelab.review.opportunities import opportunities
from rebatelab.review.risks import risks
from rebatelab.simulation.generator import SimulatedData, simulate_data
from rebatelab.simulation.params import SimulationParams
from rebatelab.simulation.whatif import WhatIfResult, simulate_program, whatif_base
from rebatelab.workspace.close import close, ledger, period_end

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
