"""VB PCA on Dask arrays: on the threaded scheduler and on a real LocalCluster,
a fit equals the in-memory fit and the predictions stay lazy and equal."""

import numpy as np
import pytest

from varbayes import VBPCA, VBMixturePCAImputer, VBPCAImputer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(missing, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 2)) @ rng.normal(size=(2, 6)) + 0.3 * rng.normal(size=(600, 6)) + 2.0
    if missing:
        mask = rng.random(X.shape) < missing
        mask[np.arange(600), np.arange(600) % 6] = False
        X[mask] = np.nan
    return X, rng.uniform(0.2, 2.0, size=600)


@pytest.mark.parametrize("missing, noise_type", [(0.0, "isotropic"), (0.2, "diagonal")])
def test_a_dask_fit_and_its_predictions_equal_the_in_memory_ones(scheduler, missing, noise_type):
    da = pytest.importorskip("dask.array")
    X, w = _data(missing)
    kw = dict(n_components=3, noise_type=noise_type, max_iter=25, tol=0.0)
    ref = VBPCA(**kw).fit(X, sample_weight=w)
    got = VBPCA(**kw).fit(da.from_array(X, chunks=(130, 6)), sample_weight=da.from_array(w, chunks=130))
    for name in ("components_", "explained_variance_", "noise_variance_", "mean_", "loadings_", "lower_bound_"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-9, atol=1e-12, err_msg=name)
    Xd = da.from_array(X, chunks=(200, 6))
    T, S = got.transform(Xd), got.score_samples(Xd)
    filled, std = got.impute(Xd, return_std=True)
    assert all(isinstance(a, da.Array) for a in (T, S, filled, std))
    ref_filled, ref_std = ref.impute(X, return_std=True)
    np.testing.assert_allclose(T.compute(), ref.transform(X), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(S.compute(), ref.score_samples(X), rtol=1e-10)
    np.testing.assert_allclose(filled.compute(), ref_filled, rtol=1e-10)
    np.testing.assert_allclose(std.compute(), ref_std, rtol=1e-8, atol=1e-12)


def test_dask_input_is_checked_before_any_fitting(scheduler):
    da = pytest.importorskip("dask.array")
    X, _ = _data(0.1)
    bad = X.copy()
    bad[3] = np.nan
    pca = VBPCA(n_components=2)
    with pytest.raises(ValueError, match="Row 3"):
        pca.fit(da.from_array(bad, chunks=(100, 6)))
    bad[3] = 1.0
    bad[5, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        pca.fit(da.from_array(bad, chunks=(100, 6)))
    assert not hasattr(pca, "n_features_in_")


def test_a_placeholder_for_missing_values_on_dask(scheduler):
    da = pytest.importorskip("dask.array")
    X, _ = _data(0.2, seed=1)
    coded = np.where(np.isnan(X), -1.0, X)
    ref = VBPCAImputer(n_components=2, max_iter=10, tol=0.0).fit(X)
    got = VBPCAImputer(n_components=2, max_iter=10, tol=0.0, missing_values=-1.0).fit(da.from_array(coded, chunks=(150, 6)))
    np.testing.assert_allclose(got.lower_bound_, ref.lower_bound_, rtol=1e-10)
    np.testing.assert_allclose(got.transform(da.from_array(coded, chunks=(150, 6))).compute(), ref.transform(X), rtol=1e-10)


def test_the_mixture_imputer_on_dask_equals_the_in_memory_fit(scheduler):
    # The same local step on blocks: from the same start (k-means of the same sample) the same fit.
    da = pytest.importorskip("dask.array")
    X, w = _data(0.2, seed=2)
    X[:300] += 4.0  # two groups
    kw = dict(n_clusters=2, n_components=2, max_iter=15, tol=0.0, random_state=0)
    ref = VBMixturePCAImputer(**kw).fit(X, sample_weight=w)
    got = VBMixturePCAImputer(**kw).fit(da.from_array(X, chunks=(130, 6)), sample_weight=da.from_array(w, chunks=130))
    for name in ("weights_", "means_", "loadings_", "noise_variance_", "lower_bound_"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-9, atol=1e-12, err_msg=name)
    Xd = da.from_array(X, chunks=(200, 6))
    filled, proba = got.transform(Xd), got.predict_proba(Xd)
    assert isinstance(filled, da.Array) and isinstance(proba, da.Array)
    np.testing.assert_allclose(filled.compute(), ref.transform(X), rtol=1e-10)
    np.testing.assert_allclose(proba.compute(), ref.predict_proba(X), rtol=1e-8, atol=1e-12)
