"""Candidate designs of one program side by side with the current program.

A pricing analyst edits the tiers of a program and wants to see, for each candidate, what it
would cost and what it would provoke, next to the program as it is. :func:`compare_designs`
runs every design through :func:`rebatelab.simulation.whatif.simulate_program` on the same
scenarios (common random numbers: the draws are cached on the base), under the current
program's id so that its enrollments and filters apply, and returns one row per design.
:func:`check_design` says in words what is wrong or odd with a design before it is run.

No tier arithmetic lives here: payouts come from the settlement engine
(:mod:`rebatelab.engine.settlement`) through the what-if run.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from rebatelab.engine.settlement import evaluate, schedule
from rebatelab.errors import ParameterError, ProgramFileError, RebateLabError
from rebatelab.programs.terms import Program, ProgramSet
from rebatelab.simulation.base import _layouts
from rebatelab.simulation.whatif import simulate_program

__all__ = [
    "compare_designs", "check_design", "design_program", "parse_designs", "designs_yaml",
    "projected_basis", "propose_tier", "COMPARED",
]  # fmt: skip

#: Figures of :func:`compare_designs` that get a ``<name>_vs_current`` difference column.
COMPARED = (
    "payout",
    "cost_share",
    "customers_in_tiers",
    "provoked_revenue",
    "cost_per_provoked",
    "profit",
)


def _terms(design) -> dict:
    """A design as a program-file mapping (``from``, ``rate``, ``amount`` per tier)."""
    if isinstance(design, Program):
        d = design.model_dump(mode="json", by_alias=True, exclude_none=True)
        d["tiers"] = [t.model_dump(by_alias=True, exclude_none=True) for t in design.tiers]
        return d
    if isinstance(design, Mapping):
        return dict(design)
    raise ParameterError(
        f"a design is a Program or a mapping in the program file's syntax; got "
        f"{type(design).__name__}"
    )


def design_program(current: Program, design) -> Program:
    """The design as a program under the current program's id, period and filters.

    Parameters
    ----------
    current : Program
        The program the design replaces (a base program, not a variant).
    design : Program or mapping
        Terms in the program file's syntax; keys it does not give (period, basis,
        customers, products, enrollment...) are the current program's. Its own ``id`` and
        ``name`` are ignored: the design runs under ``current.id`` so that the current
        program's enrollments apply to it.

    Returns
    -------
    Program

    Raises
    ------
    ProgramFileError
        The terms are not a valid program (the program file's own message).
    """
    base = _terms(current)
    for key in ("variant_of", "customers_only", "guardrails"):
        base.pop(key, None)
    terms = _terms(design)
    for key in ("id", "name", "variant_of", "customers_only", "guardrails"):
        terms.pop(key, None)
    if "cap" in terms and not terms["cap"]:
        terms["cap"] = None
    merged = {**base, **terms, "id": current.id}
    merged = {k: v for k, v in merged.items() if v is not None}
    return ProgramSet.from_programs([merged], source="design")[current.id]


def check_design(design, *, current: Program | None = None, errors_only: bool = False) -> list[str]:
    """What is wrong or odd with a design, in words (empty when nothing is).

    Parameters
    ----------
    design : Program or mapping
        The design's terms (program file syntax); a mapping may be invalid, which is what
        this check is for.
    current : Program, optional
        The current program, whose terms fill what the design does not give.
    errors_only : bool
        Only the findings that stop the design from running (empty when it can run).

    Returns
    -------
    list of str
        One sentence per finding, in tier order. Findings: no tier; a threshold that is not
        a number, is negative, or does not increase; a rate outside [0, 100%]; a tier that
        pays nothing (0% and no lump sum); a tier where a customer just at the threshold is
        paid less than one just below it (the design pays more for less: the settlement
        engine evaluates both). A design with findings of the first kinds (or that the program
        file refuses, e.g. a lump sum on an incremental design) cannot be run.

    Examples
    --------
    >>> check_design({"tiers": [{"from": 1000, "rate": 0.02}, {"from": 1000, "rate": 0.0}]})
    ['tier 2 starts at 1,000, not above tier 1 (1,000): thresholds must increase', 'tier 2 pays nothing (0% and no lump sum)']
    """  # noqa: E501
    terms = _terms(design)
    tiers = list(terms.get("tiers") or [])
    out: list[str] = []
    errors: list[str] = []

    def error(text):
        out.append(text)
        errors.append(text)

    if not tiers:
        return ["the design has no tier"]
    prev = None
    runnable = True
    for i, t in enumerate(tiers, start=1):
        lo, rate, amount = t.get("from"), t.get("rate", 0.0), t.get("amount")
        try:
            lo = float(lo)
            rate = float(rate or 0.0)
            amount = float(amount or 0.0)
        except (TypeError, ValueError):
            error(f"tier {i}: threshold, rate and lump sum must be numbers")
            runnable = False
            continue
        if not np.isfinite(lo) or lo < 0:
            error(f"tier {i} starts at {lo:,.10g}: a threshold must be 0 or more")
            runnable = False
        if prev is not None and lo <= prev:
            error(
                f"tier {i} starts at {lo:,.10g}, not above tier {i - 1} ({prev:,.10g}): "
                "thresholds must increase"
            )
            runnable = False
        if not 0 <= rate <= 1:
            error(f"tier {i} has a rate of {rate:.4g} (a fraction between 0 and 1)")
            runnable = False
        if rate == 0 and amount == 0:
            out.append(f"tier {i} pays nothing (0% and no lump sum)")
        prev = lo
    if not runnable:
        return errors if errors_only else out
    try:
        prog = design_program(current, terms) if current is not None else _bare(terms)
    except RebateLabError as exc:
        # the program file's message without its "<source>: program <id>: field" prefix
        text = str(exc).split(": field ", 1)[-1]
        return [text] if errors_only else [*out, text]
    if errors_only:
        return []
    out.extend(_pays_more_for_less(prog))
    return out


def _bare(terms: dict) -> Program:
    d = {"id": "DESIGN", "start": "2000-01-01", "end": "2000-12-31", **terms}
    d["id"] = "DESIGN"
    return ProgramSet.from_programs([d], source="design")["DESIGN"]


def _pays_more_for_less(prog: Program) -> list[str]:
    """Tiers where the payout at the threshold is below the payout just under it."""
    if prog.is_growth or len(prog.tiers) < 2:
        return []
    ps = ProgramSet.from_programs([_terms(prog)], source="design")
    thr = np.asarray(prog.thresholds[1:], dtype=float)
    below = thr - np.maximum(0.01, 1e-9 * thr)
    sched = schedule(ps, np.zeros(1, dtype=np.int64))
    ev = evaluate(sched, np.concatenate([thr, below])[None, :])
    at, under = ev["earned"][0, : len(thr)], ev["earned"][0, len(thr) :]
    out = []
    for k in np.flatnonzero(at < under - 0.005):
        i = int(k) + 2
        out.append(
            f"tier {i} pays more for less: a customer just below its threshold "
            f"({thr[k]:,.10g}) earns {under[k]:,.2f}, one at it {at[k]:,.2f}"
        )
    return out


def parse_designs(parsed, *, source: str = "<designs>") -> dict:
    """Designs from a parsed designs file (the program file's syntax), by id.

    Parameters
    ----------
    parsed : mapping or list
        The YAML/JSON content: ``{"programs": [...]}`` as a program file (or
        ``{"designs": [...]}``, or the list itself); each item has an ``id`` and the terms
        it changes (usually ``tiers``; anything not given is the current program's).
    source : str
        The file name, for messages.

    Returns
    -------
    dict of str -> dict
        Terms by design id, in file order.

    Raises
    ------
    ProgramFileError
        Naming ``source``: not a list of mappings, an item without an id, an id given twice
        or called ``current``, an item without tiers.

    Examples
    --------
    >>> parse_designs({"programs": [{"id": "LOW", "tiers": [{"from": 900, "rate": 0.02}]}]})
    {'LOW': {'id': 'LOW', 'tiers': [{'from': 900, 'rate': 0.02}]}}
    """
    items = parsed
    if isinstance(parsed, Mapping):
        keys = [k for k in ("programs", "designs") if k in parsed]
        if len(keys) != 1:
            raise ProgramFileError(
                f"{source}: expected a 'programs:' (or 'designs:') list of designs; got the "
                f"keys {sorted(map(str, parsed))}"
            )
        items = parsed[keys[0]]
    if not isinstance(items, list) or not items:
        raise ProgramFileError(f"{source}: expected a non-empty list of designs")
    out: dict = {}
    for i, item in enumerate(items, start=1):
        if not isinstance(item, Mapping) or not str(item.get("id") or "").strip():
            raise ProgramFileError(f"{source}: design {i} needs an 'id' (its name)")
        name = str(item["id"]).strip()
        if name == "current" or name in out:
            why = "names the current program" if name == "current" else "is given twice"
            raise ProgramFileError(f"{source}: design id {name!r} {why}")
        if not item.get("tiers"):
            raise ProgramFileError(f"{source}: design {name!r} has no tiers")
        out[name] = dict(item)
    return out


def designs_yaml(current: Program, designs: Mapping) -> str:
    """A designs file: each design as a complete program of the program file, id = its name.

    The file reads back with :func:`parse_designs` (and, each design a whole program, with
    :func:`rebatelab.programs.terms.load_programs`).

    Parameters
    ----------
    current : Program
        The program the designs change.
    designs : mapping of str -> (Program or mapping)

    Returns
    -------
    str
        YAML text.
    """
    progs = []
    for name, d in designs.items():
        p = _terms(design_program(current, d))
        p.update(id=name, name=f"Design {name} of {current.id}")
        progs.append(p)
    return ProgramSet.from_programs(progs, source="designs").to_yaml()


def projected_basis(base, program: Program) -> np.ndarray:
    """Each pool's expected end-of-period basis under its spend model [basis unit].

    Parameters
    ----------
    base : WhatIfBase
    program : Program

    Returns
    -------
    ndarray
        One value per pool (customer, or buying group) of ``program``'s members: expected
        orders over the period x mean order value x eligible share (x units per currency
        for a quantity program), summed over the pool's members. For a growth program,
        divided by the pool's baseline minus 1 (growth [fraction]; NaN without baseline).
    """
    (lay,) = _layouts(base, ProgramSet.from_programs([_terms(program)], source="design"))
    spend = base.expected_orders(program.start, program.end) * base.mean_order_value
    member = spend[lay.codes] * lay.share
    if program.basis == "quantity":
        member = member * lay.units_per_value
    pools = np.asarray(lay.pool_matrix @ member, dtype=float)
    if program.is_growth:
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = np.isfinite(lay.baseline) & (lay.baseline > 0)
            pools = np.where(ok, pools / np.where(ok, lay.baseline, 1.0) - 1.0, np.nan)
    return pools


def _round2(x: float) -> float:
    """``x`` rounded to two significant digits (a threshold a person would write)."""
    if not np.isfinite(x) or x <= 0:
        return 0.0
    e = 10.0 ** (np.floor(np.log10(x)) - 1)
    return float(np.round(x / e) * e)


def propose_tier(tiers, projected, *, growth: bool = False) -> dict:
    """A next tier for a design: its threshold between the last one and the top customers'.

    Parameters
    ----------
    tiers : list of mapping
        The design's tiers so far (``from``, ``rate``, optional ``amount``), ascending.
    projected : array_like
        Expected end-of-period basis of each pool (:func:`projected_basis`) [basis unit,
        or growth fraction].
    growth : bool
        Thresholds are growth fractions.

    Returns
    -------
    dict
        ``{"from": ..., "rate": ...}`` (and ``amount`` after a lump-sum tier). The threshold
        is halfway from the last threshold to the 95th percentile of ``projected`` rounded
        to two significant digits, or 1.5 times the last threshold when no pool is
        projected above it; never 0 and always above the last threshold. The rate is one
        percentage point above the last (at most 100%); a lump sum is 1.5 times the last.

    Examples
    --------
    >>> propose_tier([{"from": 1000, "rate": 0.02}], [500, 2000, 9000, 12000])
    {'from': 6300.0, 'rate': 0.03}
    >>> propose_tier([{"from": 1000, "rate": 0.02}], [10, 20])
    {'from': 1500.0, 'rate': 0.03}
    """
    p = np.asarray(projected, dtype=float)
    p = p[np.isfinite(p) & (p > 0)]
    last = float(tiers[-1]["from"]) if tiers else 0.0
    rate = float(tiers[-1].get("rate") or 0.0) if tiers else 0.0
    if growth:
        top = float(np.quantile(p, 0.95)) if p.size else 0.0
        step = max(0.05, round((top - last) / 2, 2)) if top > last else 0.05
        new = {"from": round(last + step, 4), "rate": min(1.0, round(rate + 0.01, 6))}
    else:
        top = float(np.quantile(p, 0.95)) if p.size else 0.0
        mid = (last + top) / 2 if top > last else 0.0
        thr = _round2(mid)
        if thr <= last:
            thr = (
                _round2(1.5 * last) if last > 0 else _round2(float(np.median(p))) if p.size else 1.0
            )
        if thr <= last:  # rounding brought it back to the last threshold
            thr = last + max(1.0, 0.5 * last)
        new = {"from": float(thr), "rate": min(1.0, round(rate + 0.01, 6))}
    amount = float(tiers[-1].get("amount") or 0.0) if tiers else 0.0
    if amount > 0:
        new["amount"] = _round2(1.5 * amount)
        new["rate"] = rate
    return new


def _named(candidates) -> dict:
    if isinstance(candidates, Mapping):
        items = dict(candidates)
    elif isinstance(candidates, ProgramSet | list | tuple):
        items = {}
        for c in candidates:
            name = c.id if isinstance(c, Program) else str(_terms(c).get("id", ""))
            if not name:
                raise ParameterError("every candidate design in a list needs an id")
            items[name] = c
    else:
        raise ParameterError(
            "candidates are a mapping of name -> design, a list of designs with ids or a "
            f"ProgramSet; got {type(candidates).__name__}"
        )
    if "current" in items:
        raise ParameterError("'current' names the current program; call the design otherwise")
    return items


def compare_designs(
    base,
    current: Program,
    candidates,
    *,
    margin: float | None = None,
    n_scenarios: int = 500,
    response_strength: float = 0.5,
    seed: int = 0,
    pull_forward_days: float = 90.0,
    incremental_share: float = 0.3,
    cache: dict | None = None,
) -> pd.DataFrame:
    """Payout, cost, tier counts and provoked revenue of designs next to the current program.

    Parameters
    ----------
    base : WhatIfBase
        From :func:`rebatelab.simulation.whatif.whatif_base` (computed once; its scenario
        draws are cached, so repeated calls with the same seed cost only the settlement).
    current : Program
        The program as it is (a base program, not a variant).
    candidates : mapping of str -> (Program or mapping), or list of designs with ids
        The designs, in the program file's syntax; what a design does not give is the
        current program's (:func:`design_program`).
    margin : float, optional
        Gross margin on provoked revenue [fraction, not %]; gives ``profit`` and
        ``profit_vs_current``. None leaves them out.
    n_scenarios, response_strength, seed, pull_forward_days, incremental_share
        As :func:`~rebatelab.simulation.whatif.simulate_program` takes them; the same for
        every design (common random numbers).
    cache : dict, optional
        Results of earlier calls by design terms and run parameters; an interactive view
        passes the same dict every time so that only a changed design is run again.

    Returns
    -------
    DataFrame
        One row per design, ``current`` first, index ``design``. Columns (means over
        scenarios):

        - ``payout`` [currency]: payable rebate, customers responding;
        - ``payout_without_response`` [currency]: the same scenarios had nobody bought ahead;
        - ``eligible_sales`` [currency];
        - ``cost_share`` [fraction of eligible sales]: ``payout / eligible_sales``;
        - ``customers_tier_0`` .. ``customers_tier_K``: customers ending in each tier (NaN
          for a tier a design does not have), and ``customers_in_tiers`` (tier 1 or above);
        - ``provoked_revenue`` [currency]: new demand provoked by the thresholds;
        - ``cost_per_provoked`` [currency per currency]: ``payout / provoked_revenue`` (inf
          when nothing is provoked);
        - ``profit`` [currency] (with ``margin``): ``margin * provoked_revenue - payout``;
        - ``<figure>_vs_current`` for each of :data:`COMPARED`: design minus current;
        - ``findings``: :func:`check_design`'s sentences, and "pays more than the current
          program for no more provoked revenue" for a dominated design, joined by "; ".

    Raises
    ------
    ParameterError
        A design cannot be run (the finding says why), or a parameter is out of range.

    Notes
    -----
    ``profit_vs_current = margin * (provoked - provoked_current) - (payout - payout_current)``:
    what the design adds to profit over the current program, counting only the revenue the
    thresholds provoke (pull-forward from next period is not new revenue). Ratios are of
    the means (``mean payout / mean sales``), not means of per-scenario ratios.
    """
    if margin is not None and (not np.isfinite(margin) or not 0 <= margin <= 1):
        raise ParameterError(f"margin must be a fraction between 0 and 1; got {margin!r}")
    if not isinstance(current, Program):
        raise ParameterError(f"current must be a Program; got {type(current).__name__}")
    named = _named(candidates)
    programs = {"current": current}
    findings: dict[str, list[str]] = {"current": []}
    for name, design in named.items():
        found = check_design(design, current=current)
        prog = None
        try:
            prog = design_program(current, design)
        except RebateLabError as exc:
            raise ParameterError(f"design {name!r}: {'; '.join(found) or exc}") from None
        programs[name], findings[name] = prog, found
    rows = {}
    settings = (n_scenarios, response_strength, seed, pull_forward_days, incremental_share)
    if cache is not None and cache.get("base") is not base:  # a cache serves one base
        cache.clear()
        cache["base"] = base
    for name, prog in programs.items():
        key = (prog.model_dump_json(), settings)
        if cache is not None and key in cache:
            rows[name] = dict(cache[key])
            continue
        res = simulate_program(
            base, [prog], n_scenarios=n_scenarios, response_strength=response_strength,
            seed=seed, pull_forward_days=pull_forward_days,
            incremental_share=incremental_share,
        )  # fmt: skip
        m, counts = res.metrics[current.id], res.tier_counts[current.id]
        row = {
            "payout": float(m["total_payout"].mean()),
            "payout_without_response": float(m["payout_without_response"].mean()),
            "eligible_sales": float(m["eligible_sales"].mean()),
            "provoked_revenue": float(m["incremental_revenue"].mean()),
            "tiers": counts.mean(axis=0),
        }
        if cache is not None:
            cache[key] = dict(row)
        rows[name] = row
    k = max(len(r["tiers"]) for r in rows.values())
    table = []
    for name, r in rows.items():
        tiers = r.pop("tiers")
        rec = {"design": name, **r}
        for t in range(k):
            rec[f"customers_tier_{t}"] = float(tiers[t]) if t < len(tiers) else np.nan
        rec["customers_in_tiers"] = float(tiers[1:].sum())
        table.append(rec)
    df = pd.DataFrame(table).set_index("design")
    with np.errstate(divide="ignore", invalid="ignore"):
        df["cost_share"] = df["payout"] / df["eligible_sales"].where(df["eligible_sales"] > 0)
        df["cost_per_provoked"] = np.where(
            df["provoked_revenue"] > 0, df["payout"] / df["provoked_revenue"], np.inf
        )
    if margin is not None:
        df["profit"] = margin * df["provoked_revenue"] - df["payout"]
    cur = df.loc["current"]
    for col in COMPARED:
        if col in df:
            with np.errstate(invalid="ignore"):
                diff = df[col] - cur[col]
            # inf - inf: both provoke nothing, no difference to state
            df[f"{col}_vs_current"] = diff.where(~(np.isinf(df[col]) & np.isinf(cur[col])), 0.0)
    dominated = (df["payout"] > cur["payout"] + 0.005) & (
        df["provoked_revenue"] <= cur["provoked_revenue"] + 0.005
    )
    for name in df.index[dominated]:
        findings[name] = [
            *findings[name],
            "pays more than the current program for no more provoked revenue",
        ]
    df["findings"] = ["; ".join(findings[n]) for n in df.index]
    order = [
        "payout", "payout_without_response", "eligible_sales", "cost_share",
        *[f"customers_tier_{t}" for t in range(k)], "customers_in_tiers",
        "provoked_revenue", "cost_per_provoked", *(["profit"] if margin is not None else []),
        *[f"{c}_vs_current" for c in COMPARED if c in df], "findings",
    ]  # fmt: skip
    return df[order]
