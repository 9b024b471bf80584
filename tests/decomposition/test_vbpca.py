"""VB PCA: the proofs (closed forms, Monte Carlo, ascent), ARD, missing values, the API."""

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from varbayes import VBPCA, VBPCAImputer
from varbayes._execution import ChunkExecutor
from varbayes.decomposition._model import VBPCAModel
from varbayes.decomposition._stats import column_summary_step, row_step, z_posterior
from varbayes.vi import fit_loop

from ._missing import remove_entries

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _low_rank(n=400, d=12, rank=3, noise=0.3, seed=0, offset=3.0):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(d, rank)) * np.linspace(3.0, 1.5, rank)
    return rng.normal(size=(n, rank)) @ W.T + noise * rng.normal(size=(n, d)) + offset, W


# ------------------------------------------------------------------ proofs
def test_subspace_is_pcas_with_the_precisions_fixed():
    # ARD precisions fixed at 1e-3 and the noise precision at 1 / 0.09 by Gamma priors of shape 1e12.
    X, _ = _low_rank(n=300, d=10, rank=3, noise=0.3)
    pca = VBPCA(n_components=3, lambda_1=1e12, lambda_2=1e15, alpha_1=1e12, alpha_2=1e12 * 0.09,
                max_iter=400, tol=0.0).fit(X)
    np.testing.assert_allclose(pca.ard_precision_, 1e-3, rtol=1e-9)
    assert pca.noise_variance_ == pytest.approx(0.09, rel=1e-9)
    angles = subspace_angles(pca.components_.T, PCA(3).fit(X).components_.T)
    assert angles.max() < 1e-6
    np.testing.assert_allclose(pca.mean_, X.mean(axis=0), atol=1e-8)


@pytest.mark.parametrize("missing, diagonal", [(0.0, False), (0.25, False), (0.25, True)])
def test_elbo_equals_a_monte_carlo_estimate(missing, diagonal):
    X, _ = _low_rank(n=25, d=5, rank=2, noise=0.5, seed=3)
    X, _ = remove_entries(X, missing)
    s = np.random.default_rng(5).uniform(0.5, 2.0, size=len(X))
    ex = ChunkExecutor(8)
    summary = ex.map_sum(column_summary_step, X, s)
    center = summary.sums / summary.observed
    shift = np.full(5, 0.4)  # a prior mean of mu away from the data's
    a0, b0, l1, l2, beta = 2.0, 1.0, 1.5, 2.0, 0.7
    model = VBPCAModel(center, shift, 3, (a0, b0, l1, l2, beta), diagonal, missing == 0, "pca", False)
    params = fit_loop(model, ex, X, s, max_iter=4, tol=0.0, random_state=np.random.RandomState(0)).params
    local = model.local_params(params)
    value = model.bound(params, row_step(X, s, slice(0, 25), *local), "q(Z)").value * s.sum()

    rng = np.random.default_rng(0)
    S, (n, d), q = 4000, X.shape, 3
    observed, Xo, cov_z, mean_z, _ = z_posterior(X, *local)
    cov_z = np.broadcast_to(cov_z, (n, q, q))
    mean, cov = params["mean"], np.broadcast_to(params["cov"], (d, q + 1, q + 1))
    tau = rng.gamma(params["tau_shape"], 1 / params["tau_rate"], size=(S, params["tau_shape"].size))
    lam = rng.gamma(params["lam_shape"], 1 / params["lam_rate"], size=(S, q))
    Wt = mean + np.einsum("dab,sdb->sda", np.linalg.cholesky(cov), rng.standard_normal((S, d, q + 1)))
    Z = mean_z + np.einsum("nab,snb->sna", np.linalg.cholesky(cov_z), rng.standard_normal((S, n, q)))
    fit = np.einsum("sda,sna->snd", Wt[:, :, :q], Z) + Wt[:, None, :, q]
    log_lik = np.where(observed, stats.norm.logpdf(Xo, fit, 1 / np.sqrt(tau)[:, None, :]), 0.0).sum(axis=2)
    log_z = stats.norm.logpdf(Z).sum(axis=2)
    log_qz = np.array([stats.multivariate_normal(mean_z[i], cov_z[i]).logpdf(Z[:, i]) for i in range(n)]).T
    log_w = stats.norm.logpdf(Wt[:, :, :q], 0, 1 / np.sqrt(lam)[:, None, :]).sum(axis=(1, 2))
    log_w += stats.norm.logpdf(Wt[:, :, q], shift, 1 / np.sqrt(beta)).sum(axis=1)
    log_qw = sum(stats.multivariate_normal(mean[j], cov[j]).logpdf(Wt[:, j]) for j in range(d))
    log_g = stats.gamma.logpdf(tau, a0, scale=1 / b0).sum(axis=1) + stats.gamma.logpdf(lam, l1, scale=1 / l2).sum(axis=1)
    log_qg = stats.gamma.logpdf(tau, params["tau_shape"], scale=1 / params["tau_rate"]).sum(axis=1)
    log_qg += stats.gamma.logpdf(lam, params["lam_shape"], scale=1 / params["lam_rate"]).sum(axis=1)
    samples = (log_lik + log_z - log_qz) @ s + log_w - log_qw + log_g - log_qg
    se = samples.std() / np.sqrt(S)
    assert abs(samples.mean() - value) < 4 * se, (samples.mean(), value, se)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(3, 30), d=st.integers(2, 6), q=st.integers(1, 6),
       missing=st.sampled_from([0.0, 0.1, 0.4]), weighted=st.booleans(), init=st.sampled_from(["pca", "random"]),
       noise=st.sampled_from(["isotropic", "diagonal"]))
def test_every_coordinate_update_ascends(seed, n, d, q, missing, weighted, init, noise):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) @ rng.normal(size=(2, d)) + rng.normal(size=(n, d)) * rng.uniform(0.01, 1.0)
    X, _ = remove_entries(X, missing, seed)
    w = rng.uniform(0.0, 3.0, size=n) + 0.01 if weighted else None
    pca = VBPCA(n_components=min(q, d), init_params=init, noise_type=noise, elbo_per_update=True, max_iter=15, tol=0.0,
                random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)  # an ELBODecreaseWarning fails the test
        warnings.filterwarnings("ignore", category=Warning, message=".*did not converge.*")
        pca.fit(X, sample_weight=w)
    values = pca.elbo_.values
    assert set(pca.elbo_.steps) == {"q(Z)", "q(W,mu)", "q(lambda)", "q(tau)"}
    gains = np.diff(values)
    assert np.all(gains >= -1e-9 * np.maximum(1.0, np.abs(values[:-1]))), gains.min()


def test_complete_data_fit_equals_the_pass_over_rows():
    # One entry missing sends the fit through the per-row pass; a weight of zero on its row
    # makes it the complete-data problem of the other rows (summary path).
    X, _ = _low_rank(n=200, d=8, rank=2)
    Xm = X.copy()
    Xm[0, 0] = np.nan
    w = np.ones(200)
    w[0] = 0.0
    full = VBPCA(n_components=4, max_iter=30, tol=0.0).fit(X[1:])
    rows = VBPCA(n_components=4, max_iter=30, tol=0.0).fit(Xm, sample_weight=w)
    assert full.lower_bound_ == pytest.approx(rows.lower_bound_, rel=1e-10)
    np.testing.assert_allclose(full.components_, rows.components_, atol=1e-8)
    np.testing.assert_allclose(full.noise_variance_, rows.noise_variance_, rtol=1e-10)


# ------------------------------------------------------------------ what the model finds
def test_ard_chooses_the_dimension():
    X, _ = _low_rank(n=1000, d=50, rank=5, noise=0.5, seed=4)
    pca = VBPCA(n_components=20, random_state=0).fit(X)
    assert pca.converged_
    assert pca.n_effective_components_ == 5
    assert np.all(pca.explained_variance_[5:] < 1e-3 * pca.noise_variance_)
    assert np.max(pca.ard_precision_) > 1e3 * np.sort(pca.ard_precision_)[4]
    assert pca.noise_variance_ == pytest.approx(0.25, rel=0.05)


def test_the_subspace_survives_20_percent_missing():
    X, W = _low_rank(n=500, d=20, rank=3, noise=0.3, seed=6)
    Xm, mask = remove_entries(X, 0.2)
    pca = VBPCA(n_components=8, random_state=0).fit(Xm)
    assert pca.n_effective_components_ == 3
    # Stated bound: every principal angle to the true loadings below 0.05 rad (complete data: 0.02).
    assert subspace_angles(pca.components_[:3].T, W).max() < 0.05
    filled, std = pca.impute(Xm, return_std=True)
    assert np.array_equal(filled[~mask], X[~mask]) and np.all(std[~mask] == 0)
    errors = (filled - X)[mask]
    # The posterior std is calibrated: the RMSE of the imputations is within 10% of the mean std.
    assert np.sqrt(np.mean(errors**2)) == pytest.approx(np.sqrt(np.mean(std[mask] ** 2)), rel=0.1)


@pytest.mark.parametrize("noise_type", ["isotropic", "diagonal"])
def test_score_samples_is_the_ppca_density_of_the_observed_entries(noise_type):
    X, _ = _low_rank(n=100, d=6, rank=2, seed=7)
    Xm, _ = remove_entries(X * [1, 1, 1, 1, 10, 0.1], 0.3)
    pca = VBPCA(n_components=3, noise_type=noise_type).fit(Xm)
    W, mu = pca.loadings_, pca.mean_
    C = W @ W.T + np.diag(np.broadcast_to(pca.noise_variance_, (6,)))
    want = [stats.multivariate_normal(mu[o], C[np.ix_(o, o)]).logpdf(x[o]) for x in Xm for o in [~np.isnan(x)]]
    np.testing.assert_allclose(pca.score_samples(Xm), want, rtol=1e-10)
    assert pca.score(Xm) == pytest.approx(np.mean(want))


def test_score_matches_sklearn_pca_on_complete_data():
    X, _ = _low_rank(n=2000, d=10, rank=3, noise=0.3, seed=8)
    pca = VBPCA(n_components=3, tol=1e-8).fit(X)
    assert pca.score(X) == pytest.approx(PCA(3).fit(X).score(X), abs=1e-3)


def test_transform_and_inverse_transform():
    X, _ = _low_rank(n=300, d=10, rank=3, noise=0.01, seed=9)
    pca = VBPCA(n_components=5).fit(X)
    T = pca.transform(X)
    assert T.shape == (300, 5)
    np.testing.assert_allclose(pca.inverse_transform(T), X, atol=0.05)
    assert np.abs(T[:, 3:] * pca.singular_values_[3:]).max() < 1e-6  # pruned components add nothing
    # A row with missing entries projects from the observed ones, near the complete row's projection.
    x = X[:1].copy()
    x[0, [1, 4]] = np.nan
    np.testing.assert_allclose(pca.transform(x), T[:1], atol=0.05)
    assert pca.get_feature_names_out().tolist() == [f"vbpca{i}" for i in range(5)]
    nothing = np.full((1, 10), np.nan)  # an all-missing row: the prior
    np.testing.assert_allclose(pca.transform(nothing), 0.0)
    np.testing.assert_allclose(pca.impute(nothing)[0], pca.mean_)


@pytest.mark.parametrize("scale", [1e-6, 1e6])
def test_the_fit_does_not_depend_on_the_datas_scale(scale):
    # The default prior rates are in the data's units: a scaled fit is the same fit, and its bound
    # moves by the Jacobian, -log(scale) per observed entry.
    X, _ = _low_rank(n=200, d=6, rank=2, noise=0.05, seed=13)
    Xm, mask = remove_entries(X, 0.2)
    per_row = (~mask).sum() / 200
    a = VBPCA(random_state=0).fit(Xm)
    b = VBPCA(random_state=0).fit(Xm * scale)
    assert a.n_effective_components_ == b.n_effective_components_ == 2
    np.testing.assert_allclose(b.components_, a.components_, atol=1e-8)
    np.testing.assert_allclose(b.explained_variance_, a.explained_variance_ * scale**2, rtol=1e-7, atol=1e-12 * scale**2)
    assert b.noise_variance_ == pytest.approx(a.noise_variance_ * scale**2, rel=1e-8)
    assert b.lower_bound_ + per_row * np.log(scale) == pytest.approx(a.lower_bound_, rel=1e-9)


@pytest.mark.parametrize("X, w", [
    (np.full((10, 3), 3.0), None),                    # no variance at all
    (np.zeros((5, 3)), None),
    ([[1.0, 2.0], [3.0, 5.0]], [1.0, 0.0]),           # one row with weight
    ([[np.nan, 1.0], [2.0, np.nan]], None),           # each column observed once
])
def test_degenerate_data_fit_without_nan(X, w):
    pca = VBPCA().fit(X, sample_weight=w)
    assert np.isfinite(pca.lower_bound_) and np.all(np.isfinite(pca.components_))
    assert pca.n_effective_components_ == 0


# ------------------------------------------------------------------ the scikit-learn contract
def test_integer_weights_are_repeated_rows():
    X, _ = _low_rank(n=60, d=5, rank=2, seed=10)
    Xm, _ = remove_entries(X, 0.2)
    w = np.random.default_rng(0).integers(1, 4, size=60)
    a = VBPCA(n_components=3, max_iter=50, tol=0.0).fit(Xm, sample_weight=w)
    b = VBPCA(n_components=3, max_iter=50, tol=0.0).fit(np.repeat(Xm, w, axis=0))
    # The 'pca' starts differ (sqrt-weighted rows vs repeated rows give the same Gram): compare the fits.
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-9)
    np.testing.assert_allclose(a.loadings_, b.loadings_, atol=1e-8)


def test_float32_is_kept():
    X, _ = _low_rank(n=100, d=6, rank=2)
    X32, _ = remove_entries(X.astype(np.float32), 0.1)
    pca = VBPCA(n_components=3).fit(X32)
    assert pca.components_.dtype == np.float32 and pca.mean_.dtype == np.float32
    assert pca.transform(X32).dtype == np.float32 and pca.impute(X32).dtype == np.float32
    assert VBPCAImputer(n_components=3).fit_transform(X32).dtype == np.float32


def test_missing_values_as_a_number():
    X, _ = _low_rank(n=100, d=6, rank=2)
    Xm, mask = remove_entries(X, 0.2)
    a = VBPCAImputer(n_components=3).fit_transform(Xm)
    b = VBPCAImputer(n_components=3, missing_values=-999.0).fit_transform(np.where(mask, -999.0, X))
    np.testing.assert_allclose(a, b, rtol=1e-12)
    with pytest.raises(ValueError, match="missing_values=-999"):
        VBPCA(missing_values=-999.0).fit(Xm)


def test_warm_start_continues_the_run():
    X, _ = _low_rank(n=200, d=8, rank=2)
    Xm, _ = remove_entries(X, 0.1)
    long = VBPCA(n_components=4, max_iter=20, tol=0.0).fit(Xm)
    warm = VBPCA(n_components=4, max_iter=5, tol=0.0, warm_start=True)
    for _ in range(4):
        warm.fit(Xm)
    assert warm.lower_bound_ == pytest.approx(long.lower_bound_, rel=1e-12)
    with pytest.raises(ValueError, match="n_components"):
        warm.set_params(n_components=3).fit(Xm)


def test_n_init_keeps_the_best_start():
    # n_init=3 draws its starts from random_state in turn: the same draws as three fits
    # of one start each that share the generator.
    X, _ = _low_rank(n=100, d=6, rank=2)
    kw = dict(n_components=4, init_params="random", max_iter=10, tol=0.0)
    best = VBPCA(n_init=3, random_state=np.random.RandomState(0), **kw).fit(X)
    shared = np.random.RandomState(0)
    singles = [VBPCA(random_state=shared, **kw).fit(X).lower_bound_ for _ in range(3)]
    assert len(set(singles)) == 3
    assert best.lower_bound_ == max(singles)


@pytest.mark.parametrize("X, match", [
    (np.array([[1.0, 2.0], [np.nan, np.nan], [3.0, 1.0]]), "Row 1"),
    (np.array([[1.0, np.nan], [2.0, np.nan], [3.0, np.nan]]), "Column 1"),
    (np.array([[1.0, 1e160], [2.0, 1.0], [3.0, 0.0]]), "too large"),
    (np.array([[1.0, np.inf], [2.0, 1.0], [3.0, 0.0]]), "infinity"),
    (np.array([[1.0, 2.0]]), "n_samples"),
])
def test_bad_input_gets_a_clear_error_and_changes_nothing(X, match):
    pca = VBPCA(n_components=1)
    with pytest.raises(ValueError, match=match):
        pca.fit(X)
    assert not hasattr(pca, "n_features_in_")


def test_zero_weight_on_every_observation_of_a_column():
    X = np.array([[1.0, np.nan], [2.0, 1.0], [3.0, 2.0]])
    with pytest.raises(ValueError, match="Column 1"):
        VBPCA(n_components=1).fit(X, sample_weight=[1.0, 0.0, 0.0])


def test_n_components_above_n_features():
    with pytest.raises(ValueError, match="n_components=5 must be at most n_features=3"):
        VBPCA(n_components=5).fit(np.random.default_rng(0).normal(size=(10, 3)))


def test_imputer_in_a_pipeline_and_pickled():
    X, _ = _low_rank(n=200, d=6, rank=2, seed=11)
    y = X[:, 0] + X[:, 1]
    Xm, _ = remove_entries(X, 0.2)
    pipe = make_pipeline(VBPCAImputer(n_components=3), Ridge(alpha=1e-3)).fit(Xm, y)
    assert pipe.score(Xm, y) > 0.95
    clone = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(clone.predict(Xm), pipe.predict(Xm))
    assert pipe[0].get_feature_names_out([f"f{i}" for i in range(6)]).tolist() == [f"f{i}" for i in range(6)]


def test_grid_search_over_the_dimension_by_held_out_likelihood():
    X, _ = _low_rank(n=300, d=8, rank=2, seed=12)
    search = GridSearchCV(VBPCA(), {"n_components": [1, 2, 4], "noise_type": ["isotropic", "diagonal"]}, cv=3).fit(X)
    assert search.best_params_["n_components"] >= 2
    assert np.isfinite(search.best_score_)


@parametrize_with_checks([VBPCA(n_components=1), VBPCA(n_components=1, noise_type="diagonal"),
                          VBPCAImputer(n_components=1)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_a_bad_mean_prior_is_refused_before_the_pass_over_x():
    # X also holds a value the pass over X would refuse: the parameter's error comes first.
    X = np.array([[1.0, 1e160], [2.0, 1.0], [3.0, 0.0]])
    pca = VBPCA(n_components=1, mean_prior=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="mean_prior"):
        pca.fit(X)
    assert not hasattr(pca, "n_features_in_")
