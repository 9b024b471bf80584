"""The VB mixture of PPCAs: the proofs (VB PCA at K = 1, Monte Carlo, ascent), clusters, the API."""

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import gammaln
from sklearn.linear_model import Ridge
from sklearn.metrics import adjusted_rand_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from varbayes import VBMixturePCAImputer, VBPCAImputer
from varbayes._execution import ChunkExecutor
from varbayes.decomposition._mixture import MixturePCAModel, mixture_posteriors
from varbayes.decomposition._model import VBPCAModel
from varbayes.expfam import Dirichlet
from varbayes.vi import fit_loop

from ._missing import remove_entries

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _clusters(n=300, d=8, k=3, noise=0.1, seed=0):
    """k clusters, each along its own line, far apart; the true labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(k, size=n)
    centres, directions = 6.0 * rng.normal(size=(k, d)), rng.normal(size=(k, d))
    X = centres[labels] + rng.normal(size=(n, 1)) * directions[labels] + noise * rng.normal(size=(n, d))
    return X, labels


# ------------------------------------------------------------------ proofs
def test_one_cluster_is_vb_pca():
    # K = 1 with a Dirichlet prior: r_n1 = 1, E[log pi_1] = 0 and KL(q(pi)) = 0, so the fit
    # is VB PCA's, start included (k-means of one cluster is the weighted mean).
    X, _ = _clusters(n=120, d=6, k=2)
    Xm, _ = remove_entries(X, 0.2)
    w = np.random.default_rng(3).uniform(0.5, 2.0, size=120)
    kw = dict(n_components=3, max_iter=30, tol=0.0, noise_type="diagonal")
    one = VBMixturePCAImputer(1, weight_concentration_prior_type="dirichlet_distribution", **kw).fit(Xm, sample_weight=w)
    ref = VBPCAImputer(**kw).fit(Xm, sample_weight=w)
    assert one.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-10)
    np.testing.assert_allclose(one.loadings_[0], ref.loadings_, atol=1e-8)
    np.testing.assert_allclose(one.noise_variance_[0], ref.noise_variance_, rtol=1e-8)
    np.testing.assert_allclose(one.means_[0], ref.mean_, rtol=1e-10)
    np.testing.assert_allclose(one.transform(Xm), ref.transform(Xm), rtol=1e-9)
    np.testing.assert_allclose(one.score_samples(Xm), ref.score_samples(Xm), rtol=1e-9)


def _fitted_model(X, s, K=2, q=2, alpha0=0.7):
    """A mixture fitted a few sweeps with informative priors, its parameters and its bound."""
    center = np.nansum(X * s[:, None], axis=0) / ((~np.isnan(X)) * s[:, None]).sum(axis=0)
    priors = (2.0, 1.0, 1.5, 2.0, 0.7)
    comp = VBPCAModel(center, np.full(X.shape[1], 0.4), q, priors, False, False, "pca", False)
    model = MixturePCAModel(comp, K, Dirichlet(alpha0), False)
    result = fit_loop(model, ChunkExecutor(8), X, s, max_iter=4, tol=0.0, random_state=np.random.RandomState(0))
    return model, result.params, model.bound(result.params, model.local_step(X, s, slice(0, len(X)),
                                                                             *model.local_params(result.params)), "")


def _log_gamma_pdf(x, a, b):
    return a * np.log(b) - gammaln(a) + (a - 1.0) * np.log(x) - b * x


def test_elbo_equals_a_monte_carlo_estimate():
    # E_q[log p(X_O, Z, c, pi, W, mu, lambda, tau) - log q(...)] by sampling every factor of q
    # (c_n from its responsibilities, z_n from q(z_n | c_n)), against the closed-form bound.
    X, _ = _clusters(n=14, d=3, k=2, noise=0.3, seed=4)
    X, _ = remove_entries(X, 0.2, seed=2)
    s = np.random.default_rng(5).uniform(0.5, 2.0, size=len(X))
    model, params, bound = _fitted_model(X, s)
    comp, K, q, (n, d) = model.component, 2, 2, X.shape
    a0, b0, l1, l2, beta = comp.a0, comp.b0, comp.l1, comp.l2, comp.beta
    local = model.local_params(params)
    posteriors, resp = mixture_posteriors(X, *local)
    observed = ~np.isnan(X)
    Xo = np.where(observed, X - comp.center, 0.0)
    rng = np.random.default_rng(0)
    S = 20000
    alpha = params["weights"]
    pi = rng.dirichlet(alpha, size=S)
    c = (rng.random((S, n, 1)) > np.cumsum(resp, axis=1)[None]).sum(axis=2)  # (S, n)
    total = stats.dirichlet.logpdf(pi.T, np.full(K, 0.7)) - stats.dirichlet.logpdf(pi.T, alpha)
    total += (s * (np.log(np.take_along_axis(pi, c, axis=1)) - np.log(resp[np.arange(n), c]))).sum(axis=1)
    for k, p in enumerate(params["components"]):
        _, _, cov_z, mean_z, _ = posteriors[k]
        cov_z = np.broadcast_to(cov_z, (n, q, q))
        mean, cov = p["mean"], np.broadcast_to(p["cov"], (d, q + 1, q + 1))
        tau = rng.gamma(p["tau_shape"], 1 / p["tau_rate"], size=(S, 1))
        lam = rng.gamma(p["lam_shape"], 1 / p["lam_rate"], size=(S, q))
        Wt = mean + np.einsum("dab,sdb->sda", np.linalg.cholesky(cov), rng.standard_normal((S, d, q + 1)))
        Z = mean_z + np.einsum("nab,snb->sna", np.linalg.cholesky(cov_z), rng.standard_normal((S, n, q)))
        fit = np.einsum("sdq,snq->snd", Wt[:, :, :q], Z) + Wt[:, None, :, q]
        loglik = (observed * stats.norm.logpdf(Xo, fit, 1 / np.sqrt(tau[:, :, None]))).sum(axis=2)
        log_z = stats.norm.logpdf(Z).sum(axis=2)  # p(z_n) = N(0, I)
        log_qz = np.array([stats.multivariate_normal(mean_z[i], cov_z[i]).logpdf(Z[:, i]) for i in range(n)]).T
        total += (s * (c == k) * (loglik + log_z - log_qz)).sum(axis=1)
        prior_w = stats.norm.logpdf(Wt[:, :, :q], 0.0, 1 / np.sqrt(lam[:, None, :])).sum(axis=(1, 2))
        prior_mu = stats.norm.logpdf(Wt[:, :, q], 0.4, 1 / np.sqrt(beta)).sum(axis=1)
        log_qw = np.array([stats.multivariate_normal(mean[j], cov[j]).logpdf(Wt[:, j]) for j in range(d)]).sum(axis=0)
        total += prior_w + prior_mu - log_qw
        total += (_log_gamma_pdf(lam, l1, l2) - _log_gamma_pdf(lam, p["lam_shape"], p["lam_rate"])).sum(axis=1)
        total += (_log_gamma_pdf(tau, a0, b0) - _log_gamma_pdf(tau, p["tau_shape"], p["tau_rate"])).sum(axis=1)
    estimate, se = total.mean(), total.std() / np.sqrt(S)
    assert abs(estimate - bound.value * s.sum()) < 4 * se, (estimate, bound.value * s.sum(), se)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(4, 30), d=st.integers(2, 5), q=st.integers(1, 3),
       K=st.integers(1, 3), missing=st.sampled_from([0.0, 0.2]), weighted=st.booleans(),
       noise=st.sampled_from(["isotropic", "diagonal"]),
       prior=st.sampled_from(["dirichlet_process", "dirichlet_distribution"]))
def test_every_coordinate_update_ascends(seed, n, d, q, K, missing, weighted, noise, prior):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) @ rng.normal(size=(2, d)) + rng.normal(size=(n, d)) * rng.uniform(0.01, 1.0)
    X[: n // 2] += 5.0 * rng.normal(size=d)  # two groups
    X, _ = remove_entries(X, missing, seed)
    w = rng.uniform(0.0, 3.0, size=n) + 0.01 if weighted else None
    imp = VBMixturePCAImputer(K, n_components=min(q, d), noise_type=noise, weight_concentration_prior_type=prior,
                              elbo_per_update=True, max_iter=12, tol=0.0, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)  # an ELBODecreaseWarning fails the test
        warnings.filterwarnings("ignore", category=Warning, message=".*did not converge.*")
        imp.fit(X, sample_weight=w)
    values = imp.elbo_.values
    assert set(imp.elbo_.steps) == {"q(Z,c)", "q(pi)", "q(W,mu)", "q(lambda)", "q(tau)"}
    gains = np.diff(values)
    assert np.all(gains >= -1e-9 * np.maximum(1.0, np.abs(values[:-1]))), gains.min()


# ------------------------------------------------------------------ what the model finds
def test_clusters_on_their_own_lines_are_found_and_imputed():
    X, labels = _clusters(n=300, d=8, k=3, noise=0.1)
    Xm, mask = remove_entries(X, 0.3)
    # Five clusters for three: a start can split a line in two (a local optimum of the bound);
    # of three starts, the best bound has three clusters and leaves the spare ones empty.
    imp = VBMixturePCAImputer(5, n_components=3, n_init=3, random_state=0).fit(Xm)
    single = VBPCAImputer(n_components=7).fit(Xm)
    rmse = np.sqrt(np.mean((imp.transform(Xm) - X)[mask] ** 2))
    rmse_single = np.sqrt(np.mean((single.transform(Xm) - X)[mask] ** 2))
    assert rmse < 0.5 * rmse_single, (rmse, rmse_single)
    assert adjusted_rand_score(labels, imp.predict(Xm)) > 0.95
    assert np.sum(imp.weights_ > 0.05) == 3
    np.testing.assert_allclose(imp.predict_proba(Xm).sum(axis=1), 1.0, rtol=1e-12)
    # The posterior standard deviations describe the errors (0 for observed entries).
    filled, std = imp.impute(Xm, return_std=True)
    assert np.all(std[~mask] == 0.0) and np.all(std[mask] > 0.0)
    ratio = np.sqrt(np.mean((filled - X)[mask] ** 2) / np.mean(std[mask] ** 2))
    assert 0.8 < ratio < 1.25, ratio


def test_score_samples_is_the_mixture_density_of_the_observed_entries():
    X, _ = _clusters(n=200, d=5, k=2)
    Xm, _ = remove_entries(X, 0.2)
    imp = VBMixturePCAImputer(2, n_components=2, noise_type="diagonal", random_state=0).fit(Xm)
    got = imp.score_samples(Xm[:20])
    for i, x in enumerate(Xm[:20]):
        o = ~np.isnan(x)
        dens = [np.log(imp.weights_[k]) + stats.multivariate_normal(
            imp.means_[k][o], imp.loadings_[k][o] @ imp.loadings_[k][o].T + np.diag(imp.noise_variance_[k][o])).logpdf(x[o])
            for k in range(2)]
        assert got[i] == pytest.approx(np.logaddexp(*dens), rel=1e-9)


# ------------------------------------------------------------------ the scikit-learn contract
def test_warm_start_continues_the_run():
    X, _ = _clusters(n=150, d=6, k=2)
    Xm, _ = remove_entries(X, 0.1)
    long = VBMixturePCAImputer(2, n_components=2, max_iter=12, tol=0.0, random_state=0).fit(Xm)
    warm = VBMixturePCAImputer(2, n_components=2, max_iter=4, tol=0.0, random_state=0, warm_start=True)
    for _ in range(3):
        warm.fit(Xm)
    assert warm.lower_bound_ == pytest.approx(long.lower_bound_, rel=1e-12)
    with pytest.raises(ValueError, match="n_clusters"):
        warm.set_params(n_clusters=3).fit(Xm)


def test_n_init_keeps_the_best_start():
    X, _ = _clusters(n=120, d=5, k=3)
    kw = dict(n_components=2, max_iter=8, tol=0.0)
    best = VBMixturePCAImputer(3, n_init=3, random_state=np.random.RandomState(0), **kw).fit(X)
    shared = np.random.RandomState(0)
    singles = [VBMixturePCAImputer(3, random_state=shared, **kw).fit(X).lower_bound_ for _ in range(3)]
    assert len(set(singles)) == 3  # the starts differ, so keeping the best is a choice
    assert best.lower_bound_ == max(singles)


def test_float32_is_kept_and_a_pipeline_pickles():
    X, _ = _clusters(n=150, d=6, k=2)
    Xm, _ = remove_entries(X.astype(np.float32), 0.2)
    imp = VBMixturePCAImputer(2, n_components=2, random_state=0).fit(Xm)
    assert imp.transform(Xm).dtype == np.float32 and imp.means_.dtype == np.float32
    y = X[:, 0] + X[:, 1]
    pipe = make_pipeline(VBMixturePCAImputer(2, n_components=2, random_state=0), Ridge(alpha=1e-3)).fit(Xm, y)
    assert pipe.score(Xm, y) > 0.9
    clone = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(clone.predict(Xm), pipe.predict(Xm))


@pytest.mark.parametrize("params, match", [
    (dict(n_clusters=0), "n_clusters"),
    (dict(weight_concentration_prior_type="dirichlet"), "weight_concentration_prior_type"),
    (dict(weight_concentration_prior=0.0), "weight_concentration_prior"),
    (dict(n_clusters=20), "n_samples=10 should be >= n_clusters=20"),
])
def test_bad_parameters_get_a_clear_error_before_any_work(params, match):
    imp = VBMixturePCAImputer(**params)
    with pytest.raises(ValueError, match=match):
        imp.fit(np.random.default_rng(0).normal(size=(10, 3)))
    assert not hasattr(imp, "n_features_in_")


def test_integer_weights_are_repeated_rows_from_the_same_start():
    # One sweep fitted, then the same posterior continued on weighted rows and on repeated rows.
    X, _ = _clusters(n=80, d=5, k=2, seed=6)
    Xm, _ = remove_entries(X, 0.2)
    w = np.random.default_rng(0).integers(1, 4, size=80)
    start = VBMixturePCAImputer(2, n_components=2, max_iter=1, tol=0.0, warm_start=True, random_state=0)
    start.fit(Xm, sample_weight=w)
    a, b = pickle.loads(pickle.dumps(start)), pickle.loads(pickle.dumps(start))
    a.set_params(max_iter=20).fit(Xm, sample_weight=w)
    b.set_params(max_iter=20).fit(np.repeat(Xm, w, axis=0))
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-10)
    np.testing.assert_allclose(a.loadings_, b.loadings_, atol=1e-8)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-10)


#: With K >= 2 the initial partition comes from k-means, which does not draw
#: weighted rows as it draws repeated ones, so the fits may differ by a label
#: permutation or reach another optimum (as BayesianGaussianMixture's; see
#: tests/mixture/test_bayesian.py).  From the same start the equivalence is
#: exact (the test above); K = 1 passes the check.
RANDOM_INIT = {"check_sample_weight_equivalence_on_dense_data": "k-means initial partition (see RANDOM_INIT)"}


@parametrize_with_checks([VBMixturePCAImputer(1, n_components=1), VBMixturePCAImputer(2, n_components=1)],
                         expected_failed_checks=lambda est: RANDOM_INIT if est.n_clusters > 1 else {})
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_predictions_use_the_fitted_prior_not_parameters_set_since():
    X, _ = _clusters(n=60, d=4, k=2)
    imp = VBMixturePCAImputer(2, n_components=1, random_state=0).fit(X)
    before = imp.predict_proba(X), imp.transform(X)
    imp.set_params(weight_concentration_prior_type="dirichlet_distribution", weight_concentration_prior=5.0)
    np.testing.assert_array_equal(imp.predict_proba(X), before[0])
    np.testing.assert_array_equal(imp.transform(X), before[1])
    assert imp.weight_concentration_prior_ == 0.5
