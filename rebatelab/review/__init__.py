"""Work lists for sales: opportunities, risks, eligible customers not enrolled, the money map.

Every list takes the accrual and the forecast (matched by ``program_id, customer_id``) and
stage one's :class:`~rebatelab.engine.stage_one.Reduction` (or data, programs and as-of day,
reduced once); none reads invoice lines.

Public names (each also importable from the module in parentheses):

- ``eligible_not_enrolled`` (eligibility): Customers eligible for an enrollment-required program
  but not enrolled
- ``all_enrolled`` (eligibility): stage one's Reduction with every eligible customer enrolled
  in the enrollment-required programs (from its ``candidates``)
- ``OpportunityRules`` (opportunities): the probability window of an opportunity
- ``RiskRules`` (risks): the thresholds of the three kinds of risk
- ``Filters`` (frames): which rows a list keeps (``rep, region, segment, program``)
- ``align`` (frames): the forecast row of each accrual row, matched on ``program_id,
  customer_id``
- ``money_map`` (moneymap): Performance to date per program and tier
- ``filter_rows`` (frames): Rows whose ``rep``, ``region``, ``segment`` and ``program_id`` are
  among those given
- ``describe_products`` (wording): The program's eligible products in words, from its product
  filters

Not re-exported here, because a module of this room has the same name: ``opportunities``
(:func:`rebatelab.opportunities`), ``risks`` (:func:`rebatelab.risks`).

Names are imported on first use (:mod:`rebatelab._lazy`).
"""

from rebatelab._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "rebatelab.review.eligibility": ["eligible_not_enrolled", "all_enrolled"],
        "rebatelab.review.opportunities": ["OpportunityRules"],
        "rebatelab.review.risks": ["RiskRules"],
        "rebatelab.review.moneymap": ["money_map"],
        "rebatelab.review.frames": ["filter_rows", "Filters", "align"],
        "rebatelab.review.wording": ["describe_products"],
    },
)
