"""Forecasting the end-of-period basis, the probability of the next tier, the expected rebate.

Also backtests that score the forecasts on history.

Public names (each also importable from the module in parentheses):

- ``forecast`` (projection): Forecast the end-of-period basis, tier probabilities and rebate of
  every member
- ``forecast_units`` (projection): The accrual and the end-of-period basis distribution of every
  forecast unit
- ``basis_quantiles`` (quantiles): End-of-period pool-basis quantiles carried by a forecast
  result
- ``quantile_columns`` (quantiles): Levels and values of a frame's ``q_<level>`` columns (the
  one parser of these names; the liability reads them through it)
- ``quantile_column`` (quantiles): Name of the column holding the quantile at a level
- ``DEFAULT_LEVELS`` (projection)
- ``BacktestResult`` (backtest): Backtest outputs
- ``score`` (backtest): Scores of one set of forecast records (see the module notes)
- ``calibration_table`` (backtest): Predicted probability vs observed rate per equal-width
  probability bin
- ``METRIC_COLUMNS`` (backtest)
- ``tier_probabilities`` (expected_settlement): ``P(tier = k)`` for k = 0..K of the
  end-of-period basis, shape (n, K + 1)
- ``SpendForecast`` (spend_forecast): End-of-period basis distribution of forecast units: ``B =
  b0 + factor * S``
- ``BGNBDParams`` (spend_models): BG/NBD population parameters
- ``GammaGammaParams`` (spend_models): Gamma-Gamma parameters: order value ``z ~ Gamma(p,
  rate=nu)``, ``nu ~ Gamma(q, rate=gamma)``
- ``fit_bgnbd`` (spend_models): Maximum-likelihood BG/NBD parameters
- ``bgnbd_loglik`` (spend_models): Per-customer BG/NBD log-likelihood
- ``bgnbd_p_alive`` (spend_models): Probability that each customer is still active at the end of
  observation [fraction]
- ``bgnbd_expected`` (spend_models): Expected number of purchases in the next ``t`` time units,
  given each history
- ``bgnbd_counts`` (spend_models): Exact distribution of the number of purchases in the next
  ``t`` time units
- ``simulate_bgnbd`` (spend_models): Simulate BG/NBD purchase histories (for tests and
  benchmarks)
- ``fit_gamma_gamma`` (spend_models): Maximum-likelihood Gamma-Gamma parameters from order
  counts and mean order values
- ``gamma_gamma_loglik`` (spend_models): Per-customer log-likelihood of the mean order value
- ``gamma_gamma_expected_value`` (spend_models): Expected value of a future order [currency or
  units], shrunk toward the population
- ``simulate_gamma_gamma`` (spend_models): Mean order value of customers with ``x`` orders each
  (for tests)
- ``CountDistribution`` (counts): Distribution of the number of future orders, one per row, as
  a ragged table of terms
- ``compound_mean`` (compound): Exact mean of the sum ``E[S] = E[N] E[X]`` [currency or units],
  shape (n,)
- ``compound_cdf`` (compound): ``P(S <= s)`` for a compound sum of gamma order values
- ``compound_sf`` (compound): ``P(S >= s)``; equal to ``1 - P(S <= s)`` for ``s > 0`` and 1 for
  ``s <= 0``
- ``compound_quantile`` (compound): Quantiles of the compound sum for every row and level at
  once

Not re-exported here, because a module of this room has the same name: ``backtest``
(:func:`rebatelab.backtest`), ``expected_settlement`` (module function of the same name),
``unit_models`` (the per-program spend-model fits behind ``forecast``).

The forecast takes stage one's :class:`~rebatelab.engine.stage_one.Reduction` (or builds it
once from ``(data, programs, as_of)``) and never reads invoice lines.

Names are imported on first use (:mod:`rebatelab._lazy`).
"""

from rebatelab._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "rebatelab.forecasting.projection": ["forecast", "forecast_units", "DEFAULT_LEVELS"],
        "rebatelab.forecasting.quantiles": [
            "basis_quantiles",
            "quantile_columns",
            "quantile_column",
        ],
        "rebatelab.forecasting.backtest": [
            "BacktestResult",
            "score",
            "calibration_table",
            "METRIC_COLUMNS",
        ],
        "rebatelab.forecasting.expected_settlement": ["tier_probabilities"],
        "rebatelab.forecasting.spend_forecast": ["SpendForecast"],
        "rebatelab.forecasting.spend_models": [
            "BGNBDParams",
            "GammaGammaParams",
            "fit_bgnbd",
            "bgnbd_loglik",
            "bgnbd_p_alive",
            "bgnbd_expected",
            "bgnbd_counts",
            "simulate_bgnbd",
            "fit_gamma_gamma",
            "gamma_gamma_loglik",
            "gamma_gamma_expected_value",
            "simulate_gamma_gamma",
        ],
        "rebatelab.forecasting.counts": ["CountDistribution"],
        "rebatelab.forecasting.compound": [
            "compound_mean",
            "compound_cdf",
            "compound_sf",
            "compound_quantile",
        ],
    },
)
