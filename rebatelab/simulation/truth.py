"""The simulator's ground truth: expected orders and spend of each customer over any window."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebatelab.errors import ParameterError
from rebatelab.simulation.params import (
    CATEGORIES,
    CREDIT_RANGE,
    FULL_RETURN_SHARE,
    PARTIAL_RETURN_RANGE,
    SimulationParams,
    _as_date,
    _window,
    calendar_weights,
)

__all__ = ["eligible_share", "expected_spend", "expected_orders"]


def eligible_share(truth: pd.DataFrame, product_truth: pd.DataFrame, products) -> pd.Series:
    """True expected share of each customer's spend that falls on a set of products.

    Parameters
    ----------
    truth : DataFrame
        The customers' truth with ``mix_<category>`` columns (``SimulatedData.truth``).
    product_truth : DataFrame
        ``SimulatedData.product_truth``.
    products : iterable of product ids, or boolean array aligned with ``product_truth``
        The eligible products (e.g. ``products_table.product_id[mask]`` for a program).

    Returns
    -------
    Series
        Share [fraction] per ``customer_id``: ``sum_j mix[c(j)] x within_category_share[j]``
        over the eligible products ``j``. Order value is spread over lines independently of
        the product, so expected net spend on the products = this share x
        :func:`expected_spend` (returns and credit notes follow the lines they belong to).

    Examples
    --------
    >>> from rebatelab.simulation.generator import simulate_data
    >>> sim = simulate_data(5, start="2025-01-01", end="2025-01-31", seed=1, programs=None)
    >>> share = eligible_share(sim.truth, sim.product_truth, sim.product_truth["product_id"])
    >>> bool(np.allclose(share, 1.0))
    True
    """
    mask = np.asarray(products)
    if mask.dtype != bool:
        mask = product_truth["product_id"].isin(list(products)).to_numpy()
    if mask.shape != (len(product_truth),):
        raise ParameterError(
            f"products: a boolean mask must have one value per product ({len(product_truth)})"
        )
    w = product_truth["within_category_share"].to_numpy() * mask
    by_cat = pd.Series(w).groupby(product_truth["category"].to_numpy()).sum()
    mix = truth[[f"mix_{c}" for c in CATEGORIES]].to_numpy()
    share = mix @ by_cat.reindex(list(CATEGORIES)).fillna(0.0).to_numpy()
    return pd.Series(share, index=pd.Index(truth["customer_id"]), name="eligible_share")


# --------------------------------------------------------------------------------------------
# true expectations
# --------------------------------------------------------------------------------------------
def _intensity(truth, params, origin, first, last):
    """Expected orders per day, shape (customers, days) over [first, last]."""
    days = np.arange(first, last + 1, dtype="datetime64[D]")
    t = (days - origin).astype(int).astype(float)
    m = calendar_weights(days, params=params)
    lam = truth["order_rate"].to_numpy()[:, None] / 365.0
    g = truth["trend"].to_numpy()[:, None] / 365.0
    b = truth["birth_day"].to_numpy()[:, None]
    death = truth["death_day"].to_numpy()[:, None]
    # alive on day t when birth_day <= t < death_day (the generator's thinning rule)
    alive = (t[None, :] >= b) & (t[None, :] < death)
    return lam * m[None, :] * np.exp(g * t[None, :]) * alive, t


def expected_orders(truth, start, end, *, params=None, origin=None) -> pd.Series:
    """True expected number of orders of each customer in the window [start, end].

    Parameters
    ----------
    truth : DataFrame
        ``SimulatedData.truth`` (or :func:`read_truth`'s first value).
    start, end : date-like
        The window, inclusive [dates].
    params : SimulationParams
        The simulation's parameters (calendar); defaults when None.
    origin : date-like
        The simulation's start (day 0 of ``birth_day``/``death_day``); required.

    Returns
    -------
    Series
        Expected orders [count], indexed by ``customer_id``.
    """
    if origin is None:
        raise ParameterError("origin (the simulation's start date) is required")
    s, e = _window(start, end)
    lam_t, _ = _intensity(truth, params or SimulationParams(), _as_date(origin, "origin"), s, e)
    return pd.Series(lam_t.sum(axis=1), index=pd.Index(truth["customer_id"]), name="orders")


def expected_spend(truth, start, end, *, params=None, origin=None, net: bool = True) -> pd.Series:
    """True expected spend of each customer in the window [start, end] [currency].

    The expectation is over the order counts, order values, returns and credit notes, given
    each customer's true parameters *and* realised lifetime (``death_day``). It excludes the
    threshold response, which depends on the programs (simulate with
    ``response_strength=0`` to score forecasts against it exactly).

    Parameters
    ----------
    truth : DataFrame
        ``SimulatedData.truth``.
    start, end : date-like
        The window, inclusive.
    params : SimulationParams
        The simulation's parameters.
    origin : date-like
        The simulation's start date.
    net : bool
        Net of returns and credit notes (dated when they are booked, after the order), as
        the basis of a net-sales program is. False gives gross order value.

    Returns
    -------
    Series
        Expected spend [currency], indexed by ``customer_id``.

    Notes
    -----
    ``E[spend] = sum_d lambda_i(d) v_i - sum_d lambda_i(d) v_i c P(d + delay in window)``
    with ``c = return_prob E[f] + credit_note_prob E[f_c]``, ``E[f] = 0.6 + 0.4 x 0.5`` the
    mean returned value fraction and ``E[f_c] = 0.06``; the delay is geometric. Cent rounding
    and the 0.01 minimum of a line are ignored (relative error < 0.1%).
    """
    p = params or SimulationParams()
    if origin is None:
        raise ParameterError("origin (the simulation's start date) is required")
    o = _as_date(origin, "origin")
    s, e = _window(start, end)
    v = truth["mean_order_value"].to_numpy()
    gross_t, t = _intensity(truth, p, o, s, e)
    gross = gross_t.sum(axis=1) * v
    if not net:
        return pd.Series(gross, index=pd.Index(truth["customer_id"]), name="expected_spend")
    # orders up to ~(30 x mean delay) before the window can still be returned inside it
    look = int(np.ceil(30 * p.return_delay_days))
    first = max(o, s - look)
    lam_t, tt = _intensity(truth, p, o, first, e)
    q = 1.0 / p.return_delay_days
    # P(s <= d + delay <= e), delay ~ Geometric(q) on 1, 2, ...
    lo = (s - o).astype(int) - tt  # delay >= lo
    hi = (e - o).astype(int) - tt  # delay <= hi

    def cdf(k):
        k = np.floor(k)
        return np.where(k >= 1, 1.0 - (1.0 - q) ** np.maximum(k, 0), 0.0)

    prob = cdf(hi) - cdf(lo - 1)
    frac = FULL_RETURN_SHARE + (1 - FULL_RETURN_SHARE) * np.mean(PARTIAL_RETURN_RANGE)
    c = p.return_prob * frac + p.credit_note_prob * np.mean(CREDIT_RANGE)
    credits = (lam_t * prob[None, :]).sum(axis=1) * v * c
    return pd.Series(gross - credits, index=pd.Index(truth["customer_id"]), name="expected_spend")
