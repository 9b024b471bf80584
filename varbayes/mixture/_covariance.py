"""The four covariance structures of a Gaussian mixture, one small class each.

A covariance type is chosen once per fit (:func:`get_covariance`) and every
piece of per-type algebra goes through it, batched over the K components:

* statistics: which moments the data must provide
  (:meth:`centered_moments`) and the resp-weighted scatter about given centres
  (:meth:`scatter`), built from the primitive :meth:`weighted_outer`;
* parameters: scatter -> covariance (:meth:`normalize`, :meth:`add_diagonal`),
  covariance -> precision Cholesky factor (:meth:`precision_cholesky`),
  precision (:meth:`precisions`) and log-determinant (:meth:`log_det`);
* densities: squared Mahalanobis distances (:meth:`mahalanobis`) of the
  residuals x_n - c_k (:func:`residuals`), and tr(Lambda S)
  (:meth:`trace_product`).

Shapes follow scikit-learn: for K components and d features a covariance is
(K, d, d) for 'full', (d, d) for 'tied', (K, d) for 'diag' and (K,) for
'spherical'.  For 'spherical' every "second moment", "scatter" and "outer
product" is the average over the d dimensions of the diagonal, so that the
same formulas hold for all four types.

The precision Cholesky factor P satisfies P P^T = Lambda = Sigma^{-1}; the
squared Mahalanobis distance is ||(x - mu)^T P||^2 and
log |Lambda|^{1/2} = sum(log diag P).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._backend import Backend, NotPositiveDefiniteError
from .._execution import Workspace
from ..expfam._gamma import Gamma


class Covariance:
    """Interface shared by the covariance types (see the module docstring)."""

    name: str = ""

    def __init__(self, n_components: int, n_features: int) -> None:
        self.K = n_components
        self.d = n_features

    # -- shapes -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of covariances_, precisions_ and precisions_cholesky_."""
        raise NotImplementedError

    def n_parameters(self) -> int:
        """Number of free covariance parameters (for BIC and AIC)."""
        raise NotImplementedError

    # -- statistics ---------------------------------------------------------
    def centered_moments(self, xp: Any, R: "Residuals", resp: Any) -> tuple[Any, Any]:
        """Resp-weighted first and second moments of a chunk's residuals.

        ``R`` holds the residuals x_n - o_k about each component's origin
        (see :func:`residuals`), or about one origin shared by all;
        ``resp`` is (n, K).  Returns sum_n r_nk (x_n - o_k), shape (K, d),
        and sum_n r_nk (x_n - o_k)(x_n - o_k)^T in this type's shape.
        """
        raise NotImplementedError

    def _in_shape(self, second: Any) -> Any:
        """Per-component second moments, (K, d, d) matrices or (K, d)
        diagonals as the type computes them, in this type's shape."""
        raise NotImplementedError

    def weighted_outer(self, xp: Any, u: Any, v: Any, w: Any) -> Any:
        """w_k u_k v_k^T for each component, in this type's shape.

        ``u`` and ``v`` are (K, d), ``w`` is (K,).  'tied' sums over k,
        'diag' keeps the diagonal, 'spherical' averages the diagonal.
        """
        raise NotImplementedError

    def scatter(self, xp: Any, second: Any, first: Any, counts: Any, centers: Any) -> Any:
        """S_k(c) = sum_n r_nk (x_n - c_k)(x_n - c_k)^T from the statistics.

        ``second`` and ``first`` are the summed moments of
        :meth:`centered_moments`, ``counts`` the (K,) sum of r; ``centers``
        are relative to the same per-component origins as the moments.
        """
        ones = xp.ones_like(counts)
        return (
            second
            - self.weighted_outer(xp, first, centers, ones)
            - self.weighted_outer(xp, centers, first, ones)
            + self.weighted_outer(xp, centers, centers, counts)
        )

    def normalize(self, xp: Any, scatter: Any, counts: Any) -> Any:
        """Divide a scatter by the counts: S_k / N_k (S / N for 'tied')."""
        return scatter / self.pooled(counts)[(...,) + (None,) * (len(self.shape) - 1)]

    def pooled(self, counts: Any) -> Any:
        """The counts behind each precision: N_k, or N = sum_k N_k for 'tied'."""
        return counts

    def add_diagonal(self, xp: Any, cov: Any, value: Any) -> Any:
        """cov + value * I (value may be a scalar or one value per component)."""
        raise NotImplementedError

    def scale(self, xp: Any, cov: Any, factor: Any) -> Any:
        """Multiply each component's matrix by ``factor`` (scalar or (K,))."""
        raise NotImplementedError

    # -- parameters ------------------------------------------------------------
    def precision_cholesky(self, be: Backend, cov: Any) -> Any:
        """P with P P^T = cov^{-1}; NotPositiveDefiniteError if cov is not PD."""
        raise NotImplementedError

    def cholesky_of_precision(self, be: Backend, precisions: Any) -> Any:
        """P with P P^T = precisions (used for precisions_init)."""
        raise NotImplementedError

    def precision_cholesky_plus_outer(self, be: Backend, cov: Any, u: Any, w: Any) -> Any:
        """:meth:`precision_cholesky` of cov + weighted_outer(u, u, w), w >= 0,
        without forming the sum when that would cancel (see the matrix types)."""
        return self.precision_cholesky(be, cov + self.weighted_outer(be.xp, u, u, w))

    def precisions(self, xp: Any, prec_chol: Any) -> Any:
        """Lambda = P P^T."""
        raise NotImplementedError

    def invert(self, xp: Any, a: Any) -> Any:
        """The inverse of each component's matrix (e.g. covariances from precisions)."""
        raise NotImplementedError

    def log_det(self, xp: Any, prec_chol: Any) -> Any:
        """log |Lambda_k|^{1/2} = sum log diag P_k, shape (K,) (scalar for 'tied')."""
        raise NotImplementedError

    def trace_product(self, xp: Any, prec_chol: Any, scatter: Any) -> Any:
        """sum_k tr(Lambda_k S_k), a scalar."""
        raise NotImplementedError

    def trace_precision(self, xp: Any, prec_chol: Any) -> Any:
        """tr(Lambda_k) = ||P_k||_F^2, shape (K,) (a scalar for 'tied')."""
        raise NotImplementedError

    def abs_trace(self, xp: Any, prec_chol: Any, second: Any) -> Any:
        """s_k^T |Lambda_k| s_k with s_k = sqrt(diag second_k), shape (K,) (a
        scalar for 'tied').

        Bounds |tr(Lambda_k E_k)| for every E_k with
        |E_k,ij| <= sqrt(second_k,ii second_k,jj): the rounding error of a
        trace product whose second moments carry such errors.
        """
        raise NotImplementedError

    def to_full(self, cov: np.ndarray) -> np.ndarray:
        """The (K, d, d) dense matrices of a covariance in this type's shape."""
        raise NotImplementedError

    # -- conjugate prior of the precision (Wishart, or its Gamma analogues) ----
    #
    # Every type's precision prior is written with a degrees-of-freedom nu and
    # an inverse scale W^{-1} in this type's shape: a Wishart W(W, nu) for
    # 'full' and 'tied'; independent Gamma(nu/2, rate W^{-1}_j/2) per dimension
    # for 'diag'; Gamma(d nu/2, rate d W^{-1}/2) for the single precision of
    # 'spherical'.  Then E[Lambda] = nu W for all four, and the log-normaliser
    # and E[log |Lambda|] differ only by the functions of nu below:
    #   log B(nu, W)    = -nu/2 log |W| + log_norm_const(nu)      (Bishop B.79)
    #   E[log |Lambda|] =       log |W| + expected_log_det_const(nu)  (B.81)
    def log_norm_const(self, be: Backend, nu: Any) -> Any:
        """The part of the precision prior's log-normaliser that depends on nu only."""
        raise NotImplementedError

    def expected_log_det_const(self, be: Backend, nu: Any) -> Any:
        """E[log |Lambda|] - log |W|, a function of nu only."""
        raise NotImplementedError

    def student(self, nu: Any) -> tuple[Any, Any]:
        """(degrees of freedom eta, precision factor s) of the posterior predictive.

        The predictive of a component is a Student-t with ``eta`` degrees of
        freedom and precision s beta / (1 + beta) W (Bishop (2006), eq. 10.82):
        one d-dimensional t for 'full', 'tied' and 'spherical', and d
        independent one-dimensional ts for 'diag' (see :attr:`factorized`).
        """
        raise NotImplementedError

    #: Whether the predictive density factorises over dimensions ('diag').
    factorized = False

    def mahalanobis(self, xp: Any, R: "Residuals", prec_chol: Any) -> Any:
        """Squared Mahalanobis distances (x_n - c_k)^T Lambda_k (x_n - c_k), shape (n, K).

        ``R`` holds the residuals x_n - c_k (see :func:`residuals`).
        """
        raise NotImplementedError

    def check_precisions(self, be: Backend, precisions: np.ndarray, name: str) -> None:
        """Raise ValueError unless the user's precisions (parameter ``name``) are
        symmetric and positive definite, in scikit-learn's words."""
        raise NotImplementedError


class Residuals:
    """The residuals x_n - c_k of a chunk, transposed: ``D`` of shape (K, d, n).

    Formed explicitly before any product, so that neither the densities nor
    the moments lose precision when a component sits far from the data.  The
    rows run along the last, contiguous axis: the elementwise passes and the
    batched GEMMs over them were measured about 10% faster than with
    (K, n, d).  ``D`` may also be (1, d, n): residuals about one point
    shared by all components.  The elementwise squares, which the diagonal
    types need for both the densities and the moments, are computed once.
    """

    __slots__ = ("D", "_squared", "_xp", "_workspace")

    def __init__(self, D: Any, xp: Any = None, workspace: Workspace | None = None) -> None:
        self.D = D
        self._squared = None
        self._xp = xp
        self._workspace = workspace

    def scratch(self, name: str) -> Any:
        """A work array of D's shape and dtype, reused from chunk to chunk
        (None without a workspace: the caller allocates)."""
        if self._workspace is None:
            return None
        return self._workspace.get(self._xp, name, self.D.shape, self.D.dtype)

    @property
    def squared(self) -> Any:
        """D * D, computed on first use."""
        if self._squared is None:
            out = self.scratch("squared")
            self._squared = self.D * self.D if out is None else self._xp.multiply(self.D, self.D, out=out)
        return self._squared


def split_centers(xp: Any, centers: Any, dtype: Any) -> tuple[Any, Any]:
    """Centres (K, d) as ``hi + lo``, both in ``dtype``.

    ``hi`` is the centre rounded to ``dtype``; ``lo`` the rounding error, or
    None where there is none (float64 data, or centres exactly
    representable).  Float32 residuals (x - hi) - lo are then taken about the
    float64 centre, to about twice float32's precision, instead of about a
    point up to half an ulp of |c| away, which for a tight component far from
    the origin would be a sizeable fraction of its spread.
    """
    hi = centers.astype(dtype)
    if np.dtype(dtype) == np.dtype(centers.dtype):
        return hi, None
    lo = (centers - hi.astype(centers.dtype)).astype(dtype)
    return hi, (lo if bool(xp.any(lo != 0)) else None)


def residuals(xp: Any, Xc: Any, centers: Any, lo: Any = None, workspace: Workspace | None = None) -> Residuals:
    """x_n - c_k for every row of the chunk ``Xc`` (n, d) and centre (K, d).

    ``centers`` is in the dtype of ``Xc``; ``lo`` (optional, see
    :func:`split_centers`) is a remainder subtracted after the difference.
    With a ``workspace``, the residuals and the work arrays derived from
    them reuse its arrays (valid until the next chunk's residuals).
    """
    XT = xp.ascontiguousarray(Xc.T)[None, :, :]
    if workspace is None:
        D = XT - centers[:, :, None]
    else:
        out = workspace.get(xp, "D", (centers.shape[0],) + XT.shape[1:], xp.result_type(XT, centers))
        D = xp.subtract(XT, centers[:, :, None], out=out)
    if lo is not None:
        D -= lo[:, :, None]
    return Residuals(D, xp, workspace)


def _per_component(xp: Any, value: Any, cov: Any) -> Any:
    """A scalar, or a (K,) array reshaped to broadcast against ``cov``'s components."""
    value = xp.asarray(value, dtype=cov.dtype)
    return value.reshape((-1,) + (1,) * (cov.ndim - 1)) if value.ndim else value


def _raise_not_pd(name: str) -> None:
    raise NotPositiveDefiniteError(f"Some {name} covariance matrices are not positive definite.")


class _MatrixCovariance(Covariance):
    """Shared algebra of 'full' and 'tied' (dense d x d matrices)."""

    def whiten(self, xp: Any, D: Any, prec_chol: Any, out: Any = None) -> Any:
        """Whitened residuals P_k^T D_kn, shape (K, d, n), of residuals D (K, d, n) (into ``out``)."""
        raise NotImplementedError

    def mahalanobis(self, xp, R, prec_chol):
        # "work": the whitened residuals, dead once reduced, share their array
        # with the weighted residuals of centered_moments.
        Y = self.whiten(xp, R.D, prec_chol, out=R.scratch("work"))
        return xp.einsum("kdn,kdn->nk", Y, Y)

    def centered_moments(self, xp, R, resp):
        # Weighted residuals, the multiply running along n (contiguous).
        W = xp.multiply(R.D, xp.ascontiguousarray(resp.T)[:, None, :], out=R.scratch("work"))
        second = xp.matmul(W, xp.swapaxes(R.D, 1, 2))  # one batched GEMM, (K, d, n) @ (K, n, d)
        return W.sum(axis=2), self._in_shape(second)

    def add_diagonal(self, xp, cov, value):
        value = _per_component(xp, value, cov)
        return cov + value * xp.eye(self.d, dtype=cov.dtype)

    def scale(self, xp, cov, factor):
        return cov * _per_component(xp, factor, cov)

    def precision_cholesky(self, be, cov):
        return be.inv_cholesky_transpose(be.cholesky(cov))

    def cholesky_of_precision(self, be, precisions):
        return be.cholesky(precisions)

    def precision_cholesky_plus_outer(self, be, cov, u, w):
        # Rank-one updates of the factor of cov: a huge w u u^T (a component
        # far from its prior mean) would otherwise swamp cov's small directions.
        L = be.cholesky(cov)
        v = be.xp.sqrt(w)[:, None] * u
        if self.name == "tied":
            for k in range(v.shape[0]):
                L = be.cholesky_update(L, v[k])
        else:
            L = be.cholesky_update(L, v)
        return be.inv_cholesky_transpose(L)

    def precisions(self, xp, prec_chol):
        return prec_chol @ xp.swapaxes(prec_chol, -1, -2)

    def invert(self, xp, a):
        return xp.linalg.inv(a)

    def log_det(self, xp, prec_chol):
        return xp.log(xp.diagonal(prec_chol, axis1=-2, axis2=-1)).sum(axis=-1)

    def log_norm_const(self, be, nu):
        d = self.d
        return -0.5 * nu * d * math.log(2.0) - be.multigammaln(0.5 * nu, d)

    def expected_log_det_const(self, be, nu):
        return self.d * math.log(2.0) + be.multidigamma(0.5 * nu, self.d)

    def student(self, nu):
        eta = nu + 1.0 - self.d
        return eta, eta

    def check_precisions(self, be, precisions, name):
        message = f"'{self.name} precision' should be symmetric, positive-definite ({name} is not"
        if not np.allclose(precisions, np.swapaxes(precisions, -1, -2)):
            raise ValueError(f"{message} symmetric).")
        try:
            be.cholesky(be.asarray(precisions))
        except NotPositiveDefiniteError:
            raise ValueError(f"{message} positive definite).") from None


class FullCovariance(_MatrixCovariance):
    """One full d x d covariance per component: Sigma_k."""

    name = "full"

    @property
    def shape(self):
        return (self.K, self.d, self.d)

    def n_parameters(self):
        return self.K * self.d * (self.d + 1) // 2

    def _in_shape(self, second):
        return second

    def weighted_outer(self, xp, u, v, w):
        return (w[:, None] * u)[:, :, None] * v[:, None, :]

    def whiten(self, xp, D, prec_chol, out=None):
        return xp.matmul(xp.swapaxes(prec_chol, 1, 2), D, out=out)  # one batched GEMM, (K, d, d) @ (K, d, n)

    def trace_product(self, xp, prec_chol, scatter):
        return xp.einsum("kij,kij->", self.precisions(xp, prec_chol), scatter)

    def trace_precision(self, xp, prec_chol):
        return (prec_chol**2).sum(axis=(1, 2))

    def abs_trace(self, xp, prec_chol, second):
        s = xp.sqrt(xp.diagonal(second, axis1=1, axis2=2))
        return xp.einsum("ki,kij,kj->k", s, xp.abs(self.precisions(xp, prec_chol)), s)

    def to_full(self, cov):
        return np.asarray(cov)


class TiedCovariance(_MatrixCovariance):
    """One full d x d covariance shared by all components: Sigma."""

    name = "tied"

    @property
    def shape(self):
        return (self.d, self.d)

    def n_parameters(self):
        return self.d * (self.d + 1) // 2

    def _in_shape(self, second):
        # The components share Sigma: the sum of the components' moments.
        return second.sum(axis=0)

    def weighted_outer(self, xp, u, v, w):
        return (w[:, None] * u).T @ v

    def normalize(self, xp, scatter, counts):
        return scatter / counts.sum()

    def pooled(self, counts):
        return counts.sum()

    def whiten(self, xp, D, prec_chol, out=None):
        return xp.matmul(prec_chol.T, D, out=out)  # (d, d) @ (K, d, n)

    def trace_product(self, xp, prec_chol, scatter):
        return xp.sum(self.precisions(xp, prec_chol) * scatter)

    def trace_precision(self, xp, prec_chol):
        return (prec_chol**2).sum()

    def abs_trace(self, xp, prec_chol, second):
        s = xp.sqrt(xp.diagonal(second))
        return s @ xp.abs(self.precisions(xp, prec_chol)) @ s

    def to_full(self, cov):
        return np.broadcast_to(cov, (self.K, self.d, self.d))


class _VectorCovariance(Covariance):
    """Shared algebra of 'diag' and 'spherical' (elementwise precisions).

    Densities and moments both come from the squared residuals, reduced over
    the rows by batched GEMVs: no (K, d, n) array beyond the residuals and
    their squares.
    """

    def centered_moments(self, xp, R, resp):
        r = xp.ascontiguousarray(resp.T)[:, :, None]  # (K, n, 1)
        first = xp.matmul(R.D, r)[:, :, 0]
        return first, self._in_shape(xp.matmul(R.squared, r)[:, :, 0])

    def add_diagonal(self, xp, cov, value):
        return cov + _per_component(xp, value, cov)

    def scale(self, xp, cov, factor):
        return cov * _per_component(xp, factor, cov)

    def precision_cholesky(self, be, cov):
        xp = be.xp
        if bool(xp.any(cov <= 0.0)):
            _raise_not_pd(self.name)
        return 1.0 / xp.sqrt(cov)

    def cholesky_of_precision(self, be, precisions):
        return be.xp.sqrt(precisions)

    def precisions(self, xp, prec_chol):
        return prec_chol**2

    def invert(self, xp, a):
        return 1.0 / a

    def check_precisions(self, be, precisions, name):
        if np.any(np.less_equal(precisions, 0.0)):
            raise ValueError(f"'{self.name} precision' should be positive ({name} has values <= 0).")


class DiagCovariance(_VectorCovariance):
    """A diagonal covariance per component: diag(sigma_k1^2, ..., sigma_kd^2)."""

    name = "diag"

    @property
    def shape(self):
        return (self.K, self.d)

    def n_parameters(self):
        return self.K * self.d

    def _in_shape(self, second):
        return second

    def mahalanobis(self, xp, R, prec_chol):
        return xp.matmul((prec_chol**2)[:, None, :], R.squared)[:, 0, :].T

    def weighted_outer(self, xp, u, v, w):
        return w[:, None] * u * v

    def log_det(self, xp, prec_chol):
        return xp.log(prec_chol).sum(axis=1)

    def trace_product(self, xp, prec_chol, scatter):
        return xp.sum(prec_chol**2 * scatter)

    def trace_precision(self, xp, prec_chol):
        return (prec_chol**2).sum(axis=1)

    def abs_trace(self, xp, prec_chol, second):
        return (prec_chol**2 * second).sum(axis=1)

    def to_full(self, cov):
        cov = np.asarray(cov)
        return cov[:, :, None] * np.eye(self.d)

    # d independent Gam(nu/2, rate W^{-1}_j/2): the constants of Gam(nu/2, 1/2).
    def log_norm_const(self, be, nu):
        return self.d * Gamma(be).log_normalizer(0.5 * nu, 0.5)

    def expected_log_det_const(self, be, nu):
        return self.d * Gamma(be).expected_log(0.5 * nu, 0.5)

    def student(self, nu):
        return nu, nu

    factorized = True



class SphericalCovariance(_VectorCovariance):
    """One variance per component: sigma_k^2 I.

    Second moments, scatters and outer products are averaged over the d
    dimensions (a (K,) array), so that scatter / N is the spherical variance.
    """

    name = "spherical"

    @property
    def shape(self):
        return (self.K,)

    def n_parameters(self):
        return self.K

    def _in_shape(self, second):
        return second.mean(axis=1)

    def mahalanobis(self, xp, R, prec_chol):
        return ((prec_chol**2)[:, None] * R.squared.sum(axis=1)).T

    def weighted_outer(self, xp, u, v, w):
        return w * (u * v).mean(axis=1)

    def log_det(self, xp, prec_chol):
        return self.d * xp.log(prec_chol)

    def trace_product(self, xp, prec_chol, scatter):
        return self.d * xp.sum(prec_chol**2 * scatter)

    def trace_precision(self, xp, prec_chol):
        return self.d * prec_chol**2

    def abs_trace(self, xp, prec_chol, second):
        return self.d * prec_chol**2 * second

    def to_full(self, cov):
        cov = np.asarray(cov)
        return cov[:, None, None] * np.eye(self.d)

    # One Gam(d nu/2, rate d W^{-1}/2) shared by the d dimensions: the constants of Gam(d nu/2, d/2).
    def log_norm_const(self, be, nu):
        return Gamma(be).log_normalizer(0.5 * self.d * nu, 0.5 * self.d)

    def expected_log_det_const(self, be, nu):
        return self.d * Gamma(be).expected_log(0.5 * self.d * nu, 0.5 * self.d)

    def student(self, nu):
        return self.d * nu, nu



COVARIANCE_TYPES = {
    cls.name: cls for cls in (FullCovariance, TiedCovariance, DiagCovariance, SphericalCovariance)
}


def get_covariance(covariance_type: str, n_components: int, n_features: int) -> Covariance:
    """Return the covariance object for a type name ('full', 'tied', 'diag', 'spherical')."""
    return COVARIANCE_TYPES[covariance_type](n_components, n_features)
