"""Additive sufficient statistics of a Gaussian mixture, accumulated over row chunks.

Given responsibilities r_nk, everything the M-step (EM) or the global updates
(CAVI) need from the data is

    N_k = sum_n r_nk,   s_k = sum_n r_nk (x_n - o_k),   S_k = sum_n r_nk (x_n - o_k)(x_n - o_k)^T

(or the diagonal of S_k, or the total sum_n (x_n - c)(x_n - c)^T for 'tied'),
plus two scalars for the bound: sum_n log sum_k rho_nk and the entropy of
q(Z), -sum_nk r_nk log r_nk (Bishop (2006), eqs. 9.26-9.27, 10.51-10.53).

All of them are sums over rows, so the statistics of two chunks add up to the
statistics of both: :class:`GaussianStats` supports ``+``.  The local steps
here (:func:`e_step`, :func:`moments_step`, :func:`means_step`) are pure
functions of one chunk, its sample weights and broadcast parameters; the
executor (:mod:`varbayes._execution`) maps them over the chunks and sums, so
a fit streams X through fixed-size chunks (bounded extra memory), and the
same code serves online or distributed fits.  With sample weights w_n, every
sum above weighs row n by w_n (integer weights are repeated rows).

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
initial responsibilities), :func:`initial_stats` first takes the
resp-weighted means in float64 and then the moments about them: the classic
two-pass algorithm.  Per-chunk arithmetic runs in the dtype of X; the origins are
split into a part in that dtype and a remainder (:func:`split_centers`), so
float32 densities are taken about the float64 centre (the E-step of 'full'
and 'tied' subtracts the remainder inside its whitening GEMM and takes the
moments about the rounded centre, see :func:`residuals`); the chunk sums are
accumulated in float64.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from .._backend import Backend, inner, to_numpy
from .._execution import ChunkExecutor, chunk_slices, workspace  # noqa: F401  (chunk_slices re-exported for the tests)
from ..vi._loop import RESOLUTION
from ._covariance import Covariance, get_covariance, residuals, shifted_rows, split_centers

#: Working memory per chunk targeted by the automatic chunk size, in bytes.
#: On CPU a chunk that stays in cache is fastest; a GPU wants large chunks.
CHUNK_BYTES = {"cpu": 1 << 21, "gpu": 1 << 30}


def _rows_within_budget(be: Backend, items_per_row: int, itemsize: int) -> int:
    return max(CHUNK_BYTES[be.name] // (itemsize * items_per_row), 64)


def _residual_items(n_components: int, n_features: int) -> int:
    # Residuals (with a row of ones for 'full' and 'tied'), whitened or
    # weighted residuals, and the vector types' squares: at most three
    # (K, d + 1) per row, and the (K,) log weights, responsibilities and
    # their work.
    return 3 * n_components * (n_features + 1) + 4 * n_components + 2 * n_features


def auto_chunk_size(be: Backend, cov: Covariance, n_samples: int, dtype: Any) -> int:
    """Rows per chunk so that a chunk's work arrays fit the budget.

    Sized for the expanded form where the data's dtype allows it (see
    :func:`expanded_components`): its work arrays are (d + e + 1) per row
    (K d more for 'full''s whitening form), so the rows are many and the per-chunk overhead small;
    components in the residual form, (K, d + 1) per row, take the chunk in
    smaller pieces (:func:`residual_pieces`).
    """
    dtype = np.dtype(dtype)
    if _may_expand(dtype):
        items = cov.expanded_row_items(be.name) + 4 * cov.K
    else:
        items = _residual_items(cov.K, cov.d)
    return int(min(_rows_within_budget(be, items, dtype.itemsize), max(n_samples, 1)))


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
    n_samples : float
        The total sample weight summed (the number of rows when unweighted).
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
    n_samples: float
    origin: Any
    dtype: Any = np.dtype(np.float64)
    rounding: float = 0.0

    def __add__(self, other: "GaussianStats") -> "GaussianStats":
        self._check_same_origin(other)
        return replace(
            self,
            counts=self.counts + other.counts,
            first=self.first + other.first,
            second=self.second + other.second,
            log_norm=self.log_norm + other.log_norm,
            entropy=self.entropy + other.entropy,
            n_samples=self.n_samples + other.n_samples,
            rounding=max(self.rounding, other.rounding) + 3.0 * float(np.finfo(np.float64).eps),
        )

    def __iadd__(self, other: "GaussianStats") -> "GaussianStats":
        """In place, for the executor's running sum (its first term is a chunk's own arrays)."""
        self._check_same_origin(other)
        self.counts += other.counts
        self.first += other.first
        self.second += other.second
        self.log_norm = self.log_norm + other.log_norm
        self.entropy = self.entropy + other.entropy
        self.n_samples = self.n_samples + other.n_samples
        self.rounding = max(self.rounding, other.rounding) + 3.0 * float(np.finfo(np.float64).eps)
        return self

    def _check_same_origin(self, other: "GaussianStats") -> None:
        mine, theirs = self.origin, other.origin
        if mine is not theirs and not np.array_equal(_host(mine), _host(theirs)):
            raise ValueError("Cannot add statistics computed with different origins.")

    def scaled(self, factor: float) -> "GaussianStats":
        """Every sum times ``factor`` (a minibatch standing in for the data set)."""
        return replace(
            self, counts=self.counts * factor, first=self.first * factor, second=self.second * factor,
            log_norm=self.log_norm * factor, entropy=self.entropy * factor, n_samples=self.n_samples * factor,
        )

    def blend(self, xp: Any, cov: Covariance, other: "GaussianStats", rho: float) -> "GaussianStats":
        """(1 - rho) self + rho other: the running average of stochastic VI and
        online EM.

        The average of the raw sums (N_k, sum r x, sum r x x^T), on which the
        natural parameters depend linearly, formed without them: each side's
        means and scatters about its means, then the scatter about the common
        mean by the parallel-variance formula (Chan, Golub & LeVeque (1979)),
        so statistics about different origins combine without cancellation.
        The result has its origins at the blended means.
        """
        a, b = 1.0 - rho, rho
        means_a, means_b = self.mean(_nonzero(xp, self.counts)), other.mean(_nonzero(xp, other.counts))
        counts = a * self.counts + b * other.counts
        means = (a * self.counts[:, None] * means_a + b * other.counts[:, None] * means_b) / _nonzero(xp, counts)[:, None]
        da, db = means_a - means, means_b - means
        second = (
            a * self.scatter(xp, cov, means_a)
            + b * other.scatter(xp, cov, means_b)
            + cov.weighted_outer(xp, da, da, a * self.counts)
            + cov.weighted_outer(xp, db, db, b * other.counts)
        )
        eps = float(np.finfo(np.float64).eps)
        return GaussianStats(
            counts, xp.zeros_like(means), second, a * self.log_norm + b * other.log_norm,
            a * self.entropy + b * other.entropy, a * self.n_samples + b * other.n_samples, means,
            self.dtype, max(self.rounding, other.rounding) + 8.0 * eps,
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


def _nonzero(xp: Any, counts: Any) -> Any:
    """Counts with 0 replaced by 1: an empty component's mean is its origin."""
    return xp.where(counts > 0, counts, 1.0)


def _host(a: Any) -> np.ndarray:
    return np.asarray(to_numpy(a))  # the backend knows CuPy


def chunk_stats(
    be: Backend, moments: Callable[[Any], tuple[Any, Any]], resp: Any, weights: Any, origin: Any, dtype: Any,
    log_norm: Any = None, entropy: Any = None,
) -> GaussianStats:
    """The statistics of one chunk from its responsibilities.

    ``resp`` is (K, n) (see :func:`normalize_log_rho`); ``moments(resp)``
    returns the resp-weighted first and second moments of
    the chunk's rows about ``origin`` (residuals, or shifted rows for the
    expanded form); ``weights`` (rows,) or None multiply each row;
    ``log_norm`` and ``entropy`` are per-row arrays (or None), summed with
    the same weights.  Sums in the chunk run in ``dtype``, the totals are
    float64.

    Rounding (Higham (2002), sec. 3.1): each product of residuals carries the
    residuals' rounding (2 eps_x), the chunk's sum of m terms gamma_m =
    m eps_x; with Cauchy-Schwarz, |error_ij| <= gamma sqrt(S_ii S_jj), and the
    same bound again, twice, for the cross terms of the scatter about a
    nearby centre: 3 gamma.  Each addition of chunk totals (float64) adds
    3 eps.
    """
    xp = be.xp
    f64 = xp.float64
    rows = resp.shape[1]
    if weights is not None:
        resp = resp * weights[None, :].astype(resp.dtype)
    c_first, c_second = moments(resp)
    zero = xp.zeros((), dtype=f64)

    def total(values: Any) -> Any:
        if values is None:
            return zero
        values = values.astype(f64, copy=False)
        return values.sum() if weights is None else values @ weights.astype(f64, copy=False)

    n = rows if weights is None else float(be.scalar(weights.sum(dtype=f64)))
    rounding = 3.0 * (rows + 2) * float(np.finfo(dtype).eps)
    return GaussianStats(
        resp.sum(axis=1).astype(f64, copy=False), c_first.astype(f64, copy=False), c_second.astype(f64, copy=False),
        total(log_norm), total(entropy),
        n, origin, np.dtype(dtype), rounding,
    )


#: The largest u c (1 + 2 kappa_k)^2, u the unit roundoff of the data's dtype
#: and c the form's :meth:`Covariance.expanded_rounding`, for which component
#: k's E-step uses the expanded form (see :func:`expanded_components`).  The
#: fit loop's convergence rule counts a decrease of the bound within this
#: relative size as a step that did not raise it, so the two are one number.
EXPANDED_TOLERANCE = RESOLUTION


def expanded_components(
    xp: Any, cov: Covariance, centers: Any, prec_chol: Any, dtype: Any, extra: str | None = None
) -> tuple[np.ndarray, Any]:
    """Which components' E-step may use the expanded form, and about which point.

    The shared point o is the coordinate-wise median of the centres (a few
    components far from the rest do not move it).  For component k the
    expanded form's rounding bounds, for the densities and for the scatter
    about the new centre, are at most (1 + 2 kappa_k)^2 times those of the
    residual form, kappa_k = || |P_k|^T |c_k - o| || (see
    :meth:`Covariance.cancellation`; from the current centres and precision
    factors), times c >= 1 for a form whose sums are longer than the
    residual form's (:meth:`Covariance.expanded_rounding` for the shifted
    rows' ``extra`` columns).  A component uses it when
    u c (1 + 2 kappa_k)^2 <= :data:`EXPANDED_TOLERANCE`: in float64 when its
    centre lies within about 474 / sqrt(c) whitened units of o; never in
    float32, whose residual form keeps the float64 centre.  Returns a host
    boolean mask (K,) and o (d,), float64.
    """
    shift = xp.median(centers, axis=0)
    kappa = cov.cancellation(xp, prec_chol, centers - shift)
    with np.errstate(invalid="ignore", over="ignore"):
        mask = _unit_roundoff(dtype) * cov.expanded_rounding(extra) * (1.0 + 2.0 * kappa) ** 2 <= EXPANDED_TOLERANCE
    return _host(mask).astype(bool), shift


def _unit_roundoff(dtype: Any) -> float:
    return float(np.finfo(dtype).eps) / 2


def _may_expand(dtype: Any) -> bool:
    """Whether any component (kappa = 0) may take the expanded form in ``dtype``."""
    return _unit_roundoff(dtype) <= EXPANDED_TOLERANCE


@dataclass(frozen=True)
class ResidualPart:
    """Components whose E-step forms the residuals x_n - c_k (:func:`residuals`).

    ``idx``: their indices (None: all K), ``cov`` the covariance object for
    them, ``hi`` and ``lo`` their centres split into the data's dtype
    (:func:`split_centers`), ``terms`` what their densities need
    (:meth:`Covariance.residual_terms`, in that dtype); a chunk whose
    residuals exceed the budget is taken in pieces (see
    :func:`residual_pieces`).
    """

    idx: Any
    cov: Covariance
    hi: Any
    lo: Any
    terms: Any


@dataclass(frozen=True)
class ExpandedPart:
    """Components whose E-step uses the expanded form about the shared point
    o: ``hi`` and ``lo`` are o split into the data's dtype, ``terms`` the
    covariance type's :meth:`Covariance.expanded_terms` for them, ``extra``
    the shifted rows' extra columns (:meth:`Covariance.expanded_extra`)."""

    idx: Any
    cov: Covariance
    hi: Any
    lo: Any
    terms: Any
    extra: str | None


@dataclass(frozen=True)
class EStepTerms:
    """What each chunk of an E-step needs (broadcast parameters):
    log rho_nk = log_const_k - 1/2 ||P_k^T (x_n - c_k)||^2.

    ``origin`` (K, d), float64, is each component's point about which its
    moments are taken: its centre c_k (the residual form; for augmented
    residuals the centre rounded to the data's dtype, see
    :class:`~varbayes.mixture._covariance.Residuals`) or the shared point o
    (the expanded form).  ``residual`` and ``expanded`` say which
    components take which form (either may be None); ``log_const`` is in the
    dtype of X.
    """

    cov: Covariance
    origin: Any
    log_const: Any
    residual: ResidualPart | None
    expanded: ExpandedPart | None


def e_step_terms(
    be: Backend, cov: Covariance, centers: Any, prec_chol: Any, log_const: Any, dtype: Any, form: str = "auto"
) -> EStepTerms:
    """:class:`EStepTerms` for data of ``dtype`` from float64 parameters,
    each component in the form its cancellation bound allows
    (:func:`expanded_components`).

    ``form`` 'expanded' or 'residual' imposes one form on every component
    (for tests that show what the bound protects against).
    """
    xp = be.xp
    extra = cov.expanded_extra(be.name)  # chosen for all K, as the chunk size was
    mask, shift = expanded_components(xp, cov, centers, prec_chol, dtype, extra)
    if form != "auto":
        mask = np.full(cov.K, form == "expanded")

    def subset(which: np.ndarray) -> tuple[Any, Covariance]:
        if which.all():
            return None, cov
        idx = np.flatnonzero(which)
        return be.asarray(idx), get_covariance(cov.name, idx.size, cov.d)

    residual = expanded = None
    origin = centers
    if not mask.all():
        idx, sub = subset(~mask)
        sel = centers if idx is None else centers[idx]
        hi, lo = split_centers(xp, sel, dtype)
        prec = cov.take(prec_chol, idx) if idx is not None else prec_chol
        residual = ResidualPart(idx, sub, hi, lo, _in_dtype(sub.residual_terms(xp, prec, lo, be.name), dtype))
        if sub.augmented and lo is not None:  # their moments are about hi (see Residuals)
            origin = centers.copy()
            origin[slice(None) if idx is None else idx] = hi.astype(centers.dtype)
    if mask.any():
        idx, sub = subset(mask)
        sel = centers if idx is None else centers[idx]
        hi, lo = split_centers(xp, shift[None, :], dtype)
        terms = sub.expanded_terms(xp, prec_chol if idx is None else cov.take(prec_chol, idx), sel - shift, extra)
        expanded = ExpandedPart(idx, sub, hi[0], None if lo is None else lo[0], _in_dtype(terms, dtype), extra)
        origin = xp.where(xp.asarray(mask)[:, None], shift[None, :], origin) if residual is not None else (
            xp.broadcast_to(shift, centers.shape).copy())
    return EStepTerms(cov, origin, log_const.astype(dtype), residual, expanded)


def _in_dtype(terms: Any, dtype: Any) -> Any:
    """A form's terms (an array, or a tuple of arrays and None) in ``dtype``."""
    if isinstance(terms, tuple):
        return tuple(None if t is None else t.astype(dtype) for t in terms)
    return terms.astype(dtype)


def chunk_log_rho(xp: Any, Xc: Any, terms: EStepTerms, workspace: Any = None) -> tuple[Any, Any, Any]:
    """Unnormalised log responsibilities (K, rows) of a chunk, and what its
    moments need: the residuals (or None) and the shifted rows (or None)."""
    R = F = None
    parts = []
    e, r = terms.expanded, terms.residual
    if e is not None:
        F = shifted_rows(xp, Xc, e.hi, e.lo, e.extra, workspace)
        parts.append((e.idx, e.cov.expanded_mahalanobis(xp, F, e.terms, workspace)))
    if r is not None:
        R = residuals(xp, Xc, r.hi, r.lo, workspace, augmented=r.cov.augmented)
        parts.append((r.idx, r.cov.residual_mahalanobis(xp, R, r.terms)))
    if len(parts) == 1:
        out = parts[0][1]
    else:
        out = xp.empty((terms.cov.K, Xc.shape[0]), dtype=Xc.dtype)
        for idx, part in parts:
            out[idx] = part
    out *= -0.5
    out += terms.log_const[:, None]
    return out, R, F


def chunk_moments(xp: Any, terms: EStepTerms, R: Any, F: Any, resp: Any, workspace: Any = None) -> tuple[Any, Any]:
    """The resp-weighted moments of a chunk about ``terms.origin``, each
    component's in its form (see :func:`chunk_log_rho`)."""
    parts = []
    e, r = terms.expanded, terms.residual
    if e is not None:
        parts.append((e.idx, e.cov.expanded_moments(xp, F, resp if e.idx is None else resp[e.idx], workspace)))
    if r is not None:
        parts.append((r.idx, r.cov.centered_moments(xp, R, resp if r.idx is None else resp[r.idx])))
    if len(parts) == 1:
        return parts[0][1]
    cov = terms.cov
    first = xp.empty((cov.K, cov.d), dtype=resp.dtype)
    for idx, (f, _) in parts:
        first[idx] = f
    return first, cov.combine(xp, [(idx, second) for idx, (_, second) in parts])


def e_step(Xc: Any, weights: Any, rows: slice, be: Backend, terms: EStepTerms) -> GaussianStats:
    """The local step of a mixture: responsibilities of a chunk, and their statistics.

    Moments are taken about each component's origin (its current centre,
    rounded to the data's dtype for augmented residuals, or the shared point
    of the expanded form), from the residuals or shifted
    rows that the densities need anyway (see the module docstring).
    """
    split = residual_pieces(be, Xc, terms)
    if split is not None:
        return split.map_sum(e_step, Xc, weights, be, terms, start=rows.start)
    xp, ws = be.xp, workspace()
    lr, R, F = chunk_log_rho(xp, Xc, terms, ws)
    resp, log_norm, entropy = normalize_log_rho(be, lr)
    moments = lambda r: chunk_moments(xp, terms, R, F, r, ws)  # noqa: E731
    return chunk_stats(be, moments, resp, weights, terms.origin, Xc.dtype, log_norm, entropy)


def pieces(be: Backend, Xc: Any, n_components: int) -> ChunkExecutor | None:
    """An executor over pieces of the chunk ``Xc`` when the residuals of
    ``n_components`` components would exceed the chunk budget in one (None
    when they fit): chunks are sized for the expanded form's narrower work
    arrays (:func:`auto_chunk_size`)."""
    max_rows = _rows_within_budget(be, _residual_items(n_components, Xc.shape[1]), Xc.dtype.itemsize)
    return ChunkExecutor(max_rows) if Xc.shape[0] > max_rows else None


def residual_pieces(be: Backend, Xc: Any, terms: EStepTerms) -> ChunkExecutor | None:
    """:func:`pieces` for the E-step's residual-form components (None without any)."""
    return None if terms.residual is None else pieces(be, Xc, terms.residual.cov.K)


#: Responsibilities of the rows at given positions: (chunk, rows) -> (rows, K).
RespFn = Callable[[Any, slice], Any]


@dataclass
class _WeightedSums:
    """sum_n w_n r_nk and sum_n w_n r_nk x_n (float64): additive."""

    counts: Any
    total: Any

    def __add__(self, other: "_WeightedSums") -> "_WeightedSums":
        return _WeightedSums(self.counts + other.counts, self.total + other.total)


def means_step(Xc: Any, weights: Any, rows: slice, be: Backend, resp_fn: RespFn) -> _WeightedSums:
    """Local step of the first pass: resp-weighted sums, in float64."""
    f64 = be.xp.float64
    resp = resp_fn(Xc, rows).astype(f64)
    if weights is not None:
        resp = resp * weights[:, None].astype(f64)
    return _WeightedSums(resp.sum(axis=0), resp.T @ Xc.astype(f64))


def moments_step(
    Xc: Any, weights: Any, rows: slice, be: Backend, cov: Covariance, resp_fn: RespFn, origin: Any, hi: Any, lo: Any
) -> GaussianStats:
    """Local step of the second pass: the moments of given responsibilities about ``origin``."""
    split = pieces(be, Xc, cov.K)
    if split is not None:
        return split.map_sum(moments_step, Xc, weights, be, cov, resp_fn, origin, hi, lo, start=rows.start)
    R = residuals(be.xp, Xc, hi, lo, workspace())
    resp = be.xp.ascontiguousarray(resp_fn(Xc, rows).T)
    return chunk_stats(be, lambda r: cov.centered_moments(be.xp, R, r), resp, weights, origin, Xc.dtype)


def initial_stats(
    executor: Any, be: Backend, cov: Covariance, X: Any, sample_weight: Any, resp_fn: RespFn, origin: Any = None
) -> GaussianStats:
    """The statistics of given responsibilities: two passes (the weighted
    means, then the moments about them), or one about a given ``origin``.

    ``resp_fn`` must give the same responsibilities on both passes.
    """
    if origin is None:
        origin = weighted_means(executor, be, X, sample_weight, resp_fn)
    hi, lo = split_centers(be.xp, origin, X.dtype)
    return executor.map_sum(moments_step, X, sample_weight, be, cov, resp_fn, origin, hi, lo)


def one_hot_stats(executor: Any, be: Backend, cov: Covariance, X: Any, sample_weight: Any, indices: np.ndarray) -> GaussianStats:
    """The statistics of responsibilities one-hot on K rows, component k
    owning the row at position ``indices[k]`` (every other row owned by none):
    those of :func:`initial_stats`, from the K rows alone.

    N_k = w_k (the row's weight), the moments about the row itself are 0, and
    log_norm and entropy 0 (what the two passes sum to); the origin of a
    component whose row weighs 0 is 0, as the two passes' empty mean.  Only
    the total weight needs a pass, over the chunks of ``sample_weight`` (no
    arithmetic on X's rows).
    """
    xp, f64 = be.xp, be.xp.float64
    order = np.argsort(indices)
    rows = be.asarray(executor.take(X, np.asarray(indices)[order])).astype(f64)
    origin = xp.empty_like(rows)
    origin[be.asarray(order)] = rows
    if sample_weight is None:
        counts, n_samples = xp.ones(cov.K, dtype=f64), X.shape[0]
    else:
        taken = be.asarray(executor.take(sample_weight, np.asarray(indices)[order])).astype(f64)
        counts = xp.empty_like(taken)
        counts[be.asarray(order)] = taken
        origin = xp.where(counts[:, None] > 0, origin, 0.0)
        n_samples = float(executor.map_sum(_weight_total, X, sample_weight, be))
    zero = xp.zeros((), dtype=f64)
    second = xp.zeros(cov.shape, dtype=f64)  # the type's shape of the second moments
    return GaussianStats(counts, xp.zeros_like(origin), second, zero, zero, n_samples, origin, np.dtype(X.dtype))


def _weight_total(Xc: Any, weights: Any, rows: slice, be: Backend) -> float:
    return be.scalar(weights.sum(dtype=be.xp.float64))


def weighted_means(executor: Any, be: Backend, X: Any, sample_weight: Any, resp_fn: RespFn) -> Any:
    """The first pass: sum_n w_n r_nk x_n / sum_n w_n r_nk in float64 (0 for an empty component)."""
    sums = executor.map_sum(means_step, X, sample_weight, be, resp_fn)
    return sums.total / _nonzero(be.xp, sums.counts)[:, None]


def accumulate(be: Backend, cov: Covariance, X: Any, chunk_size: int, resp_fn: Any, origin: Any = None) -> GaussianStats:
    """Statistics of responsibilities given chunk by chunk, in-process.

    ``resp_fn(R, rows)`` returns (resp (rows, K), per-row log normaliser or None,
    entropy or None), ``R`` being the chunk's residuals about the origins
    (None on the first of two passes, when ``origin`` is None).  A helper
    over :func:`initial_stats` for tests and one-off passes.
    """
    xp = be.xp
    executor = ChunkExecutor(chunk_size)
    if origin is None:
        origin = weighted_means(executor, be, X, None, lambda Xc, rows: resp_fn(None, rows)[0])
    hi, lo = split_centers(xp, origin, X.dtype)

    def step(Xc, weights, rows):
        R = residuals(xp, Xc, hi, lo)
        resp, log_norm, entropy = resp_fn(R, rows)
        moments = lambda r: cov.centered_moments(xp, R, r)  # noqa: E731
        return chunk_stats(be, moments, xp.ascontiguousarray(resp.T), weights, origin, Xc.dtype, log_norm, entropy)

    return executor.map_sum(step, X, None)


def normalize_log_rho(be: Backend, log_rho: Any) -> tuple[Any, Any, Any]:
    """Responsibilities from unnormalised log weights (Bishop (2006), eq. 10.49).

    ``log_rho`` is (K, n), the samples along the contiguous axis (so that
    every reduction over k is an elementwise pass over K rows).  Returns
    ``(resp, log_norm, entropy)``: resp (K, n) = exp(log_rho - log_norm),
    the per-sample logsumexp ``log_norm`` (n,) and the entropy
    -sum_k r log r (n,) in float64, written as log Z - sum_k e_k s_k / Z with
    s = log_rho - max, e = exp(s), Z = sum_k e_k, so that it needs no log r.
    ``log_rho`` is overwritten (with s).
    """
    xp = be.xp
    amax = log_rho.max(axis=0)
    amax = xp.where(xp.isfinite(amax), amax, 0)  # a row of -inf stays -inf
    log_rho -= amax[None, :]
    resp = xp.exp(log_rho)
    total = resp.sum(axis=0)
    # r log r -> 0 as r -> 0: where e = 0 (a component of weight 0 has
    # s = -inf), s is taken as 0.  The CPU masks only when a sum is not
    # finite; the GPU always masks, since reading that test would synchronise
    # the device once per chunk.
    weighted = inner(resp, log_rho, axis=0) if be.name == "cpu" else None
    if weighted is None or not be.all_on_host(xp.isfinite(weighted)):
        weighted = inner(resp, xp.where(resp > 0, log_rho, 0), axis=0)
    inv = 1.0 / total
    resp *= inv[None, :]
    log_total = xp.log(total)
    weighted *= inv
    entropy = log_total.astype(xp.float64) - weighted.astype(xp.float64, copy=False)
    return resp, log_total + amax, entropy
