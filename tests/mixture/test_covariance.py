"""Each covariance type's algebra against direct dense computations."""

import numpy as np
import pytest

from varbayes._backend import NotPositiveDefiniteError, get_backend
from varbayes._execution import Workspace
from varbayes.mixture._covariance import COVARIANCE_TYPES, Residuals, get_covariance, residuals, shifted_rows

be = get_backend("cpu")
K, D, N = 3, 4, 40


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    resp = rng.dirichlet(np.ones(K), size=N)
    centers = rng.normal(size=(K, D))
    return X, resp, centers


def _dense_scatter(X, resp, centers):
    diff = X[:, None, :] - centers[None]  # (N, K, D)
    return np.einsum("nk,nki,nkj->kij", resp, diff, diff)


def _as_type(name, S_full, counts=None):
    """Reduce per-component dense matrices to a covariance type's shape."""
    if name == "full":
        return S_full
    if name == "tied":
        return S_full.sum(0)
    diag = np.diagonal(S_full, axis1=1, axis2=2)
    return diag if name == "diag" else diag.mean(1)


@pytest.mark.parametrize("name", list(COVARIANCE_TYPES))
def test_scatter_from_statistics_equals_direct_sum(name, data):
    X, resp, centers = data
    cov = get_covariance(name, K, D)
    first, second = cov.centered_moments(np, Residuals(X.T[None]), resp.T)
    np.testing.assert_allclose(first, resp.T @ X, rtol=1e-12)
    counts = resp.sum(0)
    S = cov.scatter(np, second, first, counts, centers)
    np.testing.assert_allclose(S, _as_type(name, _dense_scatter(X, resp, centers)), rtol=1e-12, atol=1e-12)
    assert S.shape == cov.shape
    # The same scatter from moments about per-component origins.
    origin = np.random.default_rng(5).normal(size=(K, D))
    first_o, second_o = cov.centered_moments(np, residuals(np, X, origin), resp.T)
    np.testing.assert_allclose(second_o, _as_type(name, _dense_scatter(X, resp, origin)), rtol=1e-12, atol=1e-12)
    S_o = cov.scatter(np, second_o, first_o, counts, centers - origin)
    np.testing.assert_allclose(S_o, S, rtol=1e-10, atol=1e-10)


def _random_cov(name, rng):
    A = rng.normal(size=(K, D, D))
    full = A @ A.transpose(0, 2, 1) + np.eye(D)
    return _as_type(name, full) if name != "tied" else full[0]


@pytest.mark.parametrize("name", list(COVARIANCE_TYPES))
def test_precision_cholesky_log_det_whiten_and_trace(name, data):
    X, resp, centers = data
    rng = np.random.default_rng(1)
    cov = get_covariance(name, K, D)
    C = _random_cov(name, rng)
    P = cov.precision_cholesky(be, C)
    dense_cov = cov.to_full(C)
    dense_prec = np.linalg.inv(dense_cov)
    np.testing.assert_allclose(cov.to_full(cov.precisions(np, P)), dense_prec, rtol=1e-10, atol=1e-12)
    # log |Lambda|^{1/2}
    expected_log_det = -0.5 * np.linalg.slogdet(dense_cov)[1]
    np.testing.assert_allclose(np.broadcast_to(cov.log_det(np, P), (K,)), expected_log_det, rtol=1e-12)
    # Mahalanobis distances
    diff = X[:, None, :] - centers[None]
    expected = np.einsum("nki,kij,nkj->nk", diff, dense_prec, diff)
    np.testing.assert_allclose(cov.mahalanobis(np, residuals(np, X, centers), P), expected.T, rtol=1e-10)
    # sum_k tr(Lambda_k S_k)
    first, second = cov.centered_moments(np, Residuals(X.T[None]), resp.T)
    S = cov.scatter(np, second, first, resp.sum(0), centers)
    dense_S = _dense_scatter(X, resp, centers)
    if name in ("diag", "spherical"):
        dense_S = dense_S * np.eye(D)  # only the diagonal enters a diagonal precision
    if name == "spherical":
        dense_S = np.trace(dense_S, axis1=1, axis2=2)[:, None, None] / D * np.eye(D)
    expected_trace = np.einsum("kij,kij->", dense_prec, dense_S)
    assert cov.trace_product(np, P, S) == pytest.approx(expected_trace, rel=1e-10)
    # Cholesky of a precision reproduces it
    Q = cov.cholesky_of_precision(be, cov.precisions(np, P))
    np.testing.assert_allclose(cov.precisions(np, Q), cov.precisions(np, P), rtol=1e-10)


@pytest.mark.parametrize("name", list(COVARIANCE_TYPES))
def test_add_diagonal_scale_and_normalize(name):
    rng = np.random.default_rng(2)
    cov = get_covariance(name, K, D)
    C = _random_cov(name, rng)
    np.testing.assert_allclose(cov.to_full(cov.add_diagonal(np, C, 0.5)), cov.to_full(C) + 0.5 * np.eye(D))
    if name != "tied":
        f = np.array([1.0, 2.0, 3.0])
        np.testing.assert_allclose(cov.to_full(cov.scale(np, C, f)), cov.to_full(C) * f[:, None, None])
        np.testing.assert_allclose(cov.to_full(cov.add_diagonal(np, C, f)), cov.to_full(C) + f[:, None, None] * np.eye(D))
    counts = np.array([2.0, 4.0, 8.0])
    expected = cov.to_full(C) / (counts.sum() if name == "tied" else counts[:, None, None])
    np.testing.assert_allclose(cov.to_full(cov.normalize(np, C, counts)), expected)


@pytest.mark.parametrize("name", list(COVARIANCE_TYPES))
def test_not_positive_definite_raises_backend_error(name):
    cov = get_covariance(name, K, D)
    bad = np.zeros(cov.shape)
    with pytest.raises(NotPositiveDefiniteError):
        cov.precision_cholesky(be, bad)
    with pytest.raises(ValueError, match="precisions_init"):
        cov.check_precisions(be, bad - (np.eye(D) if name in ("full", "tied") else 1.0), "precisions_init")


def test_n_parameters_match_sklearn_counts():
    assert get_covariance("full", K, D).n_parameters() == K * D * (D + 1) // 2
    assert get_covariance("tied", K, D).n_parameters() == D * (D + 1) // 2
    assert get_covariance("diag", K, D).n_parameters() == K * D
    assert get_covariance("spherical", K, D).n_parameters() == K


def test_a_workspace_reuses_its_arrays_and_changes_no_result():
    rng = np.random.default_rng(0)
    X, centers = rng.normal(size=(50, 3)), rng.normal(size=(4, 3))
    ws = Workspace()
    a = ws.get(np, "D", (4, 3, 50), np.float64)
    assert ws.get(np, "D", (4, 3, 50), np.float64) is a
    assert ws.get(np, "W", (4, 3, 50), np.float64) is not a
    assert ws.get(np, "D", (4, 3, 7), np.float64).shape == (4, 3, 7)  # replaced: one array per name
    cov = get_covariance("full", 4, 3)
    prec_chol = np.tile(np.linalg.cholesky(np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])), (4, 1, 1))
    resp = rng.dirichlet(np.ones(4), size=50)
    plain, reused = residuals(np, X, centers), residuals(np, X, centers, workspace=ws)
    assert reused.D is ws.get(np, "D", (4, 3, 50), np.float64)
    np.testing.assert_array_equal(cov.mahalanobis(np, reused, prec_chol), cov.mahalanobis(np, plain, prec_chol))
    for got, want in zip(cov.centered_moments(np, reused, resp.T), cov.centered_moments(np, plain, resp.T)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(reused.squared, plain.squared)


@pytest.mark.parametrize("name", list(COVARIANCE_TYPES))
def test_expanded_form_equals_the_residual_form(name, data):
    # The expanded kernels (shifted rows, a few GEMMs) against the residual
    # ones, on a well-conditioned problem where the two agree to rounding.
    X, resp, centers = data
    cov = get_covariance(name, K, D)
    P = cov.precision_cholesky(be, _random_cov(name, np.random.default_rng(1)))
    shift = np.array([0.3, -0.2, 0.1, 0.5])
    extras = {cov.expanded_extra(device) for device in ("cpu", "gpu")}  # 'full': products on the CPU
    assert len(extras) == (2 if name == "full" else 1)
    for extra in extras:
        F = shifted_rows(np, X, shift, None, extra)
        np.testing.assert_array_equal(F[1 : D + 1], (X - shift).T)
        # Factors from covariances (upper triangular: 'full' splits its
        # whitening product) and from precisions (lower triangular: one product).
        for factor in (P, cov.cholesky_of_precision(be, cov.precisions(np, P))):
            terms = cov.expanded_terms(np, factor, centers - shift, extra)
            np.testing.assert_allclose(
                cov.expanded_mahalanobis(np, F, terms), cov.mahalanobis(np, residuals(np, X, centers), factor),
                rtol=1e-10,
            )
        first, second = cov.expanded_moments(np, F, resp.T)
        first_o, second_o = cov.centered_moments(np, residuals(np, X, np.tile(shift, (K, 1))), resp.T)
        np.testing.assert_allclose(first, first_o, rtol=1e-12)
        np.testing.assert_allclose(second, second_o, rtol=1e-12)
    # kappa bounds the whitened distance from the shift to each centre.
    kappa = cov.cancellation(np, P, centers - shift)
    whitened = cov.mahalanobis(np, residuals(np, shift[None], centers), P)[:, 0]
    assert kappa.shape == (K,) and np.all(kappa**2 >= whitened * (1 - 1e-12))


@pytest.mark.parametrize("name", list(COVARIANCE_TYPES))
def test_combine_assembles_disjoint_components(name):
    # Second moments of two sets of components, each in its own type's shape,
    # make those of all K ('tied': their sum).
    full = np.random.default_rng(2).normal(size=(K, D, D))
    idx_a, idx_b = np.array([0, 2]), np.array([1])
    parts = [(idx, _as_type(name, full[idx])) for idx in (idx_a, idx_b)]
    np.testing.assert_allclose(get_covariance(name, K, D).combine(np, parts), _as_type(name, full), rtol=1e-12)
