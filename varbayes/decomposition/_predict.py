"""Per-row outputs of a fitted VB PCA, as steps for an executor's ``map_concat``.

Each step maps a chunk of rows (NaN where an entry is missing) to its
outputs under the fitted posterior, from the rows' q(z_n) (see
:func:`._stats.z_posterior`): pure functions of their arguments, so that a
Dask array's blocks compute them where they live.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._stats import z_posterior

__all__ = ["impute_step", "score_step", "transform_step"]

LOG_2PI = math.log(2.0 * math.pi)


def transform_step(Xc: np.ndarray, weights: Any, rows: slice, center: np.ndarray, tau: np.ndarray, mean: np.ndarray,
                   cov_w: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """E[z_n], rotated into the basis of ``components_``, shape (n, q)."""
    return z_posterior(Xc, center, tau, mean, cov_w)[3] @ rotation


def impute_step(Xc: np.ndarray, weights: Any, rows: slice, center: np.ndarray, tau: np.ndarray, mean: np.ndarray,
                cov_w: np.ndarray, with_std: bool) -> np.ndarray:
    """The rows with each missing entry at E[w~_j^T z~_n] (shifted back by c), shape (n, d),
    followed with ``with_std`` by the posterior predictive standard deviations, shape (n, 2d).

    Var[w~_j^T z~_n] = tr(S_j E[z~_n z~_n^T]) + m_j^T Sigma_n m_j (only z_n is
    random in z~_n = (z_n, 1)), plus the noise variance 1 / E[tau_j].
    """
    observed, _, cov, zmean, _ = z_posterior(Xc, center, tau, mean, cov_w)
    n, q = zmean.shape
    z1 = np.concatenate([zmean, np.ones((n, 1))], axis=1)
    filled = np.where(observed, Xc, center + z1 @ mean.T)
    if not with_std:
        return filled
    cov = np.broadcast_to(cov, (n, q, q))
    ezz = z1[:, :, None] * z1[:, None, :]
    ezz[:, :q, :q] += cov
    spread = np.einsum("nab,ab->n", ezz, cov_w)[:, None] if cov_w.ndim == 2 else np.einsum("nab,dab->nd", ezz, cov_w)
    W = mean[:, :q]
    var = spread + np.einsum("dk,nkl,dl->nd", W, cov, W) + 1.0 / tau
    return np.concatenate([filled, np.where(observed, 0.0, np.sqrt(np.maximum(var, 0.0)))], axis=1)


def score_step(Xc: np.ndarray, weights: Any, rows: slice, center: np.ndarray, tau: np.ndarray,
               mean: np.ndarray) -> np.ndarray:
    """log N(x_O | mu_O, W_O W_O^T + Psi_OO) per row under the posterior means, shape (n,).

    By Woodbury, from q(z_n) under point loadings: with r = x_O - mu_O,
    r^T C^{-1} r = r^T Psi^{-1} (r - W m_n) and log |C| = log |Psi_OO| - log |Sigma_n|.
    """
    observed, Xo, _, zmean, log_det = z_posterior(Xc, center, tau, mean, np.zeros((mean.shape[1],) * 2))
    resid = np.where(observed, Xo - mean[:, -1], 0.0)
    quad = np.einsum("nd,nd->n", resid * tau, resid - zmean @ mean[:, :-1].T)
    return -0.5 * (observed @ (LOG_2PI - np.log(tau)) - log_det + quad)
