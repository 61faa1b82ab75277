"""In-process tests of the interactive views: set a control, check the result and the artists.

The views only call package functions; these tests check that the controls reach them with
the right terms (numbers checked independently where the algebra gives an exact answer), that
bad input is reported instead of raised, and that the figures carry labelled, unit-bearing axes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

import rebatelab as rl  # noqa: E402
from rebatelab.widgets import ProgramDesigner, figure_png, html_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
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
                "tiers": [{"from": 0, "rate": 0.01}, {"from": mid, "rate": 0.02}],
            }
        ]
    )


@pytest.fixture
def designer(data, tmp_path):
    return ProgramDesigner(data, _test_program(data), save_dir=tmp_path, n_scenarios=100)


# -- base -------------------------------------------------------------------------------------
def test_figure_png_renders_without_pyplot():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1))
    fig.subplots().plot([0, 1], [1, 0])
    png = figure_png(fig, dpi=50)
    assert png.startswith(PNG_MAGIC)
    # 2 x 1 inches at 50 dpi: the IHDR chunk holds width and height
    assert int.from_bytes(png[16:20], "big") == 100
    assert int.from_bytes(png[20:24], "big") == 50


def test_html_table_escapes_and_truncates():
    df = pd.DataFrame({"who": ["<b>x</b>", "y", "z"], "amount": [1234.5, 2.0, 3.0]})
    out = html_table(df, formats={"amount": "{:,.1f}".format}, max_rows=2)
    assert "&lt;b&gt;x&lt;/b&gt;" in out and "<b>x</b>" not in out
    assert "1,234.5" in out
    assert "1 more rows not shown" in out
    assert "Nothing" in html_table(df.iloc[:0], empty="Nothing here")


# -- program designer -------------------------------------------------------------------------
def test_designer_starts_with_design_equal_to_current(designer):
    """Untouched, the design is the current program: both runs see the same scenarios."""
    runs = designer.runs
    pid = designer.current.id
    np.testing.assert_array_equal(
        runs["design"].metrics[pid]["total_payout"], runs["current"].metrics[pid]["total_payout"]
    )
    assert designer.error is None
    assert bytes(designer.images["comparison"].value).startswith(PNG_MAGIC)
    assert [t.value for t in designer.tier_rate[:2]] == [1.0, 2.0]  # shown in %
    assert designer.n_tiers.value == 2


def test_designer_doubling_rates_doubles_every_scenario(designer):
    """No cap, no minimum, no response: payout is linear in the rates, scenario by scenario."""
    designer.response.value = 0.0
    designer.tier_rate[0].value = 2.0
    designer.tier_rate[1].value = 4.0
    pid = designer.current.id
    cur = designer.runs["current"].metrics[pid]["total_payout"]
    des = designer.runs["design"].metrics[pid]["total_payout"]
    # exact algebra; rtol covers float rounding of a sum of a few hundred products only
    np.testing.assert_allclose(des, 2 * cur, rtol=1e-12)
    assert designer.design.rates.tolist() == [0.02, 0.04]
    r = designer.result
    assert r.at["total_payout", "design"] == pytest.approx(2 * r.at["total_payout", "current"])
    assert "Design" in designer.status.value


def test_designer_cap_bounds_payout_and_tier_counts_add_up(designer):
    designer.response.value = 0.0
    designer.cap.value = 50.0
    pid = designer.current.id
    res = designer.runs["design"]
    counts = res.tier_counts[pid]
    members = counts.sum(axis=1)
    assert (members == members[0]).all()  # every member ends in exactly one tier
    assert (res.metrics[pid]["total_payout"] <= 50.0 * members[0] + 1e-9).all()
    assert designer.design.cap == 50.0
    designer.cap.value = 0.0  # 0 means no cap
    assert designer.design.cap is None


def test_designer_fewer_tiers_hides_rows_and_drops_tiers(designer):
    designer.n_tiers.value = 1
    assert len(designer.design.tiers) == 1
    assert designer._rows[1].layout.display == "none"
    designer.n_tiers.value = 2
    assert designer._rows[1].layout.display == ""


def test_designer_bad_tiers_are_reported_not_raised(designer):
    before = designer.runs
    designer.tier_from[1].value = -5.0  # below tier 1 and negative
    assert designer.error is not None
    assert "tiers" in designer.error and "rl-error" in designer.status.value
    assert designer.runs is before  # nothing recomputed from bad terms
    designer.tier_from[1].value = 1e9
    assert designer.error is None


def test_designer_figure_has_units_and_one_bar_per_tier_and_run(designer):
    fig = designer.figures["comparison"]
    axes = fig.axes
    assert len(axes) == 4
    assert "[" in axes[0].get_xlabel() and "]" in axes[0].get_xlabel()
    assert axes[1].get_xlabel() == "payout [% of eligible sales]"
    k = len(designer.current.tiers) + 1  # tier 0 (none) .. K
    assert len(axes[2].patches) == 2 * k
    heights = [p.get_height() for p in axes[2].patches]
    pid = designer.current.id
    expected = np.concatenate(
        [designer.runs[r].tier_counts[pid].mean(axis=0) for r in ("current", "design")]
    )
    np.testing.assert_allclose(heights, expected)
    assert {t.get_text() for t in axes[2].get_legend().get_texts()} == {"current", "design"}


def test_designer_save_writes_a_loadable_program(designer, tmp_path):
    designer.tier_rate[1].value = 3.5
    designer.design_id.value = "MY-DESIGN"
    designer.save.click()
    path = tmp_path / "MY-DESIGN.yaml"
    assert designer.saved_path == path and path.exists()
    saved = rl.load_programs(path)
    assert saved.ids == ["MY-DESIGN"]
    assert saved["MY-DESIGN"].rates.tolist() == [0.01, 0.035]
    assert saved["MY-DESIGN"].start == designer.current.start
    assert yaml.safe_load(path.read_text())["programs"][0]["method"] == "retroactive"
    assert "MY-DESIGN.yaml" in designer.status.value


def test_designer_switching_program_loads_its_terms(data, programs, tmp_path):
    d = ProgramDesigner(data, programs, save_dir=tmp_path, n_scenarios=50)
    assert all(programs[p].variant_of is None for p in d.program.options)
    for pid in d.program.options:
        d.program.value = pid
        p = programs[pid]
        assert d.error is None, d.error
        assert d.n_tiers.value == len(p.tiers)
        assert [d.tier_from[i].value for i in range(len(p.tiers))] == p.thresholds.tolist()
        assert d.method.value == p.method
        # the untouched design reproduces the current program exactly
        assert d.result["design"].equals(d.result["current"])
