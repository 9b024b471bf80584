"""The local step of VB PCA: q(z_n) for each row from its observed entries,
and the additive statistics the global updates need.

Coordinates are shifted by a fixed centre c (the observed column means), so
that x'_nj = x_nj - c_j, and each row j of the loadings carries the mean:
w~_j = (w_j, mu_j), z~_n = (z_n, 1), so that x'_nj = w~_j^T z~_n + noise.
Given the noise precisions E[tau_j] (one shared by all columns, or one per
column) and the moments of q(w~_j), the optimal q(z_n) is Gaussian (Bishop
(1999), "Variational principal components", eq. 13; with missing values,
Ilin & Raiko (2010), JMLR 11, eqs. 44-45, sums over the observed set O_n
only)::

    Sigma_n^{-1} = I + sum_{j in O_n} E[tau_j] E[w_j w_j^T]
    m_n = Sigma_n sum_{j in O_n} E[tau_j] (x'_nj E[w_j] - E[w_j mu_j])

and the global updates need, per column j (o_nj = 1 when x_nj is observed,
s_n the row weights)::

    zz_obs_j = sum_n s_n o_nj E[z~_n z~_n^T]     (its [q, q] entry counts x_.j's weight)
    zx_j     = sum_n s_n o_nj x'_nj E[z~_n]
    xx_j     = sum_n s_n o_nj x'_nj^2

with, for the bound, sum_n s_n tr E[z_n z_n^T] and sum_n s_n log |Sigma_n|.

Two ways to the same statistics: :func:`row_step`, a pass over the rows
(any pattern of missing entries), and :func:`summary_stats`, in closed form
from the weighted second moments of complete data about c, where every row
shares Sigma_n and m_n is affine in x'_n, so that an iteration costs
O(d^2 q) whatever n is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._moments import moment_sum, second_moments

LOG_2PI = math.log(2.0 * math.pi)

__all__ = ["ColumnSummary", "PCAStats", "column_summary_step", "row_bounds", "row_step", "summary_stats",
           "weighted_stats", "z_posterior"]


@dataclass
class PCAStats:
    """Additive statistics of q(Z) over rows (float64; q~ = q + 1).

    Attributes
    ----------
    n_samples : float
        sum_n s_n.
    zz_obs : ndarray of shape (d, q~, q~), or (q~, q~) when it is the same
        for every column (no entry missing): sums broadcast, and the updates
        then factorise one matrix instead of d.
    zx : ndarray of shape (d, q~)
    xx : ndarray of shape (d,)
    trace_zz : float
        sum_n s_n tr E[z_n z_n^T].
    log_det : float
        sum_n s_n log |Sigma_n|.
    """

    n_samples: float
    zz_obs: np.ndarray
    zx: np.ndarray
    xx: np.ndarray
    trace_zz: float
    log_det: float

    def __add__(self, other: "PCAStats") -> "PCAStats":
        return PCAStats(self.n_samples + other.n_samples, self.zz_obs + other.zz_obs, self.zx + other.zx,
                        self.xx + other.xx, self.trace_zz + other.trace_zz, self.log_det + other.log_det)


@dataclass
class ColumnSummary:
    """What one pass over X tells before a fit (see :func:`column_summary_step`).

    Attributes
    ----------
    observed : ndarray of shape (d,)
        Per column, the weight of its observed entries.
    sums : ndarray of shape (d,)
        Per column, the weighted sum of its observed entries.
    squares : ndarray of shape (d,)
        Per column, the weighted sum of their squares (for the data's scale
        only: about 0, so not for moments).
    n_missing : int
        Missing entries.
    empty_row : int
        The first row with no observed entry (-1: none).
    largest : float
        The largest |x| observed.
    """

    observed: np.ndarray
    sums: np.ndarray
    squares: np.ndarray
    n_missing: int
    empty_row: int
    largest: float

    def __add__(self, other: "ColumnSummary") -> "ColumnSummary":
        rows = [r for r in (self.empty_row, other.empty_row) if r >= 0]
        return ColumnSummary(self.observed + other.observed, self.sums + other.sums, self.squares + other.squares,
                             self.n_missing + other.n_missing, min(rows) if rows else -1,
                             max(self.largest, other.largest))

    def variance_scale(self) -> float:
        """The average variance of the observed columns, floored at the data's
        rounding level: the unit of the priors' scales."""
        center = self.sums / self.observed
        variance = np.maximum(self.squares / self.observed - center**2, 0.0)
        return max(float(variance.mean()), (1e-8 * self.largest) ** 2, 1e-150)


def column_summary_step(Xc: np.ndarray, weights: Any, rows: slice) -> ColumnSummary:
    """A local step: the column sums of the observed entries, the missing
    pattern and the magnitude of one chunk (a chunk with nothing missing
    takes no mask)."""
    s = np.ones(Xc.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    missing = np.isnan(Xc)
    n_missing = int(np.count_nonzero(missing))
    with np.errstate(over="ignore"):  # values too large to square are refused from `largest`
        if not n_missing:
            largest = max(float(Xc.max()), -float(Xc.min())) if Xc.size else 0.0
            X64 = np.asarray(Xc, dtype=np.float64)
            return ColumnSummary(np.full(Xc.shape[1], s.sum()), s @ X64, s @ (X64 * X64), 0, -1, largest)
        observed = ~missing
        values = np.where(observed, np.asarray(Xc, dtype=np.float64), 0.0)
        empty = np.flatnonzero(missing.all(axis=1))
        largest = float(np.abs(values).max())
        return ColumnSummary(s @ observed, s @ values, s @ (values * values), n_missing,
                             rows.start + int(empty[0]) if empty.size else -1, largest)


def _posteriors(precision: np.ndarray, linear: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sigma = P^{-1}, m = Sigma h and log |Sigma| for a batch of (q, q) precisions P and (q,) vectors h."""
    lower = np.linalg.cholesky(precision)
    eye = np.broadcast_to(np.eye(precision.shape[-1]), precision.shape)
    inv_lower = np.linalg.solve(lower, eye)  # batched; L^{-1}
    cov = np.swapaxes(inv_lower, -1, -2) @ inv_lower
    mean = (cov @ linear[..., None])[..., 0]
    log_det = -2.0 * np.log(np.diagonal(lower, axis1=-2, axis2=-1)).sum(axis=-1)
    return cov, mean, log_det


def z_posterior(Xc: np.ndarray, center: np.ndarray, tau: np.ndarray, loadings: np.ndarray,
                cov_w: np.ndarray, return_linear: bool = False) -> tuple:
    """q(z_n) for the rows of a chunk: (observed mask, x' with 0 where missing,
    Sigma_n (n, q, q) or one shared (q, q) for a chunk with nothing missing,
    m_n (n, q), log |Sigma_n| (n,) or a scalar), and with ``return_linear``
    the vectors h_n = Sigma_n^{-1} m_n (n, q) last.

    ``tau`` (d,) are E[tau_j], ``loadings`` (d, q~) E[w~_j] and ``cov_w``
    the covariances S_j of q(w~_j), (q~, q~) when shared or (d, q~, q~).
    """
    q = loadings.shape[1] - 1
    observed = ~np.isnan(Xc)
    Xo = np.where(observed, np.asarray(Xc, dtype=np.float64) - center, 0.0)
    W = loadings[:, :q] * tau[:, None]
    if observed.all():  # one Sigma for the whole chunk: no per-row factorisation
        total = moment_sum(loadings, cov_w, tau)  # sum_j E[tau_j] E[w~_j w~_j^T]
        cov, _, log_det = _posteriors(np.eye(q) + total[:q, :q], np.zeros(q))
        linear = Xo @ W - total[:q, q]
        out = (observed, Xo, cov, linear @ cov, log_det)
        return out + (linear,) if return_linear else out
    second = second_moments(loadings, cov_w) * tau[:, None, None]
    ww, w_mu = np.ascontiguousarray(second[:, :q, :q]).reshape(-1, q * q), second[:, :q, q]
    mask = observed.astype(np.float64)
    precision = np.eye(q) + (mask @ ww).reshape(-1, q, q)
    linear = Xo @ W - mask @ w_mu
    cov, mean, log_det = _posteriors(precision, linear)
    return (observed, Xo, cov, mean, log_det) + ((linear,) if return_linear else ())


def row_bounds(Xc: np.ndarray, center: np.ndarray, tau: np.ndarray, log_tau: np.ndarray, loadings: np.ndarray,
               cov_w: np.ndarray) -> tuple[tuple, np.ndarray]:
    """q(z_n) for the rows of a chunk (as :func:`z_posterior`) and each row's share of the bound,
    l_n = E[log p(x_n,O | z_n, W, mu, tau)] - KL(q(z_n) || p(z_n)), shape (n,).

    At the optimal q(z_n) it has a closed form: log p(x, z) is quadratic in z,
    -z^T P_n z / 2 + h_n^T z + k_n in expectation over q(W, mu, tau), and
    the best Gaussian attains its log-integral, so
    l_n = k_n + h_n^T m_n / 2 + log |Sigma_n| / 2 with
    k_n = sum_{j in O_n} [(E[log tau_j] - log 2 pi) / 2 - E[tau_j] (x'_nj^2 - 2 x'_nj E[mu_j] + E[mu_j^2]) / 2]
    (``log_tau`` are E[log tau_j]).  The rows' shares add up to the bound's
    E[log p(X | ...)] - KL(q(Z) || p(Z)) (the mixture's responsibilities need them one by one).
    """
    q = loadings.shape[1] - 1
    *posterior, linear = z_posterior(Xc, center, tau, loadings, cov_w, return_linear=True)
    observed, Xo, _, mean, log_det = posterior
    mu, mu_sq = loadings[:, q], cov_w[..., q, q] + loadings[:, q] ** 2  # E[mu_j], E[mu_j^2]
    const = observed @ (0.5 * (log_tau - LOG_2PI) - 0.5 * tau * mu_sq) - 0.5 * ((Xo - 2.0 * mu) * Xo) @ tau
    return tuple(posterior), const + 0.5 * np.einsum("nq,nq->n", linear, mean) + 0.5 * log_det


def row_step(Xc: np.ndarray, weights: Any, rows: slice, center: np.ndarray, tau: np.ndarray, loadings: np.ndarray,
             cov_w: np.ndarray) -> PCAStats:
    """A local step: q(z_n) for each row of the chunk and its weighted statistics."""
    s = np.ones(Xc.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    return weighted_stats(z_posterior(Xc, center, tau, loadings, cov_w), s)


def weighted_stats(posterior: tuple, s: np.ndarray) -> PCAStats:
    """The statistics of rows with weights s (n,) from their q(z_n), as :func:`z_posterior` returns it."""
    observed, Xo, cov, mean, log_det = posterior
    n, d = Xo.shape
    q = mean.shape[1]
    z1 = np.concatenate([mean, np.ones((n, 1))], axis=1)  # E[z~_n]
    zx = (Xo * s[:, None]).T @ z1
    xx = s @ (Xo * Xo)
    mean_sq = s @ (mean * mean).sum(axis=1)
    if cov.ndim == 2:  # shared Sigma: every observed column sees the same sum
        total = np.empty((q + 1, q + 1))
        total[:q, :q] = s.sum() * cov + (mean * s[:, None]).T @ mean
        total[:q, q] = total[q, :q] = s @ mean
        total[q, q] = s.sum()
        zz_obs = total
        trace_zz = float(s.sum() * np.trace(cov) + mean_sq)
        log_det_sum = float(s.sum() * log_det)
    else:
        ezz = np.empty((n, q + 1, q + 1))
        ezz[:, :q, :q] = cov + mean[:, :, None] * mean[:, None, :]
        ezz[:, :q, q] = ezz[:, q, :q] = mean
        ezz[:, q, q] = 1.0
        zz_obs = ((observed * s[:, None]).T @ ezz.reshape(n, -1)).reshape(d, q + 1, q + 1)
        trace_zz = float(s @ np.trace(cov, axis1=1, axis2=2) + mean_sq)
        log_det_sum = float(s @ log_det)
    return PCAStats(float(s.sum()), zz_obs, zx, xx, trace_zz, log_det_sum)


def summary_stats(n_samples: float, total: np.ndarray, second: np.ndarray, tau: np.ndarray, loadings: np.ndarray,
                  cov_w: np.ndarray) -> PCAStats:
    """The statistics of :func:`row_step` over complete rows, from their
    weighted sums about c: N, t = sum_n s_n x'_n and C = sum_n s_n x'_n x'_n^T.

    All rows share Sigma = (I + sum_j E[tau_j] E[w_j w_j^T])^{-1}, and
    m_n = B^T x'_n - b with B = diag(E[tau]) E[W] Sigma and
    b = Sigma sum_j E[tau_j] E[w_j mu_j], so sum_n s_n m_n = B^T t - N b and
    sum_n s_n m_n m_n^T = B^T C B - B^T t b^T - b t^T B + N b b^T.
    """
    q = loadings.shape[1] - 1
    d = loadings.shape[0]
    moments = moment_sum(loadings, cov_w, tau)
    ww, w_mu = moments[:q, :q], moments[:q, q]
    cov, _, log_det = _posteriors(np.eye(q) + ww, np.zeros(q))
    B = (loadings[:, :q] * tau[:, None]) @ cov
    b = cov @ w_mu
    Bt = B.T @ total
    m_sum = Bt - n_samples * b
    CB = second @ B
    mm = B.T @ CB - np.outer(Bt, b) - np.outer(b, Bt) + n_samples * np.outer(b, b)
    total_zz = np.empty((q + 1, q + 1))
    total_zz[:q, :q] = n_samples * cov + mm
    total_zz[:q, q] = total_zz[q, :q] = m_sum
    total_zz[q, q] = n_samples
    zx = np.empty((d, q + 1))
    zx[:, :q] = CB - np.outer(total, b)
    zx[:, q] = total
    return PCAStats(float(n_samples), total_zz, zx,
                    np.diagonal(second).copy(), float(n_samples * np.trace(cov) + np.trace(mm)),
                    float(n_samples * log_det))
