"""Work lists for sales: opportunities, risks, eligible customers not enrolled, the money map.

Public names (each also importable from the module in parentheses):

- ``eligible_not_enrolled`` (eligibility): Customers eligible for an enrollment-required program
  but not enrolled
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

__all__ = [
    "eligible_not_enrolled",
    "money_map",
    "filter_rows",
    "describe_products",
]

__getattr__, __dir__, _LAZY = lazy_exports(
    __name__,
    {
        "rebatelab.review.eligibility": ["eligible_not_enrolled"],
        "rebatelab.review.moneymap": ["money_map"],
        "rebatelab.review.frames": ["filter_rows"],
        "rebatelab.review.wording": ["describe_products"],
    },
)
