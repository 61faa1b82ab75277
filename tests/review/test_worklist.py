"""The review's rules: open periods, minimum value, buying-group owner, lump-sum words."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rebatelab as rl
from rebatelab.errors import ParameterError
from rebatelab.money import data_currency, format_money
from rebatelab.programs.terms import load_programs
from rebatelab.review.wording import _reach_words, tier_label
from rebatelab.review.worklist import (
    ReviewRules,
    group_owners,
    open_program_ids,
    owner_reps,
    top_per_rep,
    worklists,
)

AS_OF = "2026-09-30"


@pytest.fixture(scope="module")
def sample():
    data, programs = rl.load_sample()
    red = rl.reduce(data, programs, AS_OF)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        acc, fc = rl.accrue(red), rl.forecast(red, method="run_rate")
        wl = worklists(acc, fc, red, method="run_rate")
    return data, programs, red, wl


# -- open periods ----------------------------------------------------------------------------
def test_open_program_ids_bounds_are_inclusive():
    ps = load_programs(
        "programs:\n"
        "  - {id: A, start: 2026-01-01, end: 2026-09-30, tiers: [{from: 1, rate: 0.01}]}\n"
        "  - {id: B, start: 2026-09-30, end: 2026-12-31, tiers: [{from: 1, rate: 0.01}]}\n"
        "  - {id: C, start: 2025-01-01, end: 2025-12-31, tiers: [{from: 1, rate: 0.01}]}\n"
    )
    assert open_program_ids(ps, "2026-09-30") == ["A", "B"]
    assert open_program_ids(ps, "2026-10-01") == ["B"]


def test_no_list_recommends_an_ended_program(sample):
    """GOLD-2025 ended in 2025: eligible-not-enrolled used to recommend it (74 rows)."""
    _, programs, _, wl = sample
    live = set(open_program_ids(programs, AS_OF))
    assert "GOLD-2025" not in live
    for kind, df in wl.lists.items():
        assert set(df["program_id"].astype(str)) <= live, kind


def test_no_eligible_row_would_earn_nothing(sample):
    _, _, _, wl = sample
    ene = wl.lists["eligible"]
    assert len(ene) > 0 and (ene["expected_rebate"].round() >= 1).all()
    said = wl.sentences("eligible", wl.select("eligible", min_value=0))
    assert not said["sentence"].str.contains(r"earn \$0\b").any()


# -- minimum value ---------------------------------------------------------------------------
def test_minimum_value_is_the_default_and_can_be_lowered(sample):
    _, _, _, wl = sample
    for kind, col in (("opportunities", "value_at_stake"), ("risks", "value_at_risk")):
        default = wl.select(kind)
        assert (default[col] >= 50).all()
        everything = wl.select(kind, min_value=0)
        assert len(everything) == len(wl.lists[kind]) > len(default)
        # the mask equals a brute-force filter of the whole list
        brute = wl.lists[kind][wl.lists[kind][col] >= 120]
        pd.testing.assert_frame_equal(wl.select(kind, min_value=120), brute)


def test_rules_refuse_nonsense():
    with pytest.raises(ParameterError, match="min_value"):
        ReviewRules(min_value=-1)
    with pytest.raises(ParameterError, match="top"):
        ReviewRules(top=0)


# -- the owner of a buying group -------------------------------------------------------------
def test_group_owner_is_the_rep_of_most_members_ties_to_smallest():
    cu = pd.DataFrame(
        {
            "customer_id": list("abcdefg"),
            "buying_group": ["G", "G", "G", "H", "H", None, "K"],
            "rep": ["R08", "R03", "R08", "R05", "R02", "R01", None],
        }
    )
    assert group_owners(cu).to_dict() == {"G": "R08", "H": "R02"}
    rows = pd.DataFrame(
        {"customer_id": ["b", "d", "f"], "pool_id": ["G", "H", "f"], "rep": ["R03", "R05", "R01"]}
    )
    assert owner_reps(rows, cu).tolist() == ["R08", "R02", "R01"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["R1", "R2", "R3", "R4"]), min_size=1, max_size=12))
def test_group_owner_matches_brute_force(reps):
    cu = pd.DataFrame({"buying_group": "G", "rep": reps})
    counts = {r: reps.count(r) for r in set(reps)}
    best = max(counts.values())
    assert group_owners(cu)["G"] == min(r for r, n in counts.items() if n == best)


def test_sample_group_bg05_belongs_to_one_rep_everywhere(sample):
    """BG05's members: R08 x3, then R03, R07, R02 x2: its pooled rows are R08's."""
    data, _, _, wl = sample
    members = data.customers[data.customers["buying_group"] == "BG05"]
    assert members["rep"].value_counts().idxmax() == "R08"
    seen = 0
    for df in wl.lists.values():
        pooled = df[(df.get("pool_id", df["customer_id"]).astype(str) == "BG05").to_numpy()]
        assert (pooled["rep"] == "R08").all()
        seen += len(pooled)
    assert seen > 0


def test_top_per_rep_keeps_n_per_rep():
    rows = pd.DataFrame({"rep": list("AABBBC"), "v": [5.0, 1.0, 4.0, 3.0, 2.0, 9.0]})
    out = top_per_rep(rows, 2, value="v")
    assert out["v"].tolist() == [9.0, 5.0, 4.0, 3.0, 1.0]


# -- sentences -------------------------------------------------------------------------------
def test_sentences_are_written_once_and_match_the_list_functions(sample):
    from rebatelab.review.opportunities import opportunities

    _, _, red, wl = sample
    shown = wl.sentences("opportunities", wl.select("opportunities").head(10))
    full = opportunities(wl_acc(red), wl_fc(red), data=red)
    by_key = full.set_index(["program_id", "customer_id"])["sentence"]
    for r in shown.itertuples():
        assert r.sentence == by_key.loc[(r.program_id, r.customer_id)]
    # risk reasons say why, in words
    risks = wl.sentences("risks", wl.select("risks").head(20))
    assert risks["sentence"].str.len().gt(20).all()
    assert risks["sentence"].str.contains("last period|No purchases|was").all()


def wl_acc(red):
    return rl.accrue(red)


def wl_fc(red):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return rl.forecast(red, method="run_rate")


def test_lump_sum_tiers_are_named_as_such():
    ps = load_programs(
        "programs:\n  - id: S\n    start: 2026-01-01\n    end: 2026-12-31\n"
        "    tiers: [{from: 930, amount: 28}, {from: 4200, rate: 0.01, amount: 130}]\n"
    )
    assert tier_label(ps["S"], 1) == "tier 1 (a $28 lump sum)"
    assert tier_label(ps["S"], 2) == "tier 2 (a $130 lump sum plus 1%)"
    words = _reach_words(ps["S"], 2, 172.0, "$")
    assert words == "reach tier 2 (a $130 lump sum plus 1%), a $172 credit in all"


def test_statement_names_lump_sum_tiers(sample):
    """SAFETY-BONUS-2026 pays lump sums: the statement said '1 (0%)'."""
    _, _, red, _ = sample
    acc = rl.accrue(red)
    rows = acc[(acc["program_id"] == "SAFETY-BONUS-2026") & (acc["tier"] == 1)]
    assert len(rows)
    page = rl.statement(str(rows["customer_id"].iloc[0]), acc, data=red)
    assert "tier 1 (a $28 lump sum)" in page
    assert "1 (0%)" not in page


# -- money -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("x", "currency", "text"),
    [
        (1234.56, "USD", "$1,234.56"),
        (1713.322675, "USD", "$1,713.32"),
        (0.005, "USD", "$0.01"),
        (-2.675, "USD", "-$2.68"),
        (1e6, "EUR", "\u20ac1,000,000.00"),
        (12.5, "CHF", "12.50 CHF"),
        (1234.5, "JPY", "\u00a51,235"),
    ],
)
def test_format_money(x, currency, text):
    assert format_money(x, currency=currency) == text


def test_data_currency_from_the_lines_else_usd(sample):
    data = sample[0]
    assert data_currency(data) == "USD"  # the sample records none
    lines = data.transactions.assign(currency="EUR")
    assert data_currency(type("D", (), {"transactions": lines})()) == "EUR"
    mixed = data.transactions.assign(currency=np.where(np.arange(len(lines)) % 2, "EUR", "USD"))
    assert data_currency(type("D", (), {"transactions": mixed})()) == "USD"
