"""Second moments of the loadings' rows under q(W, mu), without forming them one by one.

Each row w~_j = (w_j, mu_j) of the loadings has q(w~_j) = N(m_j, S_j), so
E[w~_j w~_j^T] = S_j + m_j m_j^T.  With no entry missing (and one noise
precision) every row shares its covariance S, and the sums and traces the
updates need cost O(d q^2) from (M, S) instead of materialising d (q+1)^2
numbers: these functions take ``cov`` of shape (q~, q~) (shared) or
(d, q~, q~) (one per row) and keep that distinction in one place.
"""

from __future__ import annotations

import numpy as np

__all__ = ["moment_diagonals", "moment_sum", "moment_traces", "second_moments"]


def second_moments(mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """E[w~_j w~_j^T] = S_j + m_j m_j^T for every row, shape (d, q~, q~)."""
    return cov + mean[:, :, None] * mean[:, None, :]


def moment_sum(mean: np.ndarray, cov: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_j a_j E[w~_j w~_j^T], shape (q~, q~), for weights a (d,)."""
    spread = weights.sum() * cov if cov.ndim == 2 else np.einsum("j,jab->ab", weights, cov)
    return spread + (mean * weights[:, None]).T @ mean


def moment_diagonals(mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """E[w~_jk^2] = (S_j)_kk + m_jk^2, shape (d, q~)."""
    return np.diagonal(cov, axis1=-2, axis2=-1) + mean * mean


def moment_traces(mean: np.ndarray, cov: np.ndarray, zz: np.ndarray) -> np.ndarray:
    """tr(E[w~_j w~_j^T] Z_j) per row, shape (d,), for Z of shape (q~, q~) (shared) or (d, q~, q~)."""
    if zz.ndim == 2:
        spread = np.sum(cov * zz) if cov.ndim == 2 else np.einsum("jab,ab->j", cov, zz)
        return spread + np.einsum("ja,ja->j", mean @ zz, mean)
    spread = np.einsum("ab,jab->j", cov, zz) if cov.ndim == 2 else np.einsum("jab,jab->j", cov, zz)
    return spread + np.einsum("ja,jab,jb->j", mean, zz, mean)
