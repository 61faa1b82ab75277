"""Same type out as in: compute on ndarrays, put the pandas index back in one place."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["as_float_array", "restore_type"]


def as_float_array(x) -> np.ndarray:
    """Return ``x`` as a float64 ndarray (a copy when ``x`` is a pandas object)."""
    if isinstance(x, pd.Series | pd.Index):
        return x.to_numpy(dtype=float, copy=True)
    return np.asarray(x, dtype=float)


def restore_type(result: np.ndarray, like, *, name: str | None = None):
    """Give ``result`` the type of ``like``: scalar -> scalar, Series -> Series (same index)."""
    if isinstance(like, pd.Series):
        return pd.Series(result, index=like.index, name=name if name is not None else like.name)
    if np.ndim(like) == 0 and np.ndim(result) == 0:
        return result.item() if isinstance(result, np.ndarray | np.generic) else result
    return result
