"""Additive sufficient statistics of a Gaussian mixture, accumulated over row chunks.

Given responsibilities r_nk, everything the M-step (EM) or the global updates
(CAVI) need from the data is

    N_k = sum_n r_nk,   s_k = sum_n r_nk (x_n - o_k),   S_k = sum_n r_nk (x_n - o_k)(x_n - o_k)^T

(or the diagonal of S_k, or the total sum_n (x_n - c)(x_n - c)^T for 'tied'),
plus two scalars for the bound: sum_n log sum_k rho_nk and the entropy of
q(Z), -sum_nk r_nk log r_nk (Bishop (2006), eqs. 9.26-9.27, 10.51-10.53).

All of them are sums over rows, so the statistics of two chunks add up to the
statistics of both: :class:`GaussianStats` supports ``+``.  A fit therefore
streams X through fixed-size chunks (bounded extra memory), and the same code
serves online or distributed fits.

Moments are taken about a point o_k per component (in a fit, its current
centre), with the residuals x_n - o_k formed before any product: nothing is
computed about a point far from a component, so neither a component far from
the others (well separated clusters, one extreme outlier alone in its
component) nor float32 data far from the origin cancels.  There is no shared
reference point such as the data mean, whose distance from a component is
what cancellation scales with (an outlier at 1e20 moves the mean to 5e17 and
wipes out every inlier).  The scatter about the new centre m_k then follows
exactly as S_k - N_k (m_k - o_k)(m_k - o_k)^T (:meth:`GaussianStats.scatter`),
a small correction because o_k is near m_k.  Without given origins (the
initial responsibilities), :func:`accumulate` first takes the resp-weighted
means in float64 and then the moments about them: the classic two-pass
algorithm.  Per-chunk arithmetic runs in the dtype of X; the origins are
split into a part in that dtype and a remainder (:func:`split_centers`), so
float32 residuals are taken about the float64 centre; the chunk sums are
accumulated in float64.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

import numpy as np

from .._backend import Backend
from ._covariance import Covariance, residuals, split_centers

#: Working memory per chunk targeted by the automatic chunk size, in bytes.
#: On CPU a chunk that stays in cache is fastest; a GPU wants large chunks.
CHUNK_BYTES = {"cpu": 1 << 22, "gpu": 1 << 28}


def auto_chunk_size(be: Backend, n_samples: int, n_components: int, n_features: int, itemsize: int) -> int:
    """Rows per chunk so that the chunk's (rows, K, d) work arrays fit the budget."""
    # Residuals, whitened residuals and weighted residuals: three (K, d) per row.
    per_row = itemsize * (3 * n_components * n_features + 4 * n_components + 2 * n_features)
    rows = CHUNK_BYTES[be.name] // per_row
    return int(min(max(rows, 64), max(n_samples, 1)))


def chunk_slices(n_samples: int, chunk_size: int) -> Iterator[slice]:
    """Consecutive row slices of at most ``chunk_size`` rows."""
    for start in range(0, n_samples, chunk_size):
        yield slice(start, min(start + chunk_size, n_samples))


@dataclass
class GaussianStats:
    """Resp-weighted sums over rows, float64, on the backend's device.

    Attributes
    ----------
    counts : array of shape (K,)
        N_k = sum_n r_nk.
    first : array of shape (K, d)
        sum_n r_nk (x_n - origin_k).
    second : array
        sum_n r_nk (x_n - origin_k)(x_n - origin_k)^T in the covariance
        type's shape (see :meth:`Covariance.centered_moments`).
    log_norm : 0-d array
        sum_n log sum_k rho_nk, the log normaliser of the responsibilities
        (for EM: the log-likelihood).
    entropy : 0-d array
        sum_n H[q(z_n)] = -sum_nk r_nk log r_nk.
    n_samples : int
        Number of rows summed.
    origin : array of shape (K, d)
        Each component's point about which its moments are taken (float64);
        statistics add only with the same origins.
    dtype : numpy dtype
        The dtype of the data the statistics were computed from.
    rounding : float
        gamma, a bound on the rounding error of the scatter about any centre
        near the origins: |error_k,ij| <= gamma sqrt(second_k,ii second_k,jj)
        (see :func:`accumulate`).
    """

    counts: Any
    first: Any
    second: Any
    log_norm: Any
    entropy: Any
    n_samples: int
    origin: Any
    dtype: Any = np.dtype(np.float64)
    rounding: float = 0.0

    def __add__(self, other: "GaussianStats") -> "GaussianStats":
        mine, theirs = self.origin, other.origin
        if mine is not theirs and not np.array_equal(_host(mine), _host(theirs)):
            raise ValueError("Cannot add statistics computed with different origins.")
        return replace(
            self,
            counts=self.counts + other.counts,
            first=self.first + other.first,
            second=self.second + other.second,
            log_norm=self.log_norm + other.log_norm,
            entropy=self.entropy + other.entropy,
            n_samples=self.n_samples + other.n_samples,
            rounding=max(self.rounding, other.rounding) + float(np.finfo(np.float64).eps),
        )

    def mean(self, counts: Any) -> Any:
        """Resp-weighted means: o_k + s_k / counts_k.

        ``counts`` is N_k, possibly regularised (see ``BaseMixture._counts``).
        """
        return self.origin + self.first / counts[:, None]

    def scatter(self, xp: Any, cov: Covariance, centers: Any) -> Any:
        """sum_n r_nk (x_n - c_k)(x_n - c_k)^T about ``centers`` (K, d), in the
        covariance type's shape (Bishop (2006), eq. 9.25)."""
        return cov.scatter(xp, self.second, self.first, self.counts, centers - self.origin)


def _host(a: Any) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)


#: A chunk evaluator: (the chunk's Residuals or None, row slice) ->
#: (resp, log_norm rows or None, entropy or None).
RespFn = Callable[[Any, slice], tuple[Any, Any, Any]]


def accumulate(
    be: Backend,
    cov: Covariance,
    X: Any,
    chunk_size: int,
    resp_fn: RespFn,
    origin: Any = None,
) -> GaussianStats:
    """Stream X through chunks, summing the statistics of the responsibilities.

    Parameters
    ----------
    be : Backend
    cov : Covariance
        Decides which second moment is accumulated.
    X : array of shape (n, d)
        The data on the backend's device.
    chunk_size : int
        Rows per chunk.
    resp_fn : callable
        ``resp_fn(R, rows)`` returns the chunk's responsibilities (rows, K),
        the per-row log normaliser or None, and the chunk's entropy or None;
        ``R`` (:class:`Residuals`) holds the chunk's residuals about the
        origins (the E-step's densities need exactly these).
    origin : array of shape (K, d), optional
        Per-component points (float64) about which the moments are taken.
        When None, a first pass takes the resp-weighted means (in float64)
        as the origins, and ``resp_fn`` is called twice for each chunk, the
        first time with ``R=None``: it must give the same responsibilities
        both times.
    """
    xp = be.xp
    f64 = xp.float64
    if origin is None:
        origin = _weighted_means(be, X, chunk_size, resp_fn)
    hi, lo = split_centers(xp, origin, X.dtype)
    zero = xp.zeros((), dtype=f64)
    counts = first = second = None
    log_norm, entropy = zero, zero
    for rows in chunk_slices(X.shape[0], chunk_size):
        R = residuals(xp, X[rows], hi, lo)
        resp, row_log_norm, chunk_entropy = resp_fn(R, rows)
        c_first, c_second = cov.centered_moments(xp, R, resp)
        c_counts = resp.sum(axis=0).astype(f64)
        c_first, c_second = c_first.astype(f64), c_second.astype(f64)
        if counts is None:
            counts, first, second = c_counts, c_first, c_second
        else:
            counts += c_counts
            first += c_first
            second += c_second
        if row_log_norm is not None:
            log_norm = log_norm + row_log_norm.sum(dtype=f64)
        if chunk_entropy is not None:
            entropy = entropy + chunk_entropy
    # Rounding (Higham (2002), sec. 3.1): each product of residuals carries
    # the residuals' rounding (2 eps_x), a chunk's sum of m terms gamma_m =
    # m eps_x, the float64 sum over chunks n_chunks eps; with Cauchy-Schwarz,
    # |error_ij| <= gamma sqrt(S_ii S_jj), and the same bound again, twice,
    # for the cross terms of the scatter about a nearby centre: 3 gamma.
    n_chunks = -(-X.shape[0] // chunk_size)
    eps_x, eps64 = float(np.finfo(X.dtype).eps), float(np.finfo(np.float64).eps)
    rounding = 3.0 * ((min(chunk_size, X.shape[0]) + 2) * eps_x + n_chunks * eps64)
    return GaussianStats(
        counts, first, second, log_norm, entropy, X.shape[0], origin.astype(f64), np.dtype(X.dtype), rounding
    )


def _weighted_means(be: Backend, X: Any, chunk_size: int, resp_fn: RespFn) -> Any:
    """sum_n r_nk x_n / sum_n r_nk in float64 (0 for an empty component)."""
    xp = be.xp
    f64 = xp.float64
    counts = total = None
    for rows in chunk_slices(X.shape[0], chunk_size):
        resp = resp_fn(None, rows)[0].astype(f64)
        c_counts, c_total = resp.sum(axis=0), resp.T @ X[rows].astype(f64)
        counts, total = (c_counts, c_total) if counts is None else (counts + c_counts, total + c_total)
    safe = xp.where(counts > 0, counts, 1.0)
    return total / safe[:, None]


def normalize_log_rho(be: Backend, log_rho: Any) -> tuple[Any, Any, Any]:
    """Responsibilities from unnormalised log weights (Bishop (2006), eq. 10.49).

    Returns ``(resp, log_norm, entropy)`` where ``log_norm`` is the per-row
    logsumexp, ``resp = exp(log_rho - log_norm)`` and ``entropy`` is the chunk's
    -sum r log r in float64.  ``log_rho`` is overwritten with log r.
    """
    xp = be.xp
    resp, log_norm = be.softmax(log_rho, axis=1)
    log_rho -= log_norm[:, None]  # now log r
    # r log r -> 0 as r -> 0: a component of weight 0 has log r = -inf there.
    entropy = -xp.einsum("nk,nk->", resp, xp.where(resp > 0, log_rho, 0)).astype(xp.float64)
    return resp, log_norm, entropy
