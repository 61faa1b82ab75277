"""The end-of-period basis quantiles a forecast carries in its ``q_<level>`` columns.

:func:`~rebatelab.forecasting.projection.forecast` writes one column ``q_<level>`` per
quantile level (``q_0.1``, ``q_0.5``, ...). :func:`quantile_columns` is the one parser of
these names (the liability reads them through it); :func:`basis_quantiles` picks levels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rebatelab.errors import ParameterError

__all__ = ["quantile_column", "quantile_columns", "basis_quantiles"]


def quantile_column(level: float) -> str:
    """Name of the column holding the quantile at ``level`` [fraction].

    Examples
    --------
    >>> quantile_column(0.1), quantile_column(0.95)
    ('q_0.1', 'q_0.95')
    """
    return f"q_{float(level):g}"


def _level(name) -> float | None:
    s = str(name)
    if not s.startswith("q_"):
        return None
    try:
        return float(s[2:])
    except ValueError:
        return None


def quantile_columns(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Levels and values of a frame's ``q_<level>`` columns, ascending by level.

    Parameters
    ----------
    frame : DataFrame
        E.g. a :func:`~rebatelab.forecasting.projection.forecast` result. Columns whose name
        is ``q_`` followed by a number are quantile columns; others are ignored.

    Returns
    -------
    levels : ndarray, shape (L,)
        The levels [fraction], ascending; empty when the frame has no quantile column.
    values : ndarray, shape (len(frame), L)
        The quantiles [basis unit], columns in the order of ``levels``.

    Raises
    ------
    ParameterError
        Two columns name the same level (e.g. ``q_0.5`` and ``q_0.50``).

    Examples
    --------
    >>> fc = pd.DataFrame({"q_0.9": [3.0], "q_0.1": [1.0], "q_total": [9.0]})
    >>> levels, values = quantile_columns(fc)
    >>> levels.tolist(), values.tolist()
    ([0.1, 0.9], [[1.0, 3.0]])
    """
    found = [(lev, c) for c in frame.columns if (lev := _level(c)) is not None]
    levels = np.array([lev for lev, _ in found], dtype=float)
    if np.unique(levels).size < levels.size:
        raise ParameterError(f"quantile columns name the same level twice: {[c for _, c in found]}")
    order = np.argsort(levels, kind="stable")
    cols = [found[i][1] for i in order]
    values = frame[cols].to_numpy(dtype=float) if cols else np.empty((len(frame), 0))
    return levels[order], values


def basis_quantiles(result: pd.DataFrame, levels=None) -> np.ndarray:
    """End-of-period pool-basis quantiles carried by a forecast result.

    Parameters
    ----------
    result : DataFrame
        A :func:`~rebatelab.forecasting.projection.forecast` result; its columns
        ``q_<level>`` hold the quantiles.
    levels : sequence of float, optional
        Levels to return; they must be among the result's (pass ``levels=`` to
        ``forecast`` to compute others). Default: all, ascending.

    Returns
    -------
    ndarray, shape (n, L)
        Quantiles [basis unit]; since the earned amount is non-decreasing in the basis,
        ``earned(quantile)`` is the rebate's quantile at the same level.

    Raises
    ------
    ParameterError
        No quantile column, or a level asked for that the result does not carry.

    Examples
    --------
    >>> fc = pd.DataFrame({"q_0.1": [1.0], "q_0.9": [3.0]})
    >>> basis_quantiles(fc, [0.9]).tolist()
    [[3.0]]
    """
    have, values = quantile_columns(result)
    if not have.size:
        raise ParameterError("result carries no q_<level> quantile columns; re-run forecast")
    if levels is None:
        return values
    want = [float(v) for v in np.atleast_1d(levels)]
    pos = {lev: i for i, lev in enumerate(have.tolist())}
    missing = [v for v in want if v not in pos]
    if missing:
        raise ParameterError(f"levels {missing} not among the result's {sorted(pos)}")
    return values[:, [pos[v] for v in want]]
