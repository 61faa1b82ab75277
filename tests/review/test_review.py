"""Review: ranking by value at stake, the rep's sentence, risks, eligible but not enrolled."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

from rebatelab import RebateData, accrue, load_programs
from rebatelab.errors import ParameterError
from rebatelab.review import opportunities as review_mod
from rebatelab.review.eligibility import eligible_not_enrolled
from rebatelab.review.opportunities import opportunities
from rebatelab.review.risks import RiskRules, risks
from tests.conftest import PROGRAMS_YAML, make_frames

BOOK_PROGRAMS = """
programs:
  - id: TOOLS
    name: Tools volume rebate
    start: 2025-01-01
    end: 2025-12-31
    tiers: [{from: 20000, rate: 0.02}, {from: 40000, rate: 0.04}]
    products: {category: [Tools, Fasteners]}
    customers: {segment: [Contractor]}
    min_payout: 100
  - id: GRP
    start: 2025-01-01
    end: 2025-12-31
    tiers: [{from: 60000, rate: 0.01}, {from: 120000, rate: 0.02}]
    pool: buying_group
    enrollment: automatic
  - id: UNITS
    start: 2025-01-01
    end: 2025-12-31
    basis: quantity
    tiers: [{from: 300, amount: 100}, {from: 600, amount: 300}]
    enrollment: automatic
"""


def make_book(n: int = 24, *, seed: int = 5):
    """A small book of business with enough customers for the forecast (seeded)."""
    rng = np.random.default_rng(seed)
    ids = [f"C{i:02d}" for i in range(n)]
    cu = pd.DataFrame(
        {
            "customer_id": ids,
            "name": [f"Customer {i}" for i in range(n)],
            "rep": np.where(np.arange(n) % 2 == 0, "Ann", "Bob"),
            "region": np.where(np.arange(n) % 3 == 0, "North", "South"),
            "segment": np.where(np.arange(n) % 4 == 3, "Retail", "Contractor"),
            "buying_group": np.where(np.arange(n) % 5 == 0, "G1", None),
        }
    )
    pr = pd.DataFrame({"product_id": ["T", "F", "P"], "category": ["Tools", "Fasteners", "Paint"]})
    rate = rng.gamma(2.0, 0.05, size=n)  # orders per day
    days = pd.date_range("2024-01-01", "2025-12-31").to_numpy()
    buys = rng.random((n, len(days))) < rate[:, None]
    c, d = np.nonzero(buys)
    k = len(c)
    qty = rng.integers(1, 20, size=k).astype(float)
    tx = pd.DataFrame(
        {
            "invoice_id": [f"I{i:05d}" for i in range(k)],
            "date": days[d],
            "customer_id": np.asarray(ids)[c],
            "product_id": rng.choice(["T", "F", "P"], size=k, p=[0.5, 0.3, 0.2]),
            "quantity": qty,
            "net_amount": np.round(qty * rng.gamma(4.0, 25.0, size=k), 2),
        }
    )
    contractors = cu.loc[cu["segment"] == "Contractor", "customer_id"].to_numpy()
    en = pd.DataFrame({"program_id": "TOOLS", "customer_id": contractors[::2]})
    pay = pd.DataFrame(
        {
            "program_id": ["TOOLS", "TOOLS", "GRP"],
            "customer_id": [contractors[0], contractors[2], "C00"],
            "date": ["2025-04-10", "2025-05-15", "2025-05-15"],
            "amount": [120.55, 80.0, 42.42],
        }
    )
    return tx, cu, pr, en, pay


def write_book(folder, **kw):
    """Write :func:`make_book` as a data folder with payments and programs.yaml."""
    from tests.conftest import write_folder

    tx, cu, pr, en, pay = make_book(**kw)
    folder = write_folder(folder, tx, cu, pr, en)
    pay.to_csv(folder / "payments.csv", index=False)
    (folder / "programs.yaml").write_text(BOOK_PROGRAMS)
    return folder


def test_docstring_examples():
    assert doctest.testmod(review_mod, optionflags=doctest.ELLIPSIS).failed == 0


PROGRAMS = """
programs:
  - id: GOLD
    name: Gold
    start: 2026-01-01
    end: 2026-12-31
    tiers: [{from: 100000, rate: 0.02}, {from: 250000, rate: 0.04}]
    products: {category: [Fasteners, Tools]}
  - id: RICH
    start: 2026-01-01
    end: 2026-12-31
    tiers: [{from: 100000, rate: 0.02}, {from: 250000, rate: 0.08}]
    products: {category: [Fasteners, Tools]}
  - id: UNITS
    start: 2026-01-01
    end: 2026-12-31
    basis: quantity
    tiers: [{from: 100, rate: 0.01}, {from: 500, rate: 0.02}]
  - id: GRP
    start: 2026-01-01
    end: 2026-12-31
    tiers: [{from: 1000, rate: 0.01}, {from: 600000, rate: 0.03}]
    pool: buying_group
"""


def _data():
    cu = pd.DataFrame(
        {
            "customer_id": ["X", "Y", "Z"],
            "name": ["Xavier Ltd", "Yonder Inc", "Zed Co"],
            "rep": ["Ann", "Bob", "Bob"],
            "region": ["North", "South", "South"],
            "segment": ["Contractor", "Contractor", "Retail"],
            "buying_group": ["G", "G", None],
        }
    )
    pr = pd.DataFrame({"product_id": ["T", "P"], "category": ["Tools", "Paint"]})
    tx = pd.DataFrame(
        {
            "invoice_id": ["1", "2", "3", "4", "5"],
            "date": ["2026-02-01", "2026-03-01", "2026-02-01", "2026-08-01", "2026-09-01"],
            "customer_id": ["X", "X", "Y", "Y", "Z"],
            "product_id": ["T", "P", "T", "T", "T"],
            "quantity": [400.0, 10.0, 300.0, 37.0, 5.0],
            "net_amount": [237_600.0, 5_000.0, 200_000.0, 37_600.0, 100.0],
        }
    )
    en = pd.DataFrame(
        {
            "program_id": ["GOLD", "RICH", "UNITS", "GRP", "GRP"],
            "customer_id": ["X", "Y", "X", "X", "Y"],
        }
    )
    return RebateData.from_frames(tx, cu, pr, en)


PSET = load_programs(PROGRAMS)
AS_OF = "2026-11-30"  # 31 days left in the year


def _forecast(acc, *, p=0.3, projected=None):
    """A hand-set forecast aligned with the accrual."""
    proj = acc["pool_basis"] + 1_000.0 if projected is None else projected
    return pd.DataFrame(
        {
            "program_id": acc["program_id"],
            "customer_id": acc["customer_id"],
            "p_next_tier": np.where(np.isfinite(acc["gap_to_next"]), p, np.nan),
            "expected_rebate": acc["earned"] + 100.0,
            "projected_mean": proj,
            "p_tier_0": 0.0,
            "p_tier_1": 1.0 - p,
            "p_tier_2": p,
            "most_likely_tier": 1,
        }
    )


def test_sentence_carries_the_right_numbers():
    data = _data()
    acc = accrue(data, PROGRAMS, AS_OF)
    qty = (acc["basis_type"] == "quantity").to_numpy()
    fc = _forecast(acc, projected=acc["pool_basis"] + np.where(qty, 10.0, 1_000.0))
    opp = opportunities(acc, fc, data=data, programs=PSET, as_of=AS_OF)
    row = opp.set_index("program_id").loc["GOLD"]
    assert row["gap_to_next"] == 12_400 and row["days_left"] == 31
    assert row["credit"] == 10_000  # 250,000 x 4%
    assert row["sentence"] == (
        "31 days left to buy $12,400 more of Fasteners and Tools to reach 4% (a $10,000 credit)."
    )
    # value at stake by hand: extra rebate 10,000 - (4,752 + 100); extra revenue
    # 250,000 - (237,600 + 1,000); movability 4 x 0.3 x 0.7
    want = (10_000 - 4_852 + 250_000 - 238_600) * 4 * 0.3 * 0.7
    assert row["value_at_stake"] == pytest.approx(want, abs=0.01)
    units = opp.set_index("program_id").loc["UNITS"]
    # X bought 410 units (no product filter): 90 more reach 500 units, 500 x 2% = $10
    assert units["sentence"] == "31 days left to buy 90 units more to reach 2% (a $10 credit)."
    # extra revenue of a quantity program is priced at the customer's average unit price
    price = 242_600 / 410
    assert units["extra_revenue"] == pytest.approx((500 - 420) * price, abs=0.01)
    grp = opp.set_index("program_id").loc["GRP"]
    assert grp["sentence"].startswith("Buying group G: 31 days left to buy $119,800 more")
    assert grp["members"] == 2 and grp["customer_id"] == "X"  # the larger member speaks
    assert grp["credit"] == 18_000  # the whole pool's credit: 600,000 x 3%


def test_same_gap_more_at_stake_ranks_higher():
    data = _data()
    acc = accrue(data, PROGRAMS, AS_OF)
    opp = opportunities(acc, _forecast(acc), data=data, programs=PSET, as_of=AS_OF)
    g = opp.set_index("program_id")
    assert g.loc["GOLD", "gap_to_next"] == g.loc["RICH", "gap_to_next"] == 12_400
    assert g.loc["RICH", "credit"] > g.loc["GOLD", "credit"]
    assert g.loc["RICH", "rank"] < g.loc["GOLD", "rank"]
    assert list(opp["rank"]) == list(range(1, len(opp) + 1))
    assert opp["value_at_stake"].is_monotonic_decreasing


def test_probability_window_and_movability():
    data = _data()
    acc = accrue(data, PROGRAMS, AS_OF)
    assert len(opportunities(acc, _forecast(acc, p=0.95), data=data, programs=PSET)) == 0
    assert len(opportunities(acc, _forecast(acc, p=0.001), data=data, programs=PSET)) == 0
    half = opportunities(acc, _forecast(acc, p=0.5), programs=PSET)
    assert np.allclose(half["movability"], 1.0)


def test_filters():
    data = _data()
    acc = accrue(data, PROGRAMS, AS_OF)
    fc = _forecast(acc)
    bob = opportunities(acc, fc, data=data, programs=PSET, rep="Bob")
    assert set(bob["rep"]) == {"Bob"} and set(bob["program_id"]) == {"RICH", "GRP"}
    # Bob's member speaks for the pool in Bob's list
    assert bob.set_index("program_id").loc["GRP", "customer_id"] == "Y"
    assert bob.set_index("program_id").loc["GRP", "credit"] == 18_000  # the whole pool's
    assert set(opportunities(acc, fc, data=data, region=["North"])["customer_id"]) == {"X"}
    assert set(opportunities(acc, fc, data=data, program="UNITS")["program_id"]) == {"UNITS"}
    with pytest.raises(ParameterError, match="pass data="):
        opportunities(acc, fc, rep="Ann")
    with pytest.raises(ParameterError, match="aligned"):
        opportunities(acc, fc.iloc[:-1])


def test_risks_quiet_below_last_period_and_slipping():
    tx, cu, pr, en = make_frames()
    data = RebateData.from_frames(tx, cu, pr, en)
    programs = load_programs(PROGRAMS_YAML)
    as_of = "2025-09-30"
    acc = accrue(data, programs, as_of)
    fc = _forecast(acc, p=0.3)
    out = risks(acc, fc, data=data, programs=programs, as_of=as_of, rules=RiskRules(quiet_days=60))
    quiet = out[out["risk"] == "quiet"].set_index(["program_id", "customer_id"])
    # B's last eligible TOOLS purchase was 2025-03-05: 209 days before the as-of date
    assert ("TOOLS", "B") in quiet.index
    s = quiet.loc[("TOOLS", "B"), "sentence"]
    assert s.startswith("No purchases of Tools and Fasteners (excluding brand House) in 209 days")
    # a previous forecast on track for tier 2 that has fallen to 30%
    prev = fc.assign(p_tier_1=0.2, p_tier_2=0.8, most_likely_tier=2)
    out = risks(acc, fc, data=data, programs=programs, as_of=as_of, previous=prev)
    slip = out[out["risk"] == "slipping"]
    assert len(slip) > 0
    first = slip.iloc[0]
    assert (first["p_hold"], first["p_hold_before"]) == pytest.approx((0.3, 0.8))
    assert "now 30% likely (was 80%)" in first["sentence"]
    assert out["value_at_risk"].is_monotonic_decreasing


def test_below_last_period():
    data = _data()
    # last year X bought 260,000 of tools: tier 2 of GOLD
    tx = pd.concat(
        [
            data.transactions,
            pd.DataFrame(
                {
                    "invoice_id": ["0"],
                    "date": pd.to_datetime(["2025-05-01"]),
                    "customer_id": ["X"],
                    "product_id": ["T"],
                    "quantity": [1.0],
                    "net_amount": [260_000.0],
                }
            ),
        ]
    )
    data = RebateData.from_frames(tx, data.customers, data.products, data.enrollments)
    acc = accrue(data, PROGRAMS, AS_OF)
    out = risks(acc, _forecast(acc, p=0.3), data=data, programs=PSET, as_of=AS_OF)
    row = out[(out["risk"] == "below_last_period") & (out["program_id"] == "GOLD")].iloc[0]
    assert row["reference_tier"] == 2 and row["p_hold"] == pytest.approx(0.3)
    assert (
        row["sentence"]
        == "Reached tier 2 (4%) last period; now 30% likely to hold it, 31 days left."
    )
    # (1 - 0.3) x (rebate at 250,000 + shortfall of the expected path 250,000 - 238,600)
    assert row["value_at_risk"] == pytest.approx(0.7 * (10_000 + 11_400), abs=0.01)


def test_eligible_not_enrolled():
    tx, cu, pr, en = make_frames()
    data = RebateData.from_frames(tx, cu, pr, en)

    def fc(data, programs, as_of, method=None):
        acc = accrue(data, programs, as_of)
        return _forecast(acc).assign(expected_rebate=acc["earned"] + 5.0)

    out = eligible_not_enrolled(data, load_programs(PROGRAMS_YAML), "2025-06-30", forecaster=fc)
    # TOOLS needs enrollment, Contractors only: A, B enrolled; D is eligible and not
    tools = out[out["program_id"] == "TOOLS"]
    assert tools["customer_id"].tolist() == ["D"]
    r = tools.iloc[0]
    assert r["basis"] == 2_000 and r["expected_rebate"] == 25.0
    assert r["sentence"] == (
        "Eligible for TOOLS but not enrolled: bought $2,000 of Tools and Fasteners "
        "(excluding brand House) so far this period (projected $3,000); would likely earn $25."
    )
    assert set(
        eligible_not_enrolled(
            data, load_programs(PROGRAMS_YAML), "2025-06-30", forecaster=fc, rep="Ann"
        )["rep"]
    ) <= {"Ann"}


def test_cli_review_writes_one_digest_per_rep(tmp_path, capsys):
    from rebatelab.cli.main import main

    folder = write_book(tmp_path / "data")
    out = tmp_path / "review"
    args = ["review", "--data", str(folder), "--as-of", "2025-06-30", "--out", str(out)]
    assert main([*args, "--method", "run_rate", "--statements"]) == 0  # run_rate: fast
    assert "rebatelab review as of 2025-06-30" in capsys.readouterr().out
    for name in ("overall_opportunities.csv", "overall_risks.csv", "money_map.csv",
                 "eligible_not_enrolled.csv", "overall.html", "reps/Ann.csv", "reps/Ann.html",
                 "reps/Bob.csv", "reps/Bob.html"):  # fmt: skip
        assert (out / name).exists(), name
    ann = pd.read_csv(out / "reps" / "Ann.csv")
    cu = make_book()[1]
    assert set(ann["customer_id"]) <= set(cu.loc[cu["rep"] == "Ann", "customer_id"])
    assert len(ann) > 0
    eli = pd.read_csv(out / "eligible_not_enrolled.csv")
    assert set(eli["program_id"]) == {"TOOLS"} and len(eli) > 0
    assert len(list((out / "statements").glob("*.html"))) == len(cu)
    assert "Customer 3" in (out / "statements" / "C03.html").read_text()
    html = (out / "reps" / "Ann.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "Opportunities" in html


def test_inputs_are_not_modified_and_lump_sum_words():
    data = _data()
    acc = accrue(data, PROGRAMS, AS_OF)
    fc = _forecast(acc)
    acc0, fc0 = acc.copy(), fc.copy()
    opportunities(acc, fc, data=data, programs=PSET, as_of=AS_OF)
    risks(acc, fc, data=data, programs=PSET, as_of=AS_OF, previous=fc)
    pd.testing.assert_frame_equal(acc, acc0)
    pd.testing.assert_frame_equal(fc, fc0)
    bonus = load_programs(
        """
programs:
  - id: B
    start: 2026-01-01
    end: 2026-12-31
    tiers: [{from: 1000, amount: 250}, {from: 300000, amount: 1000}]
    enrollment: automatic
"""
    )
    data = RebateData.from_frames(data.transactions, data.customers, data.products)
    acc = accrue(data, bonus, AS_OF)
    opp = opportunities(acc, _forecast(acc), data=data, programs=bonus)
    x = opp.set_index("customer_id").loc["X", "sentence"]
    assert x == (
        "31 days left to buy $57,400 more to reach tier 2 (a $1,000 lump sum), a $1,000 credit "
        "in all."
    )


def test_incremental_tier_paying_nothing_at_its_threshold_is_not_a_zero_credit():
    from rebatelab.programs.terms import load_programs
    from rebatelab.review.wording import _reach_words

    ps = load_programs(
        "programs:\n  - id: S\n    start: 2026-01-01\n    end: 2026-12-31\n"
        "    method: incremental\n"
        "    tiers: [{from: 4700, rate: 0.005}, {from: 15000, rate: 0.01}]\n"
    )
    assert _reach_words(ps["S"], 1, 0.0, "$") == "reach 0.5% on every further purchase"
    assert _reach_words(ps["S"], 2, 51.5, "$") == "reach 1% (a $52 credit)"


# -- the handoff: review lists read stage one's Reduction -------------------------------------
def test_review_lists_take_a_reduction():
    """A Reduction gives the same lists as (data, programs, as_of), which reduce once."""
    from rebatelab.engine.stage_one import reduce

    data = _data()
    acc = accrue(data, PROGRAMS, AS_OF)
    qty = (acc["basis_type"] == "quantity").to_numpy()
    fc = _forecast(acc, projected=acc["pool_basis"] + np.where(qty, 10.0, 1_000.0))
    red = reduce(data, PSET, AS_OF)
    by_data = opportunities(acc, fc, data=data, programs=PSET, as_of=AS_OF)
    pd.testing.assert_frame_equal(opportunities(acc, fc, data=red), by_data)
    # unit prices of the quantity program come from red.daily: 242,600 / 410 units
    units = by_data.set_index("program_id").loc["UNITS"]
    assert units["extra_revenue"] == pytest.approx((500 - 420) * 242_600 / 410, abs=0.01)
    pd.testing.assert_frame_equal(
        risks(acc, fc, data=red, previous=fc),
        risks(acc, fc, data=data, programs=PSET, as_of=AS_OF, previous=fc),
    )
    with pytest.raises(ParameterError, match="differs from the reduction"):
        opportunities(acc, fc, data=red, as_of="2026-01-31")
    with pytest.raises(ParameterError, match="ProgramSet"):
        opportunities(acc, fc, data=data, programs=PROGRAMS, as_of=AS_OF)  # YAML text


def test_frames_are_matched_by_key_not_position():
    data = _data()
    acc = accrue(data, PROGRAMS, AS_OF)
    fc = _forecast(acc)
    want = opportunities(acc, fc, data=data, programs=PSET, as_of=AS_OF)
    shuffled = fc.sample(frac=1.0, random_state=np.random.default_rng(3).integers(1 << 31))
    shuffled = shuffled.reset_index(drop=True)
    assert not shuffled["customer_id"].equals(fc["customer_id"]) or len(fc) < 3
    pd.testing.assert_frame_equal(
        opportunities(acc, shuffled, data=data, programs=PSET, as_of=AS_OF), want
    )
    # a forecast row missing: the message names the key
    with pytest.raises(ParameterError, match=r"not aligned.*\('UNITS', 'X'\)"):
        opportunities(acc, fc[~((fc["program_id"] == "UNITS") & (fc["customer_id"] == "X"))])
    with pytest.raises(ParameterError, match="repeated"):
        opportunities(acc, pd.concat([fc, fc.iloc[:1]]))
    with pytest.raises(ParameterError, match="cannot be aligned"):
        opportunities(acc, fc.drop(columns="customer_id"))


def test_rules_and_filters_are_checked():
    from rebatelab.review.opportunities import OpportunityRules

    data = _data()
    acc = accrue(data, PROGRAMS, AS_OF)
    fc = _forecast(acc, p=0.3)
    # p = 0.3 is outside a 40%-80% window: nothing qualifies
    narrow = OpportunityRules(p_min=0.4, p_max=0.8)
    assert len(opportunities(acc, fc, data=data, rules=narrow)) == 0
    with pytest.raises(ParameterError, match="p_min"):
        OpportunityRules(p_min=0.9, p_max=0.1)
    with pytest.raises(TypeError, match="reps"):
        opportunities(acc, fc, data=data, reps="Ann")
    with pytest.raises(ParameterError, match="hold_below"):
        RiskRules(hold_below=1.5)
    with pytest.warns(UserWarning, match="as_of"):  # data without a day: no stage-one sums
        risks(acc, fc, data=data, programs=PSET)


def test_all_enrolled_equals_reducing_the_automatic_programs(sample):
    """The candidates joined to the members give what reducing with enrollment automatic gives."""
    from rebatelab.engine.stage_one import reduce, required_auto
    from rebatelab.review.eligibility import all_enrolled

    tx, cu, pr, en = make_frames()
    small = (RebateData.from_frames(tx, cu, pr, en), load_programs(PROGRAMS_YAML), "2025-06-30")
    for data, programs, as_of in (small, (*sample, "2026-06-30")):
        got = all_enrolled(reduce(data, programs, as_of))
        want = reduce(data, required_auto(programs), as_of)
        assert got.programs.ids == want.programs.ids
        for name in ("members", "period", "baseline", "daily"):
            pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name))
        # the members' previous-year sums are kept; the candidates' are unknown (NaN)
        known = got.prior["net_amount"].notna().to_numpy()
        pd.testing.assert_frame_equal(
            got.prior[known].reset_index(drop=True),
            want.prior[known].reset_index(drop=True),
            check_dtype=False,
        )
