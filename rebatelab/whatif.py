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

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import ParameterError
from .io import RebateData
from .programs import ProgramSet, load_programs
from .reduce import members, prepare_lines, product_eligibility, to_day

__all__ = [
    "threshold_response",
    "WhatIfBase",
    "WhatIfResult",
    "whatif_base",
    "simulate_program",
    "default_programs",
    "apply_response",
    "METRICS",
]

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


def threshold_response(
    basis,
    *,
    gap,
    gain,
    capacity,
    holding_cost,
    u,
    strength: float,
    value_per_unit=1.0,
):
    """Purchase each customer adds to reach the next tier, 0 where it does not respond.

    Parameters
    ----------
    basis : array_like
        Projected end-of-period basis [basis unit] (only its shape is used).
    gap : array_like
        Gap to the next tier [basis unit]; NaN at the top tier or when no tier is reachable.
    gain : array_like
        Extra payable rebate if the next tier were reached [currency].
    capacity : array_like
        Largest purchase the customer can bring forward [basis unit].
    holding_cost : array_like
        Cost of buying ahead [fraction of the purchase value], >= 0.
    u : array_like
        Uniform [0, 1) draws, one per customer and scenario.
    strength : float
        Response strength [0, 1]: probability that a customer for whom the purchase is
        feasible and worth it makes it. 0 turns the response off.
    value_per_unit : array_like
        Currency per basis unit (1 for net-sales programs) to value the purchase.

    Returns
    -------
    ndarray
        Purchase added [basis unit]: ``gap`` where the customer responds, else 0.

    Examples
    --------
    >>> threshold_response([90.0], gap=[10.0], gain=[5.0], capacity=[20.0],
    ...                    holding_cost=[0.02], u=[0.3], strength=0.5)
    array([10.])
    """
    _check_fraction("strength", strength)
    g = np.asarray(gap, dtype=float)
    b = np.asarray(basis, dtype=float)
    cost = np.asarray(holding_cost, dtype=float) * g * np.asarray(value_per_unit, dtype=float)
    with np.errstate(invalid="ignore"):
        respond = (
            np.isfinite(g)
            & (g > 0)
            & (g <= np.asarray(capacity, dtype=float))
            & (np.asarray(gain, dtype=float) >= cost)
            & (np.asarray(u, dtype=float) < strength)
        )
    return np.broadcast_to(np.where(respond, g, 0.0), np.broadcast_shapes(b.shape, g.shape))


def _check_fraction(name, v):
    if not np.isfinite(v) or v < 0 or v > 1:
        raise ParameterError(f"{name} must be within [0, 1]; got {v!r}")


# --------------------------------------------------------------------------------------------
# base: the customer population the scenarios are drawn from
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class WhatIfBase:
    """Per-customer spend model and history that what-if runs draw scenarios from.

    Attributes
    ----------
    data : RebateData
        The history: customers, products, and lines for eligible shares and baselines.
    order_rate : ndarray
        Expected orders per day [orders/day], one per customer of ``data.customers``.
    mean_order_value : ndarray
        Expected net value of an order [currency].
    value_shape : float
        Gamma shape of order values of one customer (coefficient of variation
        ``1 / sqrt(value_shape)``).
    holding_cost : ndarray
        Each customer's cost of buying ahead [fraction].
    reference : tuple of int
        First and last day (days since 1970-01-01) of the history window that eligible
        shares and units per currency are measured on.
    truth : DataFrame or None
        Ground truth of a simulated base (then scenario order counts use the true calendar,
        trend and lifetimes over the candidate's period).
    """

    data: RebateData
    order_rate: np.ndarray
    mean_order_value: np.ndarray
    value_shape: float
    holding_cost: np.ndarray
    reference: tuple[int, int]
    truth: pd.DataFrame | None = None
    truth_params: object = None
    truth_origin: object = None
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_customers(self) -> int:
        """Number of customers."""
        return len(self.order_rate)

    def expected_orders(self, start, end) -> np.ndarray:
        """Expected orders of each customer over [start, end] [count]."""
        if self.truth is not None:
            from .simulate import expected_orders

            return expected_orders(
                self.truth, start, end, params=self.truth_params, origin=self.truth_origin
            ).to_numpy()
        days = (pd.Timestamp(end) - pd.Timestamp(start)).days + 1
        return self.order_rate * days


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
    as_of=None,
    lookback_days: int = 365,
    value_shape: float | None = None,
    holding_cost: float = 0.01,
    seed: int = 0,
) -> WhatIfBase:
    """Estimate each customer's spend model from a data folder's history.

    Parameters
    ----------
    data : RebateData, SimulatedData or path
        The history. A :class:`~rebatelab.simulate.SimulatedData` (or a simulated folder with
        ``truth/``) gives a base with the *true* parameters instead of estimates.
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

    Notes
    -----
    Order rates are the posterior means ``(r + x_i) / (alpha + T_i)`` of a gamma-Poisson (NBD)
    model whose gamma prior is fitted by the method of moments, so a customer with few orders
    is shrunk toward the population; the exposure ``T_i`` runs from the later of the window
    start and the customer's first purchase. Mean order values are shrunk toward the
    population mean with the weight of one pseudo-order. Dropout is not modelled here
    (forecasting does that).
    """
    from .simulate import SimulatedData, read_truth

    truth = params = origin = None
    if isinstance(data, SimulatedData):
        truth, params, origin = data.truth, data.params, data.start
        data = data.to_rebate_data()
    elif not isinstance(data, RebateData):
        from pathlib import Path

        from .io import load_data

        folder = Path(data)
        data = load_data(folder)
        if (folder / "truth" / "simulation.json").exists():
            truth, _, params, origin = read_truth(folder)
    if lookback_days < 1:
        raise ParameterError(f"lookback_days must be >= 1; got {lookback_days!r}")
    _check_nonneg("holding_cost", holding_cost)
    lines = prepare_lines(data)
    n = lines.n_customers
    last = to_day(as_of) if as_of is not None else int(lines.day[-1]) if len(lines.day) else 0
    first = last - lookback_days + 1
    w = lines.window(first, last)
    cust = lines.customer[w]
    known = cust < n
    cust, inv, amt = cust[known], lines.invoice[w][known], lines.net_amount[w][known]
    pos = amt > 0
    pairs = np.unique(np.stack([cust[pos], inv[pos]]), axis=1)
    x = np.bincount(pairs[0], minlength=n).astype(float)
    net = np.bincount(cust, weights=amt, minlength=n)
    if truth is not None:
        rng = np.random.default_rng(seed)
        from .simulate import CREDIT_RANGE, FULL_RETURN_SHARE, PARTIAL_RETURN_RANGE

        frac = FULL_RETURN_SHARE + (1 - FULL_RETURN_SHARE) * np.mean(PARTIAL_RETURN_RANGE)
        net_factor = 1 - params.return_prob * frac - params.credit_note_prob * np.mean(CREDIT_RANGE)
        order_index = pd.Index(truth["customer_id"]).get_indexer(data.customers["customer_id"])
        rate = truth["order_rate"].to_numpy()[order_index] / 365.0
        mean_value = truth["mean_order_value"].to_numpy()[order_index] * net_factor
        shape = params.order_value_p if value_shape is None else value_shape
        hc = truth["holding_cost"].to_numpy()[order_index]
    else:
        # exposure: from the later of the window start and the customer's first line ever
        known_all = lines.customer < n
        seen, first_idx = np.unique(lines.customer[known_all], return_index=True)
        start_day = np.full(n, first)
        start_day[seen] = np.maximum(lines.day[known_all][first_idx], first)
        exposure = np.clip(last - start_day + 1, 1, lookback_days).astype(float)
        rate = _gamma_poisson_rates(x, exposure)
        pop_mean = net.sum() / max(x.sum(), 1.0)
        mean_value = np.maximum((net + pop_mean) / (x + 1.0), 0.0)
        if value_shape is None:
            inv_amt = np.bincount(
                pd.factorize(inv)[0], weights=amt, minlength=int(inv.max(initial=-1)) + 1
            )
            inv_cust = np.zeros(inv_amt.size, dtype=np.int64)
            inv_cust[pd.factorize(inv)[0]] = cust
            ok = inv_amt > 0
            c, v = inv_cust[ok], inv_amt[ok]
            k = np.bincount(c, minlength=n)
            m1 = np.bincount(c, weights=v, minlength=n) / np.maximum(k, 1)
            m2 = np.bincount(c, weights=v**2, minlength=n) / np.maximum(k, 1)
            cv2 = (m2 - m1**2) / np.maximum(m1, 1e-12) ** 2 * k / np.maximum(k - 1, 1)
            sel = k >= 3
            shape = float(np.clip(1.0 / np.mean(cv2[sel]), 0.5, 20.0)) if sel.any() else 2.0
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


def _check_nonneg(name, v):
    if not np.isfinite(v) or v < 0:
        raise ParameterError(f"{name} must be >= 0; got {v!r}")


def _check_positive(name, v):
    if not np.isfinite(v) or v <= 0:
        raise ParameterError(f"{name} must be > 0; got {v!r}")


# --------------------------------------------------------------------------------------------
# candidates on the base
# --------------------------------------------------------------------------------------------
def _data_for(data: RebateData, programs: ProgramSet) -> RebateData:
    """The data with only the enrollments of these programs (sharing the coded lines)."""
    en = data.enrollments
    keep = en["program_id"].isin(programs.ids).to_numpy()
    cache = {"lines": prepare_lines(data)}
    return dataclasses.replace(data, enrollments=en[keep].reset_index(drop=True), cache=cache)


@dataclass(frozen=True)
class _Layout:
    """One program's members, pools and per-member shares on a base."""

    program_idx: int
    codes: np.ndarray  # customer code of each member
    pool: np.ndarray  # pool code of each member
    n_pools: int
    pool_matrix: object  # sparse (pools x members) sum operator
    share: np.ndarray  # eligible share of the member's net spend [fraction]
    units_per_value: np.ndarray  # units per currency of eligible lines (quantity programs)
    baseline: np.ndarray  # pool baseline [basis unit], NaN when none


def _layouts(base: WhatIfBase, programs: ProgramSet) -> list[_Layout]:
    key = ("layouts", tuple(p.model_dump_json() for p in programs))
    if key in base.cache:
        return base.cache[key]
    data = _data_for(base.data, programs)
    lines = prepare_lines(data)
    mem = members(data, programs)
    n = lines.n_customers
    first, last = base.reference
    w = lines.window(first, last)
    cust, prod = lines.customer[w], lines.product[w]
    amt, qty = lines.net_amount[w], lines.quantity[w]
    known = cust < n
    total = np.bincount(cust[known], weights=amt[known], minlength=n + 1)[:n]
    out = []
    prior = None
    for pi, p in enumerate(programs):
        rows = mem.index[mem["program_idx"].to_numpy() == pi].to_numpy()
        codes = mem["customer_code"].to_numpy()[rows].astype(np.int64)
        pool_codes, pool_keys = pd.factorize(mem["pool_id"].to_numpy(dtype=object)[rows])
        n_pools = len(pool_keys)
        ok = known & product_eligibility(data, p)[prod]
        elig = np.bincount(cust[ok], weights=amt[ok], minlength=n + 1)[:n]
        units = np.bincount(cust[ok], weights=qty[ok], minlength=n + 1)[:n]
        pop_share = elig.sum() / total.sum() if total.sum() > 0 else 0.0
        share = np.where(total > 0, np.clip(elig / np.where(total > 0, total, 1), 0, 1), pop_share)
        pop_upv = units.sum() / elig.sum() if elig.sum() > 0 else 1.0
        upv = np.where(elig > 0, units / np.where(elig > 0, elig, 1), pop_upv)
        m = len(codes)
        matrix = sp.csr_matrix((np.ones(m), (pool_codes, np.arange(m))), shape=(n_pools, m))
        baseline = np.full(n_pools, np.nan)
        if p.is_growth:
            if prior is None:
                from .reduce import period_sums

                prior = period_sums(
                    data, programs, as_of=max(pr.end for pr in programs), shift_years=1
                )
            col = "quantity" if p.basis == "quantity" else "net_amount"
            given = mem["baseline_given"].to_numpy(dtype=float)[rows]
            measured = prior[col].to_numpy(dtype=float)[rows]
            b = np.where(np.isnan(given), measured, given)
            baseline = matrix @ b
        out.append(
            _Layout(pi, codes, pool_codes, n_pools, matrix, share[codes], upv[codes], baseline)
        )
    for old in [k for k in base.cache if k[0] == "layouts"][:-7]:
        del base.cache[old]
    base.cache[key] = out
    return out


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
    from .programs import Program

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
    base : WhatIfBase, RebateData, SimulatedData or path
        The customer base (:func:`whatif_base`; other inputs are passed to it).
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
    >>> import rebatelab.simulate as sim
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
    days = (end - start).days + 1
    lam, spend, u = _draws(base, start, end, n_scenarios=int(n_scenarios), seed=seed)
    daily_value = lam / days * base.mean_order_value  # expected spend per day [currency]

    metrics, tier_counts = {}, {}
    for lay, prog in zip(_layouts(base, programs), programs, strict=True):
        m, tc = _evaluate(
            prog, lay, spend, u, base, daily_value,
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


def _scenario_eval(prog, baseline, b) -> dict[str, np.ndarray]:
    """Tier figures of one program for pool bases ``b`` (pools x scenarios), capped.

    The engine's :func:`rebatelab.accrual.evaluate` handles a different schedule per row; here
    every row shares one program, so the tiers are looped over (K is small) on whole arrays,
    which is what keeps a what-if run fast. ``tests/test_whatif.py`` checks both agree.
    """
    b = np.asarray(b, dtype=float)
    col = (slice(None), None) if b.ndim == 2 else (slice(None),)
    thr = np.atleast_2d(prog.basis_thresholds(baseline))  # (1, K) or (pools, K)
    rates, amounts = prog.rates, prog.amounts
    k_max = thr.shape[1]
    excess = prog.is_growth and prog.growth.rebate_on == "excess"
    base_line = np.asarray(baseline, dtype=float)[col] if excess else None
    cap = np.inf if prog.cap is None else prog.cap
    min_pay = 0.0 if prog.min_payout is None else prog.min_payout
    t = [thr[:, k][col] for k in range(k_max)]
    r_pad, a_pad = np.r_[0.0, rates, 0.0], np.r_[0.0, amounts, 0.0]

    tier = np.zeros(b.shape, dtype=np.int64)
    for k in range(k_max):
        tier += b >= t[k]
    nxt = np.full(b.shape, np.inf)
    for k in range(k_max):
        nxt = np.where(tier == k, t[k], nxt)
    top = ~np.isfinite(nxt)
    if prog.method == "incremental":
        raw = np.zeros(b.shape)
        for k in range(k_max):
            upper = t[k + 1] if k + 1 < k_max else np.inf
            raw += rates[k] * np.clip(np.minimum(b, upper) - t[k], 0.0, None)
        # at the next threshold the marginal rate of the current tier applies to the gap
        with np.errstate(invalid="ignore"):
            raw_next = raw + np.take(r_pad, tier) * np.maximum(nxt - np.maximum(b, 0.0), 0.0)
    else:
        rb = np.maximum(b - base_line, 0.0) if excess else b
        with np.errstate(invalid="ignore"):
            raw = np.where(tier > 0, np.take(r_pad, tier) * rb + np.take(a_pad, tier), 0.0)
        with np.errstate(invalid="ignore"):
            rb_next = np.maximum(nxt - base_line, 0.0) if excess else nxt
            raw_next = np.take(r_pad, tier + 1) * rb_next + np.take(a_pad, tier + 1)
    e = np.minimum(np.where(b > 0, raw, 0.0), cap)
    e_next = np.where(top, 0.0, np.minimum(np.where(nxt > 0, raw_next, 0.0), cap))
    return {
        "tier": tier,
        "earned": e,
        "payable": np.where(e >= min_pay, e, 0.0),
        "next_threshold": np.where(top, np.nan, nxt),
        "gap_to_next": np.where(top, np.nan, nxt - b),
        "payable_at_next": np.where(~top & (e_next >= min_pay), e_next, 0.0),
    }


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


def _pool_response(prog, lay, b0, cap_pool, hc_pool, u_pool, vpu_pool, strength):
    """Evaluate a program on pool bases ``b0`` (pools x scenarios) with the response."""
    ev0 = _scenario_eval(prog, lay.baseline, b0)
    gain = np.where(np.isnan(ev0["gap_to_next"]), 0.0, ev0["payable_at_next"] - ev0["payable"])
    bought = threshold_response(
        b0,
        gap=ev0["gap_to_next"],
        gain=gain,
        capacity=cap_pool,
        holding_cost=hc_pool,
        u=u_pool,
        strength=strength,
        value_per_unit=vpu_pool,
    )
    hit = bought > 0
    if strength > 0 and np.any(hit):
        # re-evaluate only the responders, at their new tier
        rows = np.nonzero(hit)[0]
        sub = _scenario_eval(prog, np.asarray(lay.baseline)[rows], ev0["next_threshold"][hit])
        ev1 = {k: ev0[k].copy() for k in ("tier", "payable")}
        for k in ev1:
            ev1[k][hit] = sub[k]
    else:
        ev1 = ev0
    return ev0, ev1, bought, len(prog.tiers)


def _evaluate(
    prog,
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
    first = np.r_[True, lay.pool[order][1:] != lay.pool[order][:-1]]
    lead[lay.pool[order][first]] = lay.codes[order][first]
    if qty:
        vpu = (M @ value.mean(axis=1)) / np.maximum(M @ basis.mean(axis=1), 1e-12)
        vpu = np.where(vpu > 0, vpu, 1.0)
    else:
        vpu = np.ones(lay.n_pools)
    ev0, ev1, bought, k = _pool_response(
        prog, lay, b0, cap_pool[:, None], base.holding_cost[lead][:, None],
        u[lead], vpu[:, None], strength,
    )  # fmt: skip
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


# --------------------------------------------------------------------------------------------
# the response inside simulated data, and the default programs of a simulated folder
# --------------------------------------------------------------------------------------------
def _nice(x: float) -> float:
    """Round to 2 significant digits (thresholds a person would write)."""
    if not np.isfinite(x) or x <= 0:
        return 1.0
    e = np.floor(np.log10(x)) - 1
    return float(np.round(x / 10**e) * 10**e)


def _ascending(values) -> list[float]:
    out = []
    for v in values:
        v = _nice(v)
        if out and v <= out[-1]:
            v = _nice(out[-1] * 1.3)
        out.append(v)
    return out


def _id_codes(values: pd.Series, ids: pd.Series) -> np.ndarray:
    """Position of each value in ``ids`` (-1 when absent), via the distinct values."""
    codes, uniques = pd.factorize(values)
    return pd.Index(ids).get_indexer(uniques)[codes]


def default_programs(sim, *, rng) -> tuple[str, pd.DataFrame]:
    """Programs exercising every feature of the program file, sized on the simulated spend.

    The flagship programs run over the calendar year holding the window's end (``Y``);
    ``GOLD-{Y-1}`` is the complete previous year, ``UNITS-Q`` the last complete quarter.
    Thresholds sit at quantiles of the customers' annualised eligible spend in the data.

    Parameters
    ----------
    sim : SimulatedData
    rng : numpy.random.Generator
        Draws the enrollments.

    Returns
    -------
    programs_yaml : str
        The program file text (validated by :func:`rebatelab.load_programs`).
    enrollments : DataFrame
        ``program_id, customer_id, enrolled_on, baseline``.
    """
    tx = sim.transactions
    cu = sim.customers
    end = pd.Timestamp(sim.end)
    y = end.year
    years = ((sim.end - sim.start).astype(int) + 1) / 365.25
    ccode = _id_codes(tx["customer_id"], cu["customer_id"])
    pcode = _id_codes(tx["product_id"], sim.products["product_id"])
    cat = sim.products["category"].to_numpy(dtype=object)[pcode]
    brand = sim.products["brand"].to_numpy(dtype=object)[pcode]
    net = tx["net_amount"].to_numpy(dtype=float)
    n = len(cu)

    def per_customer(mask, values=net):
        """Annualised sum per customer [per year], one value per customer."""
        return np.bincount(ccode[mask], weights=values[mask], minlength=n) / years

    def positive(a):
        return a[a > 0]

    all_lines = np.ones(len(tx), bool)
    gold_cats = ["Fasteners", "Tools", "Electrical"]
    gold_all = per_customer(np.isin(cat, gold_cats) & (brand != "House"))
    gold = positive(gold_all)
    gold_seg = ["Contractor", "Distributor", "OEM"]
    gq = _ascending(np.quantile(gold, [0.55, 0.8, 0.93])) if len(gold) else [1e3, 5e3, 2e4]
    step_all = per_customer(all_lines)
    step = positive(step_all)
    sq = _ascending(np.quantile(step, [0.5, 0.8, 0.95])) if len(step) else [1e3, 5e3, 2e4]
    safety = positive(per_customer(cat == "Safety"))
    bq = _ascending(np.quantile(safety, [0.6, 0.9])) if len(safety) else [500, 2000]
    gcode, guniq = pd.factorize(cu["buying_group"])
    groups = sorted(str(g) for g in guniq)
    pool = positive(np.bincount(gcode[gcode >= 0], weights=step_all[gcode >= 0],
                                minlength=len(guniq)))  # fmt: skip
    pq = _ascending(np.quantile(pool, [0.3, 0.7])) if len(pool) else [1e4, 5e4]
    units = positive(per_customer(cat == "Fasteners", tx["quantity"].to_numpy(dtype=float))) / 4
    uq = _ascending(np.quantile(units, [0.6, 0.9])) if len(units) else [100, 500]
    q_end = (end + pd.offsets.QuarterEnd(0)).normalize()
    if q_end > end:
        q_end = (end - pd.offsets.QuarterEnd(1)).normalize()
    q_start = pd.Timestamp(q_end.year, q_end.month - 2, 1)

    def tiers_of(thresholds, rates, amounts=None):
        out = []
        for i, (t, r) in enumerate(zip(thresholds, rates, strict=True)):
            d = {"from": float(t), "rate": float(r)}
            if amounts is not None and amounts[i] is not None:
                d["amount"] = float(amounts[i])
            out.append(d)
        return out

    gold_tiers = tiers_of(gq, [0.02, 0.03, 0.045])
    seg_ok = cu["segment"].isin(gold_seg).to_numpy()
    variant_customer = (
        str(cu["customer_id"].to_numpy()[np.argmax(np.where(seg_ok, gold_all, -1.0))])
        if seg_ok.any()
        else None
    )
    gold = {
        "name": "Gold volume rebate",
        "basis": "net_sales",
        "method": "retroactive",
        "tiers": gold_tiers,
        "products": {"category": gold_cats},
        "exclude_products": {"brand": ["House"]},
        "customers": {"segment": gold_seg},
        "enrollment": "required",
        "pool": "customer",
        "cap": _nice(gq[-1] * 0.045 * 1.5),
        "min_payout": _nice(0.3 * 0.02 * gq[0]),
        "guardrails": {"max_rate": 0.05, "min_from_ratio": 0.8},
    }
    programs = [
        {"id": f"GOLD-{y}", "start": f"{y}-01-01", "end": f"{y}-12-31", **gold},
    ]
    if variant_customer is not None:
        programs.append(
            {
                "id": f"GOLD-{y}-{variant_customer}",
                "name": f"Gold, negotiated for {variant_customer}",
                "variant_of": f"GOLD-{y}",
                "customers_only": [variant_customer],
                "tiers": tiers_of([_nice(t * 0.9) for t in gq], [0.025, 0.035, 0.05]),
            }
        )
    programs += [
        {"id": f"GOLD-{y - 1}", "start": f"{y - 1}-01-01", "end": f"{y - 1}-12-31",
         **{k: v for k, v in gold.items() if k != "guardrails"}},
        {"id": f"STEP-{y}", "name": "Stepped loyalty rebate", "start": f"{y}-01-01",
         "end": f"{y}-12-31", "basis": "net_sales", "method": "incremental",
         "tiers": tiers_of(sq, [0.01, 0.02, 0.03]), "enrollment": "automatic"},
        {"id": f"SAFETY-BONUS-{y}", "name": "Safety range bonus (lump sums)",
         "start": f"{y}-01-01", "end": f"{y}-12-31", "method": "retroactive",
         "tiers": tiers_of(bq, [0.0, 0.01], [_nice(0.03 * bq[0]), _nice(0.03 * bq[1])]),
         "products": {"category": ["Safety"]}, "enrollment": "automatic"},
        {"id": f"GROWTH-{y}", "name": "Growth rebate on total spend", "start": f"{y}-01-01",
         "end": f"{y}-12-31", "method": "retroactive",
         "tiers": tiers_of([0.05, 0.10, 0.20], [0.01, 0.02, 0.03]),
         "growth": {"rebate_on": "total"}, "enrollment": "required",
         "min_payout": _nice(0.01 * np.median(step)) if len(step) else 10.0},
        {"id": f"GROWTH-EXCESS-{y}", "name": "Growth rebate on the excess (retailers)",
         "start": f"{y}-01-01", "end": f"{y}-12-31", "method": "retroactive",
         "tiers": tiers_of([0.0, 0.15], [0.05, 0.08]), "growth": {"rebate_on": "excess"},
         "customers": {"segment": ["Retailer"]}, "enrollment": "automatic"},
        {"id": f"GROUP-{y}", "name": "Buying-group pooled rebate", "start": f"{y}-01-01",
         "end": f"{y}-12-31", "method": "retroactive", "tiers": tiers_of(pq, [0.015, 0.025]),
         "customers": {"buying_group": groups}, "enrollment": "automatic",
         "pool": "buying_group", "cap": _nice(pq[-1] * 0.025 * 2)},
        {"id": f"UNITS-{q_end.year}Q{(q_end.month - 1) // 3 + 1}",
         "name": "Fastener units, quarterly", "start": str(q_start.date()),
         "end": str(q_end.date()), "basis": "quantity", "method": "retroactive",
         "tiers": tiers_of(uq, [0.02, 0.03]), "products": {"category": ["Fasteners"]},
         "enrollment": "automatic"},
    ]  # fmt: skip
    programs = [p for p in programs if p is not None]
    from .programs import ProgramSet

    pset = ProgramSet.from_programs(programs, source="<default programs>")
    # enrollments: 70% of GOLD-eligible customers (the variant's customer always), 60% of all
    # customers in GROWTH; a few growth baselines negotiated explicitly
    n = len(cu)
    ids = cu["customer_id"].to_numpy()
    gold_ok = cu["segment"].isin(gold_seg).to_numpy()
    en = []
    for year in (y, y - 1):
        pick = gold_ok & (rng.random(n) < 0.7)
        if variant_customer is not None:
            pick |= ids == variant_customer
        late = rng.random(n) < 0.1
        on = np.where(
            late,
            np.datetime64(f"{year}-01-01") + rng.integers(20, 120, n).astype("timedelta64[D]"),
            np.datetime64(f"{year}-01-01"),
        )
        en.append(
            pd.DataFrame(
                {
                    "program_id": f"GOLD-{year}",
                    "customer_id": ids[pick],
                    "enrolled_on": on[pick],
                    "baseline": np.nan,
                }
            )
        )
    pick = rng.random(n) < 0.6
    prev = step_all
    negotiated = pick & (rng.random(n) < 0.1) & (prev > 0)
    base = np.where(negotiated, np.round(prev * rng.uniform(0.9, 1.1, n), -2), np.nan)
    en.append(
        pd.DataFrame(
            {
                "program_id": f"GROWTH-{y}",
                "customer_id": ids[pick],
                "enrolled_on": np.datetime64(f"{y}-01-01"),
                "baseline": base[pick],
            }
        )
    )
    enrollments = pd.concat(en, ignore_index=True)
    enrollments["enrolled_on"] = enrollments["enrolled_on"].astype("datetime64[s]")
    return pset.to_yaml(), enrollments


def apply_response(sim, *, rng):
    """Move simulated purchases by the threshold response to the simulated programs.

    For every program whose period ends inside the simulated window (in file order), the
    members' end-of-period bases are measured by the engine, :func:`threshold_response`
    decides who buys ahead, and each responding customer (a pool's largest member) gets an
    extra invoice line of eligible product dated in the last ``response_window_days`` of the
    period; ``1 - incremental_share`` of its value is removed from that customer's positive
    lines of the following ``pull_forward_days``.

    Parameters
    ----------
    sim : SimulatedData
        With ``programs_yaml`` and ``enrollments`` set.
    rng : numpy.random.Generator

    Returns
    -------
    SimulatedData
        A copy with updated ``transactions`` and the ``response`` table.
    """
    from .reduce import period_sums
    from .simulate import expected_spend

    p = sim.params
    programs = load_programs(sim.programs_yaml)
    data = sim.to_rebate_data()
    truth = sim.truth.set_index("customer_id").loc[data.customers["customer_id"]]
    tx = data.transactions
    ids = data.customers["customer_id"].to_numpy(dtype=object)
    n_c = len(ids)
    records = []
    seq = 0
    for pi, prog in enumerate(programs):
        pend = np.datetime64(prog.end, "D")
        if pend > sim.end or pend < sim.start:
            continue
        data = dataclasses.replace(data, transactions=tx, cache={})
        sums = period_sums(data, programs, as_of=prog.end)
        rows = sums.index[sums["program_idx"].to_numpy() == pi].to_numpy()
        if len(rows) == 0:
            continue
        lay = _layouts_from_sums(data, programs, sums, rows, pi, prog)
        qty = prog.basis == "quantity"
        col = "quantity" if qty else "net_amount"
        basis_m = sums[col].to_numpy(dtype=float)[rows]
        b0 = lay.pool_matrix @ basis_m
        after0 = pend + 1
        after1 = pend + int(np.ceil(p.pull_forward_days))
        cap_c = expected_spend(
            truth.reset_index(), after0, after1, params=p, origin=sim.start, net=False
        ).to_numpy()
        cap_m = cap_c[lay.codes] * lay.share * (lay.units_per_value if qty else 1.0)
        cap_pool = lay.pool_matrix @ cap_m
        order = np.lexsort((-basis_m, lay.pool))
        first = np.r_[True, lay.pool[order][1:] != lay.pool[order][:-1]]
        lead = np.empty(lay.n_pools, dtype=np.int64)
        lead[lay.pool[order][first]] = lay.codes[order][first]
        upv_lead = np.where(lay.units_per_value > 0, lay.units_per_value, 1.0)
        lead_upv = np.empty(lay.n_pools)
        lead_upv[lay.pool[order][first]] = upv_lead[order][first]
        vpu = 1.0 / lead_upv if qty else np.ones(lay.n_pools)
        u = rng.random(lay.n_pools)
        _, _, bought, _ = _pool_response(
            prog, lay, b0, cap_pool, truth["holding_cost"].to_numpy()[lead], u, vpu,
            p.response_strength,
        )  # fmt: skip
        resp = np.flatnonzero(bought > 0)
        if resp.size == 0:
            continue
        who = lead[resp]
        # an eligible product for the extra line, drawn uniformly
        elig_products = np.flatnonzero(product_eligibility(data, prog)[:-1])
        prod = elig_products[rng.integers(0, elig_products.size, resp.size)]
        price = data.products["list_price"].to_numpy(dtype=float)[prod] * (
            1 - truth["discount"].to_numpy()[who]
        )
        if qty:
            quantity = np.ceil(bought[resp] - 1e-9)
            amount = np.round(quantity * price, 2)
        else:
            amount = np.ceil(bought[resp] * 100 - 1e-6) / 100
            quantity = np.maximum(1, np.round(amount / price))
        pstart = np.datetime64(prog.start, "D")
        lo = max(pend - p.response_window_days + 1, pstart, sim.start)
        day = lo + rng.integers(0, (pend - lo).astype(int) + 1, resp.size).astype("timedelta64[D]")
        inv = np.char.add("RSP", np.char.zfill((seq + np.arange(1, resp.size + 1)).astype(str), 6))
        seq += resp.size
        new = pd.DataFrame(
            {
                "invoice_id": pd.array(inv, dtype="string"),
                "date": day.astype("datetime64[ns]"),
                "customer_id": pd.array(ids[who], dtype="string"),
                "product_id": pd.array(
                    data.products["product_id"].to_numpy(dtype=object)[prod], dtype="string"
                ),
                "line_no": np.ones(resp.size, dtype=np.int64),
                "quantity": quantity,
                "net_amount": amount,
            }
        )
        # pull-forward: shrink the customers' positive lines of the following days
        borrowed = np.zeros(n_c)
        borrowed[who] = (1 - p.incremental_share) * amount
        d = tx["date"].to_numpy(dtype="datetime64[D]")
        ccode = _id_codes(tx["customer_id"], data.customers["customer_id"])
        later = (d >= after0) & (d <= after1) & (tx["net_amount"].to_numpy() > 0)
        later &= borrowed[ccode] > 0
        avail = np.bincount(ccode[later], weights=tx["net_amount"].to_numpy()[later], minlength=n_c)
        factor = np.clip(1 - borrowed / np.where(avail > 0, avail, np.inf), 0.0, 1.0)
        f = np.where(later, factor[ccode], 1.0)
        taken = np.bincount(ccode, weights=tx["net_amount"].to_numpy() * (1 - f), minlength=n_c)[
            who
        ]
        tx = tx.assign(
            net_amount=np.where(
                later, np.round(tx["net_amount"].to_numpy() * f, 2), tx["net_amount"].to_numpy()
            ),
            quantity=np.where(
                later,
                np.maximum(1, np.round(tx["quantity"].to_numpy() * f)),
                tx["quantity"].to_numpy(),
            ),
        )
        tx = tx[~(later & (f <= 0))]
        tx = pd.concat([tx, new], ignore_index=True)
        records.append(
            pd.DataFrame(
                {
                    "program_id": prog.id,
                    "customer_id": ids[who],
                    "date": day,
                    "purchase_basis": bought[resp],
                    "purchase_value": amount,
                    "taken_from_later": taken,
                }
            )
        )
    tx = tx.sort_values(["date", "invoice_id", "line_no"], kind="stable").reset_index(drop=True)
    out = dataclasses.replace(sim, transactions=tx)
    out.response = (
        pd.concat(records, ignore_index=True)
        if records
        else pd.DataFrame(
            columns=[
                "program_id",
                "customer_id",
                "date",
                "purchase_basis",
                "purchase_value",
                "taken_from_later",
            ]
        )
    )
    return out


def _layouts_from_sums(data, programs, sums, rows, pi, prog) -> _Layout:
    """A program's layout measured on its own period (shares from the period's lines)."""
    lines = prepare_lines(data)
    n = lines.n_customers
    first, last = to_day(prog.start), to_day(prog.end)
    w = lines.window(first, last)
    cust = lines.customer[w]
    known = cust < n
    total = np.bincount(cust[known], weights=lines.net_amount[w][known], minlength=n + 1)[:n]
    codes = sums["customer_code"].to_numpy()[rows].astype(np.int64)
    pool, keys = pd.factorize(sums["pool_id"].to_numpy(dtype=object)[rows])
    m = len(codes)
    matrix = sp.csr_matrix((np.ones(m), (pool, np.arange(m))), shape=(len(keys), m))
    net = sums["net_amount"].to_numpy(dtype=float)[rows]
    units = sums["quantity"].to_numpy(dtype=float)[rows]
    share = np.clip(
        np.where(total[codes] > 0, net / np.where(total[codes] > 0, total[codes], 1), 0.0), 0, 1
    )
    upv = np.where(net > 0, units / np.where(net > 0, net, 1), 0.0)
    baseline = np.full(len(keys), np.nan)
    if prog.is_growth:
        from .reduce import period_sums

        prior = period_sums(data, programs, as_of=prog.end, shift_years=1)
        col = "quantity" if prog.basis == "quantity" else "net_amount"
        given = sums["baseline_given"].to_numpy(dtype=float)[rows]
        measured = prior[col].to_numpy(dtype=float)[rows]
        baseline = matrix @ np.where(np.isnan(given), measured, given)
    return _Layout(pi, codes, pool, len(keys), matrix, share, upv, baseline)
