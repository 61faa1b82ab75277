"""The engine.

Stage one reduces invoice lines to per (program, customer[, day]) sums (:func:`reduce`
returns the :class:`Reduction` every later step takes); stage two settles them (pools,
baselines, tiers, caps, payable) in one place, :func:`evaluate`.

Public names (each also importable from the module in parentheses):

- ``reduce`` (stage_one): Reduce the invoice lines once to everything the workflow needs
- ``Reduction`` (stage_one): What stage one hands to stage two: sums of the lines, no lines
- ``CUSTOMER_DAILY_COLUMNS`` (stage_one)
- ``accrue`` (accrual): Accrual status of every program and member customer as of a date
- ``ACCRUAL_COLUMNS`` (accrual)
- ``members`` (eligibility): The customers each program accrues for
- ``product_eligibility`` (eligibility): Boolean per product (plus a False slot for unknown
  products): eligible for the program
- ``period_sums`` (reduction): Basis sums per member over each program's period up to ``as_of``
- ``daily_sums`` (reduction): Per (program, member, day) sums of eligible lines over the whole
  history to ``as_of``
- ``exclusions`` (reconciliation): Every (line, program) pair where a line dated in the
  program's period did not count
- ``reconcile`` (reconciliation): Per program: lines in the period = lines counted + lines
  excluded (by reason), to the cent
- ``explain`` (reconciliation): Why each line of one invoice counted, or did not count, toward
  each program
- ``EXCLUSION_REASONS`` (reconciliation)
- ``Schedule`` (settlement): Per-row tier schedules of many programs, padded to a common number
  of tiers
- ``schedule`` (settlement): Tier schedules for rows belonging to programs ``program_idx``
  (indices into the set)
- ``evaluate`` (settlement): Tier, rate, earned (capped, unrounded) and next-tier figures for
  pool-level bases

Names are imported on first use (:mod:`rebatelab._lazy`).
"""

from rebatelab._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "rebatelab.engine.stage_one": ["reduce", "Reduction", "CUSTOMER_DAILY_COLUMNS"],
        "rebatelab.engine.accrual": ["accrue", "ACCRUAL_COLUMNS"],
        "rebatelab.engine.eligibility": ["members", "product_eligibility"],
        "rebatelab.engine.reduction": ["period_sums", "daily_sums"],
        "rebatelab.engine.reconciliation": [
            "exclusions",
            "reconcile",
            "explain",
            "EXCLUSION_REASONS",
        ],
        "rebatelab.engine.settlement": ["Schedule", "schedule", "evaluate"],
    },
)
