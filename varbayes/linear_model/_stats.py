"""Additive statistics of a linear regression: weighted sums over rows of
z_n = (x_n, y_n) about a centre.

    N = sum_n s_n,   mean = sum_n s_n z_n / N,   S = sum_n s_n (z_n - c)(z_n - c)^T

The centre c is the weighted mean of the data (two passes: the means, then
the moments about them) when the model has an intercept, and 0 otherwise.
Moments about the means do not cancel when the data sit far from the
origin.  From S come X^T X, X^T y and y^T y of the centred data, everything
the coordinate updates need, so a fit passes over the data only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._gaussian import weighted_gram

__all__ = ["RegressionStats", "regression_stats"]


@dataclass
class RegressionStats:
    """Weighted sums over rows of z = (x, y) (float64, host).

    Attributes
    ----------
    n_samples : float
        N, the total weight.
    total : ndarray of shape (d + 1,)
        sum_n s_n (z_n - c).
    second : ndarray of shape (d + 1, d + 1)
        sum_n s_n (z_n - c)(z_n - c)^T.
    """

    n_samples: float
    total: np.ndarray
    second: np.ndarray

    def __add__(self, other: "RegressionStats") -> "RegressionStats":
        return RegressionStats(self.n_samples + other.n_samples, self.total + other.total, self.second + other.second)


def _sums_step(Zc: Any, weights: Any, rows: slice, center: np.ndarray) -> RegressionStats:
    """A local step: the weighted sums of one chunk of z = (x, y) about ``center``."""
    D = np.asarray(Zc, dtype=np.float64) - center
    if weights is None:
        return RegressionStats(float(D.shape[0]), D.sum(axis=0), weighted_gram(D))
    s = np.asarray(weights, dtype=np.float64)
    return RegressionStats(float(s.sum()), s @ D, weighted_gram(D, s))


def regression_stats(executor: Any, Z: Any, sample_weight: Any, centered: bool) -> tuple[RegressionStats, np.ndarray]:
    """The statistics of z = (x, y) about the weighted means (``centered``) or 0, and that centre."""
    center = np.zeros(Z.shape[1])
    if centered:
        first = executor.map_sum(_sums_step, Z, sample_weight, center)
        center = first.total / first.n_samples
    return executor.map_sum(_sums_step, Z, sample_weight, center), center
