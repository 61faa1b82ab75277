"""The liability view on a real workspace: its roll-forward, the chart over closes, caching."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

from rebatelab.money import cents  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def red():
    from rebatelab.datasets import load_sample
    from rebatelab.engine.stage_one import reduce

    data, programs = load_sample()
    return reduce(data, programs, "2026-09-30")


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from rebatelab.datasets import load_sample
    from rebatelab.workspace.close import close

    data, programs = load_sample()
    path = tmp_path_factory.mktemp("ledger") / "rebatelab.duckdb"
    for period in ("2026-07", "2026-08", "2026-09"):
        close(data, programs, period, workspace=path, book="accrued")
    return path


def test_without_closed_periods_the_view_says_so(red, tmp_path):
    from rebatelab.widgets import LiabilityForecast

    missing = tmp_path / "none.duckdb"
    view = LiabilityForecast(red, workspace=missing)
    assert view.rollforward is None and view.history is None
    assert "No roll-forward yet" in view.ledger_note and str(missing) in view.ledger_note
    assert not missing.exists()  # the view only reads: no file is created
    assert "rollforward" not in view.images and view.error is None


def test_roll_forward_and_history_come_from_the_ledger(red, ws):
    from rebatelab.widgets import LiabilityForecast
    from rebatelab.workspace.close import ledger

    view = LiabilityForecast(red, workspace=ws)
    led = ledger(ws)
    assert "3 closed period(s), 2026-07 to 2026-09" in view.ledger_note
    assert "ties to the cent" in view.ledger_note
    ax = view.figures["history"].axes[0]
    closing = led.rollforward.groupby("period")["closing"].sum().to_numpy()
    np.testing.assert_allclose(ax.lines[0].get_ydata(), closing)
    booked = led.snapshot.groupby("period")["booked"].sum().to_numpy()
    np.testing.assert_allclose(ax.lines[1].get_ydata(), booked)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2026-07", "2026-08", "2026-09"]
    assert "provision (current-period sales)" in view.rollforward_table.value
    last = f"{closing[-1]:,.2f}"
    assert last in view.rollforward_table.value


def test_default_controls_are_the_api_and_results_are_kept_by_input(red, ws):
    from rebatelab.finance.liability import liability
    from rebatelab.widgets import LiabilityForecast

    view = LiabilityForecast(red, workspace=ws)
    api = liability(red).total.iloc[0]
    first = view.result
    for c in ("accrued", "expected", "most_likely", "p10", "p50", "p90", "constrained"):
        assert cents(first.total.iloc[0][c]) == cents(api[c]), c
    view.percentile.value = 0.9
    assert view.result is not first
    assert view.download.value == ""  # a workbook of the old figures is withdrawn
    view.percentile.value = 0.8
    assert view.result is first  # the same inputs: the kept result, not a recomputation


def test_a_new_common_shock_updates_the_figure_in_place(red, tmp_path):
    """Shock 0 -> 0.2 moves the figure's artists to the 0.2 figures (no new figure).

    The artists' data must be those of a view opened at 0.2 directly: each program's
    p10-p90 interval, its marks, the total's distribution and its four vertical lines.
    """
    from rebatelab.widgets import LiabilityForecast

    moved = LiabilityForecast(red, workspace=tmp_path / "none.duckdb")
    fig = moved.figures["liability"]
    moved.common_shock.value = 0.2
    assert moved.figures["liability"] is fig  # updated, not rebuilt
    fresh = LiabilityForecast(red, workspace=tmp_path / "none.duckdb")
    fresh._layers.clear()  # a full drawing at 0.2
    fresh.figures.pop("liability")
    fresh.common_shock.value = 0.2
    res = moved.result
    for a, b in zip(fig.axes[:2], fresh.figures["liability"].axes[:2], strict=True):
        for la, lb in zip(a.get_lines(), b.get_lines(), strict=True):
            assert la.get_label() == lb.get_label()
            np.testing.assert_allclose(la.get_xydata(), lb.get_xydata())
        for ca, cb in zip(a.collections, b.collections, strict=True):
            for sa, sb in zip(ca.get_segments(), cb.get_segments(), strict=True):
                np.testing.assert_allclose(sa, sb)
        assert a.get_xlim() == pytest.approx(b.get_xlim(), rel=1e-9)
    ax_p, ax_t = fig.axes[:2]
    segs = ax_p.collections[0].get_segments()
    np.testing.assert_allclose([s[0][0] for s in segs], res.by_program["p10"])
    np.testing.assert_allclose([s[1][0] for s in segs], res.by_program["p90"])
    lines = {ln.get_label().split(":")[0]: ln for ln in ax_t.get_lines()[1:]}
    assert lines["constrained (80%)"].get_xdata()[0] == res.total["constrained"].iloc[0]
    texts = [t.get_text() for t in ax_t.get_legend().get_texts()]
    assert f"expected: {res.total['expected'].iloc[0]:,.0f}" in texts


def test_a_common_shock_shown_before_gives_the_same_image(red, tmp_path):
    """0 -> 0.2 -> 0 (kept pixels of 0 reused): the image of 0 pixel for pixel."""
    import io

    from PIL import Image

    from rebatelab.widgets import LiabilityForecast

    def pixels(view):
        return np.asarray(Image.open(io.BytesIO(view.images["liability"].value)).convert("RGB"))

    view = LiabilityForecast(red, workspace=tmp_path / "none.duckdb")
    view.common_shock.value = 0.2  # laid out and frozen: later drawings keep the positions
    view.common_shock.value = 0.0
    first = pixels(view)  # drawn in place
    view.common_shock.value = 0.2
    other = pixels(view)
    view._backgrounds.clear()  # next: drawn again, not reused
    view.common_shock.value = 0.0
    drawn = pixels(view)
    view.common_shock.value = 0.2
    view.common_shock.value = 0.0  # reused
    again = pixels(view)
    assert (first != other).any()
    assert np.array_equal(first, drawn) and np.array_equal(first, again)
    view.percentile.value = 0.9  # another percentile over the reused background
    assert view.result.total["percentile"].iloc[0] == 0.9
