"""GaussianMixture (exact EM) against scikit-learn and the mathematics of EM."""

import pickle
import warnings

import numpy as np
import pytest
import sklearn.mixture
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.datasets import load_wine
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from varbayes import GaussianMixture
from varbayes._backend import get_backend
from varbayes.mixture._covariance import get_covariance, residuals
from varbayes.mixture._stats import chunk_log_rho, e_step

COV_TYPES = ["full", "tied", "diag", "spherical"]
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def blobs(n=300, d=3, k=3, seed=0, spread=4.0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=spread, size=(k, d))
    labels = rng.integers(k, size=n)
    A = rng.normal(scale=0.5, size=(k, d, d)) + np.eye(d)
    X = centers[labels] + np.einsum("nij,nj->ni", A[labels], rng.normal(size=(n, d)))
    return X.astype(dtype)


def initial_params(X, k, cov_type, seed=0):
    """Rough initial parameters in scikit-learn's precisions_init format."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    means = X[rng.choice(n, k, replace=False)]
    weights = rng.dirichlet(np.ones(k) * 5)
    cov = get_covariance(cov_type, k, d)
    var = X.var(0)
    if cov_type == "full":
        prec = np.stack([np.diag(1 / var)] * k)
    elif cov_type == "tied":
        prec = np.diag(1 / var)
    elif cov_type == "diag":
        prec = np.tile(1 / var, (k, 1))
    else:
        prec = np.full(k, 1 / var.mean())
    assert prec.shape == cov.shape
    return dict(weights_init=weights, means_init=means, precisions_init=prec)


def both(cov_type, **kw):
    return GaussianMixture(covariance_type=cov_type, **kw), sklearn.mixture.GaussianMixture(
        covariance_type=cov_type, **kw
    )


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_matches_sklearn_from_same_initial_parameters(cov_type):
    X = blobs()
    ours, ref = both(cov_type, n_components=3, tol=0.0, max_iter=25, **initial_params(X, 3, cov_type))
    ours.fit(X)
    ref.fit(X)
    for attr in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(ours, attr), getattr(ref, attr), rtol=1e-8, atol=1e-10, err_msg=attr)
    assert ours.n_iter_ == ref.n_iter_ == 25
    # scikit-learn's bound lags one M-step: its t-th value is our (t-1)-th.
    np.testing.assert_allclose(ours.lower_bounds_[:-1], ref.lower_bounds_[1:], rtol=1e-10)
    assert ours.lower_bound_ == pytest.approx(ref.score(X), rel=1e-10)
    np.testing.assert_allclose(ours.score_samples(X), ref.score_samples(X), rtol=1e-8)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-8)
    assert ours.bic(X) == pytest.approx(ref.bic(X), rel=1e-8)
    assert ours.aic(X) == pytest.approx(ref.aic(X), rel=1e-8)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_tight_clusters_far_apart_keep_their_covariances(cov_type):
    # Spread 1e-2 at distance 1e4: second moments about one common point
    # cancel to ~1e-4 relative error (as scikit-learn's 'tied', 'diag' and
    # 'spherical' updates do); about each component's centre they equal the
    # direct sums over each cluster.  'full' is also compared with
    # scikit-learn, which subtracts each mean first.
    rng = np.random.default_rng(0)
    labels = rng.integers(2, size=400)
    X = rng.normal(scale=1e-2, size=(400, 2)) + np.where(labels[:, None] == 1, 1e4, -1e4)
    init = dict(means_init=np.array([[-1e4 + 0.1, -1e4], [1e4, 1e4 - 0.1]]), weights_init=[0.5, 0.5])
    ours, ref = both(cov_type, n_components=2, tol=0.0, max_iter=5, **init)
    ours.fit(X)
    resid = [X[labels == k] - X[labels == k].mean(0) for k in range(2)]
    direct = np.stack([r.T @ r / len(r) for r in resid])
    if cov_type == "tied":
        direct = sum(r.T @ r for r in resid) / len(X)
    elif cov_type == "diag":
        direct = np.diagonal(direct, axis1=1, axis2=2)
    elif cov_type == "spherical":
        direct = np.trace(direct, axis1=1, axis2=2) / 2
    eye = np.eye(2) if cov_type in ("full", "tied") else 1.0
    np.testing.assert_allclose(ours.covariances_, direct + 1e-6 * eye, rtol=1e-8)
    if cov_type == "full":
        ref.fit(X)
        for attr in ("weights_", "means_", "covariances_"):
            np.testing.assert_allclose(getattr(ours, attr), getattr(ref, attr), rtol=1e-8, err_msg=attr)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_float32_digits_fit_where_cancellation_used_to_fail(cov_type):
    # Pixels constant within a cluster have a variance of ~reg_covar: float32
    # moments about the data mean lost it and the fit failed as singular.
    from sklearn.datasets import load_digits

    X = load_digits().data.astype(np.float32)
    ours = GaussianMixture(10, covariance_type=cov_type, random_state=0, max_iter=20).fit(X)
    ref = GaussianMixture(10, covariance_type=cov_type, random_state=0, max_iter=20).fit(X.astype(np.float64))
    assert ours.means_.dtype == np.float32
    assert ours.score(X) == pytest.approx(ref.score(X), rel=1e-3)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_one_extreme_outlier_does_not_wipe_out_the_inliers(cov_type):
    # A data-mean shift (5e17 here) used to collapse every inlier onto one
    # point: mean exactly [0, 0], variance reg_covar, score +11.97 ('diag',
    # 'spherical'), or a false singular-covariance error ('full', 'tied').
    inliers = np.random.default_rng(11).normal(size=(200, 2))
    X = np.vstack([inliers, [[1e20, 1e20]]])
    gm = GaussianMixture(2, covariance_type=cov_type, random_state=0).fit(X)
    k = int(np.argmin(gm.means_[:, 0]))
    np.testing.assert_allclose(gm.means_[k], inliers.mean(0), rtol=1e-10)
    ref = sklearn.mixture.GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    # scikit-learn fits 'diag' and 'spherical' (and raises for the others):
    # -2.768 nats on the inliers, where the collapsed fit claimed +11.97.
    assert gm.score(inliers) == pytest.approx(ref.score(inliers), abs=2e-3)
    assert gm.score(X) == pytest.approx(gm.lower_bound_, rel=1e-12)


@pytest.mark.parametrize("far", [1e30, 1e50])
def test_score_equals_lower_bound_with_a_component_far_away(far):
    # Prediction used to subtract weights_ @ means_ (~far / 2) from X first.
    X = np.random.default_rng(0).normal(size=(60, 3))
    gm = GaussianMixture(2, means_init=[[0, 0, 0], [far] * 3]).fit(X)
    direct = multivariate_normal(gm.means_[0], gm.covariances_[0]).logpdf(X) + np.log(gm.weights_[0])
    assert gm.score(X) == pytest.approx(gm.lower_bound_, rel=1e-12)
    np.testing.assert_allclose(gm.score_samples(X), direct, rtol=1e-10)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_same_random_state_gives_sklearn_initialisation(init_params):
    X = blobs(seed=3)
    ours, ref = both("full", n_components=3, init_params=init_params, random_state=7, max_iter=1, tol=0.0)
    ours.fit(X)
    ref.fit(X)
    np.testing.assert_allclose(ours.means_, ref.means_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.covariances_, ref.covariances_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_lower_bound_is_the_score_of_the_returned_parameters(cov_type):
    X = blobs(seed=1)
    gm = GaussianMixture(3, covariance_type=cov_type, random_state=0).fit(X)
    assert gm.converged_
    assert gm.lower_bound_ == pytest.approx(gm.score(X), rel=1e-12)
    assert gm.lower_bounds_[-1] == gm.lower_bound_
    assert len(gm.lower_bounds_) == gm.n_iter_


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_elbo_staircase_records_both_half_steps(cov_type):
    X = blobs(seed=2)
    gm = GaussianMixture(3, covariance_type=cov_type, random_state=0, max_iter=10, tol=0.0).fit(X)
    t = gm.elbo_
    assert t.steps == ["E"] + ["M", "E"] * 10
    # After each E-step the bound is the log-likelihood.
    np.testing.assert_allclose(t.select("E")[1:], gm.lower_bounds_)
    assert t.is_monotone()
    np.testing.assert_allclose(t.terms["expected_complete_loglik"] + t.terms["entropy"], t.values, rtol=1e-12)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_m_step_bound_equals_direct_computation(cov_type):
    """L(q_0, theta_1) = sum r0 [log pi1 N(x | theta1)] - sum r0 log r0, with q_0 from theta_0."""
    X = blobs(n=200, seed=4)
    init = initial_params(X, 3, cov_type)
    gm = GaussianMixture(3, covariance_type=cov_type, max_iter=1, tol=0.0, **init).fit(X)
    cov = get_covariance(cov_type, 3, X.shape[1])

    def log_joint(weights, means, covariances):
        dense = cov.to_full(covariances)
        return np.stack(
            [np.log(w) + multivariate_normal(m, c).logpdf(X) for w, m, c in zip(weights, means, dense)], axis=1
        )

    prec = np.asarray(init["precisions_init"], dtype=float)
    cov0 = np.linalg.inv(cov.to_full(prec)) if cov_type in ("full", "tied") else 1 / prec
    if cov_type == "tied":
        cov0 = cov0[0]
    lj0 = log_joint(init["weights_init"], init["means_init"], cov0)
    log_resp0 = lj0 - logsumexp(lj0, axis=1, keepdims=True)
    resp0 = np.exp(log_resp0)
    lj1 = log_joint(gm.weights_, gm.means_, gm.covariances_)
    expected = (np.sum(resp0 * lj1) - np.sum(resp0 * log_resp0)) / X.shape[0]
    assert gm.elbo_.values[1] == pytest.approx(expected, rel=1e-10)
    assert gm.elbo_.values[0] == pytest.approx(np.mean(logsumexp(lj0, axis=1)), rel=1e-10)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(40, 150),
    d=st.integers(1, 4),
    k=st.integers(1, 4),
    cov_type=st.sampled_from(COV_TYPES),
    init_params=st.sampled_from(["kmeans", "k-means++", "random", "random_from_data"]),
)
def test_em_never_decreases_the_bound_on_random_problems(seed, n, d, k, cov_type, init_params):
    X = blobs(n=n, d=d, k=k, seed=seed, spread=2.0)
    gm = GaussianMixture(
        k, covariance_type=cov_type, init_params=init_params, random_state=seed, max_iter=30, reg_covar=0.0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            gm.fit(X)  # ELBODecreaseWarning is an error in this suite
        except ValueError as exc:  # a component collapsed: no regularisation to save it
            assume("ill-defined empirical covariance" not in str(exc))
            raise
    t = gm.elbo_
    assert np.all(t.allowances == 0.0)
    assert t.is_monotone()
    assert len(t) == 2 * gm.n_iter_ + 1
    assert np.all(np.isfinite(t.values))


@pytest.mark.parametrize(
    "X, cov_type, k, seed",
    [
        # n=5 < d + k: the tied scatter is singular, its precision 1/reg_covar
        # in the null direction amplifies the statistics' rounding (the M-step
        # bound used to exceed the log-likelihood by up to 3e-7 per iteration).
        (np.random.default_rng(0).normal(size=(5, 4)) * 100, "tied", 2, 0),
        (np.random.default_rng(1).normal(size=(5, 4)) * 100, "tied", 2, 1),
        # float32 sums under ill-conditioned covariances (decreases of 1.8e-3).
        (load_wine().data.astype(np.float32), "full", 10, 1),
        (load_wine().data.astype(np.float32), "full", 10, 2),
    ],
)
def test_rounding_of_ill_conditioned_statistics_is_no_decrease(X, cov_type, k, seed):
    gm = GaussianMixture(k, covariance_type=cov_type, random_state=seed).fit(X)  # ELBODecreaseWarning is an error here
    t = gm.elbo_
    assert t.is_monotone() and np.all(np.isfinite(t.values))
    # The M records carry the bound on their rounding; the E records (per-row
    # log-likelihoods) none.
    steps = np.asarray(t.steps)
    assert np.all(t.errors[steps == "E"] == 0.0) and np.all(t.errors[steps == "M"] > 0.0)


def test_rounding_bound_stays_sharp_on_a_well_conditioned_problem():
    # The widened check must not hide real errors where the statistics are exact.
    gm = GaussianMixture(3, random_state=0).fit(blobs(n=1000, seed=3))
    assert gm.elbo_.errors.max() < 1e-10


def test_reg_covar_decreases_stay_within_the_recorded_allowance():
    """With reg_covar > 0 the M-step maximises a penalised bound: L may fall, but only so far."""
    from sklearn.datasets import load_digits

    X = load_digits().data / 16.0
    gm = GaussianMixture(10, reg_covar=1e-2, tol=1e-5, random_state=0).fit(X)
    t = gm.elbo_
    drops = -np.diff(t.values)
    assert drops.max() > 1e-6  # the regularised M-step really does lower L here ...
    assert np.all(drops <= t.allowances[1:] + 1e-9 * np.abs(t.values[:-1]))  # ... within the allowance
    assert np.all(t.allowances[np.asarray(t.steps) == "E"] == 0.0)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_chunked_fit_equals_single_chunk_fit(cov_type):
    X = blobs(n=257, seed=5)
    kw = dict(n_components=3, covariance_type=cov_type, random_state=0, max_iter=20, tol=0.0)
    a = GaussianMixture(chunk_size=10_000, **kw).fit(X)
    b = GaussianMixture(chunk_size=13, **kw).fit(X)
    for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(b, attr), getattr(a, attr), rtol=1e-10, atol=1e-12)
    assert b.lower_bound_ == pytest.approx(a.lower_bound_, rel=1e-12)
    np.testing.assert_allclose(b.predict_proba(X), a.predict_proba(X), atol=1e-10)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_float32_stays_float32(cov_type):
    X = blobs(seed=6, dtype=np.float32)
    gm = GaussianMixture(3, covariance_type=cov_type, random_state=0).fit(X)
    for attr in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(gm, attr).dtype == np.float32, attr
    assert gm.predict_proba(X).dtype == np.float32
    assert gm.score_samples(X).dtype == np.float32
    assert gm.sample(5)[0].dtype == np.float32
    ref = GaussianMixture(3, covariance_type=cov_type, random_state=0).fit(X.astype(np.float64))
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-3, atol=1e-3)


def test_hot_path_does_not_upcast_float32():
    # The E-step's broadcast terms and residuals (the local step's seam) stay
    # float32; float32 never takes the expanded form (its cancellation bound).
    X = blobs(seed=6, dtype=np.float32)
    gm = GaussianMixture(3, random_state=0).fit(X)
    be = get_backend("cpu")
    model = gm._fitted_model(be, get_covariance("full", 3, 3), np.float32)
    terms = model.e_step_terms(gm._attributes_to_params(model))
    assert terms.expanded is None and terms.residual.idx is None
    part = terms.residual
    assert all(t.dtype == np.float32 for t in part.terms if t is not None)
    assert terms.log_const.dtype == part.hi.dtype == np.float32
    assert terms.origin.dtype == np.float64 and (part.lo is None or part.lo.dtype == np.float32)
    for augmented in (False, True):
        R = residuals(np, X[:10], part.hi, part.lo, augmented=augmented)
        assert R.D.dtype == np.float32 and (R.A is None) != augmented
    assert chunk_log_rho(np, X[:10], terms)[0].dtype == np.float32
    stats = e_step(X[:10], None, slice(0, 10), be, terms)
    assert stats.dtype == np.float32 and stats.counts.dtype == np.float64


def test_an_exact_fixed_point_counts_as_converged():
    X = blobs(n=300, d=2, k=3, seed=30, spread=200.0)  # k-means gives exact 0/1 responsibilities
    for k in (1, 3):
        gm = GaussianMixture(k, random_state=0).fit(X)
        assert gm.converged_ and gm.n_iter_ < 10


@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
def test_a_fit_at_its_optimum_from_the_first_iteration_converges(cov_type):
    # Well-separated clusters: K-means finds them, and the bound after the
    # first iteration is already the optimum, so L_t - L_1 is rounding; the
    # parameters keep moving by ulps and the expanded forms' bound wobbles
    # by about 1e-13.  The relative rule alone then never stopped.
    for seed in range(3):
        rng = np.random.default_rng(seed)
        X = np.concatenate([rng.normal(size=(300, 4)) * (1 + k) + 15 * k for k in range(4)])
        for init in ("kmeans", "k-means++"):
            gm = GaussianMixture(4, covariance_type=cov_type, init_params=init, random_state=seed).fit(X)
            assert gm.converged_ and gm.n_iter_ <= 10, (seed, init, gm.n_iter_)


def test_a_float32_fit_climbing_slowly_through_rounding_noise_goes_on():
    # A symmetric 'random' start escapes slowly (gains ~4e-7 per iteration,
    # float32's noise as large): a dip in the bound is not convergence there
    # (float32's rounding tolerance, 1e-4 |L|, is far coarser than the gains).
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(600, centers=3, n_features=8, cluster_std=3.0, random_state=1)
    fits = [GaussianMixture(3, covariance_type="tied", init_params="random", random_state=1).fit(X.astype(dtype))
            for dtype in (np.float32, np.float64)]
    assert fits[0].n_iter_ > 20
    assert fits[0].lower_bound_ >= fits[1].lower_bound_ - 1e-2


def test_float32_predictions_agree_with_float64_far_from_the_origin():
    # The data as float32 holds them; the float64 reference sees the same values.
    X = (blobs(n=300, d=2, k=2, seed=31) * 0.01 + 1e3).astype(np.float32).astype(np.float64)
    gm = GaussianMixture(2, random_state=0).fit(X)
    X32 = X.astype(np.float32)
    gm32 = GaussianMixture(2)
    gm32.__dict__.update(gm.__dict__)  # same parameters; only the data's dtype differs
    np.testing.assert_allclose(gm32.predict_proba(X32), gm.predict_proba(X), atol=1e-4)
    np.testing.assert_allclose(gm32.score_samples(X32), gm.score_samples(X), atol=1e-3)


def test_integer_input_is_converted_to_float64():
    X = np.round(blobs(seed=7) * 10).astype(np.int64)
    gm = GaussianMixture(2, random_state=0).fit(X)
    assert gm.means_.dtype == np.float64


def test_warm_start_continues_from_current_parameters():
    X = blobs(seed=8, spread=1.0)
    gm = GaussianMixture(3, random_state=0, max_iter=2, tol=0.0, warm_start=True)
    gm.fit(X)
    first = gm.lower_bound_
    means = gm.means_.copy()
    gm.set_params(n_init=5).fit(X)  # n_init is ignored when continuing
    assert gm.lower_bound_ > first
    assert not np.allclose(gm.means_, means)
    cold = GaussianMixture(3, random_state=0, max_iter=4, tol=0.0).fit(X)
    # Two warm fits of 2 iterations = one cold fit of 4.
    np.testing.assert_allclose(gm.means_, cold.means_, rtol=1e-10)


def test_n_init_keeps_the_best_initialisation():
    X = blobs(n=200, k=5, seed=9, spread=3.0)
    one = GaussianMixture(5, init_params="random", random_state=0, max_iter=30).fit(X)
    many = GaussianMixture(5, init_params="random", random_state=0, n_init=4, max_iter=30).fit(X)
    assert many.lower_bound_ >= one.lower_bound_
    # The n_init starts are those of four fits drawing from one random stream
    # in turn; the best of them is the one kept.
    stream = np.random.RandomState(0)
    singles = [GaussianMixture(5, init_params="random", random_state=stream, max_iter=30).fit(X) for _ in range(4)]
    bounds = [g.lower_bound_ for g in singles]
    assert len(set(np.round(bounds, 6))) > 1  # the starts differ, so the choice matters
    best = singles[int(np.argmax(bounds))]
    assert many.lower_bound_ == pytest.approx(max(bounds), rel=1e-12)
    np.testing.assert_allclose(many.means_, best.means_, rtol=1e-10)


def test_not_converged_warns():
    X = blobs(seed=10)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GaussianMixture(3, max_iter=1, random_state=0).fit(X)


def test_verbose_prints_progress(capsys):
    X = blobs(seed=11)
    GaussianMixture(3, random_state=0, verbose=2, verbose_interval=1, max_iter=3).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out and "Iteration 1" in out and "lower bound" in out


def test_sample_draws_from_the_mixture():
    X = blobs(seed=12)
    gm = GaussianMixture(3, random_state=0).fit(X)
    Xs, ys = gm.sample(20_000)
    assert Xs.shape == (20_000, 3) and ys.shape == (20_000,)
    np.testing.assert_allclose(np.bincount(ys, minlength=3) / 20_000, gm.weights_, atol=0.02)
    for k in range(3):
        np.testing.assert_allclose(Xs[ys == k].mean(0), gm.means_[k], atol=0.1)
        np.testing.assert_allclose(np.cov(Xs[ys == k].T), gm.covariances_[k], atol=0.15)
    with pytest.raises(ValueError, match="n_samples"):
        gm.sample(0)


def test_fit_predict_equals_predict_and_proba_sums_to_one():
    X = blobs(seed=13)
    gm = GaussianMixture(3, random_state=0)
    labels = gm.fit_predict(X)
    np.testing.assert_array_equal(labels, gm.predict(X))
    np.testing.assert_allclose(gm.predict_proba(X).sum(1), 1.0)
    np.testing.assert_array_equal(labels, gm.predict_proba(X).argmax(1))


def test_pickle_roundtrip_keeps_predictions():
    X = blobs(seed=14)
    gm = GaussianMixture(3, random_state=0).fit(X)
    gm2 = pickle.loads(pickle.dumps(gm))
    np.testing.assert_array_equal(gm2.score_samples(X), gm.score_samples(X))
    np.testing.assert_array_equal(gm2.elbo_.values, gm.elbo_.values)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[1.0, np.nan], [2.0, 3.0], [1.0, 1.0]]), "NaN"),
        (np.array([[1.0, np.inf], [2.0, 3.0], [1.0, 1.0]]), "infinity"),
        (np.empty((0, 2)), "0 sample"),
        (np.arange(5.0), "Expected 2D array"),
        (np.ones((3, 2)) + 1j, "[Cc]omplex"),
        (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), "could not convert|dtype"),
    ],
)
def test_bad_input_is_a_clear_value_error(X, match):
    gm = GaussianMixture(1)
    with pytest.raises(ValueError, match=match):
        gm.fit(X)
    assert not hasattr(gm, "means_")


def test_more_components_than_samples():
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(5).fit(np.random.default_rng(0).normal(size=(3, 2)))


def test_wrong_number_of_features_at_predict():
    gm = GaussianMixture(2, random_state=0).fit(blobs(seed=15))
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3"):
        gm.predict(np.ones((4, 2)))


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_methods_before_fit_raise_not_fitted(method):
    with pytest.raises(NotFittedError):
        getattr(GaussianMixture(), method)(np.ones((3, 2)))
    with pytest.raises(NotFittedError):
        GaussianMixture().sample(3)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"n_components": 1.5}, "n_components"),
        ({"tol": -1.0}, "tol"),
        ({"reg_covar": -1e-3}, "reg_covar"),
        ({"max_iter": -1}, "max_iter"),
        ({"tol": np.nan}, "tol.*finite"),
        ({"reg_covar": np.inf}, "reg_covar.*finite"),
        ({"n_init": 0}, "n_init"),
        ({"init_params": "magic"}, "init_params"),
        ({"covariance_type": "banded"}, "covariance_type"),
        ({"random_state": "seed"}, "random_state"),
        ({"device": "tpu"}, "device"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"verbose_interval": 0}, "verbose_interval"),
        ({"weights_init": [0.5, 0.6]}, "normalized"),
        ({"weights_init": [1.5, -0.5]}, "range"),
        ({"weights_init": [1.0]}, "shape"),
        ({"means_init": np.zeros((2, 2))}, "shape"),
        ({"means_init": np.full((2, 3), np.nan)}, "NaN"),
        ({"precisions_init": np.zeros((2, 3, 3))}, "positive definite"),
        ({"precisions_init": np.zeros((2, 2, 2))}, "shape"),
        ({"precisions_init": np.array([[[1.0, 2, 0], [0, 1, 0], [0, 0, 1]]] * 2)}, "symmetric"),
    ],
)
def test_invalid_parameters_are_clear_errors_before_any_work(params, match):
    kw = {"n_components": 2, **params}
    gm = GaussianMixture(**kw)
    with pytest.raises(ValueError, match=match):
        gm.fit(blobs(n=20, seed=16))
    assert not hasattr(gm, "means_")


def test_a_rejected_fit_leaves_the_estimator_as_it_was():
    # validate_data records n_features_in_ before the later checks run.
    gm = GaussianMixture(5)
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        gm.fit(np.ones((3, 2)))
    assert not hasattr(gm, "n_features_in_")
    with pytest.raises(NotFittedError):
        gm.predict(np.ones((3, 2)))
    X = blobs(seed=15)
    gm = GaussianMixture(2, random_state=0).fit(X)
    labels = gm.predict(X)
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        gm.set_params(n_components=50).fit(X[:10, :2])
    assert gm.n_features_in_ == 3
    np.testing.assert_array_equal(gm.predict(X), labels)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_a_component_of_weight_zero_keeps_the_record_finite(cov_type):
    # log r = -inf for that component: r log r must count as 0, not NaN.
    X = blobs(seed=3)
    init = initial_params(X, 2, cov_type)
    gm = GaussianMixture(2, covariance_type=cov_type, weights_init=[0.0, 1.0], max_iter=3,
                         means_init=init["means_init"]).fit(X)
    assert np.all(np.isfinite(gm.elbo_.values))
    assert np.all(np.isfinite(gm.elbo_.terms["entropy"]))


def test_max_iter_zero_keeps_the_initial_parameters():
    X = blobs(seed=3)
    init = initial_params(X, 3, "full")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # as scikit-learn: no warning
        gm = GaussianMixture(3, max_iter=0, **init).fit(X)
    np.testing.assert_allclose(gm.means_, init["means_init"])
    assert gm.n_iter_ == 0 and gm.lower_bounds_ == [] and not gm.converged_
    assert gm.lower_bound_ == pytest.approx(gm.score(X), rel=1e-12)


def test_verbose_messages_follow_sklearn(capsys):
    X = blobs(seed=3)
    GaussianMixture(2, verbose=True, verbose_interval=2, max_iter=4, tol=0.0, random_state=0).fit(X)
    out = capsys.readouterr().out.splitlines()
    assert out == ["Initialization 0", "  Iteration 2", "  Iteration 4", "Initialization did not converge."]
    GaussianMixture(2, verbose=2, verbose_interval=2, max_iter=4, tol=0.0, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "  Iteration 2\t time lapse" in out and "lower bound" in out


def test_singular_covariance_suggests_reg_covar_and_keeps_previous_fit():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]]), 10, axis=0)
    gm = GaussianMixture(3, reg_covar=0.0, random_state=0)
    with pytest.raises(ValueError, match="reg_covar"):
        gm.fit(X)
    assert not hasattr(gm, "means_")
    gm.set_params(reg_covar=1e-3).fit(X)
    means = gm.means_.copy()
    with pytest.raises(ValueError, match="reg_covar"):
        gm.set_params(reg_covar=0.0).fit(X)
    np.testing.assert_array_equal(gm.means_, means)
    assert np.all(np.isfinite(gm.covariances_))


def test_a_non_finite_bound_is_an_error_and_leaves_no_nan_parameters():
    X = blobs(seed=32)
    gm = GaussianMixture(3, random_state=0).fit(X)
    means = gm.means_.copy()
    # Every component 1e160 away: each squared distance overflows, every
    # log responsibility is -inf, and so is the bound of the first E-step.
    far = dict(means_init=[[1e160] * 3, [-1e160] * 3, [1e160, -1e160, 0]], weights_init=[0.3, 0.3, 0.4],
               precisions_init=np.stack([np.eye(3)] * 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="non-finite at iteration 0"):
            gm.set_params(**far).fit(X)
    np.testing.assert_array_equal(gm.means_, means)
    assert all(np.all(np.isfinite(getattr(gm, a))) for a in ("weights_", "means_", "covariances_"))


@pytest.mark.gpu
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_gpu_fit_equals_cpu_fit(cov_type):
    import cupy

    X = blobs(seed=17)
    init = initial_params(X, 3, cov_type)
    kw = dict(n_components=3, covariance_type=cov_type, max_iter=20, tol=0.0, **init)
    cpu = GaussianMixture(**kw).fit(X)
    gpu = GaussianMixture(**kw).fit(cupy.asarray(X))
    forced = GaussianMixture(device="gpu", **kw).fit(X)
    for est in (gpu, forced):
        for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
            assert isinstance(getattr(est, attr), np.ndarray)
            np.testing.assert_allclose(getattr(est, attr), getattr(cpu, attr), rtol=1e-8, atol=1e-10)
    X32 = X.astype(np.float32)
    gpu32 = GaussianMixture(**kw).fit(cupy.asarray(X32))
    cpu32 = GaussianMixture(**kw).fit(X32)
    assert gpu32.means_.dtype == np.float32
    np.testing.assert_allclose(gpu32.means_, cpu32.means_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gpu.predict_proba(cupy.asarray(X)), cpu.predict_proba(X), atol=1e-8)


@pytest.mark.gpu
def test_gpu_singular_covariance_gives_the_cpu_error():
    import cupy

    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]]), 10, axis=0)
    with pytest.raises(ValueError, match="reg_covar"):
        GaussianMixture(3, reg_covar=0.0, random_state=0).fit(cupy.asarray(X))
