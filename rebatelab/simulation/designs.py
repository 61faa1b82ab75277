"""The default program designs drawn for a simulated customer base."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["default_programs"]


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
    out: list[float] = []
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
    from rebatelab.programs.terms import ProgramSet

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
