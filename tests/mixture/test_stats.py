"""Chunked, additive sufficient statistics."""

import numpy as np
import pytest
import scipy.special

from varbayes._backend import get_backend
from varbayes.mixture._covariance import COVARIANCE_TYPES, get_covariance, residuals, split_centers
from varbayes._execution import ChunkExecutor
from varbayes.mixture._stats import (
    EXPANDED_TOLERANCE, accumulate, auto_chunk_size, chunk_log_rho, chunk_slices, e_step, e_step_terms,
    expanded_components, initial_stats, normalize_log_rho, one_hot_stats, pieces, residual_pieces,
)

be = get_backend("cpu")


def _resp_fn(resp_all, log_norm_all=None):
    def fn(Xc, rows):
        resp = resp_all[rows]
        ent = -np.sum(scipy.special.xlogy(resp, resp))
        return resp, None if log_norm_all is None else log_norm_all[rows], ent

    return fn


@pytest.mark.parametrize("name", list(COVARIANCE_TYPES))
def test_statistics_of_two_chunks_add_up_to_both(name):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(101, 3)) + 50.0
    resp = rng.dirichlet(np.ones(4), size=101)
    log_norm = rng.normal(size=101)
    cov = get_covariance(name, 4, 3)
    origin = (resp.T @ X) / resp.sum(0)[:, None]
    whole = accumulate(be, cov, X, 1000, _resp_fn(resp, log_norm), origin=origin)
    a = accumulate(be, cov, X[:40], 1000, _resp_fn(resp[:40], log_norm[:40]), origin=origin)
    b = accumulate(be, cov, X[40:], 1000, _resp_fn(resp[40:], log_norm[40:]), origin=origin)
    both = a + b
    chunked = accumulate(be, cov, X, 9, _resp_fn(resp, log_norm), origin=origin)
    for other in (both, chunked):
        assert other.n_samples == whole.n_samples == 101
        for field in ("counts", "first", "second", "log_norm", "entropy"):
            np.testing.assert_allclose(getattr(other, field), getattr(whole, field), rtol=1e-12, atol=1e-10)
    # The direct sums about the origins.
    np.testing.assert_allclose(whole.counts, resp.sum(0))
    np.testing.assert_allclose(whole.first, resp.T @ X - resp.sum(0)[:, None] * origin, atol=1e-10)
    # Without origins: the resp-weighted means are taken as origins first.
    two_pass = accumulate(be, cov, X, 9, _resp_fn(resp, log_norm))
    np.testing.assert_allclose(two_pass.origin, origin, rtol=1e-12)
    np.testing.assert_allclose(two_pass.second, whole.second, rtol=1e-10)
    assert whole.log_norm == pytest.approx(log_norm.sum())


@pytest.mark.parametrize("name", list(COVARIANCE_TYPES))
def test_statistics_about_origins_add_and_give_the_same_scatter(name):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(101, 3)) + 50.0
    resp = rng.dirichlet(np.ones(4), size=101)
    cov = get_covariance(name, 4, 3)
    origin = rng.normal(size=(4, 3)) + 50.0
    whole = accumulate(be, cov, X, 1000, _resp_fn(resp), origin=origin)
    both = accumulate(be, cov, X[:40], 7, _resp_fn(resp[:40]), origin=origin) + accumulate(
        be, cov, X[40:], 1000, _resp_fn(resp[40:]), origin=origin
    )
    for field in ("counts", "first", "second"):
        np.testing.assert_allclose(getattr(both, field), getattr(whole, field), rtol=1e-12, atol=1e-10)
    plain = accumulate(be, cov, X, 1000, _resp_fn(resp))
    centers = rng.normal(size=(4, 3)) + 50.0
    np.testing.assert_allclose(whole.mean(whole.counts), plain.mean(plain.counts), rtol=1e-12)
    np.testing.assert_allclose(whole.scatter(np, cov, centers), plain.scatter(np, cov, centers), rtol=1e-10)
    with pytest.raises(ValueError, match="different origins"):
        whole + plain


@pytest.mark.parametrize("name", list(COVARIANCE_TYPES))
def test_origins_keep_float32_moments_of_far_components_accurate(name):
    # Two tight clusters far from the data mean: moments about one common
    # point cancel in float32; about each component's origin they do not.
    rng = np.random.default_rng(2)
    labels = rng.integers(2, size=400)
    X64 = rng.normal(scale=1e-2, size=(400, 2)) + np.where(labels[:, None] == 1, 300.0, -300.0)
    X = X64.astype(np.float32)
    resp = np.eye(2, dtype=np.float32)[labels]
    cov = get_covariance(name, 2, 2)
    origin = np.stack([X[labels == k].mean(0) for k in range(2)]).astype(np.float64)
    stats = accumulate(be, cov, X, 64, _resp_fn(resp), origin=origin)
    Xs = X.astype(np.float64)
    centers = np.stack([Xs[labels == k].mean(0) for k in range(2)])
    exact = sum(
        (resp[:, k, None] * (Xs - centers[k])).T @ (Xs - centers[k]) for k in range(2)
    ) if name == "tied" else np.stack([(resp[:, k, None] * (Xs - centers[k])).T @ (Xs - centers[k]) for k in range(2)])
    if name == "diag":
        exact = np.diagonal(exact, axis1=1, axis2=2)
    elif name == "spherical":
        exact = np.trace(exact, axis1=1, axis2=2) / 2
    np.testing.assert_allclose(stats.scatter(np, cov, centers), exact, rtol=1e-4)


def test_one_extreme_outlier_leaves_the_inliers_moments_exact():
    # A single data-mean shift (5e17 here) used to wipe out every inlier.
    rng = np.random.default_rng(11)
    X = np.vstack([rng.normal(size=(200, 2)), [[1e20, 1e20]]])
    resp = np.zeros((201, 2))
    resp[:200, 0] = resp[200, 1] = 1.0
    cov = get_covariance("full", 2, 2)
    stats = accumulate(be, cov, X, 64, _resp_fn(resp))
    inliers = X[:200]
    np.testing.assert_allclose(stats.mean(stats.counts)[0], inliers.mean(0), rtol=1e-12)
    scatter = stats.scatter(np, cov, stats.mean(stats.counts))
    np.testing.assert_allclose(scatter[0], (inliers - inliers.mean(0)).T @ (inliers - inliers.mean(0)), rtol=1e-12)
    assert np.all(scatter[1] == 0)


@pytest.mark.parametrize("name", list(COVARIANCE_TYPES))
@pytest.mark.parametrize("weighted", [False, True])
def test_one_hot_statistics_equal_the_two_passes(name, weighted):
    # The statistics of K rows owning everything, from those rows alone,
    # against the two passes over all rows (chunked); one chosen row weighs 0.
    rng = np.random.default_rng(5)
    X = (rng.normal(size=(103, 3)) * 10 + 1e3).astype(np.float32)
    indices = np.array([70, 3, 101, 40])
    weights = rng.uniform(0.5, 2.0, size=103) if weighted else None
    if weighted:
        weights[101] = 0.0
    resp = np.zeros((103, 4), dtype=np.float32)
    resp[indices, np.arange(4)] = 1.0
    cov = get_covariance(name, 4, 3)
    executor = ChunkExecutor(10)
    fast = one_hot_stats(executor, be, cov, X, weights, indices)
    slow = initial_stats(executor, be, cov, X, weights, lambda Xc, rows: resp[rows])
    counts = fast.counts + 1e-9
    np.testing.assert_allclose(fast.counts, slow.counts, rtol=6e-8)  # the passes weigh float32 rows in float32
    np.testing.assert_allclose(fast.mean(counts), slow.mean(counts), rtol=1e-15, atol=1e-12)
    np.testing.assert_allclose(fast.scatter(np, cov, fast.mean(counts)), slow.scatter(np, cov, slow.mean(counts)),
                               atol=1e-9)
    assert fast.scatter(np, cov, fast.mean(counts)).shape == slow.second.shape
    np.testing.assert_allclose(fast.n_samples, slow.n_samples, rtol=1e-14)
    assert fast.log_norm == slow.log_norm == 0 and fast.entropy == slow.entropy == 0
    assert fast.dtype == slow.dtype == np.float32


def test_float32_residuals_are_about_the_float64_centre():
    X = np.float32([[1e4 + 1e-2], [1e4 - 1e-2]])
    centre = np.array([[1e4 + 1.3e-4]])  # not representable in float32
    hi, lo = split_centers(np, centre, np.float32)
    assert hi.dtype == lo.dtype == np.float32
    D = residuals(np, X, hi, lo).D[0, 0]
    np.testing.assert_allclose(D, X[:, 0].astype(np.float64) - centre[0, 0], rtol=1e-6)
    assert split_centers(np, centre, np.float64)[1] is None


@pytest.mark.parametrize("name", ["full", "tied"])
@pytest.mark.parametrize("triangular", [True, False])
def test_float32_e_step_of_tight_far_components_matches_float64(name, triangular):
    # The matrix types' E-step takes float32 residuals about the centres
    # rounded to float32, with a row of ones that lets the whitening GEMM
    # subtract the remainder: densities and scatter as exact as float32
    # allows, for tight clusters far from the origin and centres that float32
    # cannot represent, with triangular factors (split GEMMs) or not.
    rng = np.random.default_rng(4)
    d, K = 5, 2
    labels = rng.integers(K, size=600)
    X64 = rng.normal(scale=1e-2, size=(600, d)) + np.where(labels[:, None] == 1, 300.0, -1e4)
    X = X64.astype(np.float32)
    Xs = X.astype(np.float64)
    centers = np.stack([Xs[labels == k].mean(0) for k in range(K)]) + 1.3e-4  # not float32
    prec_chol = np.linalg.inv(np.linalg.cholesky(np.cov(Xs[labels == 0].T))).T  # upper triangular
    if not triangular:
        prec_chol = prec_chol @ np.linalg.qr(rng.normal(size=(d, d)))[0]  # same precision, a full factor
    cov = get_covariance(name, K, d)
    factors = prec_chol if name == "tied" else np.stack([prec_chol] * K)
    terms = e_step_terms(be, cov, centers, factors, np.zeros(K), np.float32)
    assert terms.residual is not None and terms.expanded is None
    assert (terms.residual.terms[1] is not None) == triangular  # the split needs d >= 4
    lr = chunk_log_rho(np, X, terms)[0]
    exact = np.stack([((Xs - centers[k]) @ prec_chol) ** 2 for k in range(K)]).sum(axis=2)
    np.testing.assert_allclose(-2.0 * lr, exact, rtol=2e-6)
    stats = ChunkExecutor(64).map_sum(e_step, X, None, be, terms)
    resp = np.exp(lr.T.astype(np.float64) - scipy.special.logsumexp(lr.T.astype(np.float64), axis=1, keepdims=True))
    means = stats.mean(stats.counts)
    np.testing.assert_allclose(means, (resp.T @ Xs) / resp.sum(0)[:, None], rtol=1e-9, atol=1e-7)
    scatter = np.stack([(resp[:, k, None] * (Xs - means[k])).T @ (Xs - means[k]) for k in range(K)])
    np.testing.assert_allclose(stats.scatter(np, cov, means), scatter.sum(0) if name == "tied" else scatter,
                               rtol=1e-4, atol=1e-4 * np.abs(scatter).max())


def test_float32_chunks_accumulate_in_float64():
    X = np.random.default_rng(1).normal(size=(30, 2)).astype(np.float32)
    resp = np.full((30, 2), 0.5, dtype=np.float32)
    stats = accumulate(be, get_covariance("diag", 2, 2), X, 8, _resp_fn(resp))
    assert stats.counts.dtype == np.float64 and stats.second.dtype == np.float64
    assert stats.dtype == np.float32


def test_chunk_slices_cover_rows_once():
    rows = np.concatenate([np.arange(100)[s] for s in chunk_slices(100, 7)])
    np.testing.assert_array_equal(rows, np.arange(100))
    assert auto_chunk_size(be, get_covariance("full", 3, 2), 10, np.float64) == 10
    big = get_covariance("full", 50, 200)
    assert 64 <= auto_chunk_size(be, big, 10**7, np.float64) < 10**7
    # The expanded form's narrow work arrays allow longer chunks than the
    # residual form's (K, d) per row, which float32 always takes.
    diag = get_covariance("diag", 10, 20)
    assert auto_chunk_size(be, diag, 10**7, np.float64) > 4 * auto_chunk_size(be, diag, 10**7, np.float32)


def test_normalize_log_rho_gives_responsibilities_and_entropy():
    rng = np.random.default_rng(3)
    log_rho = rng.normal(size=(5, 3)) * 10
    expected_norm = np.log(np.exp(log_rho).sum(1))
    resp, log_norm, entropy = normalize_log_rho(be, log_rho.T.copy())  # (K, n)
    resp = resp.T
    np.testing.assert_allclose(resp.sum(1), 1.0)
    np.testing.assert_allclose(log_norm, expected_norm)
    np.testing.assert_allclose(entropy, -scipy.special.xlogy(resp, resp).sum(axis=1), rtol=1e-10, atol=1e-12)  # per row


def _identity_prec_chol(cov):
    return {"full": np.tile(np.eye(cov.d), (cov.K, 1, 1)), "tied": np.eye(cov.d),
            "diag": np.ones((cov.K, cov.d)), "spherical": np.ones(cov.K)}[cov.name]


#: kappa at which u (1 + 2 kappa)^2 reaches the tolerance, for float64.
KAPPA_STAR = (np.sqrt(EXPANDED_TOLERANCE / (np.finfo(np.float64).eps / 2)) - 1) / 2


def _kappa_star(cov):
    """The bound's kappa for ``cov``'s expanded form on the CPU: u c (1 + 2 kappa)^2 = tolerance."""
    c = cov.expanded_rounding(cov.expanded_extra("cpu"))
    return (np.sqrt(EXPANDED_TOLERANCE / (c * np.finfo(np.float64).eps / 2)) - 1) / 2


def test_the_products_form_has_a_longer_sum_and_a_tighter_bound():
    # 'full' on the CPU sums M = 1 + d + d (d + 1) / 2 terms per density
    # (with 3 + 2 d more for its factors' own rounding) against about 3 d
    # for the residual form: its bound tightens by that ratio.
    for d, c in ((1, 8 / 3), (2, 13 / 6), (20, 548 / 120)):
        full = get_covariance("full", 3 * d, d)
        assert full.expanded_extra("cpu") == "products" and full.expanded_extra("gpu") is None
        np.testing.assert_allclose(full.expanded_rounding("products"), c)
        assert full.expanded_rounding(None) == 1.0
    assert get_covariance("full", 2, 20).expanded_extra("cpu") is None  # d >= 3 K: the whitening form
    for name in ("tied", "diag", "spherical"):
        cov = get_covariance(name, 3, 20)
        assert cov.expanded_rounding(cov.expanded_extra("cpu")) == 1.0


@pytest.mark.parametrize("name", list(COVARIANCE_TYPES))
def test_expanded_components_switch_at_the_cancellation_bound(name):
    # Two centres at o (the median of the three) and one at whitened distance
    # kappa: the far one takes the expanded form just below the bound, the
    # residual form just above it, and never in float32.
    cov = get_covariance(name, 3, 2)
    P = _identity_prec_chol(cov)
    extra = cov.expanded_extra("cpu")
    for factor, expected in ((1 - 1e-6, True), (1 + 1e-6, False)):
        centers = np.array([[0.0, 0.0], [0.0, 0.0], [_kappa_star(cov) * factor, 0.0]])
        mask, shift = expanded_components(np, cov, centers, P, np.float64, extra)
        np.testing.assert_array_equal(shift, [0.0, 0.0])
        np.testing.assert_array_equal(mask, [True, True, expected])
        mask32, _ = expanded_components(np, cov, centers, P, np.float32, extra)
        assert not mask32.any()


def _three_clusters(far, n=300, seed=0):
    """Unit-spread clusters at 0 and (40, 0), and one at (40 + far, 0): the
    median of the centres is (40, 0), so the far one's kappa is ``far``."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0], [40.0, 0.0], [40.0 + far, 0.0]])
    labels = np.repeat(np.arange(3), n)
    return centers[labels] + rng.normal(size=(3 * n, 2)), labels


@pytest.mark.parametrize("name", list(COVARIANCE_TYPES))
@pytest.mark.parametrize(("far", "form", "tolerance"), [
    (0.999, "auto", 1e-8),  # expanded: within the promise
    (1.001, "auto", 1e-12),  # residual: to rounding
    (1e6, "auto", 1e-12),  # residual
    (1e6, "expanded", None),  # the expanded form where the bound forbids it: cancels
])
def test_scatter_is_exact_on_both_sides_of_the_bound(name, far, form, tolerance):
    cov = get_covariance(name, 3, 2)
    if far < 2:
        far *= _kappa_star(cov)  # just below or above the bound
    X, labels = _three_clusters(far)
    means = np.stack([X[labels == k].mean(0) for k in range(3)])
    terms = e_step_terms(be, cov, means, _identity_prec_chol(cov), np.zeros(3), np.float64, form=form)
    assert (terms.expanded is not None and terms.expanded.idx is None) == (far < _kappa_star(cov) or form == "expanded")
    stats = ChunkExecutor(256).map_sum(e_step, X, None, be, terms)
    np.testing.assert_array_equal(stats.counts, [300, 300, 300])  # one-hot: the clusters are far apart
    # Reference: per-cluster scatter in extended precision.
    ref = np.zeros((3, 2, 2), dtype=np.longdouble)
    for k in range(3):
        diff = X[labels == k].astype(np.longdouble) - means[k].astype(np.longdouble)
        ref[k] = diff.T @ diff
    ref = np.asarray({"full": ref, "tied": ref.sum(0), "diag": np.diagonal(ref, axis1=1, axis2=2),
                      "spherical": np.diagonal(ref, axis1=1, axis2=2).mean(1)}[name], dtype=np.float64)
    error = np.max(np.abs(stats.scatter(np, cov, means) - ref)) / np.max(np.abs(ref))
    if tolerance is None:
        assert error > 1e-6  # what the bound protects against
    else:
        assert error <= tolerance


@pytest.mark.parametrize("name", list(COVARIANCE_TYPES))
def test_mixed_forms_give_the_residual_forms_densities_and_moments(name):
    # The far component above the bound keeps the residual form, the others
    # take the expanded one; one E-step then equals the all-residual one.
    X, _ = _three_clusters(2 * KAPPA_STAR)
    cov = get_covariance(name, 3, 2)
    centers = np.array([[0.5, 0.1], [39.0, -0.2], [40.0 + 2 * KAPPA_STAR, 0.3]])
    P = 0.8 * _identity_prec_chol(cov)
    log_const = np.array([-1.0, -2.0, -3.0])
    mixed = e_step_terms(be, cov, centers, P, log_const, np.float64)
    np.testing.assert_array_equal(mixed.expanded.idx, [0, 1])
    np.testing.assert_array_equal(mixed.residual.idx, [2])
    plain = e_step_terms(be, cov, centers, P, log_const, np.float64, form="residual")
    np.testing.assert_allclose(chunk_log_rho(np, X, mixed)[0], chunk_log_rho(np, X, plain)[0], rtol=1e-12)
    a, b = (ChunkExecutor(100).map_sum(e_step, X, None, be, t) for t in (mixed, plain))
    np.testing.assert_allclose(a.counts, b.counts, rtol=1e-12)
    np.testing.assert_allclose(a.mean(a.counts), b.mean(b.counts), rtol=1e-12)
    np.testing.assert_allclose(a.scatter(np, cov, centers), b.scatter(np, cov, centers), rtol=1e-9)
    np.testing.assert_allclose(a.log_norm, b.log_norm, rtol=1e-12)
    np.testing.assert_allclose(a.entropy, b.entropy, rtol=1e-9, atol=1e-9)


def test_residual_components_take_a_long_chunk_in_pieces():
    # A chunk sized for the expanded form is split for the residual form's
    # (K, d)-per-row work arrays; the statistics are those of the whole chunk.
    X, _ = _three_clusters(2 * KAPPA_STAR, n=7000)
    cov = get_covariance("full", 3, 2)
    centers = np.array([[0.0, 0.0], [40.0, 0.0], [40.0 + 2 * KAPPA_STAR, 0.0]])
    terms = e_step_terms(be, cov, centers, _identity_prec_chol(cov), np.zeros(3), np.float64)
    max_rows = pieces(be, X, 1).chunk_size  # one residual-form component
    assert residual_pieces(be, X[:max_rows], terms) is None
    assert residual_pieces(be, X, terms).chunk_size == max_rows < X.shape[0]
    whole = e_step(X, None, slice(0, X.shape[0]), be, terms)
    in_pieces = ChunkExecutor(max_rows).map_sum(e_step, X, None, be, terms)
    for name in ("counts", "first", "second", "log_norm", "entropy"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(in_pieces, name))
