"""Chunked, additive sufficient statistics."""

import numpy as np
import pytest
import scipy.special

from varbayes._backend import get_backend
from varbayes.mixture._covariance import COVARIANCE_TYPES, get_covariance, residuals, split_centers
from varbayes.mixture._stats import accumulate, auto_chunk_size, chunk_slices, normalize_log_rho

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


def test_float32_residuals_are_about_the_float64_centre():
    X = np.float32([[1e4 + 1e-2], [1e4 - 1e-2]])
    centre = np.array([[1e4 + 1.3e-4]])  # not representable in float32
    hi, lo = split_centers(np, centre, np.float32)
    assert hi.dtype == lo.dtype == np.float32
    D = residuals(np, X, hi, lo).D[0, 0]
    np.testing.assert_allclose(D, X[:, 0].astype(np.float64) - centre[0, 0], rtol=1e-6)
    assert split_centers(np, centre, np.float64)[1] is None


def test_float32_chunks_accumulate_in_float64():
    X = np.random.default_rng(1).normal(size=(30, 2)).astype(np.float32)
    resp = np.full((30, 2), 0.5, dtype=np.float32)
    stats = accumulate(be, get_covariance("diag", 2, 2), X, 8, _resp_fn(resp))
    assert stats.counts.dtype == np.float64 and stats.second.dtype == np.float64
    assert stats.dtype == np.float32


def test_chunk_slices_cover_rows_once():
    rows = np.concatenate([np.arange(100)[s] for s in chunk_slices(100, 7)])
    np.testing.assert_array_equal(rows, np.arange(100))
    assert auto_chunk_size(be, 10, 3, 2, 8) == 10
    assert 64 <= auto_chunk_size(be, 10**7, 50, 200, 8) < 10**7


def test_normalize_log_rho_gives_responsibilities_and_entropy():
    rng = np.random.default_rng(3)
    log_rho = rng.normal(size=(5, 3)) * 10
    expected_norm = np.log(np.exp(log_rho).sum(1))
    resp, log_norm, entropy = normalize_log_rho(be, log_rho.T.copy())  # (K, n)
    resp = resp.T
    np.testing.assert_allclose(resp.sum(1), 1.0)
    np.testing.assert_allclose(log_norm, expected_norm)
    np.testing.assert_allclose(entropy, -scipy.special.xlogy(resp, resp).sum(axis=1), rtol=1e-10, atol=1e-12)  # per row
