"""Words for reps: tiers, amounts, days and product scopes in plain sentences."""

from __future__ import annotations

import math

from rebatelab.money import money, percent

__all__ = ["describe_products", "tier_label"]


def _join(words: list[str]) -> str:
    words = [str(w) for w in words]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def describe_products(program) -> str:
    """The program's eligible products in words, from its product filters.

    Examples
    --------
    >>> from rebatelab.programs.terms import Program
    >>> p = Program(id="G", start="2026-01-01", end="2026-12-31", tiers=[{"from": 1}],
    ...             products={"category": ["Fasteners", "Tools"]},
    ...             exclude_products={"brand": ["House"]})
    >>> describe_products(p)
    'Fasteners and Tools (excluding brand House)'
    """
    parts = []
    for i, (attr, allowed) in enumerate((program.products or {}).items()):
        parts.append(_join(allowed) if i == 0 else f"{attr} {_join(allowed)}")
    text = parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "") if parts else ""
    excl = [f"{a} {_join(v)}" for a, v in (program.exclude_products or {}).items()]
    if excl:
        text = (text or "eligible products") + f" (excluding {'; '.join(excl)})"
    return text


def _tier_words(program, tier_index: int, currency: str = "$") -> str:
    """What tier ``tier_index`` pays, in words: '4%', 'a $500 lump sum', '+15% growth for 3%'.

    A tier with both a rate and a lump sum reads 'a $130 lump sum plus 1%'.
    """
    t = program.tiers[tier_index - 1]
    if t.amount:
        lump = f"a {money(t.amount, currency=currency)} lump sum"
        return f"{lump} plus {percent(t.rate)}" if t.rate else lump
    if program.is_growth:
        grow = "any growth" if t.from_ <= 0 else f"+{percent(t.from_)} growth"
        return f"{grow} for {percent(t.rate)}"
    return percent(t.rate)


def tier_label(program, tier_index: int, *, currency: str = "$") -> str:
    """A tier named for a reader: 'tier 2 (4%)', 'tier 1 (a $500 lump sum)', 'none yet'.

    Parameters
    ----------
    program : Program
    tier_index : int
        1 = the first tier; 0 = no tier reached.
    currency : str
        Currency symbol of lump sums.

    Examples
    --------
    >>> from rebatelab.programs.terms import Program
    >>> p = Program(id="S", start="2026-01-01", end="2026-12-31",
    ...             tiers=[{"from": 930, "amount": 28},
    ...                    {"from": 4200, "rate": 0.01, "amount": 130}])
    >>> tier_label(p, 1), tier_label(p, 2), tier_label(p, 0)
    ('tier 1 (a $28 lump sum)', 'tier 2 (a $130 lump sum plus 1%)', 'none yet')
    """
    if tier_index <= 0:
        return "none yet"
    return f"tier {tier_index} ({_tier_words(program, tier_index, currency)})"


def _reach_words(program, tier_index: int, credit: float, currency: str) -> str:
    """Words for reaching a tier: 'reach 4% (a $9,800 credit)'.

    A lump-sum tier is named as such: 'reach tier 2 (a $130 lump sum plus 1%), a $172
    credit in all'. A tier that pays nothing at its threshold (incremental, or growth
    rebated on the excess) reads 'reach 1% on every further purchase', not a $0 credit.
    """
    if program is None:
        return f"reach the next tier (a {money(credit, currency=currency)} credit)"
    if program.tiers[tier_index - 1].amount:
        label = tier_label(program, tier_index, currency=currency)
        return f"reach {label}, a {money(credit, currency=currency)} credit in all"
    target = _tier_words(program, tier_index, currency)
    if credit < 0.005:  # incremental tiers, or growth rebated on the excess only
        return f"reach {target} on every further purchase"
    return f"reach {target} (a {money(credit, currency=currency)} credit)"


def _amount_words(gap: float, basis_type: str, currency: str) -> str:
    if basis_type == "quantity":
        return f"{math.ceil(gap - 1e-9):,} units"
    return money(gap, currency=currency, up=True)


def _days_words(days: int) -> str:
    return f"{int(days)} day{'s' if int(days) != 1 else ''} left"
