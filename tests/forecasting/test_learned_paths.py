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
