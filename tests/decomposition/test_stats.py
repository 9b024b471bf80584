"""The local step of VB PCA against direct per-row formulas, and the closed
form on complete data against the pass over rows."""

import numpy as np
import pytest
from scipy.special import digamma

from varbayes._execution import ChunkExecutor
from varbayes.decomposition._model import VBPCAModel
from varbayes.decomposition._moments import second_moments
from varbayes.decomposition._stats import row_bounds, row_step, summary_stats, z_posterior
from varbayes.vi import fit_loop
from varbayes.linear_model._stats import _sums_step


def _params(d=6, q=3, seed=0):
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=(d, q + 1))
    A = rng.normal(size=(d, q + 1, q + 1))
    cov = 0.1 * A @ np.swapaxes(A, 1, 2) + 0.01 * np.eye(q + 1)
    return rng.normal(size=d), rng.uniform(0.5, 3.0, size=d), mean, cov


def _data(n=40, d=6, missing=0.3, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * 2 + 1
    X[rng.random(X.shape) < missing] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 0.5
    return X, rng.uniform(0, 3, size=n)


def _reference(X, s, center, tau, mean, cov):
    """The statistics row by row, q(z_n) from the observed entries by the textbook formulas."""
    second = second_moments(mean, cov)
    n, d = X.shape
    q = mean.shape[1] - 1
    zz_obs, zx, xx = np.zeros((d, q + 1, q + 1)), np.zeros((d, q + 1)), np.zeros(d)
    trace_zz = log_det = 0.0
    for i in range(n):
        o = ~np.isnan(X[i])
        x = X[i, o] - center[o]
        t = tau[o]
        P = np.eye(q) + np.einsum("j,jab->ab", t, second[o][:, :q, :q])
        S = np.linalg.inv(P)
        m = S @ (mean[o, :q].T @ (t * x) - t @ second[o][:, :q, q])
        z1 = np.append(m, 1.0)
        ezz = np.outer(z1, z1)
        ezz[:q, :q] += S
        zz_obs[o] += s[i] * ezz
        zx[o] += s[i] * x[:, None] * z1
        xx[o] += s[i] * x**2
        trace_zz += s[i] * np.trace(ezz[:q, :q])
        log_det += s[i] * np.linalg.slogdet(S)[1]
    return zz_obs, zx, xx, trace_zz, log_det


@pytest.mark.parametrize("missing", [0.0, 0.3])
def test_row_step_is_the_per_row_posterior(missing):
    X, s = _data(missing=missing)
    center, tau, mean, cov = _params()
    got = row_step(X, s, slice(0, len(X)), center, tau, mean, cov)
    want = _reference(X, s, center, tau, mean, cov)
    for value, ref in zip((np.broadcast_to(got.zz_obs, want[0].shape), got.zx, got.xx, got.trace_zz, got.log_det), want):
        np.testing.assert_allclose(value, ref, rtol=1e-10, atol=1e-10)
    assert got.n_samples == pytest.approx(s.sum())


def test_chunks_add_up_to_the_whole():
    X, s = _data(missing=0.2)
    X[:10] = np.nan_to_num(X[:10], nan=0.3)  # one chunk complete (shared Sigma), the rest not
    args = _params()
    whole = row_step(X, s, slice(0, 40), *args)
    parts = row_step(X[:10], s[:10], slice(0, 10), *args) + row_step(X[10:], s[10:], slice(10, 40), *args)
    np.testing.assert_allclose(parts.zz_obs, whole.zz_obs, rtol=1e-12)
    np.testing.assert_allclose(parts.zx, whole.zx, rtol=1e-12)
    assert parts.log_det == pytest.approx(whole.log_det, rel=1e-12)


def test_summary_stats_equal_the_pass_over_complete_rows():
    X, s = _data(missing=0.0)
    center, tau, mean, cov = _params()
    rows = row_step(X, s, slice(0, 40), center, tau, mean, cov)
    sums = _sums_step(X, s, slice(0, 40), center)
    closed = summary_stats(sums.n_samples, sums.total, sums.second, tau, mean, cov)
    for name in ("zz_obs", "zx", "xx", "trace_zz", "log_det", "n_samples"):
        np.testing.assert_allclose(getattr(closed, name), getattr(rows, name), rtol=1e-10, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("tau", [np.full(5, 4.0), np.array([4.0, 0.5, 2.0, 9.0, 1.0])])
def test_q_z_with_point_loadings_is_the_exact_posterior(tau):
    # W, mu, Psi = diag(1 / tau) known: p(z | x_O) = N(S W_O^T Psi_O^{-1} (x_O - mu_O), S),
    # S = (I + W_O^T Psi_O^{-1} W_O)^{-1} (Tipping & Bishop 1999; factor analysis with diagonal Psi).
    rng = np.random.default_rng(2)
    d, q = 5, 2
    W, mu, c = rng.normal(size=(d, q)), rng.normal(size=d), rng.normal(size=d)
    mean = np.column_stack([W, mu - c])
    x = np.array([[0.3, np.nan, -1.0, 2.0, np.nan]])
    observed, _, S, m, log_det = z_posterior(x, c, tau, mean, np.zeros((q + 1, q + 1)))
    o = observed[0]
    S_ref = np.linalg.inv(np.eye(q) + W[o].T @ (tau[o, None] * W[o]))
    np.testing.assert_allclose(S[0], S_ref, rtol=1e-12)
    np.testing.assert_allclose(m[0], S_ref @ W[o].T @ (tau[o] * (x[0, o] - mu[o])), rtol=1e-12)
    assert log_det[0] == pytest.approx(np.linalg.slogdet(S_ref)[1], rel=1e-12)


@pytest.mark.parametrize("missing, diagonal", [(0.0, False), (0.3, False), (0.3, True)])
def test_row_bounds_add_up_to_the_bounds_data_terms(missing, diagonal):
    # Each row's share l_n (closed form at the optimal q(z_n)) summed with weights against the
    # bound's E[log p(X_O | ...)] - KL(q(Z) || p(Z)) from the statistics.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2)) @ rng.normal(size=(2, 6)) + 0.3 * rng.normal(size=(30, 6))
    X[rng.random(X.shape) < missing] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 1.0
    s = rng.uniform(0.2, 2.0, size=30)
    center = np.nanmean(X, axis=0)
    model = VBPCAModel(center, np.full(6, 0.3), 3, (2.0, 1.0, 1.5, 2.0, 0.7), diagonal, False, "pca", False)
    params = fit_loop(model, ChunkExecutor(8), X, s, max_iter=3, tol=0.0, random_state=np.random.RandomState(0)).params
    terms = model.bound_terms(params, row_step(X, s, slice(0, 30), *model.local_params(params)))
    log_tau = np.broadcast_to(digamma(params["tau_shape"]) - np.log(params["tau_rate"]), (6,))
    _, shares = row_bounds(X, center, model.expected_tau(params), log_tau, params["mean"], params["cov"])
    assert s @ shares == pytest.approx(terms["expected_loglik"] - terms["kl_z"], rel=1e-12)
