"""Program terms: the tier math, the Program and ProgramSet models, the program file's rules.

Also governed changes to the terms: change requests and the terms in force.

Public names (each also importable from the module in parentheses):

- ``Program`` (terms): Terms of one rebate program for one measurement period
- ``ProgramSet`` (terms): An ordered, validated collection of programs with variants resolved
- ``Tier`` (terms): One tier: a lower bound and either a rate or a lump sum
- ``Growth`` (terms): Growth terms: thresholds are growth fractions over a baseline (0.10 =
  +10%)
- ``Guardrails`` (terms): Limits a negotiated variant must respect
- ``load_programs`` (terms): Load and validate a program file
- ``tier_reached`` (tiers): Tier reached by each basis (0 = none)
- ``tier_rate`` (tiers): Rate [fraction] of the tier reached; 0 when no tier is reached
- ``next_threshold`` (tiers): Lower bound of the next tier [basis unit]; NaN when the top tier
  is reached
- ``gap_to_next`` (tiers): How much more basis reaches the next tier [basis unit]; NaN at the
  top tier
- ``earned`` (tiers): Rebate earned for a basis, before cap and minimum payout [currency]
- ``earned_at_next`` (tiers): Rebate earned if the basis rose exactly to the next threshold
  [currency]; NaN at the top
- ``apply_cap`` (tiers): Limit earned amounts to a cap [currency]; ``cap`` NaN or None means no
  cap
- ``payable`` (tiers): Amount payable [currency]: earned when it reaches ``min_payout``, else 0
- ``Proposal`` (changes): What a rep proposes
- ``ChangeRequest`` (changes): A recorded request and where it stands
- ``ChangeRequestError`` (changes): A change request or a decision on one was refused (not a
  guardrail: see the message)
- ``check_proposal`` (changes): Check a proposal against the program file's rules, its
  guardrails and the enrollments
- ``effective_terms`` (changes): The programs and enrollments in force on ``as_of``: the file's
  plus approved requests
- ``diff_terms`` (changes): Field-by-field differences between two sets of program-file terms

Names are imported on first use (:mod:`rebatelab._lazy`).
"""

from rebatelab._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "rebatelab.programs.terms": [
            "Program",
            "ProgramSet",
            "Tier",
            "Growth",
            "Guardrails",
            "load_programs",
        ],
        "rebatelab.programs.tiers": [
            "tier_reached",
            "tier_rate",
            "next_threshold",
            "gap_to_next",
            "earned",
            "earned_at_next",
            "apply_cap",
            "payable",
        ],
        "rebatelab.programs.changes": [
            "Proposal",
            "ChangeRequest",
            "ChangeRequestError",
            "check_proposal",
            "effective_terms",
            "diff_terms",
        ],
    },
)
