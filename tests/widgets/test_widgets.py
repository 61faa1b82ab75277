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

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

import rebatelab as rl  # noqa: E402
from rebatelab.datasets import sample_path  # noqa: E402
from rebatelab.widgets import figure_png, html_table

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = sample_path()  # the bundled sample
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data():
    return rl.load_data(SAMPLE)


@pytest.fixture(scope="module")
def programs():
    return rl.load_programs(SAMPLE / "programs.yaml")


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


def test_show_accepts_axes_and_figures():
    from matplotlib.figure import Figure

    from rebatelab.widgets import show

    ax = Figure(figsize=(3, 2)).add_subplot()
    ax.set_ylabel("a long label [currency]")
    img = show(ax, dpi=50)
    assert img.data.startswith(PNG_MAGIC)
    assert show(ax.figure, dpi=50).data == img.data


def test_monthly_sales_bars_add_up_to_net_sales(data):
    from rebatelab.widgets import plot_monthly_sales

    ax = plot_monthly_sales(data, currency="EUR")
    heights = np.array([p.get_height() for p in ax.patches])
    # every line lands in exactly one month: the bars add up to the lines' net amount
    assert heights.sum() == pytest.approx(data.transactions["net_amount"].sum(), rel=1e-12)
    months = data.transactions["date"].dt.to_period("M").nunique()
    assert len(heights) == months
    assert ax.get_ylabel() == "net sales per month [EUR]"


def test_monthly_sales_from_stage_one_equals_from_the_data(data, programs):
    from rebatelab.engine.stage_one import reduce
    from rebatelab.widgets import plot_monthly_sales

    red = reduce(data, programs, data.date_range[1])
    a = [p.get_height() for p in plot_monthly_sales(red).patches]
    b = [p.get_height() for p in plot_monthly_sales(data).patches]
    np.testing.assert_allclose(a, b, rtol=1e-12)
    # as of an earlier day, only the lines up to it
    early = reduce(data, programs, "2025-06-30")
    heights = [p.get_height() for p in plot_monthly_sales(early).patches]
    tx = data.transactions[data.transactions["date"] <= "2025-06-30"]
    assert sum(heights) == pytest.approx(tx["net_amount"].sum(), rel=1e-12)


# -- program designer: tests/widgets/test_designer.py ---------------------------------------


# -- liability forecast -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def closed_workspace(data, programs, tmp_path_factory):
    """Two closes of the sample (fast run-rate forecast) in a throw-away ledger."""
    from rebatelab.workspace.close import close

    ws = tmp_path_factory.mktemp("ledger") / "rebatelab.duckdb"
    last = (data.date_range[1] + pd.Timedelta(days=1)).to_period("M") - 1
    for period in (last - 1, last):
        close(data, programs, str(period), workspace=ws, method="run_rate")
    return ws


@pytest.fixture
def finance(data, programs, closed_workspace, tmp_path):
    from rebatelab.widgets import LiabilityForecast

    return LiabilityForecast(
        data, programs, method="run_rate", workspace=closed_workspace, export_dir=tmp_path
    )


def test_liability_view_totals_tie_to_accrual_and_forecast(finance):
    t = finance.result.total.iloc[0]
    # accrued is the accrual's earned total; expected the sum of the forecast's expected rebates
    assert t["accrued"] == pytest.approx(finance.accrual["earned"].sum(), abs=0.01)
    assert t["expected"] == pytest.approx(finance.forecast["expected_rebate"].sum(), abs=0.01)
    assert t["percentile"] == 0.8
    assert f"{t['constrained']:,.2f}" in finance.status.value  # to the cent, as the CLI
    assert "constrained (80%)" in finance.status.value
    progs = finance.accrual["program_id"].astype(str).unique().tolist()
    assert finance.result.by_program["program_id"].astype(str).tolist() == progs
    assert finance.table.value.count("<tr>") == len(progs) + 1  # header + one row per program


def test_liability_view_percentile_moves_the_constraint_only(finance):
    r80 = finance.result.total.iloc[0]
    finance.percentile.value = 0.95
    r95 = finance.result.total.iloc[0]
    assert r95["percentile"] == 0.95
    assert r95["constrained"] >= r80["constrained"]  # a quantile is non-decreasing in its level
    for c in ("accrued", "expected", "most_likely", "p10", "p50", "p90"):
        assert r95[c] == r80[c]
    finance.percentile.value = 0.5
    t = finance.result.total.iloc[0]
    assert t["constrained"] == t["p50"]  # the 50% constraint is the median
    assert "constrained (50%)" in finance.status.value


def test_liability_view_common_shock_keeps_accrued_and_widens_nothing_silently(finance):
    finance.common_shock.value = 0.3
    t = finance.result.total.iloc[0]
    assert t["common_shock"] == 0.3
    assert t["accrued"] == pytest.approx(finance.accrual["earned"].sum(), abs=0.01)
    assert t["p10"] <= t["p50"] <= t["p90"]


def test_liability_view_chart_shows_each_program(finance):
    ax, ax_total = finance.figures["liability"].axes
    bp = finance.result.by_program
    labels = [t.get_text() for t in ax.get_yticklabels()]
    ticks = sorted(zip(ax.get_yticks(), labels, strict=True))
    assert [label for _, label in ticks[::-1]] == bp["program_id"].astype(str).tolist()
    widths = sorted(p.get_width() for p in ax.patches)
    np.testing.assert_allclose(widths, sorted(bp["accrued"]))
    assert ax.get_xlabel().startswith("rebate liability at period end [")
    assert ax_total.get_ylabel() == "probability the total is at most x"
    # the constrained line sits at the reported total
    xs = [ln.get_xdata()[0] for ln in ax_total.lines if ln.get_label().startswith("constrained")]
    assert xs == [finance.result.total.iloc[0]["constrained"]]


def test_liability_view_rollforward_ties_and_filters(finance):
    rf = finance.rollforward
    assert rf["ties"].all()
    finance.rollforward_program.value = "(all)"
    ax = finance.figures["rollforward"].axes[0]
    closing = ax.lines[0].get_ydata()
    expected = rf.groupby("period", sort=True)["closing"].sum().to_numpy()
    np.testing.assert_allclose(closing, expected, atol=1e-6)
    pid = finance.rollforward_program.options[1]
    finance.rollforward_program.value = pid
    ax = finance.figures["rollforward"].axes[0]
    mine = rf[rf["program_id"] == pid]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), mine["closing"].to_numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == mine["period"].astype(str).tolist()
    assert ax.get_ylabel().startswith("accrued liability [")


def test_liability_view_exports_one_sheet_per_view(finance, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    finance.export.click()  # a browser download (data: URI), nothing written on the server
    assert finance.exported_path is None
    assert "download=" in finance.download.value and "base64," in finance.download.value
    got = tmp_path / "downloaded.xlsx"
    got.write_bytes(finance.download_bytes)
    wb = openpyxl.load_workbook(got, read_only=True)
    assert wb.sheetnames == ["cover", *finance.result.views(), "rollforward"]
    path = finance.export_xlsx()  # from code: a file in export_dir
    assert path.parent == tmp_path and path.suffix == ".xlsx"
    assert "Exported" in finance.status.value


def test_liability_view_without_ledger(data, programs, tmp_path):
    from rebatelab.widgets import LiabilityForecast

    view = LiabilityForecast(data, programs, method="run_rate", export_dir=tmp_path)
    assert view.rollforward is None
    assert "rollforward" not in view.images
    assert view.error is None


# -- the sales review: tests/widgets/test_review_dashboard.py ---------------------------------
