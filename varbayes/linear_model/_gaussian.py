"""The Gaussian q(w) that both linear models update: from its precision, and its entropy."""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

__all__ = ["LOG_2PI", "gaussian_entropy", "gaussian_from_precision"]

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_from_precision(precision: np.ndarray, linear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """m = P^{-1} h and V = P^{-1} for a symmetric positive-definite P, by one Cholesky factorisation."""
    factor = scipy.linalg.cho_factor(precision, lower=True)
    return scipy.linalg.cho_solve(factor, linear), scipy.linalg.cho_solve(factor, np.eye(precision.shape[0]))


def gaussian_entropy(V: np.ndarray) -> float:
    """H[N(m, V)] = d/2 (1 + log 2 pi) + 1/2 log |V| (Bishop (2006), eq. B.41)."""
    log_det = 2.0 * float(np.sum(np.log(np.diag(np.linalg.cholesky(V)))))
    return 0.5 * V.shape[0] * (1.0 + LOG_2PI) + 0.5 * log_det
