"""VBLinearRegression against closed forms, Monte Carlo and scikit-learn."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.linear_model import ARDRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from varbayes import VBLinearRegression
from varbayes._execution import ChunkExecutor
from varbayes.linear_model._vb_linear import VBLinearModel

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _problem(n=60, d=4, seed=0, noise=0.5, offset=2.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + offset
    w = rng.normal(size=d)
    return X, X @ w + 1.5 + noise * rng.normal(size=n)


@pytest.mark.parametrize("lam", [0.3, 4.0])
def test_with_the_precision_held_q_w_is_the_exact_posterior(lam):
    # A prior on lambda so concentrated that E[lambda] = lam to 1e-13: q(w, tau)
    # is then the exact Normal-Gamma posterior, whose mean is ridge regression
    # with penalty lam (scikit-learn's Ridge, an independent solver), and
    # whose V^{-1} is X_c^T X_c + lam I.
    X, y = _problem()
    reg = VBLinearRegression(lambda_1=lam * 1e14, lambda_2=1e14, max_iter=50, tol=0).fit(X, y)
    ridge = Ridge(alpha=lam, solver="cholesky").fit(X, y)
    np.testing.assert_allclose(reg.coef_, ridge.coef_, rtol=1e-10)
    assert reg.intercept_ == pytest.approx(ridge.intercept_, rel=1e-10)
    Xc = X - X.mean(axis=0)
    np.testing.assert_allclose(np.linalg.inv(reg.coef_scale_), Xc.T @ Xc + lam * np.eye(4), rtol=1e-10)
    yc = y - y.mean()
    b = 1e-6 + 0.5 * (yc @ yc - reg.coef_ @ Xc.T @ yc)
    assert reg.noise_rate_ == pytest.approx(b, rel=1e-10) and reg.noise_shape_ == pytest.approx(1e-6 + 30)


def _monte_carlo_elbo(reg, X, y, S=20000):
    """Draws from q(w, tau) q(lambda) of the kept coefficients; log p(y, w, tau, lambda) - log q
    with scipy.stats, per sample, for the priors Gam(2, 1) (tau) and Gam(1.5, 0.5) (lambda)."""
    keep = np.isfinite(np.broadcast_to(reg.lambda_, X.shape[1]))
    d = int(keep.sum())
    rng = np.random.default_rng(0)
    a, b, m = reg.noise_shape_, reg.noise_rate_, reg.coef_[keep]
    V = reg.coef_scale_[np.ix_(keep, keep)]
    tau = stats.gamma(a, scale=1 / b).rvs(S, random_state=rng)
    w = m + rng.standard_normal((S, d)) @ np.linalg.cholesky(V).T / np.sqrt(tau)[:, None]
    ard = reg.lambda_shape_.size > 1
    shape, rate = (reg.lambda_shape_[keep], reg.lambda_rate_[keep]) if ard else (reg.lambda_shape_, reg.lambda_rate_)
    lam = stats.gamma(shape, scale=1 / rate).rvs((S, shape.size), random_state=rng)
    Xc, yc = (X - X.mean(axis=0))[:, keep], y - y.mean()
    log_p = (
        stats.norm.logpdf(yc[None, :], loc=w @ Xc.T, scale=1 / np.sqrt(tau)[:, None]).sum(axis=1)
        + stats.norm.logpdf(w, scale=1 / np.sqrt(tau[:, None] * lam)).sum(axis=1)
        + stats.gamma.logpdf(tau, 2.0, scale=1.0)
        + stats.gamma.logpdf(lam, 1.5, scale=2.0).sum(axis=1)
    )
    log_q = (
        stats.gamma.logpdf(tau, a, scale=1 / b)
        # N(w | m, V / tau) = N(sqrt(tau) (w - m) | 0, V) tau^{d/2}: one vectorised scipy call
        + stats.multivariate_normal.logpdf(np.sqrt(tau)[:, None] * (w - m), np.zeros(d), V) + 0.5 * d * np.log(tau)
        + stats.gamma.logpdf(lam, shape, scale=1 / rate).sum(axis=1)
    )
    values = (log_p - log_q) / len(y)
    return values.mean(), values.std() / np.sqrt(S)


PRIORS = dict(alpha_1=2.0, alpha_2=1.0, lambda_1=1.5, lambda_2=0.5)


@pytest.mark.parametrize("ard", [False, True])
def test_the_elbo_equals_a_monte_carlo_estimate(ard):
    X, y = _problem(n=40, d=3, seed=1)
    reg = VBLinearRegression(ard=ard, max_iter=7, tol=0, **PRIORS).fit(X, y)
    mean, se = _monte_carlo_elbo(reg, X, y)
    assert abs(mean - reg.lower_bound_) < 4 * se


def test_the_pruned_model_s_elbo_equals_a_monte_carlo_estimate():
    # A pure-noise fourth column is pruned; the bound is then that of the
    # model without it: draws of the kept coefficients and their lambdas only.
    X, y = _problem(n=40, d=3, seed=1)
    X = np.column_stack([X, np.random.default_rng(101).normal(size=40)])
    reg = VBLinearRegression(ard=True, threshold_lambda=0.0, max_iter=7, tol=0, **PRIORS).fit(X, y)
    assert np.isfinite(reg.lambda_).tolist() == [True, True, True, False] and reg.coef_[3] == 0.0
    mean, se = _monte_carlo_elbo(reg, X, y)
    assert abs(mean - reg.lower_bound_) < 4 * se


def test_removal_gains_are_the_bound_of_the_model_without_each_coefficient():
    # The closed form (Schur complement of V's precision, one coefficient's
    # terms dropped) against the bound recomputed without it.
    X, y = _problem(n=50, d=5, seed=2)
    model = VBLinearModel(5, True, 1e-6, 1e-6, 1e-6, 1e-6, True, False, threshold_lambda=0.0)
    s = model.summarize(ChunkExecutor(16), np.column_stack([X, y]), None)
    params = model.initialize(None, None, None, None)
    for _ in range(3):
        params = model.update_lambda(model.update_coef(params, s)[0], s)[0]
    params = model.without(model.update_coef(params, s)[0], np.array([4]))  # one already removed
    params = model.update_coef(params, s)[0]
    gains = model.removal_gains(params, s)
    before = model.bound(params, s, "").value
    for j in range(4):
        after = model.bound(model.without(params, np.array([j])), s, "").value
        assert gains[j] == pytest.approx((after - before) * s.n_samples, rel=1e-8, abs=1e-8)
    assert gains[4] == -np.inf


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(3, 40), d=st.integers(1, 8), ard=st.booleans(),
       intercept=st.booleans(), noise=st.floats(1e-3, 10.0), threshold=st.sampled_from([0.0, 1.0, 1e4, np.inf]))
def test_every_coordinate_update_ascends(seed, n, d, ard, intercept, noise, threshold):
    X, y = _problem(n=n, d=d, seed=seed, noise=noise)
    reg = VBLinearRegression(ard=ard, threshold_lambda=threshold, fit_intercept=intercept, elbo_per_update=True, max_iter=30,
                             tol=0).fit(X, y)
    values = reg.elbo_.values
    steps = reg.elbo_.steps
    assert set(steps[1:]) <= {"q(w,tau)", "q(lambda)", "prune", "data"}
    gains = np.diff(values)
    assert np.all(gains >= -1e-9 * np.maximum(1.0, np.abs(values[:-1]))), gains.min()


def test_ard_prunes_pure_noise_columns():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 20))
    w = np.zeros(20)
    w[:4] = [2.0, -1.0, 0.5, 3.0]
    y = X @ w + 0.3 * rng.normal(size=300)
    # Without pruning: small means and large finite precisions.
    reg = VBLinearRegression(ard=True, threshold_lambda=np.inf, max_iter=1000, tol=1e-8).fit(X, y)
    assert np.all(np.abs(reg.coef_[4:]) < 0.02) and np.all(np.isfinite(reg.lambda_))
    assert np.min(reg.lambda_[4:]) > 100 * np.max(reg.lambda_[:4])
    np.testing.assert_allclose(reg.coef_[:4], w[:4], atol=0.05)
    # The default threshold prunes what scikit-learn's ARDRegression prunes
    # (one noise column survives in both), exactly, and raises the bound.
    pruned = VBLinearRegression(ard=True, max_iter=1000, tol=1e-8).fit(X, y)
    kept = np.flatnonzero(pruned.coef_)
    np.testing.assert_array_equal(kept, np.flatnonzero(ARDRegression().fit(X, y).coef_))
    assert np.all(np.isinf(np.delete(pruned.lambda_, kept))) and np.all(np.isfinite(pruned.lambda_[kept]))
    dropped = np.setdiff1d(np.arange(20), kept)
    assert np.all(pruned.coef_scale_[dropped] == 0.0) and np.all(pruned.coef_scale_[:, dropped] == 0.0)
    np.testing.assert_allclose(pruned.coef_[:4], w[:4], atol=0.05)
    assert pruned.lower_bound_ > reg.lower_bound_
    # threshold_lambda=0: the bound alone decides, and every noise column goes.
    selected = VBLinearRegression(ard=True, threshold_lambda=0.0, max_iter=1000, tol=1e-8).fit(X, y)
    np.testing.assert_array_equal(np.flatnonzero(selected.coef_), np.arange(4))
    assert selected.lower_bound_ > pruned.lower_bound_


@pytest.mark.parametrize("ard", [False, True])
def test_collinear_low_noise_data_keep_their_noise_precision(ard):
    # cond(X^T X) ~ 1e11: the noise update's y^T y - m^T X^T y cancels, so m
    # must be backward stable (from the Cholesky factor, not from V h); an
    # unstable m once collapsed b to its prior and E[tau] to 1.5e8.
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(300, 4))
    X = 100 * np.column_stack([Z, Z @ rng.normal(size=(4, 4)) + 5e-4 * rng.normal(size=(300, 4))])
    y = X @ rng.normal(size=8) + 0.01 * rng.normal(size=300) + 3
    reg = VBLinearRegression(ard=ard).fit(X, y)
    residual = y - reg.predict(X)
    assert reg.alpha_ == pytest.approx(1 / np.mean(residual**2), rel=0.1)  # about 1e4 (noise sd 0.01)
    assert reg.lower_bound_ > 0


def test_the_predictive_std_is_the_student_t_of_q():
    # Monte Carlo of y* = w^T x* + eps / sqrt(tau) under q gives the same mean and std.
    X, y = _problem(n=30, d=2, seed=4)
    reg = VBLinearRegression(max_iter=100).fit(X, y)
    x_new = np.array([[0.0, 5.0], [2.0, 2.0]])
    mean, std = reg.predict(x_new, return_std=True)
    rng = np.random.default_rng(1)
    S = 400_000
    a, b = reg.noise_shape_, reg.noise_rate_
    tau = rng.gamma(a, 1 / b, size=S)
    w = reg.coef_ + rng.standard_normal((S, 2)) @ np.linalg.cholesky(reg.coef_scale_).T / np.sqrt(tau)[:, None]
    # The centred model: y* = w^T (x* - mean(x)) + mean(y) + eps.
    draws = (x_new - reg.X_offset_) @ w.T + y.mean() + rng.standard_normal((2, S)) / np.sqrt(tau)
    np.testing.assert_allclose(draws.mean(axis=1), mean, atol=5 * draws.std(axis=1).max() / np.sqrt(S))
    np.testing.assert_allclose(draws.std(axis=1), std, rtol=0.01)
    logpdf = reg.predictive_log_pdf(x_new, mean)
    assert np.all(np.isfinite(logpdf))


def test_integer_weights_are_repeated_rows_and_zero_a_dropped_row():
    X, y = _problem(n=25, d=3, seed=5)
    w = np.random.default_rng(0).integers(0, 4, size=25)
    weighted = VBLinearRegression(ard=True, max_iter=20, tol=0).fit(X, y, sample_weight=w)
    repeated = VBLinearRegression(ard=True, max_iter=20, tol=0).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    for name in ("coef_", "intercept_", "alpha_", "lambda_", "coef_scale_", "lower_bound_"):
        np.testing.assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-10, err_msg=name)


def test_pipeline_and_grid_search():
    X, y = _problem(n=80, d=3, seed=6)
    search = GridSearchCV(make_pipeline(StandardScaler(), VBLinearRegression()),
                          {"vblinearregression__ard": [False, True]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.5


def test_bad_input_is_refused_before_any_work():
    X, y = _problem()
    reg = VBLinearRegression().fit(X, y)
    before = dict(vars(reg))
    with pytest.raises(ValueError, match="alpha_1"):
        VBLinearRegression(alpha_1=0.0).fit(X, y)
    for value, message in [(-1.0, ">= 0.0"), (np.nan, "a real number or inf"), ("1e4", "a real number")]:
        reg.set_params(threshold_lambda=value)
        with pytest.raises(ValueError, match=f"threshold_lambda.*{message}"):
            reg.fit(X, y)
        assert reg.coef_ is before["coef_"]
    reg.set_params(threshold_lambda=before["threshold_lambda"])
    bad = y.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError):
        reg.fit(X, bad)
    with pytest.raises(ValueError, match="non-negative"):
        reg.fit(X, y, sample_weight=-np.ones(len(y)))
    assert vars(reg).keys() == before.keys() and all(vars(reg)[k] is v for k, v in before.items())


@parametrize_with_checks([VBLinearRegression(), VBLinearRegression(ard=True), VBLinearRegression(ard=True, threshold_lambda=0.0)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_predictive_log_pdf_is_scipys_student_t():
    X, y = _problem(n=30, d=2, seed=8)
    reg = VBLinearRegression().fit(X, y)
    mean, std = reg.predict(X, return_std=True)
    nu = 2 * reg.noise_shape_
    scale = std * np.sqrt((nu - 2) / nu)
    np.testing.assert_allclose(reg.predictive_log_pdf(X, y), stats.t.logpdf(y, df=nu, loc=mean, scale=scale), rtol=1e-10)


def test_a_dask_fit_and_its_predictions_equal_the_in_memory_ones(scheduler):
    da = pytest.importorskip("dask.array")
    X, y = _problem(n=500, d=4, seed=9)
    w = np.random.default_rng(0).random(500)
    ref = VBLinearRegression(ard=True, max_iter=30, tol=0).fit(X, y, sample_weight=w)
    got = VBLinearRegression(ard=True, max_iter=30, tol=0).fit(
        da.from_array(X, chunks=(120, 4)), da.from_array(y, chunks=100), sample_weight=w)
    for name in ("coef_", "intercept_", "coef_scale_", "alpha_", "lambda_", "lower_bound_"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-10, err_msg=name)
    Xd = da.from_array(X, chunks=(200, 4))
    mean, std = got.predict(Xd, return_std=True)
    assert isinstance(mean, da.Array)
    ref_mean, ref_std = ref.predict(X, return_std=True)
    np.testing.assert_allclose(mean.compute(), ref_mean, rtol=1e-10)
    np.testing.assert_allclose(std.compute(), ref_std, rtol=1e-10)
    np.testing.assert_allclose(got.predictive_log_pdf(Xd, da.from_array(y, chunks=200)).compute(),
                               ref.predictive_log_pdf(X, y), rtol=1e-10)
    bad = y.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        VBLinearRegression().fit(da.from_array(X, chunks=(120, 4)), bad)
