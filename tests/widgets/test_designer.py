"""The program designer in-process: several designs against the current program, the margin,
the designs file, proposed tiers, and results marked out of date after an invalid input.

Numbers are checked against an independent path (the library's compare_designs on the same
base and scenarios) or exact algebra (payout linear in the rates without cap or response).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

import rebatelab as rl  # noqa: E402
from rebatelab.datasets import sample_path  # noqa: E402
from rebatelab.simulation.compare import compare_designs, propose_tier  # noqa: E402
from rebatelab.widgets import ProgramDesigner  # noqa: E402

SAMPLE = sample_path()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data():
    return rl.load_data(SAMPLE)


@pytest.fixture(scope="module")
def programs():
    return rl.load_programs(SAMPLE / "programs.yaml")


def _test_program(data) -> rl.ProgramSet:
    """An automatic, uncapped two-tier program over the sample's last calendar year."""
    year = data.date_range[1].year
    spend = data.transactions.groupby("customer_id")["net_amount"].sum()
    mid = float(np.round(spend.median(), -2))  # a threshold some customers reach
    return rl.load_programs(
        [
            {
                "id": "T",
                "start": f"{year}-01-01",
                "end": f"{year}-12-31",
                "enrollment": "automatic",
                "tiers": [{"from": 100, "rate": 0.01}, {"from": mid, "rate": 0.02}],
            }
        ]
    )


@pytest.fixture
def designer(data, tmp_path):
    return ProgramDesigner(data, _test_program(data), save_dir=tmp_path, n_scenarios=100)


@pytest.fixture
def gold(data, programs, tmp_path):
    return ProgramDesigner(data, programs, program_id="GOLD-2026", save_dir=tmp_path,
                           n_scenarios=100, forecast=False)  # fmt: skip


def _text(value: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", value)).strip()


def test_untouched_design_equals_the_current_program(designer):
    t = designer.table
    assert list(t.index) == ["current", "design 1"]
    num = t.select_dtypes("number").columns
    num = [c for c in num if not c.endswith("_vs_current") and c != "cost_per_provoked"]
    pd.testing.assert_series_equal(t.loc["design 1", num], t.loc["current", num],
                                   check_names=False)  # fmt: skip
    assert t.at["design 1", "payout_vs_current"] == 0.0
    assert designer.error is None and designer.stale is None
    assert bytes(designer.images["comparison"].value).startswith(PNG_MAGIC)
    assert [t.value for t in designer.tier_rate[:2]] == [1.0, 2.0]  # shown in %


def test_doubling_the_rates_doubles_the_payout(designer):
    """No cap, no minimum, no response: payout is linear in the rates."""
    designer.response.value = 0.0
    designer.tier_rate[0].value = 2.0
    designer.tier_rate[1].value = 4.0
    t = designer.table
    assert designer.design.rates.tolist() == [0.02, 0.04]
    assert t.at["design 1", "payout"] == pytest.approx(2 * t.at["current", "payout"], rel=1e-12)
    assert t.at["design 1", "payout_vs_current"] == pytest.approx(t.at["current", "payout"])


def test_several_designs_match_the_library_comparison(gold):
    gold.tier_rate[0].value = 2.5  # design 1: tier 1 at 2.5%
    gold.add_design()  # design 2: a copy of design 1 ...
    gold.tier_from[1].value = 3000.0  # ... with a lower tier 2
    assert list(gold.selected.options) == ["design 1", "design 2"]
    t = gold.table
    assert list(t.index) == ["current", "design 1", "design 2"]
    ref = compare_designs(
        gold.base, gold.current, gold.designs, margin=gold.margin.value, n_scenarios=100,
        response_strength=gold.response.value, seed=0,
    )  # fmt: skip
    num = ref.select_dtypes("number").columns
    pd.testing.assert_frame_equal(t[num], ref[num])
    shown = _text(gold.results.value)
    for name in ("current", "design 1", "design 2"):
        assert f"${t.at[name, 'payout']:,.0f}" in shown
    assert f"+${t.at['design 2', 'payout_vs_current']:,.0f}" in shown
    assert gold._amount_header.value == "<b>lump sum [USD]</b>"  # the code, no placeholder
    assert gold.cap.description == "Cap per customer [USD] (0 = none)"
    gold.remove_design()
    assert list(gold.table.index) == ["current", "design 1"]


def test_margin_gives_the_profit_effect_without_rerunning(gold, monkeypatch):
    gold.tier_rate[2].value = 5.0
    t = gold.table
    drawn = gold.images["comparison"].value
    import rebatelab.simulation.compare as compare

    monkeypatch.setattr(compare, "simulate_program", lambda *a, **k: pytest.fail("reran"))
    gold.margin.value = 0.5
    t2 = gold.table
    d_prov = t2.at["design 1", "provoked_revenue"] - t2.at["current", "provoked_revenue"]
    d_pay = t2.at["design 1", "payout"] - t2.at["current", "payout"]
    assert t2.at["design 1", "profit_vs_current"] == pytest.approx(0.5 * d_prov - d_pay)
    assert t2["payout"].equals(t["payout"])
    assert gold.images["comparison"].value is drawn  # the chart does not show the margin
    assert "at 50% margin" in gold.results.value


def test_invalid_input_marks_the_results_out_of_date_until_fixed(gold):
    before = gold.table
    gold.tier_from[1].value = gold.tier_from[0].value  # not above tier 1
    assert gold.stale is not None and "thresholds must increase" in gold.stale
    assert _text(gold.status.value).startswith("out of date: design 1: tier 2 starts at 1,400")
    assert "rl-stale" in gold._outputs._dom_classes
    assert gold.table is before  # the old numbers stay, greyed, not recomputed
    gold.tier_from[1].value = 3600.0
    assert gold.stale is None and "rl-stale" not in gold._outputs._dom_classes
    assert "out of date" not in gold.status.value


def test_lump_sum_on_an_incremental_design_is_out_of_date(designer):
    designer.tier_amount[1].value = 500.0
    assert designer.stale is None and designer.design.amounts.tolist() == [0.0, 500.0]
    designer.method.value = "incremental"
    assert designer.stale is not None and "retroactive" in designer.stale


def test_zero_rate_and_pays_more_for_less_are_flagged_in_words(gold):
    gold.tier_rate[2].value = 0.0
    found = _text(gold.findings.value)
    assert "tier 3 pays nothing (0% and no lump sum)" in found
    assert "tier 3 pays more for less" in found
    assert gold.stale is None  # a warning, not an error: the design still runs


def test_adding_a_tier_proposes_a_threshold_above_the_last(gold):
    last = gold.tier_from[2].value
    gold.n_tiers.value = 4
    new = gold.designs["design 1"]["tiers"][3]
    assert new == propose_tier(gold.designs["design 1"]["tiers"][:3], gold.projected())
    assert new["from"] > last > 0 and gold.tier_from[3].value == new["from"]
    assert gold.stale is None and "customers_tier_4" in gold.table
    gold.n_tiers.value = 2
    assert len(gold.designs["design 1"]["tiers"]) == 2
    assert gold._rows[2].layout.display == "none"


def test_designs_save_and_load_back(gold, tmp_path):
    gold.tier_rate[0].value = 2.5
    gold.add_design()
    gold.tier_from[2].value = 8000.0
    saved = {n: [dict(t) for t in d["tiers"]] for n, d in gold.designs.items()}
    path = gold.save_designs()
    assert path == tmp_path / "GOLD-2026-designs.yaml"
    as_programs = rl.load_programs(path)  # a program file, one program per design
    assert as_programs.ids == ["design 1", "design 2"]
    assert as_programs["design 2"].thresholds.tolist() == [1400.0, 3600.0, 8000.0]
    before = gold.table
    gold.load_program()  # start over: one design
    assert list(gold.designs) == ["design 1"]
    gold.load_designs()
    assert {n: d["tiers"] for n, d in gold.designs.items()} == saved
    pd.testing.assert_frame_equal(gold.table, before)
    assert "Loaded 2 design(s)" in gold.status.value


def test_loading_a_missing_or_bad_file_is_reported(gold, tmp_path):
    gold.path.value = str(tmp_path / "nope.yaml")
    gold.load.click()
    assert "not found" in gold.error
    bad = tmp_path / "bad.yaml"
    bad.write_text("programs:\n  - tiers: [{from: 1, rate: 0.01}]\n")
    gold.path.value = str(bad)
    gold.load.click()
    assert "needs an 'id'" in gold.error


def test_switching_program_loads_its_terms(data, programs, tmp_path):
    d = ProgramDesigner(data, programs, save_dir=tmp_path, n_scenarios=50, forecast=False)
    assert all(programs[p].variant_of is None for p in d.program.options)
    for pid in d.program.options:
        d.program.value = pid
        p = programs[pid]
        assert d.error is None, d.error
        assert d.n_tiers.value == len(p.tiers)
        assert [d.tier_from[i].value for i in range(len(p.tiers))] == p.thresholds.tolist()
        assert d.table.at["design 1", "payout"] == d.table.at["current", "payout"]


def test_figure_units_ticks_and_legend(gold):
    gold.add_design()
    gold.tier_rate[1].value = 3.3
    fig = gold.figures["comparison"]
    fig.canvas.draw()
    axes = fig.axes
    assert axes[0].get_ylabel() == "mean payout [USD]"
    assert axes[1].get_ylabel() == "payout [% of eligible sales]"
    assert axes[3].get_ylabel() == "provoked revenue [USD]"
    for ax in axes:
        labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert len(labels) == len(set(labels)), labels  # no duplicate tick labels
        assert [t.get_text() for t in ax.get_xticklabels()] == ["current", "design 1", "design 2"]
    heights = [p.get_height() for p in axes[0].patches]
    np.testing.assert_allclose(heights, gold.table["payout"].to_numpy())
    # the tier legend sits under its axes, not over the bars
    legend = axes[2].get_legend().get_window_extent()
    assert legend.y1 <= axes[2].get_window_extent().y0
    texts = " ".join(
        a.get_text() for ax in axes for a in ax.findobj(lambda a: hasattr(a, "get_text"))
    )
    assert "[currency]" not in texts


def test_relation_to_the_forecast_states_both_numbers(data, programs, tmp_path):
    from rebatelab.forecasting.projection import forecast
    from rebatelab.simulation.base import _data_for

    d = ProgramDesigner(data, programs, program_id="GOLD-2026", save_dir=tmp_path,
                        n_scenarios=50)  # fmt: skip
    one = rl.ProgramSet.from_programs([programs["GOLD-2026"]])
    expected = forecast(_data_for(data, one), one, d.as_of)["expected_rebate"].sum()
    text = _text(d.relation.value)
    assert f"expected rebate as of {d.as_of.date()} is ${expected:,.0f}" in text
    assert f"mean payout is ${d.table.at['current', 'payout']:,.0f}" in text
    assert "buy ahead" in text and d.forecast_button.layout.display == "none"


def test_unique_ticks_add_decimals_until_labels_differ():
    from matplotlib.figure import Figure

    from rebatelab.plotting.whatif import unique_ticks

    ax = Figure().add_subplot()
    ax.set_ylim(0.0300, 0.0312)  # 3.00% .. 3.12%: whole percents would all read "3%"
    unique_ticks(ax.yaxis, lambda v, d: f"{100 * v:.{d}f}%")
    fmt = ax.yaxis.get_major_formatter()
    ticks = [t for t in ax.yaxis.get_major_locator()() if 0.0300 <= t <= 0.0312]
    labels = [fmt(t, i) for i, t in enumerate(ticks)]
    assert len(ticks) >= 3 and len(set(labels)) == len(labels), labels


def test_the_designer_from_the_cache_gives_the_same_results_without_the_lines(data, tmp_path):
    """A base read back from the cache: the comparison tables of the same edits, to the bit.

    The first opening estimates the base and stores it; the second reads it and never loads
    the invoice lines (the stand-in data's tables stay unread).
    """
    import dataclasses

    cache_dir = tmp_path / "cache"
    first = ProgramDesigner.from_folder(SAMPLE, cache_dir=cache_dir, save_dir=tmp_path)
    assert "designer-base" in first.cache.misses
    view = ProgramDesigner.from_folder(SAMPLE, cache_dir=cache_dir, save_dir=tmp_path)
    assert "designer-base" in view.cache.hits and view.cache._data is None
    direct = ProgramDesigner(data, SAMPLE / "programs.yaml", save_dir=tmp_path)
    assert view.as_of == direct.as_of and view.n_scenarios == direct.n_scenarios
    for name in ("order_rate", "mean_order_value", "holding_cost"):
        np.testing.assert_array_equal(getattr(view.base, name), getattr(direct.base, name))
    pd.testing.assert_frame_equal(view.table, direct.table, check_exact=True)
    assert view.forecast_rebate == pytest.approx(direct.forecast_rebate, rel=1e-12)
    for v in (view, direct):  # the same edits: a rate, one more (proposed) tier, a new design
        top = v.n_tiers.value - 1
        v.tier_rate[top].value = v.tier_rate[top].value + 0.5
        v.n_tiers.value = v.n_tiers.value + 1
        v.add_design()
        v.tier_from[0].value = v.tier_from[0].value + 100
    pd.testing.assert_frame_equal(view.table, direct.table, check_exact=True)
    held = vars(view.data)
    assert view.cache._data is None  # the lines were never loaded
    assert all(
        not isinstance(held[f.name], pd.DataFrame)
        for f in dataclasses.fields(view.data)
        if f.name in ("transactions", "customers", "products")
    )
