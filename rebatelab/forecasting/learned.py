"""The learned forecast: P(spend still to come >= gap), learned from the customer base's past.

For a program and an as-of date, the *training examples* are earlier pseudo-periods of the
program's length, ending 0, 7, 14, ... days before the as-of date (so every label ends by
the as-of date), each cut at the same offset into it as the as-of date is into the
program's period. At each cut the features of every unit (:mod:`rebatelab.forecasting.features`:
basis to date, recent spend and orders, recency, tenure, returns, the last period's basis,
BG/NBD's ``P(alive)`` and expected spend) are computed from the history up to the cut only,
and the label of a (unit, gap) pair is whether the spend between the cut and the pseudo-
period's end reached the gap; gaps are the program's thresholds minus the basis to date
and a grid of multiples of the unit's own spend scale.

**One distribution.** A gradient-boosted classifier (scikit-learn's
``HistGradientBoostingClassifier``), constrained to be monotone in every gap feature, gives
``S(g) = P(R >= g)`` for the spend ``R`` still to come: a survival function, never
increasing in the gap. It is recalibrated by isotonic regression on held-out cuts (every
fourth cut, not used for training) and evaluated, per unit, at its thresholds and on a
grid; between grid points the spend is uniform (:class:`GapDistribution`). Tier
probabilities, quantiles, the expected and most likely rebate (through the settlement
engine, :mod:`rebatelab.forecasting.expected_settlement`) all come from that one
distribution.

**Honest when it cannot learn.** A program falls back to the ``hierarchical`` model
(column ``method_used``) when fewer than ``min_periods`` pseudo-periods fit in the history
before the as-of date, when its period is not running, or when on a second set of held-out
cuts the learned probabilities at its thresholds do not have a lower Brier score than the
comparator (BG/NBD's expected spend against the gap, recalibrated the same way); a variant
family falls back together. A unit with no order in its history gets the population's
new-buyer distribution: the empirical spend to come of units that had not bought at the
training cuts.

The model is trained once per :class:`~rebatelab.engine.stage_one.Reduction` and kept with
it (a weak cache); nothing after the as-of date is read (the reduction holds none of it).
"""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd

from rebatelab.engine.accrual import accrue
from rebatelab.engine.lines import to_day
from rebatelab.engine.settlement import evaluate, schedule
from rebatelab.engine.stage_one import Reduction
from rebatelab.errors import DataValidationError, ParameterError
from rebatelab.forecasting.expected_settlement import _settlement, _tier_probs
from rebatelab.forecasting.features import (
    GAP_FEATURES,
    GAP_MONOTONE,
    UNIT_FEATURES,
    fit_population,
    gap_features,
    unit_features,
    unit_history,
)
from rebatelab.forecasting.quantiles import quantile_column
from rebatelab.forecasting.settled import settle_forecast

__all__ = ["GapDistribution", "forecast_learned", "MIN_PERIODS"]


#: Fewest earlier pseudo-periods (weekly cuts) a program needs to be learned.
MIN_PERIODS = 8

#: Most weekly cuts per program.
MAX_CUTS = 26

#: (unit, cut) rows drawn for training / calibration / the guard (seeded).
_BUDGET = {"train": 40_000, "calibrate": 15_000, "guard": 15_000}

#: Multiples of a unit's spend scale at which the survival function is evaluated.
_GRID = np.array([0.25, 0.5, 1.0, 2.0, 4.0])

#: Smallest gap [basis unit]: P(R >= it) is the probability of buying anything more.
_EPS_GAP = 0.01

#: The uniform tail above the last grid point reaches this multiple of it.
_TAIL = 3.0

#: Boosting iterations and learning rate: 40 at 0.2 score as 120 at 0.08 did (Online
#: Retail backtest, 12 as-of dates: Brier / BG/NBD 0.9789 against 0.9792, ECE 0.0194
#: against 0.0200; simulated data 1.085 against 1.091) at a third of the training and
#: prediction time.
_ITERATIONS, _LEARNING_RATE = 40, 0.2

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _sklearn():
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.isotonic import IsotonicRegression
    except ImportError as e:  # an optional dependency
        raise ParameterError(
            "method='learned' needs scikit-learn, the 'learn' extra: pip install 'rebatelab[learn]'"
        ) from e
    return HistGradientBoostingClassifier, IsotonicRegression


def _one_thread():
    """One OpenMP thread for fitting and predicting (the results are the same on any number).

    On 2 cores shared with other work, the tree builder's many short parallel loops spin
    against each other: the fit was 5-10 times slower on 2 threads than on 1 under a load
    average of 2-3, and prediction 1.3-1.6 times slower under a load of 5-6 (on an idle
    machine two threads would predict faster).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


# --------------------------------------------------------------------------------------------
# The distribution
# --------------------------------------------------------------------------------------------
class GapDistribution:
    """End-of-period basis ``B = b0 + R`` with ``P(R >= g)`` given at knots, uniform between.

    Parameters
    ----------
    b0 : ndarray, shape (n,)
        Basis to date [basis unit].
    gaps : ndarray, shape (n, M)
        Ascending gaps [basis unit], ``gaps[:, 0] > 0``.
    surv : ndarray, shape (n, M)
        ``P(R >= gaps)`` [fraction], non-increasing along each row. ``R`` has an atom at 0
        of mass ``1 - surv[:, 0]``, is uniform between consecutive knots and above the last
        knot up to ``_TAIL`` times it.

    Notes
    -----
    Provides what the settlement integration and the forecast read from a distribution:
    ``b0``, :meth:`sf`, :meth:`pieces`, :meth:`quantiles`, :meth:`mean` and
    :meth:`p_nothing_more`.
    """

    def __init__(self, b0, gaps, surv):
        self.b0 = np.asarray(b0, dtype=float)
        g = np.asarray(gaps, dtype=float)
        s = np.minimum.accumulate(np.clip(np.asarray(surv, dtype=float), 0.0, 1.0), axis=1)
        n = len(self.b0)
        self.x = np.concatenate([np.zeros((n, 1)), g, _TAIL * g[:, -1:]], axis=1)
        self.s = np.concatenate([s[:, :1], s, np.zeros((n, 1))], axis=1)

    def _ge(self, x):
        """``P(R >= x)`` for x of shape (n, J): 1 at x <= 0, linear between knots."""
        xk, sk = self.x, self.s
        j = np.clip((xk[:, None, :] < x[:, :, None]).sum(axis=2), 1, xk.shape[1] - 1)
        a, b = np.take_along_axis(xk, j - 1, axis=1), np.take_along_axis(xk, j, axis=1)
        sa, sb = np.take_along_axis(sk, j - 1, axis=1), np.take_along_axis(sk, j, axis=1)
        w = np.where(b > a, np.clip((x - a) / np.where(b > a, b - a, 1.0), 0, 1), 1.0)
        out = sa + (sb - sa) * w
        out = np.where(x > xk[:, -1:], 0.0, out)
        return np.where(x <= 0, 1.0, out)

    def _segments(self):
        """Per row: ``E[R 1{R in piece}]`` of each piece between knots, cumulated."""
        c = self.__dict__.get("_cum")
        if c is None:
            xk, sk = self.x, self.s
            a, b = xk[:, :-1], xk[:, 1:]
            width = b - a
            with np.errstate(invalid="ignore", divide="ignore"):
                part = np.where(width > 0, (sk[:, :-1] - sk[:, 1:]) * (b + a) / 2, 0.0)
            c = np.concatenate([np.zeros((len(xk), 1)), np.cumsum(part, axis=1)], axis=1)
            self._cum = c
        return c

    def _lower(self, x):
        """``E[R 1{0 < R < x}]`` for x of shape (n, J).

        The pieces below x, and the part below x of the piece that holds it (uniform in it).
        """
        xk, sk = self.x, self.s
        last = xk.shape[1] - 1  # number of pieces
        c = self._segments()
        jj = (xk[:, None, :] < x[:, :, None]).sum(axis=2)  # knots below x
        k = np.clip(jj - 1, 0, last - 1)  # the piece that holds x
        a, b = np.take_along_axis(xk, k, axis=1), np.take_along_axis(xk, k + 1, axis=1)
        m = np.take_along_axis(sk, k, axis=1) - np.take_along_axis(sk, k + 1, axis=1)
        top = np.minimum(x, b)
        with np.errstate(invalid="ignore", divide="ignore"):
            part = np.where(b > a, m * (top - a) * (top + a) / (2 * (b - a)), 0.0)
        inside = (jj >= 1) & (jj <= last)
        out = np.where(inside, np.take_along_axis(c, k, axis=1) + part, 0.0)
        out = np.where(jj > last, c[:, -1:], out)
        return np.where(x > 0, out, 0.0)

    def sf(self, b):
        """``P(B_end >= b)`` per row, ``b`` of shape (n,) or (n, L)."""
        b = np.asarray(b, dtype=float)
        b2 = b if b.ndim == 2 else b[:, None]
        out = self._ge(b2 - self.b0[:, None])
        return out if b.ndim == 2 else out[:, 0]

    def pieces(self, edges, *, known=None):
        """Probability and ``E[B 1{.}]`` of the pieces between sorted edges, (n, J) each."""
        e = np.asarray(edges, dtype=float)
        ge = self._ge(e - self.b0[:, None])
        h = self._lower(np.where(np.isfinite(e), e - self.b0[:, None], np.inf))
        ge = np.where(np.isinf(e) & (e > 0), 0.0, ge)
        ge_next = np.concatenate([ge[:, 1:], np.zeros((len(e), 1))], axis=1)
        p = np.clip(ge - ge_next, 0.0, 1.0)
        full = self._segments()[:, -1]
        h_next = np.concatenate([h[:, 1:], full[:, None]], axis=1)
        eb = self.b0[:, None] * p + np.maximum(h_next - h, 0.0)
        return p, eb

    def mean(self):
        """Expected end-of-period basis [basis unit]."""
        return self.b0 + self._segments()[:, -1]

    def p_nothing_more(self):
        """``P(R = 0)``: the atom at the basis to date [fraction]."""
        return 1.0 - self.s[:, 0]

    def quantiles(self, levels):
        """End-of-period basis quantiles, shape (n, L) [basis unit]."""
        cdf = 1.0 - self.s  # at the knots, right-continuous above the atom
        out = np.empty((len(self.b0), len(levels)))
        r = np.arange(len(self.b0))
        for i, lev in enumerate(levels):  # a handful of levels
            j = np.clip((cdf < lev).sum(axis=1), 1, cdf.shape[1] - 1)
            a, b = self.x[r, j - 1], self.x[r, j]
            ca, cb = cdf[r, j - 1], cdf[r, j]
            w = np.where(cb > ca, (lev - ca) / np.where(cb > ca, cb - ca, 1.0), 0.0)
            q = a + (b - a) * np.clip(w, 0.0, 1.0)
            out[:, i] = np.where(lev <= cdf[:, 0], 0.0, q)
        return self.b0[:, None] + out


# --------------------------------------------------------------------------------------------
# Setting up units, cuts and training examples
# --------------------------------------------------------------------------------------------
def _units(red: Reduction):
    """Accrual, unit of each row, and per-unit program, basis, schedule and history."""
    programs, as_of = red.programs, red.as_of
    acc = accrue(red)
    if len(acc) == 0:
        raise DataValidationError("no (program, customer) rows to forecast: no members")
    plist = list(programs)
    pos = {p.id: i for i, p in enumerate(plist)}
    pidx = acc["program_id"].astype(str).map(pos).to_numpy(dtype=np.int64)
    unit, keys = pd.factorize(
        pd.MultiIndex.from_arrays([pidx, acc["pool_id"].astype(str).to_numpy()])
    )
    n_units = len(keys)
    first_row = np.full(n_units, -1, dtype=np.int64)
    first_row[unit[::-1]] = np.arange(len(unit))[::-1]
    unit_prog = pidx[first_row]
    is_qty = np.array([p.basis == "quantity" for p in plist])
    daily = red.daily
    mrow = daily["member"].to_numpy(dtype=np.int64)
    val = np.where(
        is_qty[pidx[mrow]],
        daily["quantity"].to_numpy(dtype=float),
        daily["net_amount"].to_numpy(dtype=float),
    )
    first_day = to_day(red.first_date) if pd.notna(red.first_date) else to_day(as_of)
    day = to_day(daily["date"].to_numpy())
    hist = unit_history(unit, mrow, val, day, n_units, int(first_day))
    base = acc["baseline"].to_numpy(dtype=float)
    has = ~np.isnan(base)
    pool_base = np.bincount(unit[has], weights=base[has], minlength=n_units)
    any_base = np.bincount(unit, weights=has, minlength=n_units) > 0
    sched = schedule(programs, unit_prog, baseline=np.where(any_base, pool_base, np.nan))
    b0 = acc["pool_basis"].to_numpy(dtype=float)[first_row]
    return dict(
        acc=acc,
        unit=unit,
        n_units=n_units,
        unit_prog=unit_prog,
        is_qty=is_qty[unit_prog],
        hist=hist,
        sched=sched,
        b0=b0,
        plist=plist,
        as_of_day=int(to_day(as_of)),
    )


def _cuts(plist, as_of_day: int, first_day: int, min_periods: int):
    """Per program: (length, offset, days left, number of cuts) and why it is not learned."""
    info, why = [], {}
    for i, p in enumerate(plist):  # loop over programs
        s, e = int(to_day(p.start)), int(to_day(p.end))
        length, offset, left = e - s + 1, as_of_day - s, e - as_of_day
        latest_start = as_of_day - length + 1
        n = 0 if latest_start < first_day else min(MAX_CUTS, (latest_start - first_day) // 7 + 1)
        info.append((length, offset, left, n))
        if as_of_day < s:
            why[i] = "hierarchical: period not started at as_of"
        elif as_of_day >= e:
            why[i] = "ended"  # nothing more to come: the basis to date is the end basis
        elif n < min_periods:
            why[i] = f"hierarchical: {n} earlier periods in the history, fewer than {min_periods}"
    return info, why


def _scale(extra):
    """Spend scale of each row: what the history says about the spend still to come."""
    return np.maximum.reduce(
        [
            np.maximum(extra["expected_spend"], 0.0),
            np.maximum(extra["run_rate"], 0.0),
            np.maximum(extra["spend_R"], 0.0),
            np.full(len(extra["b0"]), 1.0),
        ]
    )


def _examples(setup, info, learn, rng):
    """(unit, cut) rows of every split, their features and the spend that followed."""
    hist, unit_prog = setup["hist"], setup["unit_prog"]
    A = setup["as_of_day"]
    parts = {k: [] for k in _BUDGET}
    units_of = {pi: np.flatnonzero(unit_prog == pi) for pi in learn}
    totals = {k: 0 for k in _BUDGET}
    for pi in learn:  # loop over programs: count the candidates of each split
        n = info[pi][3]
        j = np.arange(n)
        totals["train"] += units_of[pi].size * int(np.sum(j % 4 % 2 == 0))
        totals["calibrate"] += units_of[pi].size * int(np.sum(j % 4 == 1))
        totals["guard"] += units_of[pi].size * int(np.sum(j % 4 == 3))
    for pi in learn:  # loop over programs
        length, offset, left, n = info[pi]
        u = units_of[pi]
        j = np.repeat(np.arange(n), u.size)
        uu = np.tile(u, n)
        split = np.where(j % 4 % 2 == 0, "train", np.where(j % 4 == 1, "calibrate", "guard"))
        for k in _BUDGET:  # three splits
            sel = split == k
            rate = min(1.0, _BUDGET[k] / max(totals[k], 1))
            take = sel & (rng.random(sel.size) < rate)
            end = A - 7 * j[take]
            start = end - length + 1
            parts[k].append((uu[take], start, start + offset, end, length, left))
    out = {}
    for k, ps in parts.items():
        if not ps:
            continue
        u = np.concatenate([p[0] for p in ps])
        start = np.concatenate([p[1] for p in ps])
        cut = np.concatenate([p[2] for p in ps])
        end = np.concatenate([p[3] for p in ps])
        length = np.concatenate([np.full(p[0].size, p[4]) for p in ps])
        left = np.concatenate([np.full(p[0].size, p[5]) for p in ps])
        X, extra = unit_features(
            hist, u, cut, start, length, left, setup["is_qty"][u], setup["pop"]
        )
        out[k] = dict(u=u, X=X, extra=extra, spent=hist.window(u, cut, end))
    return out


def _pairs(setup, ex, rng, *, grid_draws: int = 2):
    """(row, gap, label, is_threshold) pairs of units with orders, for one split."""
    thr = setup["sched"].thresholds[ex["u"]]
    b0 = ex["extra"]["b0"]
    has = ex["extra"]["n_orders"] > 0
    gaps = thr - b0[:, None]
    rows_t, cols_t = np.nonzero(np.isfinite(gaps) & (gaps > 0) & has[:, None])
    g_t = gaps[rows_t, cols_t]
    sc = _scale(ex["extra"])
    old = np.flatnonzero(has)
    rows_g = np.repeat(old, grid_draws)
    g_g = sc[rows_g] * _GRID[rng.integers(0, _GRID.size, rows_g.size)]
    rows = np.concatenate([rows_t, rows_g, old])
    gap = np.concatenate([g_t, g_g, np.full(old.size, _EPS_GAP)])
    is_thr = np.concatenate([np.ones(rows_t.size, bool), np.zeros(rows_g.size + old.size, bool)])
    label = ex["spent"][rows] >= gap
    return rows, gap, label, is_thr


def _design(ex, rows, gap):
    return np.concatenate([ex["X"][rows], gap_features(ex["extra"], rows, gap)], axis=1)


def _brier(p, o):
    return float(np.mean((p - o) ** 2)) if len(p) else np.nan


def _train(setup, info, learn, *, seed: int):
    """Fit, calibrate and guard the model; the new-buyer distributions."""
    HGB, Iso = _sklearn()
    rng = np.random.default_rng(seed)
    ex = _examples(setup, info, learn, rng)
    if "train" not in ex or "calibrate" not in ex:
        return None
    tr, ca = ex["train"], ex["calibrate"]
    r, g, y, _ = _pairs(setup, tr, rng)
    if y.sum() < 20 or (~y).sum() < 20:
        return None
    model = HGB(
        max_iter=_ITERATIONS,
        learning_rate=_LEARNING_RATE,
        max_leaf_nodes=31,
        min_samples_leaf=50,
        l2_regularization=1.0,
        monotonic_cst=[0] * len(UNIT_FEATURES) + list(GAP_MONOTONE),
        early_stopping=False,
        random_state=seed,
    )
    with _one_thread():
        model.fit(_design(tr, r, g), y)
    rc, gc, yc, tc = _pairs(setup, ca, rng)
    with _one_thread():
        raw_c = model.predict_proba(_design(ca, rc, gc))[:, 1]
    iso = Iso(increasing=True, out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw_c, yc)
    # the comparator: BG/NBD's expected spend over the gap, recalibrated the same way
    col = len(UNIT_FEATURES) + GAP_FEATURES.index("log_expected_over_gap")
    zc = gap_features(ca["extra"], rc, gc)[:, col - len(UNIT_FEATURES)]
    comp = Iso(increasing=True, out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(zc[tc], yc[tc])
    # new buyers: the spend that followed the cuts of units without any order yet
    newbuyer = {}
    for k in ex:
        e = ex[k]
        none = e["extra"]["n_orders"] == 0
        prog = setup["unit_prog"][e["u"][none]]
        for pi in np.unique(prog):  # loop over programs
            newbuyer.setdefault(pi, []).append(e["spent"][none][prog == pi])
    newbuyer = {pi: np.sort(np.concatenate(v)) for pi, v in newbuyer.items()}
    verdict, scores = {}, {}
    if "guard" in ex:
        gd = ex["guard"]
        rg, gg, yg, tg = _pairs(setup, gd, rng)
        rg, gg, yg = rg[tg], gg[tg], yg[tg]
        with _one_thread():
            p_l = iso.predict(model.predict_proba(_design(gd, rg, gg))[:, 1])
        p_c = comp.predict(gap_features(gd["extra"], rg, gg)[:, col - len(UNIT_FEATURES)])
        prog = setup["unit_prog"][gd["u"][rg]]
        overall = _brier(p_l, yg) <= _brier(p_c, yg)
        for pi in learn:  # loop over programs
            m = prog == pi
            bl, bc = _brier(p_l[m], yg[m]), _brier(p_c[m], yg[m])
            scores[pi] = (bl, bc, int(m.sum()))
            verdict[pi] = bool(bl <= bc) if m.sum() >= 50 else overall
    # the total's bias on the guard cuts: earned at the pseudo-periods' ends against the
    # expected rebate of the calibrated distribution
    bias = 1.0
    if "guard" in ex:
        gd = ex["guard"]
        fit = dict(model=model, iso=iso, newbuyer=newbuyer)
        dist = _distribution(
            fit,
            setup,
            gd["u"],
            gd["X"],
            gd["extra"],
            gd["extra"]["b0"],
            np.zeros(gd["u"].size, bool),
        )
        sched = setup["sched"].take(gd["u"])
        expected = _settlement(dist, sched, ("earned",))["earned"][0].sum()
        actual = evaluate(sched, gd["extra"]["b0"] + gd["spent"])["earned"].sum()
        if expected > 0 and actual > 0:
            bias = float(np.clip(actual / expected, 0.5, 2.0))
    fit = dict(model=model, iso=iso, newbuyer=newbuyer)
    for pi, (bl, bb, n) in _guard_bgnbd(setup, info, learn, fit).items():
        # the textbook model forecast at the latest guard cut: the learned one must beat it
        scores[pi] = (*scores.get(pi, (np.nan, np.nan, 0)), bl, bb, n)[-6:]
        if n >= 50:
            verdict[pi] = verdict.get(pi, True) and bool(bl <= bb)
    return dict(model=model, iso=iso, verdict=verdict, scores=scores, newbuyer=newbuyer, bias=bias)


def _guard_bgnbd(setup, info, learn, fit, *, j: int = 3) -> dict:
    """Brier of the learned and of the BG/NBD forecast at each program's thresholds, cut ``j``.

    Every unit of the program is forecast at the cut of the pseudo-period ending ``7 j`` days
    before the as-of date (a guard cut, not trained on), by both models, from the history up to
    that cut only. Returns ``{program: (brier_learned, brier_bgnbd, pairs)}``.
    """
    from rebatelab.forecasting.unit_models import UnitDays, unit_models

    hist, A = setup["hist"], setup["as_of_day"]
    groups: dict = {}
    for pi in learn:  # loop over programs, grouped by cut day
        length, offset, left, n = info[pi]
        if n > j:
            end = A - 7 * j
            groups.setdefault((end - length + 1 + offset, end, length, left), []).append(pi)
    out = {}
    for (cut, end, length, left), progs in groups.items():  # a few distinct cuts
        units = np.flatnonzero(np.isin(setup["unit_prog"], progs))
        keep = np.isin(hist.unit, units) & (hist.day <= cut)
        d = UnitDays(
            np.searchsorted(units, hist.unit[keep]), hist.day[keep], hist.value[keep], units.size
        )
        start = end - length + 1
        b0 = hist.window(units, start - 1, cut)
        plist = setup["plist"]
        try:
            sf = unit_models(
                d,
                setup["unit_prog"][units],
                np.full(units.size, float(left)),
                b0,
                np.full(units.size, start),
                int(cut),
                "bgnbd",
                [p.id for p in plist],
                setup["is_qty"][units],
                1e-6,
            )
        except DataValidationError:  # too few buyers at that cut: no verdict
            continue
        X, extra = unit_features(
            hist,
            units,
            np.full(units.size, cut),
            np.full(units.size, start),
            np.full(units.size, length),
            np.full(units.size, left),
            setup["is_qty"][units],
            setup["pop"],
            b0=b0,
        )
        thr = setup["sched"].thresholds[units]
        live = np.isfinite(thr) & (thr > b0[:, None])
        thr_b = np.where(live, thr, np.inf)
        p_b = sf.sf(thr_b)
        # the learned P(R >= threshold - b0) at the live thresholds only (what the full
        # distribution gives there: each is one of its knots)
        p_l = np.zeros(thr.shape)
        rr, cc = np.nonzero(live)
        gap = np.maximum(thr[rr, cc] - b0[rr], _EPS_GAP)
        has = extra["n_orders"][rr] > 0
        p_l[rr[has], cc[has]] = _predict(fit, X, extra, rr[has], gap[has])
        if (~has).any():
            p_l[rr[~has], cc[~has]] = _newbuyer_surv(
                fit, setup, units[rr[~has]], gap[~has][:, None]
            )[:, 0]
        o = (b0 + hist.window(units, cut, end))[:, None] >= thr
        up = np.broadcast_to(setup["unit_prog"][units][:, None], thr.shape)
        for pi in progs:  # loop over programs
            m = live & (up == pi)
            out[pi] = (_brier(p_l[m], o[m]), _brier(p_b[m], o[m]), int(m.sum()))
    return out


def _newbuyer_surv(trained, setup, units, gaps):
    """Empirical ``P(R >= gap)`` of new buyers of each unit's program (pooled by basis if few)."""
    nb = trained["newbuyer"]
    out = np.zeros(gaps.shape)
    prog = setup["unit_prog"][units]
    qty_of = {pi: setup["is_qty"][np.flatnonzero(setup["unit_prog"] == pi)[0]] for pi in nb}
    for pi in np.unique(prog):  # loop over programs
        ref = nb.get(pi, np.zeros(0))
        if ref.size < 30:  # too few: every program of the same basis
            q = setup["is_qty"][units[prog == pi][0]]
            ref = np.sort(np.concatenate([v for k, v in nb.items() if qty_of[k] == q] or [ref]))
        m = prog == pi
        if ref.size == 0:
            continue
        out[m] = 1.0 - np.searchsorted(ref, gaps[m], side="left") / ref.size
    return out


# --------------------------------------------------------------------------------------------
# The forecast
# --------------------------------------------------------------------------------------------
def _fitted(red: Reduction, *, min_periods: int, seed: int):
    key = (min_periods, seed)
    hit = _CACHE.get(red, {}).get(key)
    if hit is not None:
        return hit
    setup = _units(red)
    info, why = _cuts(setup["plist"], setup["as_of_day"], setup["hist"].first_day, min_periods)
    ended = [i for i, w in why.items() if w == "ended"]
    for i in ended:
        del why[i]
    learn = [i for i in range(len(setup["plist"])) if i not in why and i not in ended]
    setup["pop"] = fit_population(
        setup["hist"],
        np.arange(setup["n_units"]),
        np.full(setup["n_units"], setup["as_of_day"]),
        setup["is_qty"],
    )
    trained = _train(setup, info, learn, seed=seed) if learn else None
    if trained is None:
        for i in learn:
            why[i] = "hierarchical: too few training examples"
        if ended:
            trained = {"verdict": {}, "scores": {}, "newbuyer": {}, "bias": 1.0}
    else:
        for i in learn:
            if not trained["verdict"].get(i, True):
                why[i] = "hierarchical: learned model not better on held-out cuts"
    out = (setup, info, why, trained)
    _CACHE.setdefault(red, {})[key] = out
    return out


def _families(programs, ids):
    """``ids`` closed under variant relations (a variant family falls back together)."""
    keep = set(ids)
    while True:
        more = {programs[i].variant_of for i in keep if programs[i].variant_of} | {
            p.id for p in programs if p.variant_of in keep
        }
        if more <= keep:
            return keep
        keep |= more


def forecast_learned(
    red: Reduction, *, levels, tol: float = 1e-8, min_periods: int = MIN_PERIODS, seed: int = 0
) -> pd.DataFrame:
    """The ``learned`` forecast of a reduction (see the module notes).

    Parameters
    ----------
    red : Reduction
    levels : sequence of float
        Quantile levels [fraction] of the ``q_<level>`` columns.
    tol : float
        Passed to the fallback model.
    min_periods : int
        Fewest earlier pseudo-periods a program needs to be learned.
    seed : int
        Seed of the draws of training examples and grid gaps.

    Returns
    -------
    DataFrame
        The columns of :func:`rebatelab.forecasting.projection.forecast`, ``method``
        ``"learned"``, and ``method_used``: ``"learned"``, ``"learned: new-buyer rate"`` or
        ``"hierarchical: <why>"`` per row. ``attrs["heldout"]``: per program, the Brier
        scores of the learned model and of the comparator on the guard cuts and their number
        of (unit, threshold) pairs.
    """
    from rebatelab.forecasting.projection import forecast

    setup, info, why, trained = _fitted(red, min_periods=min_periods, seed=seed)
    programs = red.programs
    plist = setup["plist"]
    fb_ids = _families(programs, [plist[i].id for i in why])
    for p in plist:  # the family of a falling-back program falls back with it
        i = plist.index(p)
        if p.id in fb_ids and i not in why:
            why[i] = "hierarchical: a program of its variant family is not learned"
    acc, unit = setup["acc"], setup["unit"]
    pidx = setup["unit_prog"][unit]
    learned_rows = ~np.isin(pidx, list(why))
    frames = []
    if learned_rows.any():
        frames.append(_learned_rows(setup, info, trained, learned_rows, levels))
    if (~learned_rows).any():
        sub = (
            red if len(fb_ids) == len(plist) else red.subset(sorted(fb_ids, key=programs.ids.index))
        )
        fb = forecast(sub, method="hierarchical", levels=levels, tol=tol)
        reason = pd.Series({p.id: why[i] for i, p in enumerate(plist) if i in why})
        fb["method_used"] = reason.reindex(fb["program_id"].astype(str)).to_numpy()
        frames.append(fb)
    out = pd.concat(frames, ignore_index=True)
    tiers = sorted([c for c in out.columns if c.startswith("p_tier_")], key=lambda c: int(c[7:]))
    out[tiers] = out[tiers].fillna(0.0)
    # back to the accrual's order
    key = pd.MultiIndex.from_arrays([out["program_id"].astype(str), out["customer_id"].astype(str)])
    want = pd.MultiIndex.from_arrays(
        [acc["program_id"].astype(str), acc["customer_id"].astype(str)]
    )
    out = out.iloc[key.get_indexer(want)].reset_index(drop=True)
    out["method"] = "learned"
    cols = [c for c in out.columns if c not in ("method", "method_used", *tiers)]
    qcols = [c for c in cols if c.startswith("q_")]
    base = [c for c in cols if not c.startswith("q_")]
    out = out[[*base, *tiers, "method", *qcols, "method_used"]]
    out["method"] = pd.array(["learned"] * len(out), dtype="string")
    out["method_used"] = out["method_used"].astype("string")
    out = settle_forecast(acc, out)  # ended periods: the accrual's amounts, as forecast() gives
    out.attrs["truncation_bound"] = 0.0
    if trained is not None:
        out.attrs["rebate_bias_factor"] = trained.get("bias", 1.0)
        out.attrs["heldout"] = {
            plist[i].id: dict(
                zip(
                    (
                        "brier_learned",
                        "brier_comparator",
                        "pairs",
                        "brier_learned_at_cut",
                        "brier_bgnbd_at_cut",
                        "pairs_at_cut",
                    ),
                    s,
                    strict=False,
                )
            )
            for i, s in trained["scores"].items()
        }
    return out


def _predict(trained, X, extra, rows, gap, *, step: int = 500_000):
    """Calibrated ``P(R >= gap)`` of (row, gap) pairs: one model call per chunk of pairs."""
    out = np.empty(rows.size)
    for i in range(0, rows.size, step):  # a few chunks: bounded memory
        r, g = rows[i : i + step], gap[i : i + step]
        d = np.concatenate([X[r], gap_features(extra, r, g)], axis=1)
        with _one_thread():
            raw = trained["model"].predict_proba(d)[:, 1]
        out[i : i + step] = trained["iso"].predict(raw)
    return out


def _distribution(trained, setup, units, X, extra, b0, ended):
    """The :class:`GapDistribution` of rows of :func:`unit_features` (one per unit)."""
    thr = setup["sched"].thresholds[units]
    sc = _scale(extra)
    tg = thr - b0[:, None]
    tg = np.where(np.isfinite(tg) & (tg > _EPS_GAP), tg, _EPS_GAP)
    gaps = np.concatenate(
        [np.full((units.size, 1), _EPS_GAP), tg, sc[:, None] * _GRID[None, :]], axis=1
    )
    gaps = np.sort(np.maximum(gaps, _EPS_GAP), axis=1)
    m = gaps.shape[1]
    # each distinct gap of a row once (thresholds already reached sit at _EPS_GAP, grid
    # points may meet thresholds): equal gaps give equal predictions
    first = np.ones(gaps.shape, bool)
    first[:, 1:] = gaps[:, 1:] != gaps[:, :-1]
    new = extra["n_orders"] == 0
    todo = first & ~(new | ended)[:, None]
    rr, cc = np.nonzero(todo)
    surv = np.zeros(gaps.shape)
    surv[rr, cc] = _predict(trained, X, extra, rr, gaps[rr, cc])
    back = np.maximum.accumulate(np.where(first, np.arange(m), 0), axis=1)
    surv = np.take_along_axis(surv, back, axis=1)
    nb = new & ~ended
    if nb.any():
        surv[nb] = _newbuyer_surv(trained, setup, units[nb], gaps[nb])
    return GapDistribution(b0, gaps, surv)


def _learned_rows(setup, info, trained, rows_mask, levels):
    """Forecast rows of the learned programs, as :func:`projection.forecast` lays them out."""
    acc, unit = setup["acc"], setup["unit"]
    units = np.unique(unit[rows_mask])
    up = setup["unit_prog"][units]
    A = setup["as_of_day"]
    length = np.array([info[p][0] for p in up])
    left = np.array([info[p][2] for p in up])
    start = A - np.array([info[p][1] for p in up])
    b0 = setup["b0"][units]
    X, extra = unit_features(
        setup["hist"],
        units,
        np.full(units.size, A),
        start,
        length,
        left,
        setup["is_qty"][units],
        setup["pop"],
        b0=b0,
    )
    sched_all = setup["sched"]
    thr = sched_all.thresholds[units]
    k = thr.shape[1]
    new = extra["n_orders"] == 0
    ended = left <= 0
    dist = _distribution(trained, setup, units, X, extra, b0, ended)
    # the unit's own schedule rows
    sched = sched_all.take(units)
    thr_b = np.where(np.isfinite(thr), thr, np.inf)
    ge_thr = dist.sf(thr_b)
    ptier = _tier_probs(thr, ge_thr)
    nxt = evaluate(sched, b0)["next_threshold"]
    col = np.argmax(thr_b == nxt[:, None], axis=1)
    found = thr_b[np.arange(len(col)), col] == nxt
    p_next = np.where(found, ge_thr[np.arange(len(col)), col], np.nan)
    settle = _settlement(dist, sched, ("earned", "payable"))
    exp_earned, by_tier = settle["earned"]
    exp_pay, _ = settle["payable"]
    # the total's bias measured on the guard cuts (1 without them)
    kappa = trained.get("bias", 1.0)
    exp_earned, exp_pay, by_tier = exp_earned * kappa, exp_pay * kappa, by_tier * kappa
    mode = np.argmax(ptier, axis=1)
    p_mode = ptier[np.arange(len(mode)), mode]
    ml = np.where(p_mode > 0, by_tier[np.arange(len(mode)), mode] / np.maximum(p_mode, 1e-300), 0.0)
    lv = np.asarray(levels, dtype=float)
    allq = np.unique(np.concatenate([lv, [0.1, 0.5, 0.9]]))
    q = dist.quantiles(allq)
    qcol = {lev: q[:, i] for i, lev in enumerate(allq)}
    # rows of the learned programs, and their unit's position in ``units``
    rows = np.flatnonzero(rows_mask)
    ui = np.searchsorted(units, unit[rows])
    member = acc["basis"].to_numpy(dtype=float)[rows]
    w = np.maximum(member, 0.0)
    wsum = np.bincount(ui, weights=w, minlength=units.size)
    cnt = np.bincount(ui, minlength=units.size)
    share = np.where(wsum[ui] > 0, w / np.where(wsum[ui] > 0, wsum[ui], 1.0), 1.0 / cnt[ui])
    a = acc.iloc[rows]
    out = pd.DataFrame(
        {
            "program_id": a["program_id"].reset_index(drop=True),
            "customer_id": a["customer_id"].reset_index(drop=True),
            "pool_id": a["pool_id"].reset_index(drop=True),
            "basis_to_date": member,
            "pool_basis_to_date": b0[ui],
            "projected_mean": dist.mean()[ui],
            "projected_p10": qcol[0.1][ui],
            "projected_p50": qcol[0.5][ui],
            "projected_p90": qcol[0.9][ui],
            "p_next_tier": p_next[ui],
            "p_no_more_orders": dist.p_nothing_more()[ui],
            "expected_rebate": exp_earned[ui] * share,
            "expected_payable": exp_pay[ui] * share,
            "most_likely_rebate": ml[ui] * share,
            "most_likely_tier": mode[ui],
            "days_left": a["days_left"].reset_index(drop=True),
        }
    )
    for t in range(k + 1):
        out[f"p_tier_{t}"] = ptier[ui, t]
    out["method_used"] = np.where(
        ended[ui], "learned: period ended", np.where(new[ui], "learned: new-buyer rate", "learned")
    )
    for lev in lv:
        out[quantile_column(lev)] = qcol[lev][ui]
    return out
