"""The learned forecast's short cuts give what the long way gives, number for number.

Each distinct gap of a unit is predicted once, and the guard predicts at the live
thresholds only; here both are checked against the long way (every knot of every unit
predicted, the full distribution read at the thresholds), written out in the test.
"""

import numpy as np
import pytest
from test_forecasting import PROGRAMS, make_data

from rebatelab.engine.stage_one import reduce
from rebatelab.forecasting.features import gap_features, unit_features
from rebatelab.forecasting.learned import (
    _EPS_GAP,
    _GRID,
    GapDistribution,
    _brier,
    _distribution,
    _fitted,
    _guard_bgnbd,
    _newbuyer_surv,
    _scale,
)
from rebatelab.programs.terms import load_programs

pytest.importorskip("sklearn")

AS_OF = "2025-05-10"


@pytest.fixture(scope="module")
def fitted():
    red = reduce(make_data(n=400, seed=3), load_programs(PROGRAMS), AS_OF)
    setup, info, why, trained = _fitted(red, min_periods=8, seed=0)
    learn = [i for i in range(len(setup["plist"])) if i not in why]
    assert learn, "the fixture must learn at least one program"
    return setup, info, learn, trained


def _features(setup, info, units):
    """Features at the as-of date itself."""
    up = setup["unit_prog"][units]
    A = setup["as_of_day"]
    return unit_features(
        setup["hist"],
        units,
        np.full(units.size, A),
        A - np.array([info[p][1] for p in up]),
        np.array([info[p][0] for p in up]),
        np.array([info[p][2] for p in up]),
        setup["is_qty"][units],
        setup["pop"],
    )


def _long_way(trained, setup, units, X, extra, b0):
    """Every knot of every unit through the model, one pair at a time in a flat array."""
    thr = setup["sched"].thresholds[units]
    tg = thr - b0[:, None]
    tg = np.where(np.isfinite(tg) & (tg > _EPS_GAP), tg, _EPS_GAP)
    sc = _scale(extra)
    gaps = np.concatenate(
        [np.full((units.size, 1), _EPS_GAP), tg, sc[:, None] * _GRID[None, :]], axis=1
    )
    gaps = np.sort(np.maximum(gaps, _EPS_GAP), axis=1)
    r = np.repeat(np.arange(units.size), gaps.shape[1])
    d = np.concatenate([X[r], gap_features(extra, r, gaps.reshape(-1))], axis=1)
    surv = trained["iso"].predict(trained["model"].predict_proba(d)[:, 1])
    surv = surv.reshape(gaps.shape)
    new = extra["n_orders"] == 0
    if new.any():
        surv[new] = _newbuyer_surv(trained, setup, units[new], gaps[new])
    return GapDistribution(b0, gaps, surv)


def test_each_distinct_gap_predicted_once_gives_the_full_distribution(fitted):
    setup, info, learn, trained = fitted
    units = np.flatnonzero(np.isin(setup["unit_prog"], learn))
    X, extra = _features(setup, info, units)
    b0 = extra["b0"]
    fast = _distribution(trained, setup, units, X, extra, b0, np.zeros(units.size, bool))
    slow = _long_way(trained, setup, units, X, extra, b0)
    # some rows have repeated knots (thresholds already passed), so the short cut is used
    assert (np.diff(slow.x, axis=1) == 0).any()
    np.testing.assert_array_equal(fast.x, slow.x)
    np.testing.assert_array_equal(fast.s, slow.s)


def test_the_guard_scores_the_full_distribution_at_the_thresholds(fitted):
    setup, info, learn, trained = fitted
    got = _guard_bgnbd(setup, info, learn, trained)
    assert got
    j = 3
    hist, A = setup["hist"], setup["as_of_day"]
    for pi, (bl, _bb, n) in got.items():
        length, offset, left, _ = info[pi]
        end = A - 7 * j
        start = end - length + 1
        cut = start + offset
        units = np.flatnonzero(setup["unit_prog"] == pi)
        X, extra = unit_features(
            hist,
            units,
            np.full(units.size, cut),
            np.full(units.size, start),
            np.full(units.size, length),
            np.full(units.size, left),
            setup["is_qty"][units],
            setup["pop"],
        )
        b0 = extra["b0"]
        dist = _long_way(trained, setup, units, X, extra, b0)
        thr = setup["sched"].thresholds[units]
        live = np.isfinite(thr) & (thr > b0[:, None])
        p = dist.sf(np.where(live, thr, np.inf))
        o = (b0 + hist.window(units, cut, end))[:, None] >= thr
        assert n == live.sum()
        assert bl == pytest.approx(_brier(p[live], o[live]), rel=1e-12, abs=1e-15)


def test_the_distribution_against_numerical_integration():
    """Expected end basis, tail probabilities and partial expectations of random
    distributions against a midpoint sum over 200,000 steps of the density (uniform pieces
    between knots, the atom at 0); the pieces from the first edge up hold the mass above it."""
    rng = np.random.default_rng(7)
    n, m = 20, 6
    b0 = rng.gamma(1.0, 100.0, n)
    gaps = np.sort(rng.gamma(1.0, 200.0, (n, m)) + 0.01, axis=1)
    gaps[:3, :2] = 0.01  # repeated knots, as thresholds already passed give
    gaps = np.sort(gaps, axis=1)
    surv = np.sort(rng.random((n, m)), axis=1)[:, ::-1]
    surv[:3, 1] = surv[:3, 0]  # equal gaps, equal probabilities
    d = GapDistribution(b0, gaps, surv)
    edges = np.sort(b0[:, None] + rng.gamma(1.0, 300.0, (n, 4)), axis=1)
    edges = np.concatenate([edges, np.full((n, 1), np.inf)], axis=1)
    p, eb = d.pieces(edges)
    for i in range(n):  # a few rows, integrated one at a time
        xk, sk = d.x[i], d.s[i]
        top = xk[-1]
        r = (np.arange(200_000) + 0.5) * top / 200_000
        dens = np.zeros(r.size)
        for a, b, sa, sb in zip(xk[:-1], xk[1:], sk[:-1], sk[1:], strict=True):
            if b > a:
                dens[(r > a) & (r <= b)] = (sa - sb) / (b - a)
        w = dens * top / 200_000
        tol = 2 * dens.max() * top / 200_000  # a step's mass: the sum's error at an edge
        atom = 1.0 - sk[0]
        assert d.mean()[i] == pytest.approx(b0[i] + np.sum(r * w), abs=tol * top)
        for j in range(4):
            x = edges[i, j] - b0[i]
            want_ge = np.sum(w[r >= x])
            assert d.sf(edges[:, j])[i] == pytest.approx(want_ge, abs=tol)
            lo, hi = x, edges[i, j + 1] - b0[i]
            inside = (r >= lo) & (r < hi)
            assert p[i, j] == pytest.approx(np.sum(w[inside]), abs=2 * tol)
            want_eb = np.sum((b0[i] + r[inside]) * w[inside])
            assert eb[i, j] == pytest.approx(want_eb, rel=1e-4, abs=2 * tol * (b0[i] + top))
        # the pieces from the first edge up hold all the mass above it
        assert np.sum(p[i]) == pytest.approx(d.sf(edges[:, 0])[i], abs=1e-12)
        assert d.p_nothing_more()[i] == atom
