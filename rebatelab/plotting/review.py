"""Plots for review: the tier ladder, the money map, a customer's forecast fan.

Each function draws on ``ax`` (a new ``matplotlib.figure.Figure`` axes when None) and returns
it; no pyplot state is touched.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebatelab.errors import ParameterError
from rebatelab.forecasting.quantiles import quantile_columns
from rebatelab.review.frames import Inputs, align, program_set

__all__ = ["plot_tier_ladder", "plot_money_map", "mark_money_map", "plot_forecast_fan"]


def _axes(ax):
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(7, 4)).add_subplot()
    return ax


def _program(programs, program_id):
    programs = program_set(programs)
    if programs is None:
        return None
    return programs[program_id]


def _rows(accrual: pd.DataFrame, program_id: str) -> pd.DataFrame:
    rows = accrual[accrual["program_id"].astype(str) == str(program_id)]
    if rows.empty:
        raise ParameterError(f"program {program_id!r} has no rows in the accrual")
    return rows


def _forecast_row(forecast: pd.DataFrame, program_id, customer_id) -> int:
    """Position of the forecast's row for ``(program_id, customer_id)``."""
    missing = [c for c in ("program_id", "customer_id") if c not in forecast.columns]
    if missing:
        raise ParameterError(f"forecast: no {missing} column(s) to find the row by key")
    at = np.flatnonzero(
        (forecast["program_id"].astype(str) == str(program_id)).to_numpy()
        & (forecast["customer_id"].astype(str) == str(customer_id)).to_numpy()
    )
    if len(at) != 1:
        raise ParameterError(
            f"forecast has {len(at)} rows for ({program_id!r}, {customer_id!r}); need one"
        )
    return int(at[0])


def plot_tier_ladder(accrual, program_id, *, programs=None, forecast=None, ax=None):
    """Customers (pools) of one program placed on its tier ladder.

    Each pool is a point at its basis to date (growth to date, for growth programs), sorted
    left to right; the tier thresholds are horizontal rungs. With a forecast, points are
    coloured by the probability of reaching the next tier.

    Parameters
    ----------
    accrual : DataFrame
        :func:`rebatelab.accrue` output.
    program_id : str
    programs : ProgramSet or Reduction, optional
        For the rungs (thresholds) and their rates.
    forecast : DataFrame, optional
        One row per accrual row, matched on ``program_id, customer_id``.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    acc = accrual.reset_index(drop=True)
    rows = _rows(acc, program_id)
    first = ~rows["pool_id"].astype(str).duplicated().to_numpy()
    pools = rows[first]
    prog = _program(programs, program_id)
    growth = prog is not None and prog.is_growth
    y = (pools["growth"] if growth else pools["pool_basis"]).to_numpy(dtype=float)
    order = np.argsort(np.nan_to_num(y, nan=-np.inf), kind="stable")
    x = np.empty(len(y))
    x[order] = np.arange(len(y))
    if forecast is not None:
        pos = align(acc, forecast)  # forecast row of each accrual row, by key
        p = forecast["p_next_tier"].to_numpy(dtype=float)[pos[pools.index.to_numpy()]]
        # at the top tier there is no next tier: no probability to colour, drawn apart
        top = ~np.isfinite(pools["gap_to_next"].to_numpy(dtype=float)) | np.isnan(p)
        sc = ax.scatter(x[~top], y[~top], c=p[~top], cmap="viridis", vmin=0, vmax=1, s=18,
                        zorder=3)  # fmt: skip
        ax.figure.colorbar(sc, ax=ax, label="P(next tier)")
        if top.any():
            ax.scatter(x[top], y[top], facecolors="none", edgecolors="#777777", s=18, zorder=3,
                       label="top tier (no next tier)")  # fmt: skip
            ax.legend(fontsize=8, loc="upper left")
    else:
        ax.scatter(x, y, s=18, zorder=3)
    if prog is not None:
        for t in prog.tiers:  # a loop over tiers
            ax.axhline(t.from_, color="grey", lw=1, ls="--", zorder=1)
        words = [
            f"{t.from_:,.0%}" if growth else f"{t.from_:,.0f}" for t in prog.tiers
        ]  # fmt: skip
        _threshold_labels(ax, prog.thresholds, [
            f"{w}: {_tier_text(prog, k + 1)}" for k, w in enumerate(words)
        ])  # fmt: skip
    ax.set_xlabel("customers / pools, by basis to date")
    ax.set_ylabel("growth to date [fraction]" if growth else "basis to date")
    ax.set_title(f"{program_id}: tier ladder")
    return ax


def plot_money_map(money_map, program_id, *, mark=None, ax=None):
    """Customers per tier now, and expected at period end, for one program.

    Parameters
    ----------
    money_map : DataFrame
        :func:`rebatelab.review.moneymap.money_map` output.
    program_id : str
    mark : (int, str), optional
        ``(tier, label)``: outline the bar of that tier (now) and name who is in it, e.g.
        the customer being looked at.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    m = money_map[money_map["program_id"].astype(str) == str(program_id)]
    if m.empty:
        raise ParameterError(f"program {program_id!r} is not in the money map")
    tiers = m["tier"].to_numpy()
    width = 0.4 if "expected_at_end" in m.columns else 0.8
    now = ax.bar(tiers - (width / 2 if width < 0.8 else 0), m["customers"], width, label="now")
    if "expected_at_end" in m.columns:
        ax.bar(tiers + width / 2, m["expected_at_end"], width, label="expected at period end")
    for t, c, e in zip(tiers, m["customers"], m["earned"], strict=True):  # per tier labels
        ax.annotate(f"{e:,.0f}", (t, c), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(tiers)
    ax.set_xticklabels([("none" if t == 0 else f"tier {t}") for t in tiers])
    now.set_label("now")
    now.tiers = tiers  # the tier of each bar, for mark_money_map
    if mark is not None:
        mark_money_map(ax, *mark)
    ax.set_ylabel("customers (labels: earned to date)")
    ax.set_title(f"{program_id}: money map")
    ax.legend(fontsize=8)
    return ax


def mark_money_map(ax, tier, label) -> list:
    """Outline the bar of ``tier`` (now) in a money map and name ``label`` over it.

    A mark already on ``ax`` is taken off first, so a view that keeps the map of one program
    moves the mark from customer to customer without drawing the map again.

    Parameters
    ----------
    ax : matplotlib Axes
        Drawn by :func:`plot_money_map`.
    tier : int
        The tier whose bar is outlined (0: none).
    label : str
        The text over it (e.g. the customer's id).

    Returns
    -------
    list of Artist
        The outlined bar and its label (empty when the map has no bar for ``tier``).
    """
    now = next((c for c in ax.containers if c.get_label() == "now"), None)
    if now is None:
        raise ParameterError("mark_money_map: the axes hold no money map (no 'now' bars)")
    for bar in now:
        if bar.get_gid() == "marked":  # the previous mark: back to a plain bar
            edge, width = getattr(bar, "_plain_edge", (bar.get_facecolor(), 0.0))
            bar.set_edgecolor(edge)
            bar.set_linewidth(width)
            bar.set_gid(None)
    for text in [t for t in ax.texts if t.get_gid() == "mark-label"]:
        text.remove()
    at = np.flatnonzero(np.asarray(now.tiers) == int(tier))
    if not len(at):
        return []
    bar = now[int(at[0])]
    bar._plain_edge = (bar.get_edgecolor(), bar.get_linewidth())
    bar.set_edgecolor("#d62728")
    bar.set_linewidth(2.5)
    bar.set_gid("marked")
    top = bar.get_y() + bar.get_height()
    text = ax.annotate(str(label), (bar.get_x() + bar.get_width() / 2, top), xytext=(0, 14),
                       textcoords="offset points", ha="center", color="#d62728", fontsize=8,
                       arrowprops={"arrowstyle": "->", "color": "#d62728"},
                       gid="mark-label")  # fmt: skip
    ax.margins(y=0.25)
    return [bar, text]


def plot_forecast_fan(
    accrual,
    forecast,
    program_id,
    customer_id,
    *,
    data=None,
    programs=None,
    as_of=None,
    currency: str = "",
    daily=None,
    ax=None,
):
    """A customer's (or pool's) basis to date and forecast fan against the tier thresholds.

    The fan joins the basis at ``as_of`` to the end-of-period quantiles carried by the
    forecast (its ``q_<level>`` columns), one band per pair
    of symmetric levels, linearly in time (an illustration of the spread, not a path model).

    Parameters
    ----------
    accrual, forecast : DataFrame
        :func:`rebatelab.accrue` and :func:`rebatelab.forecast` outputs, matched on
        ``program_id, customer_id``.
    program_id, customer_id : str
    data : Reduction or RebateData, optional
        Draws the cumulative basis to date from stage one's daily sums
        (``Reduction.daily``). A Reduction also gives ``programs`` and ``as_of``; a
        RebateData is reduced with them (pass the Reduction when drawing many fans).
    programs : ProgramSet
        The program's period and thresholds (not needed with a Reduction).
    as_of : date-like
        Not needed with a Reduction.
    currency : str
        Currency code of the axis label (``basis [USD]``); net-sales programs only.
    daily : DataFrame, optional
        The rows of ``Reduction.daily`` of the pool's members in this program (``date`` and
        ``net_amount`` or ``quantity``), when the caller has them at hand (a dashboard
        reads one pool's rows from its cache instead of all daily sums); default: found in
        ``data``'s daily sums.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    given = Inputs(data, programs, as_of)
    if given.programs is None or given.as_of is None:
        raise ParameterError("plot_forecast_fan needs programs= and as_of= (or data=Reduction)")
    prog = _program(given.programs, program_id)
    acc = accrual.reset_index(drop=True)
    rows = _rows(acc, program_id)
    hit = rows[rows["customer_id"].astype(str) == str(customer_id)]
    if hit.empty:
        raise ParameterError(f"customer {customer_id!r} is not in program {program_id!r}")
    i = int(hit.index[0])
    row = acc.iloc[i]
    j = _forecast_row(forecast, program_id, customer_id)
    b0 = float(row["pool_basis"])
    lv, q = quantile_columns(forecast)
    as_of = given.as_of
    end = pd.Timestamp(prog.end)
    xs = np.array([as_of.to_datetime64(), end.to_datetime64()])
    if len(lv):
        qi = q[j]
        half = len(lv) // 2
        pairs = np.unique(np.linspace(0, half - 1, min(half, 4)).round().astype(int))
        from matplotlib import colormaps

        shades = colormaps["Blues"](np.linspace(0.25, 0.6, len(pairs)))
        for k, shade in zip(pairs, shades, strict=True):  # at most four bands, outer first
            lo, hi = qi[k], qi[len(lv) - 1 - k]
            # opaque, inner bands on top: each band has its own shade, in the legend too
            ax.fill_between(xs, [b0, lo], [b0, hi], color=shade, lw=0, zorder=1,
                            label=f"p{lv[k] * 100:g}-p{lv[len(lv) - 1 - k] * 100:g}")  # fmt: skip
        mid = int(np.argmin(np.abs(lv - 0.5)))
        ax.plot(xs, [b0, qi[mid]], color="C0", lw=1.5, label=f"p{lv[mid] * 100:g}")
    else:
        f = forecast.iloc[j]
        ax.fill_between(xs, [b0, f["projected_p10"]], [b0, f["projected_p90"]], alpha=0.3)
    if daily is not None or given.can_reduce:
        if daily is None:
            red = given.reduction
            # the pool's members in this program; their daily sums since the period's start
            mem = red.members
            ids = np.flatnonzero(
                (mem["program_id"].astype(str) == str(program_id)).to_numpy()
                & (mem["pool_id"].astype(str) == str(row["pool_id"])).to_numpy()
            )
            ds = red.daily
            daily = ds[np.isin(ds["member"].to_numpy(dtype=np.int64), ids)]
        mine = daily[daily["date"].to_numpy() >= np.datetime64(pd.Timestamp(prog.start), "ns")]
        col = "quantity" if prog.basis == "quantity" else "net_amount"
        daily = mine.groupby("date")[col].sum().sort_index()
        if len(daily):
            ax.step(daily.index, daily.cumsum().to_numpy(), where="post", color="k", lw=1,
                    label="basis to date")  # fmt: skip
    thr = prog.basis_thresholds(row.get("baseline"))
    thr = np.atleast_2d(thr)[0] if np.ndim(thr) == 2 else thr
    for t in thr:  # a loop over tiers
        if np.isfinite(t):
            ax.axhline(t, color="grey", ls="--", lw=1)
    _threshold_labels(ax, thr, [_tier_text(prog, k + 1) for k in range(len(prog.tiers))])
    who = customer_id if str(row["pool_id"]) == str(customer_id) else f"pool {row['pool_id']}"
    ax.set_title(f"{program_id}: {who}")
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    loc = AutoDateLocator(minticks=3, maxticks=6)  # dates that never run into each other
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(loc))
    unit = "units" if prog.basis == "quantity" else (currency or "amount")
    ax.set_ylabel(f"basis [{unit}]")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def _tier_text(prog, k: int) -> str:
    """'tier 2: 4%' or 'tier 1: $500 lump sum' for a threshold label."""
    t = prog.tiers[k - 1]
    if t.amount:
        lump = f"{t.amount:,.0f} lump sum"
        return f"tier {k}: {lump}" + (f" + {t.rate:.2%}" if t.rate else "")
    return f"tier {k}: {t.rate:.2%}"


def _spread(y: np.ndarray, gap: float) -> np.ndarray:
    """Positions at least ``gap`` apart, each as near its own as that allows (sorted input)."""
    out = np.array(y, dtype=float)
    for i in range(1, len(out)):  # a loop over a handful of labels
        out[i] = max(out[i], out[i - 1] + gap)
    return out


def _threshold_labels(ax, thresholds, labels, *, gap: float = 0.055) -> None:
    """Label horizontal threshold lines inside the right edge, never on top of each other.

    Labels of thresholds inside the view are moved apart to at least ``gap`` [axes
    fraction] (a label's height at 8 points on a figure of usual size); each keeps a thin
    leader to its line when moved.
    """
    lo, hi = ax.get_ylim()
    thr = np.asarray(thresholds, dtype=float).ravel()
    keep = np.flatnonzero(np.isfinite(thr) & (thr >= lo) & (thr <= hi))
    if not len(keep) or hi <= lo:
        return
    frac = (thr[keep] - lo) / (hi - lo)
    order = np.argsort(frac, kind="stable")
    place = np.empty(len(keep))
    place[order] = _spread(frac[order] + 0.01, gap)
    if place.max() > 0.98:  # pushed off the top: shift the whole stack down
        place -= place.max() - 0.98
    for i, k in enumerate(keep):  # a loop over tiers
        ax.annotate(labels[k], xy=(1.0, frac[i]), xytext=(0.99, place[i]),
                    xycoords="axes fraction", textcoords="axes fraction", ha="right",
                    va="bottom", fontsize=8, color="#444444", gid="threshold-label",
                    bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none",
                          "alpha": 0.8})  # fmt: skip
