"""Matplotlib plots. Each takes the package's frames, draws on ``ax`` and returns it.

Public names (each also importable from the module in parentheses):

- ``plot_reliability`` (backtest): Reliability diagram: observed rate against mean predicted
  probability per bin
- ``plot_monthly_sales`` (liability): Net sales per calendar month of a data folder, returns and
  credit notes deducted
- ``plot_liability`` (liability): Liability per program: accrued bar, p10-p90 interval,
  expected, most likely, constrained
- ``plot_total_distribution`` (liability): Cumulative distribution of the total liability with
  its reported figures
- ``plot_rollforward`` (liability): Roll-forward of one program (or a total) by period: opening
  + expense - payments
- ``plot_liability_over_time`` (liability): The liability at each closed period: booked, accrued
  to date, and the closing balance
- ``plot_tier_ladder`` (review): Customers (pools) of one program placed on its tier ladder
- ``plot_money_map`` (review): Customers per tier now, and expected at period end, for one
  program
- ``mark_money_map`` (review): Outline the bar of ``tier`` (now) in a money map and name
  ``label`` over it
- ``plot_forecast_fan`` (review): A customer's (or pool's) basis to date and forecast fan
  against the tier thresholds
- ``plot_whatif`` (whatif): Distribution over scenarios of one metric, one box per candidate
- ``plot_tier_participation`` (whatif): Mean number of customers ending in each tier, stacked
  per candidate

Names are imported on first use (:mod:`rebatelab._lazy`).
"""

from rebatelab._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "rebatelab.plotting.backtest": ["plot_reliability"],
        "rebatelab.plotting.liability": [
            "plot_monthly_sales",
            "plot_liability",
            "plot_total_distribution",
            "plot_rollforward",
            "plot_liability_over_time",
        ],
        "rebatelab.plotting.review": [
            "plot_tier_ladder",
            "plot_money_map",
            "mark_money_map",
            "plot_forecast_fan",
        ],
        "rebatelab.plotting.whatif": ["plot_whatif", "plot_tier_participation"],
    },
)
