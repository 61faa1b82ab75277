"""Finance: the liability with its distribution, the amounts booked, the roll-forward.

Public names (each also importable from the module in parentheses):

- ``LiabilityOptions`` (liability): how the liability is estimated (percentile, common shock,
  amount, forecast method, quantile levels)
- ``Liability`` (liability): the liability views (total, by program, by customer,
  distribution, notes) and their xlsx export
- ``liability_from`` (liability): the liability from an accrual and a forecast frame
- ``liability_forecast`` (liability): the forecast the liability and the close both use
- ``reduction_for`` (liability): stage one's Reduction given, or reduced once
- ``settle_forecast``, ``settled_rows`` (liability): contracts whose period has ended carry
  their accrued amount with no spread
- ``align_forecast`` (liability): forecast rows matched to the accrual's by
  (program_id, customer_id)
- ``pool_rebate_atoms``, ``tier_calibrated_atoms``, ``AMOUNTS`` (outcomes): rebate outcomes
  per (program, pool) from basis quantiles
- ``contract_cents`` (rollforward): amounts per contract in cents adding up per program and in
  total, as the ledger books them
- ``cumulative_catch_up`` (rollforward): the period expense under the cumulative catch-up
- ``sum_distribution``, ``SumDistribution``, ``expected_value``, ``most_likely_amount``,
  ``quantile_atoms``, ``liability_levels``, ``shock_nodes`` (distributions)

Not re-exported here, because a module of this room has the same name: ``liability``
(:func:`rebatelab.liability`, a RebateData or a Reduction in, a :class:`Liability` out).

Names are imported on first use (:mod:`rebatelab._lazy`).
"""

from rebatelab._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "rebatelab.finance.liability": [
            "LiabilityOptions",
            "Liability",
            "liability_from",
            "liability_forecast",
            "align_forecast",
            "reduction_for",
            "settle_forecast",
            "settled_rows",
        ],
        "rebatelab.finance.outcomes": ["pool_rebate_atoms", "tier_calibrated_atoms", "AMOUNTS"],
        "rebatelab.finance.rollforward": ["contract_cents", "cumulative_catch_up"],
        "rebatelab.finance.distributions": [
            "sum_distribution",
            "SumDistribution",
            "expected_value",
            "most_likely_amount",
            "quantile_atoms",
            "liability_levels",
            "shock_nodes",
        ],
    },
)
