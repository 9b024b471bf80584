"""VBLogisticRegression: the Jaakkola-Jordan bound, against importance sampling and scikit-learn."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, special, stats
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from varbayes import VBLinearRegression, VBLogisticRegression
from varbayes.linear_model._vb_logistic import SAMPLE_START_ROWS, VBLogisticModel, logistic_step

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _problem(n=60, d=3, seed=0, scale=1.5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = scale * rng.normal(size=d)
    y = (rng.random(n) < special.expit(X @ w + 0.3)).astype(int)
    return X, y


def test_q_w_is_the_maximiser_of_the_bound_for_fixed_xi_and_precision():
    # After q(w)'s update, no perturbation of m or V raises the bound: a
    # check of the closed form by finite differences of the bound itself.
    X, y = _problem()
    Z = np.column_stack([X, np.ones(len(y)), y])
    model = VBLogisticModel(np.array([0, 0, 0, 1]), 2.0, 1.0, False)
    params = model.initialize(None, Z, None, None)
    stats_ = logistic_step(Z, None, slice(0, len(y)), np.linalg.cholesky(np.eye(4) * 0.7))
    best, _ = model.update_coef(params, stats_)
    value = model.bound(best, stats_, "q(w)").value
    rng = np.random.default_rng(0)
    for _ in range(20):
        u = rng.normal(size=4)
        moved = {**best, "m": best["m"] + 1e-3 * u}
        assert model.bound(moved, stats_, "q(w)").value < value
        A = rng.normal(size=(4, 4))
        moved = {**best, "V": best["V"] + 1e-4 * (A + A.T) / 2}
        assert model.bound(moved, stats_, "q(w)").value <= value + 1e-15
    # And it is the Gaussian of the bounded likelihood: V^{-1} m = sum (y - 1/2) x.
    np.testing.assert_allclose(np.linalg.solve(best["V"], best["m"]), stats_.linear, rtol=1e-10, atol=1e-12)


def _log_evidence_by_importance_sampling(X, y, prior_precision, S=200_000, seed=0):
    """log p(y) = log E_r[p(y | w) p(w) / r(w)] with a Laplace-approximation proposal (a t with 5 dof)."""
    Xa = np.column_stack([X, np.ones(len(y))])
    t = 2 * y - 1

    def neg_log_joint(w):
        return -np.sum(special.log_expit(t * (Xa @ w))) + 0.5 * prior_precision * w @ w

    mode = optimize.minimize(neg_log_joint, np.zeros(Xa.shape[1]), method="BFGS", options={"gtol": 1e-10}).x
    p = special.expit(Xa @ mode)
    H = (Xa * (p * (1 - p))[:, None]).T @ Xa + prior_precision * np.eye(Xa.shape[1])
    proposal = stats.multivariate_t(loc=mode, shape=np.linalg.inv(H), df=5)
    w = proposal.rvs(S, random_state=seed)
    log_joint = (
        np.sum(special.log_expit(t[None, :] * (w @ Xa.T)), axis=1)
        - 0.5 * prior_precision * np.sum(w * w, axis=1)
        + 0.5 * Xa.shape[1] * np.log(prior_precision / (2 * np.pi))
    )
    log_w = log_joint - proposal.logpdf(w)
    top = log_w.max()
    ratios = np.exp(log_w - top)
    estimate = top + np.log(ratios.mean())
    se = ratios.std() / (np.sqrt(S) * ratios.mean())  # delta method, in log units
    return estimate, se


@pytest.mark.parametrize("seed", [0, 1])
def test_the_bound_lies_below_log_evidence_and_close_to_it(seed):
    # The prior precision held at 2 (a Gamma prior concentrated there, the
    # same precision for the intercept): the fit's total bound is below
    # log p(y) estimated by importance sampling, within a few percent.
    X, y = _problem(n=30, d=2, seed=seed)
    reg = VBLogisticRegression(lambda_1=2e12, lambda_2=1e12, ard=True, max_iter=500, tol=1e-12).fit(X, y)
    elbo = reg.lower_bound_ * len(y)
    log_evidence, se = _log_evidence_by_importance_sampling(X, y, 2.0)
    assert elbo <= log_evidence + 4 * se
    # The stated gap: Jaakkola-Jordan plus the mean-field Gaussian lose
    # under 3% of |log p(y)| on these problems (0.3-0.5 nats of ~17).
    assert log_evidence - elbo < 0.03 * abs(log_evidence)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(4, 50), d=st.integers(1, 6), ard=st.booleans(),
       intercept=st.booleans(), scale=st.floats(0.1, 8.0))
def test_every_coordinate_update_ascends(seed, n, d, ard, intercept, scale):
    X, y = _problem(n=n, d=d, seed=seed, scale=scale)
    if len(np.unique(y)) < 2:
        y[0] = 1 - y[0]
    reg = VBLogisticRegression(ard=ard, fit_intercept=intercept, elbo_per_update=True, max_iter=25, tol=0).fit(X, y)
    values = reg.elbo_.values
    assert set(reg.elbo_.steps) <= {"xi", "q(w)", "q(lambda)"}
    gains = np.diff(values)
    assert np.all(gains >= -1e-9 * np.maximum(1.0, np.abs(values[:-1]))), gains.min()


def test_ard_prunes_pure_noise_columns():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1500, 12))
    y = (rng.random(1500) < special.expit(3 * X[:, 0] - 2 * X[:, 1])).astype(int)
    # A sparse prior on the precisions (as scikit-learn's ARDRegression's):
    # the noise columns' precisions grow, their coefficients go to 0 (one of
    # the ten keeps a small weight for a chance correlation in this sample).
    reg = VBLogisticRegression(ard=True, lambda_1=1e-6, lambda_2=1e-6, max_iter=2000, tol=1e-10).fit(X, y)
    noise = np.abs(reg.coef_[0, 2:])
    assert np.sum(noise < 0.01) >= 8 and noise.max() < 0.15
    assert np.median(reg.lambda_[0, 2:12]) > 1000 * np.max(reg.lambda_[0, :2])
    np.testing.assert_allclose(reg.coef_[0, :2], [3.0, -2.0], atol=0.3)


def test_moderated_probabilities_match_monte_carlo_over_q():
    X, y = _problem(n=40, d=2, seed=5)
    reg = VBLogisticRegression().fit(X, y)
    x_new = np.array([[0.5, -1.0], [2.0, 2.0], [0.0, 0.0]])
    rng = np.random.default_rng(0)
    mean = np.append(reg.coef_[0], reg.intercept_[0])
    w = rng.multivariate_normal(mean, reg.coef_covariance_[0], size=200_000)
    mc = special.expit(np.column_stack([x_new, np.ones(3)]) @ w.T).mean(axis=1)
    np.testing.assert_allclose(reg.predict_proba(x_new)[:, 1], mc, atol=0.02)


def test_monte_carlo_probabilities_match_quadrature_and_do_not_depend_on_neighbours():
    X, y = _problem(n=40, d=2, seed=5)
    mc = VBLogisticRegression(proba_method="monte_carlo", n_proba_samples=20000, random_state=0).fit(X, y)
    x_new = np.array([[0.5, -1.0], [2.0, 2.0], [0.0, 0.0]])
    p = mc.predict_proba(x_new)[:, 1]
    # E[sigmoid(a)], a ~ N(mu, s^2), by Gauss-Hermite quadrature (100 nodes).
    xa = np.column_stack([x_new, np.ones(3)])
    mu = xa @ np.append(mc.coef_[0], mc.intercept_[0])
    s = np.sqrt(np.einsum("ij,jk,ik->i", xa, mc.coef_covariance_[0], xa))
    nodes, weights = np.polynomial.hermite_e.hermegauss(100)
    exact = special.expit(mu[:, None] + s[:, None] * nodes[None, :]) @ weights / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(p, exact, atol=4 * 0.5 / np.sqrt(20000))
    np.testing.assert_array_equal(mc.predict_proba(x_new[::-1])[::-1], mc.predict_proba(x_new))
    moderated = VBLogisticRegression().fit(X, y).predict_proba(x_new)[:, 1]
    np.testing.assert_allclose(moderated, exact, atol=0.02)


def test_multiclass_one_vs_rest_records_each_class():
    X, y = load_iris(return_X_y=True)
    reg = VBLogisticRegression().fit(X, y)
    assert len(reg.elbo_) == 3 and all(t.is_monotone() for t in reg.elbo_)
    assert reg.coef_.shape == (3, 4) and reg.score(X, y) > 0.9
    np.testing.assert_allclose(reg.predict_proba(X).sum(axis=1), 1.0)


def test_integer_weights_are_repeated_rows():
    X, y = _problem(n=30, d=2, seed=6)
    w = np.random.default_rng(1).integers(0, 3, size=30)
    a = VBLogisticRegression(max_iter=30, tol=0).fit(X, y, sample_weight=w)
    b = VBLogisticRegression(max_iter=30, tol=0).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10)
    np.testing.assert_allclose(a.coef_covariance_, b.coef_covariance_, rtol=1e-10)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-10)


def test_pipeline_and_grid_search():
    X, y = _problem(n=120, d=3, seed=7)
    search = GridSearchCV(make_pipeline(StandardScaler(), VBLogisticRegression()),
                          {"vblogisticregression__ard": [False, True]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.6


def test_bad_input_is_refused_before_any_work():
    X, y = _problem()
    reg = VBLogisticRegression().fit(X, y)
    before = dict(vars(reg))
    with pytest.raises(ValueError, match="lambda_1"):
        VBLogisticRegression(lambda_1=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="proba_method"):
        VBLogisticRegression(proba_method="exact").fit(X, y)
    bad = X.copy()
    bad[2, 1] = np.inf
    for call in (lambda: reg.fit(bad, y), lambda: reg.fit(X, np.zeros_like(y)),
                 lambda: reg.fit(X, y, sample_weight=-np.ones(len(y)))):
        with pytest.raises(ValueError):
            call()
    assert vars(reg).keys() == before.keys() and all(vars(reg)[k] is v for k, v in before.items())


@parametrize_with_checks([VBLogisticRegression(), VBLogisticRegression(ard=True)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_dask_fit_and_its_predictions_equal_the_in_memory_ones(scheduler, n_classes):
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(600, 3))
    y = np.argmax(X @ rng.normal(size=(3, n_classes)) + rng.normal(size=(600, n_classes)), axis=1)
    labels = np.array(["a", "b", "c"])[:n_classes][y]
    w = rng.random(600) + 0.5
    kwargs = dict(ard=True, max_iter=8, tol=0, class_weight="balanced")  # the same sweeps on both sides
    ref = VBLogisticRegression(**kwargs).fit(X, labels, sample_weight=w)
    got = VBLogisticRegression(**kwargs).fit(
        da.from_array(X, chunks=(150, 3)), da.from_array(labels, chunks=100), sample_weight=da.from_array(w, chunks=150))
    np.testing.assert_array_equal(got.classes_, ref.classes_)
    for name in ("coef_", "intercept_", "coef_covariance_", "lambda_", "lower_bound_"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-10, atol=1e-12, err_msg=name)
    Xd = da.from_array(X, chunks=(250, 3))
    for method in ("predict_proba", "decision_function", "predict"):
        lazy = getattr(got, method)(Xd)
        assert isinstance(lazy, da.Array), method
        expected = getattr(ref, method)(X)
        if method == "predict":
            np.testing.assert_array_equal(lazy.compute(), expected)
        else:
            np.testing.assert_allclose(lazy.compute(), expected, rtol=1e-10, atol=1e-12, err_msg=method)


def test_dask_y_with_numpy_x_is_refused_clearly_for_both_models():
    da = pytest.importorskip("dask.array")
    X, y = np.random.default_rng(0).random((50, 2)), np.arange(50) % 2
    for est in (VBLinearRegression(), VBLogisticRegression()):
        with pytest.raises(ValueError, match="y is a Dask array but X is not"):
            est.fit(X, da.from_array(y, chunks=10))
        assert not hasattr(est, "coef_")


def test_large_data_starts_from_a_sample_fit_and_reaches_the_same_posterior():
    # Rows repeated twice (a fit that starts from a sample's fit) against the
    # same rows once with weight 2 (too few rows: it starts at the prior):
    # the same posterior, reached in fewer full sweeps.
    half = 5 * SAMPLE_START_ROWS // 2 + 500
    rng = np.random.default_rng(5)
    X = rng.normal(size=(half, 3))
    y = (X @ np.array([1.0, -2.0, 0.5]) + rng.logistic(size=half) > 0).astype(int)
    repeated = dict(X=np.concatenate([X, X]), y=np.concatenate([y, y]))
    for kwargs in (dict(tol=1e-10, max_iter=2000), {}):
        from_sample = VBLogisticRegression(**kwargs).fit(repeated["X"], repeated["y"])
        from_prior = VBLogisticRegression(**kwargs).fit(X, y, sample_weight=np.full(half, 2.0))
        if kwargs:
            # To where the bound stops resolving the coefficients (it is flat
            # at the optimum: 3e-6 in m moves it by ~1e-12 nats).
            np.testing.assert_allclose(from_sample.coef_, from_prior.coef_, rtol=2e-5)
            np.testing.assert_allclose(from_sample.coef_covariance_, from_prior.coef_covariance_, rtol=2e-5)
            np.testing.assert_allclose(from_sample.lower_bound_, from_prior.lower_bound_, rtol=1e-9)
        else:
            assert from_sample.n_iter_[0] < from_prior.n_iter_[0]
            assert from_sample.lower_bound_ >= from_prior.lower_bound_ - 1e-7


def test_a_sample_without_weight_starts_at_the_prior():
    # Positive weights only outside the fixed sample: the sample start has
    # nothing to fit (it divided by zero) and the fit starts at the prior.
    rng = np.random.default_rng(0)
    n = 5 * SAMPLE_START_ROWS + 20_000
    X = rng.normal(size=(n, 2))
    y = (X[:, 0] + rng.normal(size=n) > 0).astype(int)
    sample = np.sort(np.random.RandomState(0).permutation(n)[:SAMPLE_START_ROWS])
    w = np.zeros(n)
    w[np.setdiff1d(np.arange(n), sample)[:200]] = 1.0
    est = VBLogisticRegression().fit(X, y, sample_weight=w)
    kept = w > 0
    ref = VBLogisticRegression().fit(X[kept], y[kept])
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-8)
