"""Plots of what-if runs: candidates side by side on the same scenarios.

Matplotlib is imported inside the functions only; nothing touches pyplot's global state.
"""

from __future__ import annotations

import numpy as np

from rebatelab.errors import ParameterError
from rebatelab.simulation.whatif import METRICS, WhatIfResult

__all__ = ["plot_whatif", "plot_tier_participation"]


_LABELS = {
    "total_payout": "total payout [currency]",
    "payout_without_response": "payout without response [currency]",
    "eligible_sales": "eligible sales [currency]",
    "payout_share": "payout [fraction of eligible sales]",
    "uplift": "purchases added to reach a tier [currency]",
    "incremental_revenue": "incremental revenue [currency]",
    "cost_per_incremental": "payout per unit of incremental revenue",
}


def _axes(ax):
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(7, 4)).add_subplot()
    return ax


def plot_whatif(result: WhatIfResult, *, metric: str = "total_payout", ax=None):
    """Distribution over scenarios of one metric, one box per candidate.

    Parameters
    ----------
    result : WhatIfResult
        From :func:`rebatelab.simulation.whatif.simulate_program`.
    metric : str
        One of :data:`rebatelab.simulation.whatif.METRICS`.
    ax : matplotlib Axes, optional
        Drawn on when given; otherwise a new figure's axes.

    Returns
    -------
    matplotlib Axes
        Boxes span the 5th-95th percentiles (whiskers) around the quartiles; a diamond marks
        the mean. Infinite values (no incremental revenue) are left out.
    """
    if metric not in METRICS:
        raise ParameterError(f"metric must be one of {list(METRICS)}; got {metric!r}")
    ax = _axes(ax)
    data = []
    for pid in result.candidates:
        v = np.asarray(result.metrics[pid][metric], dtype=float)
        data.append(v[np.isfinite(v)])
    positions = np.arange(1, len(data) + 1)
    ax.boxplot(
        data, positions=positions, whis=(5, 95), showfliers=False, widths=0.5,
        tick_labels=list(result.candidates),
    )  # fmt: skip
    means = [d.mean() if d.size else np.nan for d in data]
    ax.plot(positions, means, "D", color="C1", label="mean")
    ax.set_ylabel(_LABELS[metric])
    ax.set_title(
        f"{metric.replace('_', ' ')} over {result.n_scenarios} scenarios "
        f"(response strength {result.response_strength:g})"
    )
    ax.legend(loc="best")
    return ax


def plot_tier_participation(result: WhatIfResult, *, ax=None):
    """Mean number of customers ending in each tier, stacked per candidate.

    Parameters
    ----------
    result : WhatIfResult
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        One bar per candidate, one segment per tier 1..K (tier 0, no tier, is left out).
    """
    ax = _axes(ax)
    k = max(c.shape[1] for c in result.tier_counts.values())
    x = np.arange(len(result.candidates))
    bottom = np.zeros(len(x))
    for t in range(1, k):
        h = np.array(
            [
                result.tier_counts[pid][:, t].mean()
                if t < result.tier_counts[pid].shape[1]
                else 0.0
                for pid in result.candidates
            ]
        )
        ax.bar(x, h, bottom=bottom, label=f"tier {t}")
        bottom += h
    ax.set_xticks(x, list(result.candidates))
    ax.set_ylabel("customers (mean over scenarios)")
    ax.legend(loc="best")
    return ax
