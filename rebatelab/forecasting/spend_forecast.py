"""The per-unit spend forecast: order counts and order values for the rest of the period."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rebatelab.forecasting.compound import (
    compound_cdf_lower_mean,
    compound_mean,
    compound_quantile,
    compound_sf,
)
from rebatelab.forecasting.counts import CountDistribution

__all__ = ["SpendForecast"]


# --------------------------------------------------------------------------------------------
# The distribution of the end-of-period basis of every unit
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpendForecast:
    """End-of-period basis distribution of forecast units: ``B = b0 + factor * S``.

    Attributes
    ----------
    counts : CountDistribution
        Number of future orders per unit.
    shape : ndarray
        Gamma shape of one order value.
    scale, mix_shape, mix_rate : ndarray or None
        Order-value scale [basis unit], or the Gamma(mix_shape, rate=mix_rate) law of the
        order-value rate (see :mod:`rebatelab.forecasting.compound`).
    b0 : ndarray
        Basis to date [basis unit].
    factor : ndarray
        Share of future gross purchases kept after returns [fraction].
    method : str
    params : dict
        Fitted parameters per program id, for reporting.
    """

    counts: CountDistribution
    shape: np.ndarray
    scale: np.ndarray | None
    mix_shape: np.ndarray | None
    mix_rate: np.ndarray | None
    b0: np.ndarray
    factor: np.ndarray
    method: str
    params: dict = field(default_factory=dict)

    @property
    def _sev(self) -> dict:
        return dict(
            shape=self.shape, scale=self.scale, mix_shape=self.mix_shape, mix_rate=self.mix_rate
        )

    def _to_s(self, b):
        """End basis values -> values of S (per row), +-inf when the factor is 0."""
        b = np.asarray(b, dtype=float)
        b2 = b if b.ndim == 2 else b[:, None]
        f = self.factor[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (b2 - self.b0[:, None]) / f
        flat = np.where(b2 > self.b0[:, None], np.inf, -np.inf)
        return np.where(f > 0, s, flat)

    def mean(self) -> np.ndarray:
        """Expected end-of-period basis [basis unit]."""
        sev = self._sev
        if sev["mix_shape"] is not None:
            ex = self.shape * self.mix_rate / (self.mix_shape - 1)
        else:
            ex = self.shape * self.scale
        return self.b0 + self.factor * self.counts.mean * ex

    def sf(self, b) -> np.ndarray:
        """``P(B_end >= b)`` per row, ``b`` of shape (n,) or (n, L)."""
        s = self._to_s(b)
        finite = np.isfinite(s)
        val = compound_sf(np.where(finite, s, 0.0), self.counts, **self._sev)
        out = np.where(finite, val, np.where(s > 0, 0.0, 1.0))
        return out if np.ndim(b) == 2 else out[:, 0]

    def pieces(self, edges, *, known=None):
        """Probability and ``E[B 1{.}]`` of the pieces between sorted edges, (n, J) each.

        Piece ``j`` is ``[edges[:, j], edges[:, j+1])``, the last one open to ``+inf``; one
        series evaluation per edge. ``known = (b, ge, lower)``, three (n, K) arrays, gives
        the values of :meth:`_ge_lower` already computed at ``b`` (e.g. the tier
        thresholds): edges equal to one of their row's ``b`` take them instead.
        """
        e = np.asarray(edges, dtype=float)
        s = self._to_s(e)
        if known is None:
            ge, h = self._ge_lower(s)
        else:
            kb, kge, kh = known
            # the first known value of its row equal to each edge
            eq = e[:, :, None] == kb[:, None, :]
            hit = eq.any(axis=2)
            first = eq.argmax(axis=2)
            ge_k = np.where(hit, np.take_along_axis(kge, first, axis=1), 0.0)
            h_k = np.where(hit, np.take_along_axis(kh, first, axis=1), 0.0)
            # s = 0 at the known edges: nothing evaluated there
            ge, h = self._ge_lower(np.where(hit, 0.0, s))
            ge, h = np.where(hit, ge_k, ge), np.where(hit, h_k, h)
        ge_next = np.concatenate([ge[:, 1:], np.zeros((len(e), 1))], axis=1)
        p = np.clip(ge - ge_next, 0.0, 1.0)
        full = compound_mean(self.counts, **self._sev)  # compound_lower_mean at s = inf
        h_next = np.concatenate([h[:, 1:], full[:, None]], axis=1)
        eb = self.b0[:, None] * p + self.factor[:, None] * np.maximum(h_next - h, 0.0)
        return p, eb

    def _ge_lower(self, s):
        """``P(S >= s)`` and ``E[S 1{S < s}]`` with infinities handled, s of shape (n, L)."""
        finite = np.isfinite(s)
        s0 = np.where(finite, s, 0.0)
        cdf, h = compound_cdf_lower_mean(s0, self.counts, **self._sev)
        ge = np.where(s0 <= 0, 1.0, np.clip(1.0 - cdf, 0.0, 1.0))  # as compound_sf
        ge = np.where(finite, ge, np.where(s > 0, 0.0, 1.0))
        full = compound_mean(self.counts, **self._sev)[:, None]
        h = np.where(finite, h, np.where(s > 0, full, 0.0))
        return ge, h

    def quantiles(self, levels) -> np.ndarray:
        """End-of-period basis quantiles, shape (n, L) [basis unit]."""
        q = compound_quantile(levels, self.counts, **self._sev)
        return self.b0[:, None] + self.factor[:, None] * q

    def take(self, rows) -> SpendForecast:
        """The forecasts of the given integer rows (repeats allowed), in that order."""
        idx = np.asarray(rows, dtype=np.int64)

        def pick(a):
            return None if a is None else a[idx]

        return SpendForecast(
            self.counts.take(idx),
            self.shape[idx],
            pick(self.scale),
            pick(self.mix_shape),
            pick(self.mix_rate),
            self.b0[idx],
            self.factor[idx],
            self.method,
            self.params,
        )

    def truncation_bound(self) -> np.ndarray:
        """Upper bound on the error of every probability computed here [fraction]."""
        return self.counts.tail()

    def p_nothing_more(self) -> np.ndarray:
        """Probability of no further order in the period (``B_end = b0``) [fraction]."""
        c = self.counts
        zero = c.count == 0
        p0 = np.bincount(c.row[zero], weights=c.prob[zero], minlength=c.n_rows)
        return np.where(self.factor > 0, p0, 1.0)
