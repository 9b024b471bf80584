"""GaussianMixture inside scikit-learn's machinery."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from varbayes import GaussianMixture


@parametrize_with_checks([GaussianMixture(), GaussianMixture(covariance_type="diag", n_init=2)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(size=(80, 2)) + c for c in ([0, 0], [6, 0], [0, 6])])
    return rng.permutation(X)


def test_pipeline_and_grid_search_choose_k_by_held_out_likelihood():
    X = _data()
    pipe = make_pipeline(StandardScaler(), GaussianMixture(random_state=0))
    search = GridSearchCV(pipe, {"gaussianmixture__n_components": [1, 3]}, cv=3).fit(X)
    assert search.best_params_ == {"gaussianmixture__n_components": 3}
    # score is the mean log-likelihood
    best = search.best_estimator_
    assert best.score(X) == pytest.approx(np.mean(best[-1].score_samples(best[0].transform(X))))


def test_clone_and_pickle_roundtrip():
    gm = GaussianMixture(3, covariance_type="tied", random_state=1, device="cpu", chunk_size=50)
    c = clone(gm)
    assert c.get_params() == gm.get_params()
    X = _data(1)
    gm.fit(X)
    restored = pickle.loads(pickle.dumps(gm))
    np.testing.assert_array_equal(restored.predict(X), gm.predict(X))
    assert restored.lower_bound_ == gm.lower_bound_


def test_feature_names_are_recorded():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(_data(2), columns=["a", "b"])
    gm = GaussianMixture(2, random_state=0).fit(df)
    np.testing.assert_array_equal(gm.feature_names_in_, ["a", "b"])
    assert gm.n_features_in_ == 2
