"""The Gaussian q(w) that both linear models update: from its precision, and its entropy."""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import lapack

__all__ = ["LOG_2PI", "gaussian_entropy", "gaussian_from_precision", "quadratic_forms", "weighted_gram"]

LOG_2PI = math.log(2.0 * math.pi)


def _cholesky(matrix: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor of a small symmetric positive-definite matrix (LAPACK's
    potrf called directly: NumPy's and scipy's wrappers cost several times the
    factorisation at the sizes of q(w)); LinAlgError where it is not positive definite."""
    lower, info = lapack.dpotrf(np.asarray(matrix, dtype=np.float64), lower=1, clean=1)
    if info:
        raise np.linalg.LinAlgError("Matrix is not positive definite")
    return lower


def gaussian_from_precision(precision: np.ndarray, linear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """m = P^{-1} h and V = P^{-1} for a symmetric positive-definite P, by one Cholesky factorisation."""
    # P = L L^T, V = L^{-T} L^{-1}.  m goes through the factor, L^{-T} (L^{-1} h),
    # not through V: V h is not backward stable, and on collinear data its
    # error (cond(P) eps) reached the cancelling y^T y - m^T h of the noise update.
    inv_lower, _ = lapack.dtrtri(_cholesky(precision), lower=1)
    return inv_lower.T @ (inv_lower @ linear), inv_lower.T @ inv_lower


def gaussian_entropy(V: np.ndarray) -> float:
    """H[N(m, V)] = d/2 (1 + log 2 pi) + 1/2 log |V| (Bishop (2006), eq. B.41)."""
    log_det = 2.0 * float(np.log(np.diagonal(_cholesky(V))).sum())
    return 0.5 * V.shape[0] * (1.0 + LOG_2PI) + 0.5 * log_det


def _half(D: int) -> int:
    """The split of the block products below (0: none, for small D)."""
    return D // 2 if D >= 8 else 0


def weighted_gram(X: np.ndarray, c: np.ndarray | None = None) -> np.ndarray:
    """X^T diag(c) X (X^T X when c is None), shape (D, D), in 3/4 of a GEMM's multiply-adds.

    The result is symmetric: with X = [X_1, X_2] split at D/2, the leading
    block rows (X_1 c)^T X and the trailing block (X_2 c)^T X_2 give it all.
    """
    D = X.shape[1]
    h = _half(D)
    if not h:
        return (X if c is None else X * c[:, None]).T @ X
    out = np.empty((D, D))
    out[:h] = (X[:, :h] if c is None else X[:, :h] * c[:, None]).T @ X
    out[h:, h:] = (X[:, h:] if c is None else X[:, h:] * c[:, None]).T @ X[:, h:]
    out[h:, :h] = out[:h, h:].T
    return out


def quadratic_forms(X: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """x_n^T L L^T x_n for every row, ||L^T x_n||^2, with L lower triangular,
    in 3/4 of a GEMM's multiply-adds: the trailing half of X L needs only the
    trailing block of L."""
    D = X.shape[1]
    h = _half(D)
    if not h:
        Y = X @ lower
        return np.einsum("nd,nd->n", Y, Y)
    lead = X @ lower[:, :h]
    rest = X[:, h:] @ lower[h:, h:]
    return np.einsum("nd,nd->n", lead, lead) + np.einsum("nd,nd->n", rest, rest)
