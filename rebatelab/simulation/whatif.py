"""What-if runs of program designs, and the threshold response they provoke.

A pricing analyst gives one or more candidate programs; :func:`simulate_program` draws
``n_scenarios`` end-of-period outcomes of every customer's spend (a compound Poisson-gamma
sum around the customer's order rate and mean order value) and evaluates every candidate on
the *same* draws (common random numbers), so that differences between candidates are not
sampling noise. The same response model moves the simulated data (:mod:`rebatelab.simulate`).

Threshold response model (:func:`threshold_response`)
------------------------------------------------------
Late in the period a customer (for a pooled program, the pool) looks at the gap ``g`` from
its projected end-of-period basis ``B`` to the next tier. It closes the gap by buying ahead
when all of these hold:

1. the gap is *feasible*: ``g <= C``, the customer's expected eligible spend over the
   ``pull_forward_days`` after the period (it can buy ahead at most that much);
2. it is *worth it*: the extra payable rebate at the threshold is at least ``h * g``, where
   ``h`` is the customer's cost of buying ahead (holding cost) [fraction of value];
3. the customer is *responsive*: ``U < s``, with ``U`` uniform and ``s`` the response
   strength [0, 1]; ``s = 0`` turns the response off.

A responding customer's basis becomes exactly the threshold. A fraction
``incremental_share`` of the purchase is new revenue; the rest is taken from the
customer's next orders (pull-forward, Oyer 1998). Simplification: the customer projects its
end-of-period basis without error (the scenario's own outcome).

References
----------
Oyer, P. (1998). Fiscal year ends and nonlinear incentive contracts: the effect on business
seasonality. Quarterly Journal of Economics 113(1), 149-185.
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using iso-value curves for
customer base analysis. Journal of Marketing Research 42(4), 415-430 (compound
Poisson-gamma spend).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rebatelab.data.tables import RebateData
from rebatelab.engine.history import NEVER, OrderValues, last_line_day, order_history
from rebatelab.engine.lines import to_day
from rebatelab.engine.settlement import schedule
from rebatelab.errors import ParameterError
from rebatelab.programs.terms import ProgramSet, load_programs
from rebatelab.simulation.base import WhatIfBase, _layouts
from rebatelab.simulation.response import _check_fraction, _pool_response

__all__ = ["WhatIfResult", "whatif_base", "simulate_program", "METRICS"]


#: Per-scenario metrics of :class:`WhatIfResult` (besides the tier counts).
METRICS = (
    "total_payout",
    "payout_without_response",
    "eligible_sales",
    "payout_share",
    "uplift",
    "incremental_revenue",
    "cost_per_incremental",
)


def _gamma_poisson_rates(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Empirical-Bayes order rates: gamma prior fitted by moments, posterior means [1/day]."""
    rate = x / t
    a = float(np.mean(rate))
    # NBD moments: Var(x / t) = a / t + r / alpha^2; with a common t take the mean of 1/t
    excess = float(np.var(rate) - a * np.mean(1.0 / t))
    if a <= 0 or excess <= 0:
        return np.full(x.shape, a)
    alpha = a / excess
    r = a * alpha
    return (r + x) / (alpha + t)


def whatif_base(
    data,
    *,
    truth=None,
    as_of=None,
    lookback_days: int = 365,
    value_shape: float | None = None,
    holding_cost: float = 0.01,
    seed: int = 0,
) -> WhatIfBase:
    """Estimate each customer's spend model from the history of loaded data.

    Parameters
    ----------
    data : RebateData or SimulatedData
        The history (reading a folder is :mod:`rebatelab.io`'s job:
        :func:`rebatelab.io.folders.load_data`, or
        :func:`rebatelab.io.simulated.load_simulated` for a simulated folder with its truth).
        A :class:`~rebatelab.simulation.generator.SimulatedData` gives a base with the
        *true* parameters instead of estimates.
    truth : Truth, optional
        The ground truth of a simulated ``data``
        (:class:`~rebatelab.simulation.generator.Truth`, as ``load_simulated`` or
        :meth:`SimulatedData.ground_truth` give it): the base then uses the true parameters.
        Default: the truth of a ``SimulatedData``, none for a ``RebateData``.
    as_of : date-like, optional
        End of the history window; default the last transaction date.
    lookback_days : int
        Length of the history window the rates are estimated on [days].
    value_shape : float, optional
        Gamma shape of order values; estimated (``1 / mean squared CV`` of customers with 3
        or more orders) when None.
    holding_cost : float
        Median cost of buying ahead [fraction]; each customer's is log-normal (sigma 0.5)
        around it, drawn with ``seed``. A simulated base uses the true costs.
    seed : int
        Seed of the holding-cost draw.

    Returns
    -------
    WhatIfBase

    Raises
    ------
    ParameterError
        ``data`` is not loaded data (e.g. a folder path), or a parameter is out of range.

    Notes
    -----
    Order rates are the posterior means ``(r + x_i) / (alpha + T_i)`` of a gamma-Poisson (NBD)
    model whose gamma prior is fitted by the method of moments, so a customer with few orders
    is shrunk toward the population; the exposure ``T_i`` runs from the later of the window
    start and the customer's first purchase. Mean order values are shrunk toward the
    population mean with the weight of one pseudo-order. Dropout is not modelled here
    (forecasting does that). The per-customer sums (orders ``x_i``, spend, first purchase,
    order values) are stage one's, :func:`rebatelab.engine.history.order_history`; the
    candidates' eligible shares and baselines are too
    (:func:`~rebatelab.engine.history.window_sums`,
    :func:`~rebatelab.engine.reduction.period_sums`).

    Examples
    --------
    >>> from rebatelab.simulation.generator import simulate_data
    >>> sim = simulate_data(30, start="2025-01-01", end="2025-12-31", seed=3, programs=None)
    >>> true_base = whatif_base(sim)  # the true parameters
    >>> estimated = whatif_base(sim.to_rebate_data())  # estimates from the lines
    >>> true_base.n_customers == estimated.n_customers == 30
    True
    """
    from rebatelab.simulation.generator import SimulatedData

    params: Any = None  # the SimulationParams of a simulated base's truth
    origin = None
    if isinstance(data, SimulatedData):
        truth = data.ground_truth() if truth is None else truth
        data = data.to_rebate_data()
    elif not isinstance(data, RebateData):
        raise ParameterError(
            f"whatif_base takes loaded data (RebateData or SimulatedData); got "
            f"{type(data).__name__}. Read a folder with rebatelab.io.folders.load_data, or "
            f"rebatelab.io.simulated.load_simulated for a simulated folder with its truth"
        )
    if truth is not None:
        truth, params, origin = truth.customers, truth.params, truth.start
    if lookback_days < 1:
        raise ParameterError(f"lookback_days must be >= 1; got {lookback_days!r}")
    _check_nonneg("holding_cost", holding_cost)
    n = len(data.customers)
    last = to_day(as_of) if as_of is not None else last_line_day(data)
    first = last - lookback_days + 1
    if truth is not None:
        rng = np.random.default_rng(seed)
        from rebatelab.simulation.params import (
            CREDIT_RANGE,
            FULL_RETURN_SHARE,
            PARTIAL_RETURN_RANGE,
        )

        frac = FULL_RETURN_SHARE + (1 - FULL_RETURN_SHARE) * np.mean(PARTIAL_RETURN_RANGE)
        net_factor = 1 - params.return_prob * frac - params.credit_note_prob * np.mean(CREDIT_RANGE)
        order_index = pd.Index(truth["customer_id"]).get_indexer(data.customers["customer_id"])
        rate = truth["order_rate"].to_numpy()[order_index] / 365.0
        mean_value = truth["mean_order_value"].to_numpy()[order_index] * net_factor
        shape = params.order_value_p if value_shape is None else value_shape
        hc = truth["holding_cost"].to_numpy()[order_index]
    else:
        # stage one's per-customer sums over the window (the lines stay in the engine)
        hist = order_history(data, first_day=first, last_day=last, order_values=value_shape is None)
        x, net = hist.n_orders, hist.net_amount
        # exposure: from the later of the window start and the customer's first line ever
        seen = hist.first_seen < NEVER
        start_day = np.full(n, first)
        start_day[seen] = np.maximum(hist.first_seen[seen], first)
        exposure = np.clip(last - start_day + 1, 1, lookback_days).astype(float)
        rate = _gamma_poisson_rates(x, exposure)
        pop_mean = net.sum() / max(x.sum(), 1.0)
        mean_value = np.maximum((net + pop_mean) / (x + 1.0), 0.0)
        if hist.order_values is not None:
            shape = _order_value_shape(hist.order_values)
        else:
            shape = value_shape
        rng = np.random.default_rng(seed)
        hc = holding_cost * np.exp(rng.normal(0.0, 0.5, n))
    _check_positive("value_shape", shape)
    return WhatIfBase(
        data=data,
        order_rate=np.asarray(rate, dtype=float),
        mean_order_value=np.asarray(mean_value, dtype=float),
        value_shape=float(shape),
        holding_cost=np.asarray(hc, dtype=float),
        reference=(int(first), int(last)),
        truth=truth,
        truth_params=params,
        truth_origin=origin,
    )


def _order_value_shape(values: OrderValues) -> float:
    """Gamma shape of order values: 1 / mean squared CV of customers with 3+ orders."""
    k = values.count
    m1 = values.total / np.maximum(k, 1)
    m2 = values.total_sq / np.maximum(k, 1)
    cv2 = (m2 - m1**2) / np.maximum(m1, 1e-12) ** 2 * k / np.maximum(k - 1, 1)
    sel = k >= 3
    return float(np.clip(1.0 / np.mean(cv2[sel]), 0.5, 20.0)) if sel.any() else 2.0


def _check_nonneg(name, v):
    if not np.isfinite(v) or v < 0:
        raise ParameterError(f"{name} must be >= 0; got {v!r}")


def _check_positive(name, v):
    if not np.isfinite(v) or v <= 0:
        raise ParameterError(f"{name} must be > 0; got {v!r}")


@dataclass
class WhatIfResult:
    """Per-scenario outcomes of candidate programs evaluated on the same scenarios.

    Attributes
    ----------
    candidates : list of str
        Program ids, in the order given.
    metrics : dict of str -> dict of str -> ndarray
        ``metrics[id][name]`` has shape ``(n_scenarios,)`` for each name of :data:`METRICS`:
        ``total_payout`` [currency] (payable, after cap and minimum), ``payout_without_response``
        [currency] (the same scenarios had nobody responded), ``eligible_sales`` [currency],
        ``payout_share`` [fraction of eligible sales], ``uplift`` [currency] (purchases added
        in the period to reach a tier), ``incremental_revenue`` [currency] (the new-demand
        part of the uplift), ``cost_per_incremental`` [currency per currency] (total payout /
        incremental revenue; inf without incremental revenue).
    tier_counts : dict of str -> ndarray
        ``tier_counts[id]`` has shape ``(n_scenarios, K + 1)``: customers ending in tier
        0..K (a pool's members count with the pool's tier).
    n_scenarios : int
    response_strength : float
    """

    candidates: list
    metrics: dict
    tier_counts: dict
    n_scenarios: int
    response_strength: float

    def scenarios(self) -> pd.DataFrame:
        """Long table: one row per (candidate, scenario) with every metric and tier count."""
        frames = []
        k = max(c.shape[1] for c in self.tier_counts.values())
        for pid in self.candidates:
            df = pd.DataFrame(self.metrics[pid])
            counts = self.tier_counts[pid]
            for t in range(k):
                df[f"customers_tier_{t}"] = counts[:, t] if t < counts.shape[1] else np.nan
            df.insert(0, "scenario", np.arange(self.n_scenarios))
            df.insert(0, "program_id", pid)
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def summary(self, *, quantiles=(0.05, 0.5, 0.95)) -> pd.DataFrame:
        """Mean and quantiles of every metric and tier count, one row per candidate.

        Returns
        -------
        DataFrame
            Index ``program_id``; columns ``(metric, statistic)`` with statistics ``mean``
            and ``q05, q50, q95`` (for the default quantiles).
        """
        df = self.scenarios().drop(columns="scenario")
        with np.errstate(invalid="ignore"):
            g = df.replace([np.inf, -np.inf], np.nan).groupby("program_id", sort=False)
            parts = {"mean": g.mean()}
            for q in quantiles:
                parts[f"q{round(q * 100):02d}"] = g.quantile(q)
        out = pd.concat(parts, axis=1).swaplevel(0, 1, axis=1)
        cols = [c for c in df.columns if c != "program_id"]
        return out[[(c, s) for c in cols for s in parts]]


def _standalone(program, present: set) -> dict:
    """A variant whose parent is not among the candidates, as a program of its own.

    Its terms are already resolved; its ``customers_only`` becomes a ``customer_id`` filter
    with automatic enrollment, which selects exactly the variant's customers.
    """
    d = program.model_dump(by_alias=True, exclude_none=True)
    d["tiers"] = [t.model_dump(by_alias=True, exclude_none=True) for t in program.tiers]
    if program.variant_of is None or program.variant_of in present:
        return d
    d.pop("variant_of")
    d.pop("guardrails", None)
    d["customers"] = {**(d.get("customers") or {}), "customer_id": list(d.pop("customers_only"))}
    d["enrollment"] = "automatic"
    return d


def _candidates(candidates) -> ProgramSet:
    if isinstance(candidates, ProgramSet):
        return candidates
    from rebatelab.programs.terms import Program

    if isinstance(candidates, Program):
        candidates = [candidates]
    if (
        isinstance(candidates, list | tuple)
        and candidates
        and all(isinstance(c, Program) for c in candidates)
    ):
        present = {c.id for c in candidates}
        return ProgramSet.from_programs([_standalone(c, present) for c in candidates])
    return load_programs(candidates)


def _check_enrollments(base, programs: ProgramSet) -> None:
    """Refuse a required-enrollment candidate without a single enrollment under its id.

    A renamed copy of a program (``gold.model_copy(update={"id": "GOLD-ALT"})``) keeps
    ``enrollment: required`` but has no members: its what-if would be empty.
    """
    en = getattr(base.data, "enrollments", None)
    # distinct ids first: iterating every enrollment row costs ~1 s at 50k customers
    enrolled = set() if en is None else {str(v) for v in pd.unique(en["program_id"])}
    empty = [
        p.id
        for p in programs
        if p.enrollment == "required" and p.variant_of is None and p.id not in enrolled
    ]
    if empty:
        raise ParameterError(
            f"candidate program(s) {empty} have enrollment: required but no enrollments under "
            "their id, so no member to simulate; keep the original program's id (one candidate "
            "per call) or set enrollment: automatic to try it on every eligible customer"
        )


def simulate_program(
    base,
    candidates,
    *,
    n_scenarios: int = 500,
    response_strength: float = 0.5,
    seed: int = 0,
    pull_forward_days: float = 90.0,
    incremental_share: float = 0.3,
) -> WhatIfResult:
    """Payout, participation and provoked revenue of candidate programs over scenarios.

    Parameters
    ----------
    base : WhatIfBase, RebateData or SimulatedData
        The customer base (:func:`whatif_base`; loaded data is passed to it).
    candidates : ProgramSet, Program, list of Program, YAML text or path
        The candidate programs; all must share one measurement period. Their members follow
        the engine's rules (enrollments of the candidate's id for ``enrollment: required``;
        use ``enrollment: automatic`` to try a new program on every eligible customer).
    n_scenarios : int
        Number of scenarios (>= 1).
    response_strength : float
        Probability [0, 1] that a customer responds to a feasible, worthwhile tier (0 = off).
    seed : int
        Seed of the scenario draws; the same seed gives the same scenarios for any
        candidates (common random numbers).
    pull_forward_days : float
        A customer can buy ahead at most its expected spend of this many days [days].
    incremental_share : float
        Fraction [0, 1] of a response purchase that is new demand.

    Returns
    -------
    WhatIfResult

    Notes
    -----
    Scenario ``j`` of customer ``i``: ``N_ij ~ Poisson(Lambda_i)`` orders over the period and
    spend ``S_ij = v_i / p * Gamma(p N_ij)`` (a sum of ``N_ij`` gamma order values of mean
    ``v_i``); a program's basis is ``S_ij`` times the customer's eligible share (times units
    per currency for quantity programs), summed over a pool's members. The response follows
    :func:`threshold_response`. Draws are made once per call, so every candidate sees the
    same orders and the same responsiveness draws.

    Examples
    --------
    >>> import rebatelab.simulation.generator as sim
    >>> data = sim.simulate_data(50, start="2025-01-01", end="2025-12-31", seed=3,
    ...                          programs=None)
    >>> prog = {"id": "A", "start": "2026-01-01", "end": "2026-12-31",
    ...         "enrollment": "automatic", "tiers": [{"from": 5000, "rate": 0.02}]}
    >>> res = simulate_program(data, [prog], n_scenarios=100, seed=1)
    >>> res.metrics["A"]["total_payout"].shape
    (100,)
    """
    if not isinstance(n_scenarios, int | np.integer) or n_scenarios < 1:
        raise ParameterError(f"n_scenarios must be a positive integer; got {n_scenarios!r}")
    _check_fraction("response_strength", response_strength)
    _check_fraction("incremental_share", incremental_share)
    _check_nonneg("pull_forward_days", pull_forward_days)
    if not isinstance(base, WhatIfBase):
        base = whatif_base(base)
    programs = _candidates(candidates)
    periods = {(p.start, p.end) for p in programs}
    if len(periods) > 1:
        raise ParameterError(
            f"candidates must share one measurement period for common random numbers; "
            f"got {sorted(periods)}"
        )
    ((start, end),) = periods
    _check_enrollments(base, programs)
    days = (end - start).days + 1
    lam, spend, u = _draws(base, start, end, n_scenarios=int(n_scenarios), seed=seed)
    daily_value = lam / days * base.mean_order_value  # expected spend per day [currency]

    metrics, tier_counts = {}, {}
    for pi, (lay, prog) in enumerate(zip(_layouts(base, programs), programs, strict=True)):
        sched = schedule(programs, np.full(lay.n_pools, pi), baseline=lay.baseline).trimmed()
        m, tc = _evaluate(
            prog, sched, lay, spend, u, base, daily_value,
            strength=response_strength,
            pull_forward_days=pull_forward_days,
            incremental_share=incremental_share,
        )  # fmt: skip
        metrics[prog.id], tier_counts[prog.id] = m, tc
    return WhatIfResult(
        candidates=programs.ids,
        metrics=metrics,
        tier_counts=tier_counts,
        n_scenarios=int(n_scenarios),
        response_strength=float(response_strength),
    )


def _draws(base: WhatIfBase, start, end, *, n_scenarios: int, seed):
    """Scenario draws shared by every candidate (customers x scenarios), cached on the base.

    Returns expected orders per customer, the spend of each scenario [currency] and the
    responsiveness uniforms. A widget re-running candidates with the same seed and period
    reuses them (the last few are kept).
    """
    key = ("draws", str(start), str(end), n_scenarios, seed)
    hit = base.cache.get(key)
    if hit is not None:
        return hit
    lam = base.expected_orders(start, end)
    rng = np.random.default_rng(seed)
    n = base.n_customers
    counts = rng.poisson(np.broadcast_to(lam[:, None], (n, n_scenarios)))
    p = base.value_shape
    spend = rng.standard_gamma(counts * p) * (base.mean_order_value / p)[:, None]
    u = rng.random((n, n_scenarios))
    for old in [k for k in base.cache if k[0] == "draws"][:-3]:
        del base.cache[old]
    for arr in (spend, u):
        arr.setflags(write=False)
    base.cache[key] = (lam, spend, u)
    return base.cache[key]


def _evaluate(
    prog,
    sched,
    lay,
    spend,
    u,
    base,
    daily_value,
    *,
    strength,
    pull_forward_days,
    incremental_share,
):
    n_scen = spend.shape[1]
    value = spend[lay.codes] * lay.share[:, None]  # eligible spend [currency], members x scen
    qty = prog.basis == "quantity"
    basis = value * lay.units_per_value[:, None] if qty else value
    M = lay.pool_matrix
    # one pool per member, in member order (pool: customer): no sum needed
    solo = lay.n_pools == len(lay.codes) and np.array_equal(lay.pool, np.arange(lay.n_pools))
    b0 = basis if solo else np.asarray(M @ basis)
    cap_m = daily_value[lay.codes] * pull_forward_days * lay.share
    if qty:
        cap_m = cap_m * lay.units_per_value
    cap_pool = M @ cap_m
    # the pool decides as its largest member (by expected eligible spend)
    weight = daily_value[lay.codes] * lay.share
    order = np.lexsort((-weight, lay.pool))
    lead = np.empty(lay.n_pools, dtype=np.int64)
    first = np.r_[True, lay.pool[order][1:] != lay.pool[order][:-1]][: len(order)]
    lead[lay.pool[order][first]] = lay.codes[order][first]
    if qty:
        vpu = (M @ value.mean(axis=1)) / np.maximum(M @ basis.mean(axis=1), 1e-12)
        vpu = np.where(vpu > 0, vpu, 1.0)
    else:
        vpu = np.ones(lay.n_pools)
    ev0, ev1, bought = _pool_response(
        sched, b0, cap_pool[:, None], base.holding_cost[lead][:, None],
        u[lead], vpu[:, None], strength,
    )  # fmt: skip
    k = len(prog.tiers)
    uplift = (bought * vpu[:, None]).sum(axis=0)
    total = ev1["payable"].sum(axis=0)
    sales = value.sum(axis=0) + uplift
    incr = incremental_share * uplift
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(sales > 0, total / np.where(sales > 0, sales, 1.0), np.nan)
        cpi = np.where(incr > 0, total / np.where(incr > 0, incr, 1.0), np.inf)
    size = np.bincount(lay.pool, minlength=lay.n_pools).astype(float)
    counts = (
        np.stack([size @ (ev1["tier"] == t) for t in range(k + 1)], axis=1)
        if lay.n_pools
        else np.zeros((n_scen, k + 1))
    )
    metrics = {
        "total_payout": total,
        "payout_without_response": ev0["payable"].sum(axis=0),
        "eligible_sales": sales,
        "payout_share": share,
        "uplift": uplift,
        "incremental_revenue": incr,
        "cost_per_incremental": cpi,
    }
    return metrics, counts
