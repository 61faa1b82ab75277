"""Rebate liability for finance: accrued, expected value, most likely amount, and an interval.

Per program and in total, as of a date:

- ``accrued``: earned at the tier reached so far (what most systems book);
- ``expected``: the expected end-of-period rebate, the ASC 606 / IFRS 15 *expected value*
  (probability-weighted over the outcomes);
- ``most_likely``: the ASC 606 *most likely amount*, per contract (program and customer),
  summed;
- ``p10, p50, p90`` and ``constrained`` (the quantile at a chosen level, 80% by default) of
  the distribution of the total, obtained by **convolving** the per-pool distributions, never
  by adding their percentiles.

One computation everywhere: :func:`liability` reduces the lines once (or takes stage one's
:class:`~rebatelab.engine.stage_one.Reduction`), accrues, forecasts with
:func:`liability_forecast` and calls :func:`liability_from`. The CLI (``rebatelab
liability``), the dashboard (:class:`rebatelab.widgets.LiabilityForecast`) and the period
close (:func:`rebatelab.close`, which books :func:`liability_forecast`'s expected rebate with
the same :func:`~rebatelab.finance.rollforward.contract_cents`) therefore show the same
figures to the cent.

Independence assumption: pools (a customer, or a buying group for pooled programs) reach
their tiers independently of each other. Members of one pool are perfectly dependent (they
share one tier), so a pool is the unit that is convolved. Spend moving together (a recession,
a price increase) breaks the assumption; ``common_shock`` models it by scaling every pool's
spend still to come by one shared lognormal factor and mixing over it.

The convolution is exact for the distributions as discretized on a common grid
(:func:`~rebatelab.finance.distributions.sum_distribution`); see its Notes for the accuracy
statement.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rebatelab.engine.accrual import accrue
from rebatelab.engine.stage_one import Reduction, reduce
from rebatelab.errors import ParameterError
from rebatelab.finance.distributions import (
    SumDistribution,
    _atoms,
    _mixture,
    _nice_step,
    liability_levels,
    quantile_atoms,
    shock_nodes,
    sum_distribution,
)
from rebatelab.finance.outcomes import (
    AMOUNTS,
    KEYS,
    align_forecast,
    pool_frame,
    pool_rebate_atoms,
    tier_calibrated_atoms,
)
from rebatelab.finance.rollforward import contract_cents
from rebatelab.forecasting.projection import forecast as _forecast
from rebatelab.forecasting.quantiles import quantile_columns
from rebatelab.forecasting.settled import settle_forecast, settled_rows
from rebatelab.programs.terms import load_programs

__all__ = [
    "AMOUNTS",
    "KEYS",
    "Liability",
    "LiabilityOptions",
    "align_forecast",
    "liability",
    "settle_forecast",
    "settled_rows",
    "liability_forecast",
    "liability_from",
    "pool_rebate_atoms",
    "reduction_for",
    "tier_calibrated_atoms",
]


#: Quantile levels of the total reported by :func:`liability`.
REPORT_LEVELS = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class LiabilityOptions:
    """How :func:`liability` estimates the liability.

    Attributes
    ----------
    percentile : float
        Level [fraction] of the constrained estimate: the total that the final rebate stays
        at or below with this probability (default 0.8).
    common_shock : float
        sd of the log of a factor shared by all pools that scales their spend still to come
        (0, the default: pools independent).
    amount : {"earned", "payable"}
        ``earned`` (default): the capped rebate, as ``accrue``'s ``earned`` and the
        forecast's ``expected_rebate``; ``payable``: what will be paid, 0 where the pool stays
        under the minimum payout (``accrue``'s ``payable``, the forecast's
        ``expected_payable``; the most likely amount is zeroed where the pool's most likely
        amount is under the minimum).
    method : str, optional
        Forecast method (:func:`rebatelab.forecast`); None: the forecast's default.
    n_levels : int
        Evenly spread quantile levels of each pool's end-of-period basis asked from the
        forecast, plus 0.99, 0.997 and 0.999
        (:func:`~rebatelab.finance.distributions.liability_levels`); default 16.
    n_shock_nodes : int
        Equal-probability nodes over the common factor
        (:func:`~rebatelab.finance.distributions.shock_nodes`).
    grid_size : int
        Grid cells for the convolution
        (:func:`~rebatelab.finance.distributions.sum_distribution`).

    Examples
    --------
    >>> LiabilityOptions(percentile=0.9).percentile
    0.9
    >>> LiabilityOptions(percentile=1.0)
    Traceback (most recent call last):
    ...
    rebatelab.errors.ParameterError: percentile must be inside (0, 1), got 1.0
    """

    percentile: float = 0.8
    common_shock: float = 0.0
    amount: str = "earned"
    method: str | None = None
    n_levels: int = 16
    n_shock_nodes: int = 15
    grid_size: int = 2**16

    def __post_init__(self) -> None:
        if not 0 < self.percentile < 1:
            raise ParameterError(f"percentile must be inside (0, 1), got {self.percentile}")
        shock = 0.0 if self.common_shock is None else float(self.common_shock)
        if not (np.isfinite(shock) and shock >= 0):
            raise ParameterError(f"common_shock must be a finite sd >= 0, got {shock}")
        object.__setattr__(self, "common_shock", shock)
        if self.amount not in AMOUNTS:
            raise ParameterError(f"amount must be one of {list(AMOUNTS)}, got {self.amount!r}")
        if self.n_levels < 3:
            raise ParameterError(f"n_levels must be >= 3, got {self.n_levels}")
        if self.n_shock_nodes < 1:
            raise ParameterError(f"n_shock_nodes must be >= 1, got {self.n_shock_nodes}")
        if self.grid_size < 16:
            raise ParameterError(f"grid_size must be >= 16, got {self.grid_size}")


# --------------------------------------------------------------------------------------------
# The liability report
# --------------------------------------------------------------------------------------------
@dataclass
class Liability:
    """Liability views; ``to_xlsx`` writes one sheet per view.

    Attributes
    ----------
    total : DataFrame
        One row: ``accrued, expected, most_likely, p10, p50, p90, constrained`` [currency],
        ``percentile`` [fraction], ``common_shock`` (sd of the log factor, 0 = independence),
        ``mean_adjustment`` [currency].
    by_program : DataFrame
        The same columns per program, plus ``customers`` and ``pools``.
    by_customer : DataFrame
        Per (program, customer): ``accrued, expected, most_likely`` [currency], in cents that
        add up to ``by_program`` and ``total`` exactly
        (:func:`~rebatelab.finance.rollforward.contract_cents`).
    distribution : DataFrame
        The total's distribution as quantiles: ``value`` [currency] at ``level`` [fraction]
        0.001 .. 0.999 (repeated values kept once) and ``cdf``, P(total <= value); the full
        grid distribution is ``dist``.
    notes : DataFrame
        The assumptions and parameters, as (item, value) rows.
    dist : SumDistribution
        The total's distribution on its grid.
    options : LiabilityOptions
        The options it was computed with.
    as_of : Timestamp or None
        The as-of day (None when computed from frames without one).
    method : str or None
        The forecast method (the forecast's ``method`` column), None when unknown.
    """

    total: pd.DataFrame
    by_program: pd.DataFrame
    by_customer: pd.DataFrame
    distribution: pd.DataFrame
    notes: pd.DataFrame
    dist: SumDistribution | None = field(repr=False, default=None)
    options: LiabilityOptions = field(default_factory=LiabilityOptions)
    as_of: pd.Timestamp | None = None
    method: str | None = None
    program_dists: dict = field(repr=False, default_factory=dict)

    def at_percentile(self, percentile: float) -> Liability:
        """The same liability with the constrained estimate at another percentile.

        Only the quantile of each stored distribution is taken again (no re-convolution), so
        the figures equal those of :func:`liability_from` with that percentile.

        Parameters
        ----------
        percentile : float
            Level [fraction] inside (0, 1).

        Returns
        -------
        Liability
        """
        opts = dataclasses.replace(self.options, percentile=float(percentile))
        if self.dist is None or (len(self.by_program) and not self.program_dists):
            raise ParameterError("this liability keeps no distributions to re-read")
        total = self.total.copy()
        total["constrained"] = round(float(self.dist.quantile(opts.percentile)), 2)
        total["percentile"] = opts.percentile
        by_program = self.by_program.copy()
        by_program["constrained"] = [
            round(float(self.program_dists[pid].quantile(opts.percentile)), 2)
            for pid in by_program["program_id"]
        ]  # a loop over programs
        notes = self.notes.copy()
        notes.loc[notes["item"] == "percentile", "value"] = (
            f"constrained = {opts.percentile:.0%} quantile of the total"
        )
        return dataclasses.replace(
            self, total=total, by_program=by_program, notes=notes, options=opts
        )

    def views(self) -> dict[str, pd.DataFrame]:
        """The views by sheet name."""
        return {
            "total": self.total,
            "by_program": self.by_program,
            "by_customer": self.by_customer,
            "distribution": self.distribution,
            "notes": self.notes,
        }

    def to_xlsx(self, path) -> Path:
        """Write every view to an xlsx workbook, one sheet per view."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with pd.ExcelWriter(path, engine="openpyxl") as xw:
            for name, df in self.views().items():
                df.to_excel(xw, sheet_name=name, index=False)
        return path


def _payable_most_likely(ml_row, code, pools, programs) -> np.ndarray:
    """Most likely amounts zeroed where the pool's total is under its minimum payout."""
    if programs is None:
        raise ParameterError("amount='payable' needs programs= (for the minimum payouts)")
    mins = pd.Series({p.id: (p.min_payout or 0.0) for p in programs}, dtype=float)
    pool_min = pools["program_id"].astype(str).map(mins).fillna(0.0).to_numpy(dtype=float)
    pool_ml = np.bincount(code, weights=ml_row, minlength=len(pools))
    return np.where(pool_ml[code] + 1e-9 >= pool_min[code], ml_row, 0.0)


def _outcomes(accrual, fc, programs, code, first, basis_quantiles, levels, opts):
    """Per-pool rebate atoms: the base (independent) ones and one set per shock node."""
    amount = opts.amount
    if basis_quantiles is None:
        lv, q = quantile_columns(fc)
        basis_quantiles = q if lv.size else None
        levels = lv if levels is None else levels
    if basis_quantiles is None or levels is None or programs is None:
        raise ParameterError(
            "liability needs per-row outcome distributions: basis_quantiles with levels "
            "and programs (or a forecast carrying them), or rebate_values/rebate_probs"
        )
    _, vals, tiers, at_thr = pool_rebate_atoms(
        accrual, basis_quantiles, programs, amount=amount, return_tiers=True
    )
    base_values, base_probs = quantile_atoms(vals, levels)
    tier_cols = [c for c in fc.columns if str(c).startswith("p_tier_")]
    shock = opts.common_shock
    if tier_cols and not shock > 0:
        # exact tier probabilities from the forecast (pool level: the pool's first row)
        tier_cols = sorted(tier_cols, key=lambda c: int(str(c)[7:]))
        pt = fc[tier_cols].to_numpy(dtype=float)[first]
        k1 = at_thr.shape[1] + 1
        pt = np.pad(pt, ((0, 0), (0, max(k1 - pt.shape[1], 0))))[:, :k1]
        base_values, base_probs = tier_calibrated_atoms(base_values, base_probs, tiers, at_thr, pt)
    if not shock > 0:
        return base_values, base_probs, [base_values], [base_probs], [1.0]
    z, w = shock_nodes(shock, n_nodes=opts.n_shock_nodes)
    scenario_values, scenario_probs = [], []
    for zk in z:  # a loop over a handful of quadrature nodes
        _, vals = pool_rebate_atoms(
            accrual, basis_quantiles, programs, shock=float(zk), amount=amount
        )
        vals, probs = quantile_atoms(vals, levels)
        scenario_values.append(vals)
        scenario_probs.append(probs)
    return base_values, base_probs, scenario_values, scenario_probs, list(w)


def liability_from(
    accrual: pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    programs=None,
    basis_quantiles=None,
    levels=None,
    rebate_values=None,
    rebate_probs=None,
    options: LiabilityOptions | None = None,
) -> Liability:
    r"""Rebate liability per program and in total, from an accrual and a forecast.

    Parameters
    ----------
    accrual : DataFrame
        :func:`rebatelab.accrue` output.
    forecast : DataFrame
        Per (program, customer) ``expected_rebate`` (``expected_payable`` for
        ``amount="payable"``) and ``most_likely_rebate`` [currency]
        (:func:`rebatelab.forecast`); matched to the accrual on ``(program_id,
        customer_id)`` (:func:`align_forecast`).
    programs : ProgramSet, optional
        Needed to turn basis quantiles into rebate outcomes.
    basis_quantiles : array_like, shape (n, m), optional
        End-of-period quantiles of each accrual row's pool basis at ``levels``; default:
        those the forecast carries in its ``q_<level>`` columns.
    levels : array_like, shape (m,), optional
        Levels [fraction] of ``basis_quantiles``.
    rebate_values, rebate_probs : array_like, shape (n_pools, m), optional
        The per-(program, pool) rebate outcomes and probabilities, given directly instead of
        basis quantiles (pools in order of first appearance in ``accrual``).
    options : LiabilityOptions, optional
        Percentile, common shock, amount and grid (``method`` and ``n_levels`` concern the
        forecast and are not used here).

    Returns
    -------
    Liability

    Notes
    -----
    Each pool's rebate outcomes are its rebate at the forecast's basis quantiles (the
    rebate is non-decreasing in the basis), each standing for the probability between the
    neighbouring levels' midpoints; with the forecast's ``p_tier_k`` columns the masses are
    re-weighted so every tier gets its exact probability (:func:`tier_calibrated_atoms`).

    ``expected`` is the sum of ``expected_rebate`` (ASC 606 expected value; for a total over
    many contracts, the expected value of the total is the sum of the expected values).
    ``most_likely`` is the sum over contracts of each contract's most likely amount. Both are
    reported in cents that add up: the total rounded to the cent, programs and contracts
    within a cent of their exact amounts
    (:func:`~rebatelab.finance.rollforward.contract_cents`, as the ledger books them).
    The distribution of the total convolves the pools' rebate distributions under
    independence; it is then shifted by ``mean_adjustment`` (the exact expected value less
    the mean of the discretized outcomes, a measure of how coarse the quantile grid is) so
    that its mean equals the exact expected value. With ``common_shock`` the total is a
    mixture over the factor of conditionally independent convolutions, and its mean differs
    from ``expected`` by the factor's effect through the tier cliffs.

    ``constrained`` is the ``percentile`` quantile of the total: the ASC 606 constraint includes
    variable consideration only to the extent a significant reversal is not probable, so for a
    rebate (which reduces revenue) a prudent liability is one the outcome exceeds with
    probability at most ``1 - percentile``.

    Examples
    --------
    DOMAIN.md example 5, one customer: 60% of 4,000 and 40% of 10,000.

    >>> acc = pd.DataFrame({"program_id": ["P"], "customer_id": ["C"], "pool_id": ["C"],
    ...                     "earned": [3_000.0]})
    >>> fc = pd.DataFrame({"expected_rebate": [6_400.0], "most_likely_rebate": [4_000.0]})
    >>> L = liability_from(acc, fc, rebate_values=[[4_000, 10_000]], rebate_probs=[[0.6, 0.4]])
    >>> L.total[["accrued", "expected", "most_likely", "p50", "constrained"]].iloc[0].tolist()
    [3000.0, 6400.0, 4000.0, 4000.0, 10000.0]
    """
    opts = LiabilityOptions() if options is None else options
    amount = opts.amount
    percentile = opts.percentile
    shock = opts.common_shock
    programs = None if programs is None else load_programs(programs)
    fc = settle_forecast(accrual, align_forecast(accrual, forecast))
    exp_col = "expected_rebate" if amount == "earned" else "expected_payable"
    for c in (exp_col, "most_likely_rebate"):
        if c not in fc.columns:
            raise ParameterError(f"forecast: missing column {c!r}; have {list(fc.columns)}")
    pools, code, first = pool_frame(accrual)

    if rebate_values is not None:
        if shock > 0:
            raise ParameterError("common_shock needs basis quantiles, not rebate outcomes")
        values, probs = _atoms(rebate_values, rebate_probs)
        if values.shape[0] != len(pools):
            raise ParameterError(
                f"rebate_values has {values.shape[0]} rows for {len(pools)} (program, pool) pairs"
            )
        base_values, base_probs = values, probs
        scenario_values, scenario_probs, scenario_w = [values], [probs], [1.0]
    else:
        base_values, base_probs, scenario_values, scenario_probs, scenario_w = _outcomes(
            accrual, fc, programs, code, first, basis_quantiles, levels, opts
        )

    # exact per-pool expected values (sum of members' forecasts) for the mean adjustment
    exp_row = fc[exp_col].to_numpy(dtype=float)
    ml_row = fc["most_likely_rebate"].to_numpy(dtype=float)
    if amount == "payable":
        ml_row = _payable_most_likely(ml_row, code, pools, programs)
    settled = settled_rows(accrual)
    if settled.any():
        # a settled contract's amount is known: one outcome, exactly the amount accrued
        settled_amount = accrual[amount].to_numpy(dtype=float)
        ml_row = np.where(settled, settled_amount, ml_row)
        pool_amount = np.bincount(code, weights=settled_amount, minlength=len(pools))
        sp = settled[first]
        same = len(scenario_values) == 1 and scenario_values[0] is base_values
        base_values = base_values.copy()
        base_values[sp] = pool_amount[sp, None]
        if same:
            scenario_values = [base_values]
        else:
            scenario_values = [v.copy() for v in scenario_values]
            for v in scenario_values:
                v[sp] = pool_amount[sp, None]
    exp_pool = np.bincount(code, weights=exp_row, minlength=len(pools))
    pool_prog = pools["program_id"].astype(str).to_numpy()
    acc_prog = accrual["program_id"].astype(str).to_numpy()
    # the amounts in cents that add up, per contract, per program and in total (as booked)
    acc_c = contract_cents(acc_prog, accrual[amount].to_numpy(dtype=float))
    exp_c = contract_cents(acc_prog, exp_row)
    ml_c = contract_cents(acc_prog, ml_row)

    width = max(float(np.sum(v.max(axis=1) - v.min(axis=1))) for v in scenario_values)
    step = _nice_step(width / opts.grid_size)

    # pools with one possible outcome (settled, or no tier within reach) are added exactly
    certain = np.all([np.ptp(v, axis=1) == 0 for v in scenario_values], axis=0) & (
        np.ptp(base_values, axis=1) == 0
    )

    def summary(mask_rows, mask_pools):
        fixed = mask_pools & certain
        spread = mask_pools & ~certain
        fixed_sum = float(np.sum(base_values[fixed, 0]))
        if spread.any():
            ds = [
                sum_distribution(v[spread], p[spread], step=step)
                for v, p in zip(scenario_values, scenario_probs, strict=True)
            ]
            d = ds[0] if len(ds) == 1 else _mixture(ds, scenario_w)
        else:
            d = SumDistribution(0.0, step, np.ones(1), 0.0, 0)
        base_mean = float(np.sum(base_values[spread] * base_probs[spread]))
        adj = float(exp_pool[spread].sum()) - base_mean
        d = d.shifted(adj + fixed_sum)
        qs = d.quantile(np.array([*REPORT_LEVELS, percentile]))
        # the most likely amount of this sum: the mode of its own distribution, searched
        # between its p10 and p90 (not the sum of the contracts' modes)
        mode = d.central_mode(float(qs[0]), float(qs[2]))
        return {
            "accrued": int(acc_c[mask_rows].sum()) / 100,
            "expected": int(exp_c[mask_rows].sum()) / 100,
            "most_likely": round(mode, 2),
            "p10": round(float(qs[0]), 2),
            "p50": round(float(qs[1]), 2),
            "p90": round(float(qs[2]), 2),
            "constrained": round(float(qs[3]), 2),
            "distribution_mean": round(d.mean, 2),
            "mean_adjustment": round(adj, 2),
        }, d

    rows = []
    program_dists = {}
    for pid in pd.unique(acc_prog):  # a loop over programs
        mr = acc_prog == pid
        mp = pool_prog == pid
        s, program_dists[pid] = summary(mr, mp)
        rows.append({"program_id": pid, "customers": int(mr.sum()), "pools": int(mp.sum()), **s})
    by_program = pd.DataFrame(rows)
    tot, dist = summary(np.ones(len(accrual), bool), np.ones(len(pools), bool))
    total = pd.DataFrame(
        [
            {
                "customers": len(accrual),
                "pools": len(pools),
                **tot,
                "percentile": percentile,
                "common_shock": shock,
            }
        ]
    )
    if abs(tot["mean_adjustment"]) > 0.01 * max(abs(tot["expected"]), 1.0):
        warnings.warn(
            f"the outcome grid's mean differs from the expected rebate by "
            f"{tot['mean_adjustment']:,.2f} (>1%); use finer quantile levels",
            stacklevel=2,
        )
    by_customer = pd.DataFrame(
        {
            "program_id": accrual["program_id"].to_numpy(),
            "customer_id": accrual["customer_id"].to_numpy(),
            "pool_id": accrual["pool_id"].to_numpy(),
            "accrued": acc_c / 100,
            "expected": exp_c / 100,
            "most_likely": ml_c / 100,
        }
    )
    levels_out = np.arange(1, 1000) / 1000.0
    qv = dist.quantile(levels_out)
    distribution = pd.DataFrame(
        {"level": levels_out, "value": np.round(qv, 2), "cdf": dist.cdf(qv)}
    ).drop_duplicates("value", keep="last")
    method = None
    if "method" in fc.columns and len(fc):
        method = ";".join(sorted(set(fc["method"].astype(str))))
    return Liability(
        total,
        by_program,
        by_customer,
        distribution,
        _notes(opts, step, method),
        dist,
        options=opts,
        method=method,
        program_dists=program_dists,
    )


def _notes(opts: LiabilityOptions, step: float, method: str | None) -> pd.DataFrame:
    shock = opts.common_shock
    items = {
        "independence": "pools (customers, or buying groups for pooled programs) reach tiers "
        "independently; members of a pool share its tier",
        "common_shock": f"sd of log factor {shock:g}" + (" (independence)" if shock == 0 else ""),
        "percentile": f"constrained = {opts.percentile:.0%} quantile of the total",
        "grid_step": f"{step:g} [currency]; rounding adds at most n h^2/4 to the variance",
        "expected": "ASC 606 expected value: sum of expected end-of-period rebates",
        "most_likely": "ASC 606 most likely amount: the mode of each figure's own "
        "distribution (program, total) searched between its p10 and p90; per contract, the "
        "contract's mode (the modes of contracts do not add up to the mode of their sum)",
        "settled": "contracts whose period has ended (0 days left) are certain: their "
        "accrued amount, with no spread",
        "amount": opts.amount,
    }
    if method is not None:
        items["forecast_method"] = method
    return pd.DataFrame({"item": list(items), "value": list(items.values())})


def reduction_for(data, programs=None, as_of=None) -> Reduction:
    """Stage one's result for a workflow step: ``data`` itself, or reduced once here.

    Parameters
    ----------
    data : RebateData or Reduction
    programs : ProgramSet, optional
        Required with a RebateData; with a Reduction, None or the reduction's own.
    as_of : date-like, optional
        Required with a RebateData; with a Reduction, None or the reduction's own day.

    Returns
    -------
    Reduction

    Raises
    ------
    ParameterError
        A DataFrame (an accrual) given as the data, a Reduction with other programs or
        another day, or a RebateData without programs or as-of day.
    """
    if isinstance(data, pd.DataFrame):
        raise ParameterError(
            "liability(data, programs, as_of) takes a RebateData or a Reduction; for an "
            "accrual and a forecast frame call rebatelab.finance.liability_from(accrual, "
            "forecast, programs=...)"
        )
    if isinstance(data, Reduction):
        if as_of is not None and pd.Timestamp(as_of).normalize() != data.as_of:
            raise ParameterError(
                f"as_of {pd.Timestamp(as_of).date()} differs from the reduction's "
                f"{data.as_of.date()}; pass as_of=None with a Reduction"
            )
        if programs is not None and list(load_programs(programs).ids) != list(data.programs.ids):
            raise ParameterError(
                "programs differ from the reduction's; pass programs=None with a Reduction"
            )
        return data
    if programs is None or as_of is None:
        raise ParameterError("liability needs programs and as_of with a RebateData")
    return reduce(data, load_programs(programs), as_of)


def liability_forecast(data, programs=None, as_of=None, *, method=None, n_levels: int = 16):
    """The forecast the liability and the close use: :func:`rebatelab.forecast` with levels.

    Parameters
    ----------
    data : RebateData or Reduction
        The data, or stage one's result (then ``programs`` and ``as_of`` are its own).
    programs : ProgramSet, optional
        Required with a RebateData.
    as_of : date-like, optional
        Required with a RebateData.
    method : str, optional
        Forecast method; None: the forecast's default.
    n_levels : int
        Evenly spread quantile levels of the end-of-period basis, plus 0.99, 0.997 and 0.999
        (:func:`~rebatelab.finance.distributions.liability_levels`).

    Returns
    -------
    DataFrame
        :func:`rebatelab.forecast`'s result, with ``q_<level>`` columns at those levels.
    """
    red = reduction_for(data, programs, as_of)
    kw = {} if method is None else {"method": method}
    return _forecast(red, levels=liability_levels(n_levels), **kw)


def liability(
    data, programs=None, as_of=None, *, options: LiabilityOptions | None = None
) -> Liability:
    """Rebate liability per program and in total as of a date, with the total's distribution.

    Parameters
    ----------
    data : RebateData or Reduction
        A validated data folder (:func:`rebatelab.load_data`), or stage one's result
        (:func:`rebatelab.reduce`): then ``programs`` and ``as_of`` are taken from it and the
        lines are not read again.
    programs : ProgramSet, optional
        Required with a RebateData.
    as_of : date-like, optional
        Required with a RebateData.
    options : LiabilityOptions, optional
        Percentile of the constrained estimate, common shock, amount, forecast method and
        quantile levels (default :class:`LiabilityOptions`).

    Returns
    -------
    Liability
        See :func:`liability_from` for the definitions; ``as_of`` and ``method`` set.

    Notes
    -----
    ``accrue(red)``, :func:`liability_forecast` then :func:`liability_from`: the one
    computation that the CLI, the dashboard and the period close share.

    Examples
    --------
    >>> import rebatelab as rl
    >>> data, programs = rl.load_sample()
    >>> L = rl.liability(data, programs, "2026-09-30",
    ...                  options=LiabilityOptions(method="run_rate", percentile=0.9))
    >>> t = L.total.iloc[0]
    >>> float(t["accrued"]), L.method, str(L.as_of.date())
    (84999.99, 'run_rate', '2026-09-30')
    >>> bool(t["p10"] <= t["p50"] <= t["constrained"] <= t["p90"])
    True
    """
    opts = LiabilityOptions() if options is None else options
    red = reduction_for(data, programs, as_of)
    acc = accrue(red)
    fc = liability_forecast(red, method=opts.method, n_levels=opts.n_levels)
    res = liability_from(acc, fc, programs=red.programs, options=opts)
    res.as_of = red.as_of
    return res
