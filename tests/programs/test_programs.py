"""Program file validation: every rule is checked by its message (program id and field)."""

import pytest

from rebatelab import load_programs
from rebatelab.errors import ProgramFileError

BASE = """
programs:
  - id: GOLD
    start: 2025-01-01
    end: 2025-12-31
    tiers: [{from: 100000, rate: 0.02}, {from: 250000, rate: 0.04}]
    guardrails: {max_rate: 0.05, min_from_ratio: 0.8}
"""


def with_fields(extra: str) -> str:
    return BASE + extra


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE + "    colour: red\n", r"program GOLD: field colour: unknown key 'colour'"),
        (
            BASE.replace("{from: 250000", "{from: 90000"),
            r"program GOLD: field tiers: thresholds must be strictly ascending",
        ),
        (BASE.replace("rate: 0.04", "rate: 4"), r"program GOLD: field tiers.1.rate"),
        (BASE.replace("rate: 0.02", "rate: -0.02"), r"program GOLD: field tiers.0.rate"),
        (
            BASE.replace("{from: 250000, rate: 0.04}", "{from: 250000, amount: 500}")
            + "    method: incremental\n",
            r"program GOLD: field tiers: a lump-sum 'amount' tier needs method: retroactive",
        ),
        (BASE.replace("end: 2025-12-31", "end: 2024-12-31"), r"program GOLD: field end: "),
        (BASE + BASE.split("programs:")[1], r"program GOLD: field id: duplicate id"),
        (
            BASE + "  - id: V\n    variant_of: SILVER\n    customers_only: [C1]\n",
            r"program V: field variant_of: unknown program 'SILVER'",
        ),
        (
            BASE + "  - id: V\n    variant_of: GOLD\n    customers_only: [C1]\n"
            "    tiers: [{from: 100000, rate: 0.06}]\n",
            r"program V \(variant of GOLD\): field tiers: rate 0.06 breaks guardrail max_rate=0.05",
        ),
        (
            BASE + "  - id: V\n    variant_of: GOLD\n    customers_only: [C1]\n"
            "    tiers: [{from: 70000, rate: 0.02}]\n",
            r"program V \(variant of GOLD\): field tiers: tier 1 threshold 70000 is below "
            r"guardrail min_from_ratio=0.8",
        ),
        (
            BASE + "  - id: V\n    variant_of: GOLD\n",
            r"program V: field customers_only: a variant must list its customers",
        ),
        (BASE.replace("basis: ", "x") + "    basis: revenue\n", r"program GOLD: field basis"),
        (BASE.replace("method: ", "x") + "    method: stepped\n", r"program GOLD: field method"),
        (
            BASE + "    growth: {rebate_on: excess}\n    method: incremental\n",
            r"program GOLD: field growth: rebate_on: excess needs method: retroactive",
        ),
        ("programs: 3\n", r"'programs' must be a list"),
        ("prgrams: []\n", r"expected a top-level 'programs:' list"),
        ("programs: [\n", r"not valid YAML"),
    ],
)
def test_invalid_files(text, message):
    with pytest.raises(ProgramFileError, match=message):
        load_programs(text)


def test_variant_inherits_everything_it_does_not_set():
    ps = load_programs(
        BASE.replace("guardrails", "products: {category: [Tools]}\n    guardrails")
        + "  - id: V\n    variant_of: GOLD\n    customers_only: [C1]\n"
        "    tiers: [{from: 90000, rate: 0.025}, {from: 225000, rate: 0.045}]\n"
    )
    v = ps["V"]
    assert v.start.isoformat() == "2025-01-01" and v.products == {"category": ["Tools"]}
    assert v.thresholds.tolist() == [90000, 225000] and v.guardrails is None
    assert [p.id for p in ps.variants_of("GOLD")] == ["V"]


def test_missing_file(tmp_path):
    with pytest.raises(ProgramFileError, match="program file not found"):
        load_programs(tmp_path / "nope.yaml")


def test_roundtrip_yaml(small_programs):
    again = load_programs(small_programs.to_yaml())
    assert [p.model_dump() for p in again] == [p.model_dump() for p in small_programs]


def test_sample_programs_load():
    from tests.conftest import SAMPLE

    ps = load_programs(SAMPLE / "programs.yaml")
    assert len(ps) >= 5
    methods = {p.method for p in ps}
    assert methods == {"retroactive", "incremental"}
    assert any(p.is_growth for p in ps) and any(p.pool == "buying_group" for p in ps)
    assert any(p.variant_of for p in ps) and any(p.basis == "quantity" for p in ps)
    assert any(t.amount for p in ps for t in p.tiers)
    assert any(p.cap for p in ps) and any(p.min_payout for p in ps)
