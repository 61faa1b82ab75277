"""Money map, customer statements and the review plots."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

from rebatelab import accrue
from rebatelab.errors import ParameterError
from rebatelab.report.statement import statement
from rebatelab.review import moneymap as mm
from rebatelab.review.moneymap import money_map
from tests.review.test_review import AS_OF, PROGRAMS, PSET, _data, _forecast


def test_docstring_examples():
    assert doctest.testmod(mm, optionflags=doctest.ELLIPSIS).failed == 0


@pytest.fixture
def book():
    data = _data()
    acc = accrue(data, PROGRAMS, AS_OF)
    return data, acc, _forecast(acc, p=0.3)


def test_money_map_adds_up(book):
    data, acc, fc = book
    m = money_map(acc, fc, programs=PSET)
    # every tier of every program is listed, also the empty ones
    assert m.groupby("program_id").size().to_dict() == {"GOLD": 3, "RICH": 3, "UNITS": 3, "GRP": 3}
    assert m["customers"].sum() == len(acc)
    assert m["earned"].sum() == pytest.approx(acc["earned"].sum(), abs=0.01)
    assert m["expected_rebate"].sum() == pytest.approx(fc["expected_rebate"].sum(), abs=0.01)
    per = m.groupby("program_id")["expected_at_end"].sum()
    np.testing.assert_allclose(per, acc.groupby("program_id").size().reindex(per.index))
    gold = m[m["program_id"] == "GOLD"].set_index("tier")
    assert gold.loc[1, "customers"] == 1 and gold.loc[1, "basis"] == 237_600
    assert gold.loc[2, "from"] == 250_000 and gold.loc[2, "rate"] == 0.04
    # p_next_tier = 0.3 >= reach 0.2: X is within reach of GOLD's tier 2
    assert gold.loc[1, "within_reach"] == 1
    assert money_map(acc, fc, reach=0.5)["within_reach"].sum() == 0


def test_statement(book):
    data, acc, fc = book
    page = statement("X", acc, fc, data=data, programs=PSET, as_of=AS_OF)
    assert "<h1>Rebate statement: Xavier Ltd (X)</h1>" in page
    assert (
        "Gold: buy $12,400 more of Fasteners and Tools in the 31 days left to reach 4% "
        "(a $10,000 credit)." in page
    )
    assert page.count("<tr>") == 1 + int((acc["customer_id"] == "X").sum())
    assert "30%" in page  # the probability of the next tier
    with pytest.raises(ParameterError, match="no program"):
        statement("nobody", acc, fc)
    # names are escaped
    data.customers.loc[0, "name"] = "<b>X & Co</b>"
    assert "&lt;b&gt;X &amp; Co&lt;/b&gt;" in statement("X", acc, data=data)


def test_plots(book):
    from matplotlib.figure import Figure

    from rebatelab.plotting.review import plot_forecast_fan, plot_money_map, plot_tier_ladder

    data, acc, fc = book
    ax = plot_tier_ladder(acc, "GOLD", programs=PSET, forecast=fc)
    assert len(ax.collections) >= 1 and len(ax.get_lines()) >= 2  # points and thresholds
    ax2 = Figure().add_subplot()
    assert plot_money_map(money_map(acc, fc, programs=PSET), "GOLD", ax=ax2) is ax2
    assert len(ax2.patches) >= 3
    levels = np.array([0.1, 0.5, 0.9])
    fcq = fc.copy()
    for lev, d in zip(levels, (0.0, 5_000.0, 20_000.0), strict=True):
        fcq[f"q_{lev:g}"] = acc["pool_basis"] + d
    ax3 = plot_forecast_fan(acc, fcq, "GOLD", "X", data=data, programs=PSET, as_of=AS_OF)
    assert len(ax3.collections) >= 1  # the fan
    ys = {round(line.get_ydata()[0]) for line in ax3.get_lines() if len(line.get_ydata())}
    assert {100_000, 250_000} <= ys  # threshold lines
    pd.testing.assert_frame_equal(acc, accrue(data, PROGRAMS, AS_OF))  # inputs untouched


def test_projected_basis_shares_a_pool(book):
    data, acc, fc = book
    m = money_map(acc, fc, programs=PSET).set_index(["program_id", "tier"])
    # _forecast projects every pool 1,000 above its basis to date: the pool G (X and Y) in
    # GRP projects 481,200, shared pro rata to basis; it is counted once in total
    grp = m.loc["GRP"]
    assert grp["projected_basis"].sum() == pytest.approx(480_200 + 1_000, abs=0.01)
    gold = m.loc["GOLD"]
    assert gold["projected_basis"].sum() == pytest.approx(237_600 + 1_000, abs=0.01)


def test_statement_shows_the_pool(book):
    data, acc, fc = book
    page = statement("Y", acc, fc, data=data, programs=PSET)
    # Y's own GRP basis and the buying group's, which the tier is measured on
    assert "$237,600 (buying group G: $480,200)" in page
    assert "GRP (buying group G): buy $119,800 more" in page


def test_statement_and_fan_take_a_reduction(book):
    from rebatelab.engine.stage_one import reduce
    from rebatelab.plotting.review import plot_forecast_fan

    data, acc, fc = book
    fc = fc.assign(**{"q_0.1": acc["pool_basis"], "q_0.5": acc["pool_basis"] + 500.0,
                      "q_0.9": acc["pool_basis"] + 2_000.0})  # fmt: skip
    red = reduce(data, PSET, AS_OF)
    assert statement("X", acc, fc, data=red) == statement(
        "X", acc, fc, data=data, programs=PSET, as_of=AS_OF
    )
    ax = plot_forecast_fan(acc, fc, "GOLD", "X", data=red)
    (step,) = [ln for ln in ax.get_lines() if ln.get_label() == "basis to date"]
    # X's eligible GOLD purchases (tools only): 237,600 on 2026-02-01, the paint not counted
    assert step.get_ydata()[-1] == pytest.approx(237_600)
    # the forecast matched by key, not by row: reversed rows draw the same fan
    rev = fc.iloc[::-1].reset_index(drop=True)
    ax2 = plot_forecast_fan(acc, rev, "GOLD", "X", data=red)
    assert [c.get_paths()[0].vertices.tolist() for c in ax2.collections] == [
        c.get_paths()[0].vertices.tolist() for c in ax.collections
    ]


def test_one_money_format():
    from rebatelab.money import money
    from rebatelab.widgets._base import money as view_money

    assert money(12_399.2, up=True) == "$12,400" and money(-1_234.6) == "-$1,235"
    assert money(9_800.5, currency="", code="USD") == "9,801 USD"
    assert money(float("nan")) == "-" and money(None, missing="\u2013") == "\u2013"
    # the views' style: no symbol, the code after the number, an en dash when missing
    assert view_money(12_345.4, "EUR") == "12,345 EUR" and view_money(12_345.4) == "12,345"
    assert view_money(pd.NA) == "\u2013"


def test_html_is_built_in_the_report_room():
    from rebatelab.report.html import html_table
    from rebatelab.widgets import html_table as view_table

    assert view_table is html_table
    t = html_table(pd.DataFrame({"who": ["<b>"], "n": [3]}), max_rows=1)
    assert "<td>&lt;b&gt;</td>" in t and "<td class='num'>3</td>" in t
