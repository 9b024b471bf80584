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
  (:meth:`trace_product`);
* the expanded form of the last two (:meth:`expanded_terms`,
  :meth:`expanded_mahalanobis`, :meth:`expanded_moments`): the rows shifted
  once by a point o shared by all components (:func:`shifted_rows`), so that
  densities and moments are a few large GEMMs instead of per-component
  residuals; used only for components whose cancellation bound
  (:meth:`cancellation`) allows it (see ``_stats.expanded_components``).

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

import functools
import math
from typing import Any

import numpy as np

from .._backend import Backend, NotPositiveDefiniteError, difference, gram, inner
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
        ``resp`` is (K, n), the responsibilities transposed (rows along the
        contiguous axis, as everywhere in the E-step).  Returns
        sum_n r_nk (x_n - o_k), shape (K, d),
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
        """Squared Mahalanobis distances (x_n - c_k)^T Lambda_k (x_n - c_k), shape (K, n).

        ``R`` holds the residuals x_n - c_k (see :func:`residuals`), not
        augmented ones (whose remainder only :meth:`residual_mahalanobis`
        subtracts).
        """
        raise NotImplementedError

    # -- the residual form of the E-step --------------------------------------

    #: Whether the E-step's residuals are augmented (see :class:`Residuals`):
    #: about the centres rounded to the data's dtype, with a row of ones.
    augmented = False

    def residual_terms(self, xp: Any, prec_chol: Any, lo: Any, device: str) -> Any:
        """What :meth:`residual_mahalanobis` needs, once per pass on
        ``device`` (float64; the caller casts it to the data's dtype), for
        centres whose remainder beyond the data's dtype is ``lo`` (K, d) or
        None: here the factors themselves."""
        return prec_chol

    def residual_mahalanobis(self, xp: Any, R: "Residuals", terms: Any) -> Any:
        """:meth:`mahalanobis` from the E-step's residuals (augmented if
        :attr:`augmented`) and :meth:`residual_terms`."""
        return self.mahalanobis(xp, R, terms)

    # -- the expanded form ---------------------------------------------------
    #
    # With rows shifted once, xs_n = x_n - o, and a_k = c_k - o, the densities
    # and moments of a component follow from products of the shifted rows
    # with per-component matrices: no (K, d, n) residuals.  Its rounding error
    # grows with kappa_k = || |P_k|^T |a_k| || (:meth:`cancellation`), the
    # whitened distance from o to the centre bounded through absolute values.

    #: Extra columns of the shifted rows this type's expanded form needs, after
    #: xs ('squares': xs * xs, 'sumsq': sum_j xs_j^2, 'products': xs_i xs_j
    #: for i <= j; see :func:`shifted_rows`).
    _extra: str | None = None

    def expanded_extra(self, device: str) -> str | None:
        """The extra columns (see ``_extra``) this type's expanded form takes on ``device``."""
        return self._extra

    def expanded_row_items(self, device: str) -> int:
        """Work-array items per row of the expanded form, besides the (K,) ones."""
        return self.d + _EXTRA_COLUMNS[self.expanded_extra(device)](self.d) + 1

    def cancellation(self, xp: Any, prec_chol: Any, offset: Any) -> Any:
        """kappa_k = || |P_k|^T |a_k| ||_2, shape (K,), for offsets a_k = c_k - o (K, d).

        Bounds the whitened distance ||P_k^T a_k|| and every (a_kj)^2
        Lambda_k,jj >= a_kj^2 / Sigma_k,jj, which is what the expanded form's
        rounding scales with (relative to the residual form's): by at most
        (1 + 2 kappa_k)^2 for the densities (times
        :meth:`expanded_rounding`) and 1 + kappa_k^2 for the scatter
        (Higham (2002), sec. 3.1, with |xs| <= |x - c| + |a|).
        """
        raise NotImplementedError

    def expanded_rounding(self, extra: str | None) -> float:
        """c >= 1: the expanded densities' rounding bound is at most
        c (1 + 2 kappa_k)^2 times the residual form's (1 but for sums longer
        than the residual form's, see :class:`FullCovariance`)."""
        return 1.0

    def expanded_terms(self, xp: Any, prec_chol: Any, offset: Any, extra: str | None) -> Any:
        """What every chunk's :meth:`expanded_mahalanobis` needs, computed once
        per pass, for shifted rows with ``extra`` columns (:meth:`expanded_extra`)."""
        raise NotImplementedError

    def expanded_mahalanobis(self, xp: Any, F: Any, terms: Any, workspace: Workspace | None = None) -> Any:
        """Squared Mahalanobis distances (K, n) from the shifted rows ``F``
        (:func:`shifted_rows`) and :meth:`expanded_terms` (work arrays from
        ``workspace``; the result may be one of them)."""
        raise NotImplementedError

    def expanded_moments(self, xp: Any, F: Any, resp: Any, workspace: Workspace | None = None) -> tuple[Any, Any]:
        """sum_n r_nk xs_n, (K, d), and sum_n r_nk xs_n xs_n^T in this type's
        shape: the moments about o, by GEMMs over the shifted rows ``F``
        ((d + e + 1, n)); ``resp`` is (K, n)."""
        raise NotImplementedError

    def take(self, prec_chol: Any, idx: Any) -> Any:
        """The precision Cholesky factors of the components ``idx`` (all of them for 'tied')."""
        return prec_chol[idx]

    def combine(self, xp: Any, parts: list) -> Any:
        """Second moments of disjoint sets of components, [(idx, second)], in
        this type's shape for all K (for 'tied', the sum)."""
        first_second = parts[0][1]
        out = xp.zeros((self.K,) + first_second.shape[1:], dtype=first_second.dtype)
        for idx, second in parts:
            out[idx] = second
        return out

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

    Augmented residuals (``A`` not None, see :func:`residuals`) are
    A = [1; x_n - hi_k], (K, 1 + d, n), with ``D`` the view of their last d
    rows: residuals about the centres rounded to the data's dtype, the
    remainder left to the products (the row of ones lets a GEMM subtract it,
    see :meth:`Covariance.residual_terms`, and gives the first moments among
    the second).
    """

    __slots__ = ("D", "A", "_squared", "_xp", "_workspace")

    def __init__(self, D: Any, xp: Any = None, workspace: Workspace | None = None, A: Any = None) -> None:
        self.D = D
        self.A = A
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


def residuals(
    xp: Any, Xc: Any, centers: Any, lo: Any = None, workspace: Workspace | None = None, augmented: bool = False
) -> Residuals:
    """x_n - c_k for every row of the chunk ``Xc`` (n, d) and centre (K, d).

    ``centers`` is in the dtype of ``Xc``; ``lo`` (optional, see
    :func:`split_centers`) is a remainder subtracted after the difference.
    With a ``workspace``, the residuals and the work arrays derived from
    them reuse its arrays (valid until the next chunk's residuals).

    ``augmented``: the residuals about ``centers`` alone, with a row of ones
    (see :class:`Residuals`); ``lo`` is not used (the densities' terms
    subtract it): one elementwise pass where subtracting ``lo`` takes two.  x - hi is exact where hi / 2 <= x <= 2 hi
    (Sterbenz's lemma), and elsewhere rounded once, as (x - hi) - lo's first
    step is, so the moments about hi are as accurate as those about c.
    """
    XT = xp.ascontiguousarray(Xc.T)[None, :, :]
    if augmented:
        K, (d, n) = centers.shape[0], XT.shape[1:]
        A = _scratch(xp, workspace, "A", (K, 1 + d, n), xp.result_type(XT, centers))
        A[:, 0] = 1
        xp.subtract(XT, centers[:, :, None], out=A[:, 1:])
        return Residuals(A[:, 1:], xp, workspace, A=A)
    out = None
    if workspace is not None:
        out = workspace.get(xp, "D", (centers.shape[0],) + XT.shape[1:], xp.result_type(XT, centers))
    D = difference(XT, centers[:, :, None], None if lo is None else lo[:, :, None], out=out)
    return Residuals(D, xp, workspace)


#: Number of extra columns of :func:`shifted_rows` per kind, for d features.
_EXTRA_COLUMNS = {None: lambda d: 0, "squares": lambda d: d, "sumsq": lambda d: 1, "products": lambda d: d * (d + 1) // 2}


def shifted_rows(xp: Any, Xc: Any, hi: Any, lo: Any, extra: str | None, workspace: Workspace | None = None) -> Any:
    """The chunk's rows shifted by o, transposed, with the rows an expanded
    form needs: F = [1; xs; extra] of shape (1 + d + e, n), xs = (x - o_hi) - o_lo.

    ``extra`` is None, 'squares' (xs * xs, e = d), 'sumsq' (sum_j xs_j^2,
    e = 1) or 'products' (xs_i xs_j for i <= j, e = d (d + 1) / 2, in the
    order of :func:`product_pairs`).  The row of ones lets a GEMM add a per-component constant (and
    gives the counts among the moments).  The samples run along the last,
    contiguous axis, as in :class:`Residuals`.
    """
    n, d = Xc.shape
    shape = (1 + d + _EXTRA_COLUMNS[extra](d), n)
    F = _scratch(xp, workspace, "F", shape, Xc.dtype)
    F[0] = 1
    xs = F[1 : d + 1]
    xp.subtract(Xc.T, hi[:, None], out=xs)
    if lo is not None:
        xs -= lo[:, None]
    if extra == "squares":
        xp.multiply(xs, xs, out=F[d + 1 : 2 * d + 1])
    elif extra == "sumsq":
        F[d + 1] = inner(xs, xs, axis=0)
    elif extra == "products":
        start = d + 1
        for t in range(d):  # one diagonal at a time: equal, contiguous blocks (NumPy's fastest loop)
            xp.multiply(xs[: d - t], xs[t:], out=F[start : start + d - t])
            start += d - t
    return F


@functools.lru_cache(maxsize=16)
def product_pairs(d: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j), i <= j, of the 'products' columns of :func:`shifted_rows`:
    the upper triangle of a d x d matrix diagonal by diagonal,
    (0, 0), ..., (d-1, d-1), (0, 1), ..., (d-2, d-1), ..., (0, d-1)."""
    rows = np.concatenate([np.arange(d - t) for t in range(d)])
    cols = rows + np.repeat(np.arange(d), np.arange(d, 0, -1))
    rows.flags.writeable = cols.flags.writeable = False  # shared by every call (cached)
    return rows, cols


@functools.lru_cache(maxsize=16)
def _unpack_index(d: int) -> np.ndarray:
    """For each (i, j) of a d x d matrix, in row-major order, the position of
    (min(i, j), max(i, j)) among the 'products' columns (:func:`product_pairs`)."""
    rows, cols = product_pairs(d)
    position = np.empty((d, d), dtype=np.intp)
    position[rows, cols] = position[cols, rows] = np.arange(rows.size)
    position = position.ravel()
    position.flags.writeable = False  # shared by every call (cached)
    return position


def _augmented_work(xp: Any, R: Residuals) -> Any:
    """One flat work array of R.A's size: the whitened residuals (K, d, n),
    dead once reduced, then the weighted augmented residuals (K, 1 + d, n)."""
    return _scratch(xp, R._workspace, "work", (R.A.size,), R.A.dtype)


def _scratch(xp: Any, workspace: Workspace | None, name: str, shape: tuple, dtype: Any) -> Any:
    return xp.empty(shape, dtype=dtype) if workspace is None else workspace.get(xp, name, shape, dtype)


def _whitened_bound(xp: Any, abs_prec_chol: Any, offset: Any) -> Any:
    """|| |P_k|^T |a_k| ||_2 for (K, d, d) or shared (d, d) factors."""
    spec = "kji,kj->ki" if abs_prec_chol.ndim == 3 else "ji,kj->ki"
    return xp.sqrt((xp.einsum(spec, abs_prec_chol, xp.abs(offset)) ** 2).sum(axis=1))


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
        return inner(Y, Y, axis=1)

    def centered_moments(self, xp, R, resp):
        if R.A is not None:
            # GEMMs over [1; D] give the first moments with the second (about
            # hi: the origin of augmented residuals, see e_step_terms); the
            # matrix is symmetric, so with a split the trailing rows need only
            # the trailing columns (3/4 of the multiply-adds).
            A = R.A
            W = xp.multiply(A, resp[:, None, :], out=_augmented_work(xp, R).reshape(A.shape))
            m = 1 + (self._split() or self.d)
            G = xp.empty((A.shape[0],) + A.shape[1:2] * 2, dtype=A.dtype)
            G[:, :m] = gram(W[:, :m], A)
            if m <= self.d:
                G[:, m:, :m] = xp.swapaxes(G[:, :m, m:], 1, 2)
                G[:, m:, m:] = gram(W[:, m:], A[:, m:])
            return G[:, 0, 1:], self._in_shape(G[:, 1:, 1:])
        # Weighted residuals, the multiply running along n (contiguous).
        W = xp.multiply(R.D, resp[:, None, :], out=R.scratch("work"))
        second = gram(W, R.D)  # sum_n W_kn D_kn^T, (K, d, d)
        return W.sum(axis=2), self._in_shape(second)

    augmented = True

    def _split(self) -> int:
        """h: the first h dimensions form the leading block of the triangular
        and symmetric products (0: no split, for small d)."""
        return self.d // 2 if self.d >= 4 else 0

    def _triangular(self, xp, prec_chol) -> bool:
        """Whether every factor is upper triangular (P^T lower): from a
        covariance's Cholesky factor, not always from precisions_init."""
        lower = xp.tri(self.d, k=-1, dtype=bool)
        return bool(xp.all((prec_chol[:, lower] if prec_chol.ndim == 3 else prec_chol[lower]) == 0))

    def _whitening_rows(self, xp, prec_chol, offset, split: bool) -> tuple[Any, Any]:
        """Rows [-P_k^T a_k, P_k^T], (K, d, 1 + d), for offsets a_k (K, d) or
        None (zero): a GEMM with [1; y] gives P_k^T (y - a_k).

        With ``split`` and every P_k upper triangular (from a covariance; not
        always from precisions_init), P_k^T's first h rows need only the
        first 1 + h of [1; y]: returns (lead (K, h, 1 + h), rest (K, d - h, 1 + d)),
        two GEMMs with 3/4 of the multiply-adds; otherwise (rows, None).
        """
        P = xp.broadcast_to(prec_chol, (self.K, self.d, self.d))
        B = xp.zeros((self.K, self.d, 1 + self.d), dtype=prec_chol.dtype)
        B[:, :, 1:] = xp.swapaxes(P, 1, 2)
        if offset is not None:
            B[:, :, 0] = -xp.einsum("kji,kj->ki", P, offset.astype(prec_chol.dtype))
        h = self._split() if split else 0
        if h and self._triangular(xp, prec_chol):
            return xp.ascontiguousarray(B[:, :h, : 1 + h]), xp.ascontiguousarray(B[:, h:])
        return B, None

    def residual_terms(self, xp, prec_chol, lo, device):
        # [-P_k^T lo_k, P_k^T] with [1; x - hi_k] gives P_k^T (x - c_k); P^T lo
        # is of the order of one ulp of the whitened centre, so nothing
        # cancels.  Split on the CPU only: CuPy's matmul copies operands and
        # outputs that are not contiguous, as those row blocks of every
        # component are.
        return self._whitening_rows(xp, prec_chol, lo, split=device == "cpu")

    def residual_mahalanobis(self, xp, R, terms):
        lead, rest = terms
        Y = _augmented_work(xp, R)[: R.D.size].reshape(R.D.shape)
        if rest is None:
            xp.matmul(lead, R.A, out=Y)
        else:
            h = lead.shape[1]
            xp.matmul(lead, R.A[:, : 1 + h], out=Y[:, :h])
            xp.matmul(rest, R.A, out=Y[:, h:])
        return inner(Y, Y, axis=1)

    def cancellation(self, xp, prec_chol, offset):
        return _whitened_bound(xp, xp.abs(prec_chol), offset)

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

    def expanded_extra(self, device):
        # The products form (one GEMM each for the densities and the moments,
        # over the d (d + 1) / 2 products per row) against the whitening form
        # (K d whitened and weighted rows per row, two GEMMs each): measured on
        # one CPU thread, the products pay while d < 3 K (benchmarks/
        # bench_scaling.py).  The GPU keeps the whitening form, whose kernels
        # were tuned on the device.
        return "products" if device == "cpu" and self.d < 3 * self.K else None

    def expanded_row_items(self, device):
        if self.expanded_extra(device) == "products":
            return super().expanded_row_items(device)
        return super().expanded_row_items(device) + self.K * self.d  # whitened, then weighted, rows

    def expanded_rounding(self, extra):
        # The products form's density is a dot product of M = 1 + d + d(d+1)/2
        # terms whose factors carry rounding of their own (the products of
        # two rounded shifted coordinates: 3 more; the coefficients from
        # Lambda = P P^T and Lambda a: 2 d more): |error| <= gamma_{M+3+2d}
        # (|xs| + |a|)^T |P| |P|^T (|xs| + |a|) <= gamma_{M+3+2d} (rho + 2 kappa)^2,
        # rho = || |P|^T |x - c| ||, against about 3 gamma_d rho^2 for the
        # residual form's whitening and squares.
        d = self.d
        return max(1.0, (d * d + 7 * d + 8) / (6 * d)) if extra == "products" else 1.0

    def expanded_terms(self, xp, prec_chol, offset, extra):
        if extra == "products":
            return self._product_terms(xp, prec_chol, offset)
        # The whitening rows of all components stacked, (K d, 1 + d): one GEMM
        # with the shared F = [1; xs] gives every P_k^T (x_n - c_k) (two
        # with the triangular split).
        lead, rest = self._whitening_rows(xp, prec_chol, offset, split=True)
        return lead.reshape(-1, lead.shape[2]), None if rest is None else rest.reshape(-1, rest.shape[2])

    def _product_terms(self, xp, prec_chol, offset):
        # (xs - a)^T Lambda (xs - a) = a^T Lambda a + (-2 Lambda a)^T xs
        #   + sum_{i <= j} (2 - [i = j]) Lambda_ij xs_i xs_j:
        # linear in the rows [1; xs; products] of F, so one GEMM.
        K, d = offset.shape
        b = xp.einsum("kji,kj->ki", prec_chol, offset)  # P^T a
        lam = self.precisions(xp, prec_chol)
        rows, cols = product_pairs(d)
        packed = lam[:, xp.asarray(rows), xp.asarray(cols)] * xp.asarray(np.where(rows == cols, 1.0, 2.0), dtype=lam.dtype)
        return xp.concatenate([(b * b).sum(axis=1)[:, None], -2.0 * xp.einsum("kij,kj->ki", lam, offset), packed], axis=1)

    def expanded_mahalanobis(self, xp, F, terms, workspace=None):
        if not isinstance(terms, tuple):  # the products form: one GEMM
            return xp.matmul(terms, F, out=_scratch(xp, workspace, "lr", (terms.shape[0], F.shape[1]), F.dtype))
        n, d = F.shape[1], self.d
        lead, rest = terms
        h = self._split() if rest is not None else d
        K = lead.shape[0] // h  # from the parameters' shapes, as everywhere
        # One (K d, n) work array, shared with expanded_moments' weighted rows.
        buf = _scratch(xp, workspace, "expanded", (K * d * n,), F.dtype)
        if rest is None:
            Y = xp.matmul(lead, F, out=buf.reshape(K * d, n)).reshape(K, d, n)
            return inner(Y, Y, axis=1)
        split = K * h * n
        YA = xp.matmul(lead, F[: h + 1], out=buf[:split].reshape(K * h, n)).reshape(K, h, n)
        YB = xp.matmul(rest, F, out=buf[split:].reshape(K * (d - h), n)).reshape(K, d - h, n)
        out = inner(YA, YA, axis=1)
        out += inner(YB, YB, axis=1)
        return out

    def expanded_moments(self, xp, F, resp, workspace=None):
        (K, n), d = resp.shape, self.d
        if F.shape[0] > d + 1:  # the products form: one GEMM, then the packed moments unfolded
            M = xp.matmul(resp, F.T)
            return M[:, 1 : d + 1], M[:, d + 1 :][:, xp.asarray(_unpack_index(d))].reshape(K, d, d)
        xs = F[1 : d + 1]
        # r_nk xs_n for every k, then all components' sum_n r_nk xs_n xs_n^T
        # in GEMMs (K d, n) @ (n, d); the matrices are symmetric, so with a
        # split the trailing rows need only the trailing columns (3/4 of
        # the multiply-adds).
        h = self._split() or d
        buf = _scratch(xp, workspace, "expanded", (K * d * n,), F.dtype)
        WA = xp.multiply(xs[None, :h], resp[:, None, :], out=buf[: K * h * n].reshape(K, h, n))
        lead = xp.matmul(WA.reshape(K * h, n), xs.T).reshape(K, h, d)
        if h == d:
            return xp.matmul(resp, xs.T), lead
        WB = xp.multiply(xs[None, h:], resp[:, None, :], out=buf[K * h * n :].reshape(K, d - h, n))
        second = xp.empty((K, d, d), dtype=lead.dtype)
        second[:, :h] = lead
        second[:, h:, :h] = xp.swapaxes(lead[:, :, h:], 1, 2)
        second[:, h:, h:] = xp.matmul(WB.reshape(K * (d - h), n), xs[h:].T).reshape(K, d - h, d - h)
        return xp.matmul(resp, xs.T), second

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

    def take(self, prec_chol, idx):
        return prec_chol

    def combine(self, xp, parts):
        return sum(second for _, second in parts)

    def expanded_row_items(self, device):
        return super().expanded_row_items(device) + 2 * self.d  # P^T xs, weighted xs

    def expanded_terms(self, xp, prec_chol, offset, extra):
        # ||P^T xs - b_k||^2 = ||b_k||^2 + (-2 P b_k)^T xs + ||P^T xs||^2, b_k = P^T a_k.
        b = offset @ prec_chol
        B = xp.empty((offset.shape[0], self.d + 1), dtype=prec_chol.dtype)
        B[:, 0] = (b * b).sum(axis=1)
        B[:, 1:] = -2.0 * (b @ prec_chol.T)
        return xp.ascontiguousarray(prec_chol.T), B

    def expanded_mahalanobis(self, xp, F, terms, workspace=None):
        prec_chol_t, B = terms
        y = xp.matmul(prec_chol_t, F[1 : self.d + 1])  # P^T xs, (d, n)
        out = xp.matmul(B, F, out=_scratch(xp, workspace, "lr", (B.shape[0], F.shape[1]), F.dtype))
        out += inner(y, y, axis=0)[None, :]
        return out

    def expanded_moments(self, xp, F, resp, workspace=None):
        xs = F[1 : self.d + 1]
        weighted = xs * resp.sum(axis=0)[None, :]  # sum_k r_nk: the components share Sigma
        return xp.matmul(resp, xs.T), xp.matmul(weighted, xs.T)

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
        r = resp[:, :, None]  # (K, n, 1)
        first = xp.matmul(R.D, r)[:, :, 0]
        return first, self._in_shape(xp.matmul(R.squared, r)[:, :, 0])

    def add_diagonal(self, xp, cov, value):
        return cov + _per_component(xp, value, cov)

    def expanded_mahalanobis(self, xp, F, terms, workspace=None):
        # One GEMM: the quadratic is linear in F's rows.
        return xp.matmul(terms, F, out=_scratch(xp, workspace, "lr", (terms.shape[0], F.shape[1]), F.dtype))

    def expanded_moments(self, xp, F, resp, workspace=None):
        d = self.d
        M = xp.matmul(resp, F.T)  # (K, n) @ (n, 1 + 2 d): counts, first moments, squares
        return M[:, 1 : d + 1], M[:, d + 1 :]

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
        return xp.matmul((prec_chol**2)[:, None, :], R.squared)[:, 0, :]

    _extra = "squares"

    def cancellation(self, xp, prec_chol, offset):
        return xp.sqrt(((prec_chol * offset) ** 2).sum(axis=1))

    def expanded_terms(self, xp, prec_chol, offset, extra):
        # sum_j lambda_kj (xs_j - a_kj)^2 = sum_j lambda a^2 + xs.(-2 lambda a) + xs^2.lambda
        lam = prec_chol**2
        return xp.concatenate([(lam * offset**2).sum(axis=1)[:, None], -2.0 * lam * offset, lam], axis=1)

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

    _extra = "sumsq"

    def _in_shape(self, second):
        return second.mean(axis=1)

    def cancellation(self, xp, prec_chol, offset):
        return prec_chol * xp.sqrt((offset**2).sum(axis=1))

    def expanded_terms(self, xp, prec_chol, offset, extra):
        lam = prec_chol**2
        return xp.concatenate([(lam * (offset**2).sum(axis=1))[:, None], -2.0 * lam[:, None] * offset, lam[:, None]], axis=1)

    def expanded_moments(self, xp, F, resp, workspace=None):
        M = xp.matmul(resp, F.T)  # counts, first moments, sum_j xs_j^2
        return M[:, 1 : self.d + 1], M[:, self.d + 1] / self.d

    def mahalanobis(self, xp, R, prec_chol):
        return (prec_chol**2)[:, None] * R.squared.sum(axis=1)

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
