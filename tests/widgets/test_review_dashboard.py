"""The sales review dashboard in-process: lists, filters, row clicks, downloads, figures."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("anywidget")
pytest.importorskip("matplotlib")

import rebatelab as rl  # noqa: E402
from rebatelab.datasets import sample_path  # noqa: E402

SAMPLE = sample_path()
AS_OF = "2026-09-30"


@pytest.fixture(scope="module")
def view_module():
    from rebatelab.widgets import ReviewDashboard

    data, programs = rl.load_sample()
    return ReviewDashboard(data, programs, as_of=AS_OF, method="run_rate")


@pytest.fixture
def view(view_module):
    """The module's view with its filters reset (building it runs two forecasts)."""
    v = view_module
    v.rep.value = v.rep.options[0]
    v.region.value = v.region.options[0]
    v.program.value = v.program.options[0]
    v.days_left.value = (v.days_left.min, v.days_left.max)
    v.min_value.value = 50
    v.top.value = 25
    return v


def test_three_lists_each_with_counts_and_reasons(view):
    wl = view.worklists
    for kind in ("opportunities", "risks", "eligible"):
        expected = wl.select(kind)
        assert len(expected) > 0, kind
        rows = view.tables[kind].rows
        assert len(rows) == min(25, len(expected))
        assert [r["_key"] for r in rows] == expected.head(25)[
            ["program_id", "customer_id"]
        ].values.tolist()
        assert all(len(r["sentence"]) > 20 for r in rows)  # every row says why
        assert f"{len(expected):,}" in view.tabs.titles[list(view.tables).index(kind)]
    assert "$" in view.tables["opportunities"].rows[0]["value"]
    assert "," in view.counts["risks"].value or len(wl.select("risks")) < 1000


def test_rep_filter_uses_the_group_owner_rule(view):
    from rebatelab.review.worklist import group_owners

    owners = group_owners(view.reduction.customers)
    view.rep.value = "R08"
    for kind in ("opportunities", "risks", "eligible"):
        shown = view.shown[kind]
        assert (shown["rep"] == "R08").all()
        if "pool_id" not in shown.columns:  # eligible rows are per customer
            continue
        pooled = shown[shown["pool_id"] != shown["customer_id"]]
        assert (owners.reindex(pooled["pool_id"]).to_numpy() == "R08").all()
    assert "rep R08" in view.status.value


def test_minimum_value_and_length(view):
    view.min_value.value = 0
    n_all = len(view.worklists.select("opportunities", min_value=0))
    view.top.value = 5
    assert len(view.tables["opportunities"].rows) == 5
    assert "showing the top 5" in view.counts["opportunities"].value
    assert f"{n_all:,} opportunities" in view.counts["opportunities"].value
    view.min_value.value = 200
    assert (view.shown["opportunities"]["value_at_stake"] >= 200).all()


def test_an_empty_filter_says_so_and_keeps_the_drilldown(view):
    before = view.selected
    view.min_value.value = 1e11
    for kind in ("opportunities", "risks", "eligible"):
        assert view.tables[kind].rows == []
        assert view.tables[kind].empty.startswith("No ")
        assert "under these filters" in view.tables[kind].empty
    assert view.selected == before  # the drill-down is drawn only on a click


def test_row_click_drills_down(view):
    row = view.tables["risks"].rows[3]
    pid, cid = row["_key"]
    view.tables["risks"].selected = [pid, cid]  # what a click in the browser sets
    assert view.selected == (pid, cid)
    assert all(t.selected == [pid, cid] for t in view.tables.values())
    fan, mm = view.figures["drilldown"].axes[:2]
    assert fan.get_title().startswith(pid)
    # the money map marks the customer's current tier
    tier = int(
        view.accrual.loc[
            (view.accrual["program_id"] == pid) & (view.accrual["customer_id"] == cid), "tier"
        ].iloc[0]
    )
    marked = [p for p in mm.patches if p.get_gid() == "marked"]
    assert len(marked) == 1 and round(marked[0].get_x() + marked[0].get_width() / 2) == tier - 0
    assert any(t.get_text() == cid for t in mm.texts)
    assert "srcdoc" in view.detail.value and cid in view.detail.value
    # the statement frame grows to its page
    assert "scrollHeight" in view.detail.value


def test_fan_bands_are_distinguishable_and_labels_do_not_overlap(view):
    opp = view.tables["opportunities"].rows[0]["_key"]
    view.tables["opportunities"].selected = opp
    fan = view.figures["drilldown"].axes[0]
    bands = [c for c in fan.collections if str(c.get_label()).startswith("p")]
    colors = {tuple(np.round(c.get_facecolor()[0], 3)) for c in bands}
    assert len(bands) >= 2 and len(colors) == len(bands)
    fig = view.figures["drilldown"]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    labels = [t for t in fan.texts if t.get_gid() == "threshold-label"]
    boxes = [t.get_window_extent() for t in labels]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not boxes[i].overlaps(boxes[j]), (labels[i].get_text(), labels[j].get_text())
    assert "[currency]" not in fan.get_ylabel()


def test_eligible_row_click_shows_the_customer(view):
    pid, cid = view.tables["eligible"].rows[0]["_key"]
    view.tables["eligible"].selected = [pid, cid]
    assert view.selected == (pid, cid)
    assert "not enrolled" in view.heading.value


def test_call_list_downloads_csv_and_xlsx(view):
    view.rep.value = "R03"
    name, mime, data = view.call_list_file("csv")
    assert name.endswith(".csv") and "R03" in name and mime == "text/csv"
    table = pd.read_csv(io.BytesIO(data))
    expected = view.call_list()
    assert len(table) == len(expected) > 0
    assert set(table["rep"]) == {"R03"}
    assert set(table["kind"].str.split(":").str[0]) <= {"opportunity", "risk", "not enrolled"}
    name, mime, data = view.call_list_file("xlsx")
    sheet = pd.read_excel(io.BytesIO(data))
    assert len(sheet) == len(expected)
    # the button sends the browser the same bytes
    msg = view.download_xlsx.payload()
    assert msg["filename"] == name and base64.b64decode(msg["data"])[:2] == b"PK"


def test_tier_ladder_does_not_colour_top_tier_as_certain():
    from rebatelab.plotting.review import plot_tier_ladder

    data, programs = rl.load_sample()
    red = rl.reduce(data, programs, AS_OF)
    acc, fc = rl.accrue(red), rl.forecast(red, method="run_rate")
    pid = "GOLD-2026"
    ax = plot_tier_ladder(acc, pid, programs=programs, forecast=fc)
    rows = acc[acc["program_id"] == pid]
    n_top = int((~np.isfinite(rows["gap_to_next"])).sum())
    assert n_top > 0
    coloured, grey = ax.collections[0], ax.collections[1]
    assert len(coloured.get_offsets()) == len(rows) - n_top
    assert len(grey.get_offsets()) == n_top
    assert grey.get_label() == "top tier (no next tier)"


def test_eligible_list_is_built_when_its_tab_is_first_opened(view, monkeypatch):
    """On a large book the not-enrolled list waits for its tab; then it equals the eager one."""
    from rebatelab.widgets import ReviewDashboard
    from rebatelab.widgets import review as review_module

    monkeypatch.setattr(review_module, "EAGER_CANDIDATES", 0)
    lazy = ReviewDashboard(view.reduction, method="run_rate")
    assert lazy.tables["eligible"].rows == []
    assert lazy.tables["eligible"].empty.startswith("Computed when this tab is opened")
    lazy.tabs.selected_index = 2
    assert lazy.tables["eligible"].rows == view.tables["eligible"].rows
    pd.testing.assert_frame_equal(lazy.result["eligible"], view.result["eligible"])


def test_drilldown_offers_the_change_request_panel(view):
    pid, cid = view.tables["eligible"].rows[0]["_key"]
    view.tables["eligible"].selected = [pid, cid]
    assert view.propose is not None and view.propose.widget.layout.display == "none"
    assert view.propose_button.description.endswith(cid)
    view.propose_button.click()
    assert view.propose.widget.layout.display is None
    assert view.propose.customer_id == cid
    assert str(view.propose.workspace).endswith(".duckdb")


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_a_click_in_the_same_program_redraws_only_the_fan_and_the_mark(view):
    """Clicks A, B, A in one program: the last image is the first one, pixel for pixel.

    The money map is kept as pixels and only the fan and the mark are drawn again; a mark or
    a fan left over from B would show as a difference.
    """
    acc = view.accrual
    pid = str(acc["program_id"].iloc[0])
    a, b = [[pid, str(c)] for c in acc.loc[acc["program_id"] == pid, "customer_id"].iloc[:2]]
    view.select(None)
    view.select(*a)
    first = _pixels(view.images["drilldown"].value)
    view.select(*b)
    other = _pixels(view.images["drilldown"].value)
    view.select(*a)
    again = _pixels(view.images["drilldown"].value)
    assert first.shape == again.shape and (first != other).any()
    assert np.array_equal(first, again)
    mm = view.figures["drilldown"].axes[1]
    assert [p.get_gid() for p in mm.patches].count("marked") == 1
    assert [t.get_text() for t in mm.texts if t.get_gid() == "mark-label"] == [a[1]]


def test_mark_money_map_moves_the_mark():
    from matplotlib.figure import Figure

    from rebatelab.plotting.review import mark_money_map, plot_money_map

    mm = pd.DataFrame(
        {"program_id": "P", "tier": [0, 1, 2], "customers": [5, 3, 2],
         "earned": [0.0, 30.0, 40.0], "expected_at_end": [4.0, 3.0, 3.0]}
    )  # fmt: skip
    ax = Figure().add_subplot()
    plot_money_map(mm, "P", mark=(1, "C1"), ax=ax)
    now = list(ax.patches)[:3]
    plain = now[0].get_linewidth()
    assert now[1].get_gid() == "marked"
    artists = mark_money_map(ax, 2, "C2")
    assert artists[0] is now[2] and now[2].get_gid() == "marked"
    assert now[1].get_gid() is None and now[1].get_linewidth() == plain
    assert [t.get_text() for t in ax.texts if t.get_gid() == "mark-label"] == ["C2"]
    assert mark_money_map(ax, 7, "C3") == []  # no such tier: nothing marked
    assert not any(p.get_gid() == "marked" for p in ax.patches)


def test_the_fan_basis_to_date_is_the_pools_daily_sums(view):
    """The drill-down reads one pool's daily sums: the same step line as summing them all."""
    acc = view.accrual
    red = view.reduction
    for i in (0, len(acc) // 2, len(acc) - 1):
        pid, cid, pool = (str(acc[c].iloc[i]) for c in ("program_id", "customer_id", "pool_id"))
        view.select(pid, cid)
        fan = view.figures["drilldown"].axes[0]
        line = next((ln for ln in fan.get_lines() if ln.get_label() == "basis to date"), None)
        prog = red.programs[pid]
        mem = red.members
        ids = np.flatnonzero(((mem["program_id"] == pid) & (mem["pool_id"] == pool)).to_numpy())
        ds = red.daily
        mine = ds[ds["member"].isin(ids) & (ds["date"] >= pd.Timestamp(prog.start))]
        col = "quantity" if prog.basis == "quantity" else "net_amount"
        want = mine.groupby("date")[col].sum().sort_index().cumsum()
        if line is None:
            assert want.empty
            continue
        np.testing.assert_allclose(line.get_ydata(), want.to_numpy())
