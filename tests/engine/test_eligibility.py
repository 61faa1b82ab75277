"""Who counts toward a program: a variant's customers keep the parent's enrollment."""

import pandas as pd
import pytest

from rebatelab import accrue, load_data, load_programs
from rebatelab.engine.eligibility import members
from tests.conftest import write_folder

PROGRAMS = """
programs:
  - id: GOLD
    start: 2026-01-01
    end: 2026-12-31
    basis: net_sales
    method: retroactive
    tiers: [{from: 500, rate: 0.02}, {from: 1500, rate: 0.03}]
    enrollment: required
  - id: GOLD-B
    variant_of: GOLD
    customers_only: [B]
  - id: GROW
    start: 2026-01-01
    end: 2026-12-31
    basis: net_sales
    method: retroactive
    tiers: [{from: 0.1, rate: 0.05}]
    enrollment: required
    growth: {rebate_on: total}
  - id: GROW-B
    variant_of: GROW
    customers_only: [B]
"""


def _folder(tmp_path, *, variant_row=False):
    """A and B identical: 1,000 before their enrollment (1 March) and 1,000 after."""
    tx = pd.DataFrame(
        {
            "invoice_id": ["1", "2", "3", "4"],
            "date": ["2026-02-01", "2026-04-01", "2026-02-01", "2026-04-01"],
            "customer_id": ["A", "A", "B", "B"],
            "product_id": ["P"] * 4,
            "quantity": [1, 1, 1, 1],
            "net_amount": [1000.0] * 4,
        }
    )
    cu = pd.DataFrame({"customer_id": ["A", "B"]})
    pr = pd.DataFrame({"product_id": ["P"]})
    en = pd.DataFrame(
        {
            "program_id": ["GOLD", "GOLD", "GROW", "GROW"],
            "customer_id": ["A", "B", "A", "B"],
            "enrolled_on": ["2026-03-01"] * 4,
            "baseline": [None, None, 800.0, 800.0],
        }
    )
    if variant_row:  # the variant's own row wins over the parent's
        extra = {"program_id": "GOLD-B", "customer_id": "B", "enrolled_on": "2026-01-15"}
        en = pd.concat([en, pd.DataFrame([extra])], ignore_index=True)
    return write_folder(tmp_path, tx, cu, pr, en)


def _row(acc, program, customer):
    r = acc[(acc["program_id"] == program) & (acc["customer_id"] == customer)]
    assert len(r) == 1
    return r.iloc[0]


@pytest.mark.parametrize("backend", ["numpy", "duckdb"])
def test_a_variant_customer_keeps_the_parent_enrollment_date(tmp_path, backend):
    data = load_data(_folder(tmp_path))
    programs = load_programs(PROGRAMS)
    acc = accrue(data, programs, "2026-12-31", backend=backend)
    # parent customer A: only the April line counts (enrolled 1 March) -> 1,000 at 2% = 20
    assert (_row(acc, "GOLD", "A")["basis"], _row(acc, "GOLD", "A")["earned"]) == (1000, 20)
    # B is identical, under the variant's (inherited) terms: the same 1,000, not 2,000
    b = _row(acc, "GOLD-B", "B")
    assert (b["basis"], b["tier"], b["earned"]) == (1000, 1, 20)
    assert not ((acc["program_id"] == "GOLD") & (acc["customer_id"] == "B")).any()
    # ... and the parent's baseline: 1,000 / 800 - 1 = 25% growth -> 5% of 1,000 = 50
    g = _row(acc, "GROW-B", "B")
    assert (g["basis"], g["earned"]) == (1000, 50)


def test_a_variant_enrollment_row_of_its_own_wins(tmp_path):
    data = load_data(_folder(tmp_path, variant_row=True))
    mem = members(data, load_programs(PROGRAMS)).set_index(["program_id", "customer_id"])
    assert mem.loc[("GOLD-B", "B"), "enrolled_on"] == pd.Timestamp("2026-01-15")
    assert mem.loc[("GOLD", "A"), "enrolled_on"] == pd.Timestamp("2026-03-01")
    acc = accrue(data, load_programs(PROGRAMS), "2026-12-31")
    assert _row(acc, "GOLD-B", "B")["basis"] == 2000  # enrolled 15 January: both lines count
