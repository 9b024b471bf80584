"""Per-row outputs of a fitted VB PCA, as steps for an executor's ``map_concat``.

Each step maps a chunk of rows (NaN where an entry is missing) to its
outputs under the fitted posterior, from the rows' q(z_n) (see
:func:`._stats.z_posterior`): pure functions of their arguments, so that a
Dask array's blocks compute them where they live.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import get_backend
from ._mixture import mixture_posteriors
from ._stats import LOG_2PI, z_posterior

__all__ = ["impute_step", "mixture_impute_step", "mixture_proba_step", "mixture_score_step", "predictive",
           "score_step", "transform_step"]


def transform_step(Xc: np.ndarray, weights: Any, rows: slice, center: np.ndarray, tau: np.ndarray, mean: np.ndarray,
                   cov_w: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """E[z_n], rotated into the basis of ``components_``, shape (n, q)."""
    return z_posterior(Xc, center, tau, mean, cov_w)[3] @ rotation


def impute_step(Xc: np.ndarray, weights: Any, rows: slice, center: np.ndarray, tau: np.ndarray, mean: np.ndarray,
                cov_w: np.ndarray, with_std: bool) -> np.ndarray:
    """The rows with each missing entry at E[w~_j^T z~_n] (shifted back by c), shape (n, d),
    followed with ``with_std`` by the posterior predictive standard deviations, shape (n, 2d)."""
    posterior = z_posterior(Xc, center, tau, mean, cov_w)
    return _filled(Xc, posterior[0], *predictive(posterior, center, tau, mean, cov_w, with_std))


def _filled(Xc: np.ndarray, observed: np.ndarray, expected: np.ndarray, variance: np.ndarray | None) -> np.ndarray:
    """The rows with each missing entry at ``expected``, (n, d), followed (when
    ``variance`` is given) by the missing entries' standard deviations (0 where
    observed), (n, 2d)."""
    filled = np.where(observed, Xc, expected)
    if variance is None:
        return filled
    return np.concatenate([filled, np.where(observed, 0.0, np.sqrt(np.maximum(variance, 0.0)))], axis=1)


def predictive(posterior: tuple, center: np.ndarray, tau: np.ndarray, mean: np.ndarray, cov_w: np.ndarray,
               with_variance: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Every entry's posterior predictive mean c_j + E[w~_j^T z~_n] (n, d) from the rows'
    q(z_n) (as :func:`._stats.z_posterior` returns it), and with ``with_variance``
    its variance Var[w~_j^T z~_n] + 1 / E[tau_j], where
    Var[w~_j^T z~_n] = tr(S_j E[z~_n z~_n^T]) + m_j^T Sigma_n m_j (only z_n is
    random in z~_n = (z_n, 1)); else None."""
    _, _, cov, zmean, _ = posterior
    n, q = zmean.shape
    z1 = np.concatenate([zmean, np.ones((n, 1))], axis=1)
    expected = center + z1 @ mean.T
    if not with_variance:
        return expected, None
    cov = np.broadcast_to(cov, (n, q, q))
    ezz = z1[:, :, None] * z1[:, None, :]
    ezz[:, :q, :q] += cov
    spread = np.einsum("nab,ab->n", ezz, cov_w)[:, None] if cov_w.ndim == 2 else np.einsum("nab,dab->nd", ezz, cov_w)
    W = mean[:, :q]
    return expected, spread + np.einsum("dk,nkl,dl->nd", W, cov, W) + 1.0 / tau


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


def mixture_proba_step(Xc: np.ndarray, weights: Any, rows: slice, center: np.ndarray, log_weights: np.ndarray,
                       taus: list, log_taus: list, means: list, covs: list) -> np.ndarray:
    """A mixture's responsibilities q(c_n = k), shape (n, K), as in its fit (see :mod:`._mixture`)."""
    return mixture_posteriors(Xc, center, log_weights, taus, log_taus, means, covs)[1]


def mixture_impute_step(Xc: np.ndarray, weights: Any, rows: slice, center: np.ndarray, log_weights: np.ndarray,
                        taus: list, log_taus: list, means: list, covs: list, with_std: bool) -> np.ndarray:
    """A mixture's imputation: each missing entry at sum_k r_nk E_k[x_nj], shape (n, d),
    followed with ``with_std`` by the standard deviations of the mixture of the
    components' predictives, sqrt(sum_k r_nk (v_k + e_k^2) - (sum_k r_nk e_k)^2), shape (n, 2d)."""
    posteriors, resp = mixture_posteriors(Xc, center, log_weights, taus, log_taus, means, covs)
    expected, second = 0.0, 0.0
    for k, (posterior, tau, mean, cov) in enumerate(zip(posteriors, taus, means, covs)):
        e, v = predictive(posterior, center, tau, mean, cov, with_std)
        r = resp[:, k:k + 1]
        expected = expected + r * e
        if with_std:
            second = second + r * (v + e * e)
    return _filled(Xc, posteriors[0][0], expected, second - expected * expected if with_std else None)


def mixture_score_step(Xc: np.ndarray, weights: Any, rows: slice, center: np.ndarray, log_pi: np.ndarray,
                       taus: list, means: list) -> np.ndarray:
    """log sum_k pi_k N(x_O | mu_k,O, W_k,O W_k,O^T + Psi_k,OO) per row under the posterior means, shape (n,)."""
    logits = np.stack([score_step(Xc, None, rows, center, tau, mean) for tau, mean in zip(taus, means)], axis=1)
    return get_backend("cpu").logsumexp(logits + log_pi, axis=1)
