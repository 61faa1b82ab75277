"""How buyers respond to a threshold: pulling purchases forward to reach a tier."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from rebatelab.engine.eligibility import product_eligibility
from rebatelab.engine.settlement import evaluate, schedule
from rebatelab.errors import ParameterError
from rebatelab.programs.terms import load_programs
from rebatelab.simulation.base import _layouts_from_sums
from rebatelab.simulation.designs import _id_codes

__all__ = ["threshold_response", "apply_response"]


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


def _pool_response(sched, b0, cap_pool, hc_pool, u_pool, vpu_pool, strength):
    """Settle pool bases ``b0`` (pools x scenarios, or pools) with the threshold response.

    Parameters
    ----------
    sched : rebatelab.engine.settlement.Schedule
        One row per pool.
    b0 : ndarray
        Pool bases before the response [basis unit].
    cap_pool, hc_pool, u_pool, vpu_pool : ndarray
        Capacity, holding cost, uniforms and value per unit of each pool, as
        :func:`threshold_response` takes them.
    strength : float
        Response strength [0, 1].

    Returns
    -------
    ev0 : dict of ndarray
        :func:`~rebatelab.engine.settlement.evaluate` at ``b0``.
    ev1 : dict of ndarray
        ``tier`` and ``payable`` after the response (responders evaluated at the threshold
        they reach).
    bought : ndarray
        Purchase added [basis unit], 0 where the pool does not respond.
    """
    ev0 = evaluate(sched, b0)
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
        sub = evaluate(sched.take(rows), ev0["next_threshold"][hit])
        ev1 = {k: ev0[k].copy() for k in ("tier", "payable")}
        for k in ev1:
            ev1[k][hit] = sub[k]
    else:
        ev1 = ev0
    return ev0, ev1, bought


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
    from rebatelab.engine.reduction import period_sums
    from rebatelab.simulation.truth import expected_spend

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
        sched = schedule(programs, np.full(lay.n_pools, pi), baseline=lay.baseline).trimmed()
        _, _, bought = _pool_response(
            sched, b0, cap_pool, truth["holding_cost"].to_numpy()[lead], u, vpu,
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
