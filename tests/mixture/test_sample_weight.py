"""sample_weight in the mixtures' fits: weights are repetitions, zero is a dropped row."""

import copy

import numpy as np
import pytest

from varbayes import BayesianGaussianMixture, GaussianMixture

COV_TYPES = ["full", "tied", "diag", "spherical"]
PRIORS = ["dirichlet_process", "dirichlet_distribution"]
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(seed=0, n=90):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(size=(n // 3, 2)) + c for c in ([0, 0], [5, 0], [0, 5])])
    w = rng.integers(0, 4, size=X.shape[0])
    w[:3] = [0, 1, 2]
    return X, w


def _start(X, cov_type, k=3):
    """Initial parameters that do not depend on the rows' weights."""
    gm = GaussianMixture(k, covariance_type=cov_type, max_iter=0, random_state=0, init_params="random_from_data").fit(X)
    return dict(weights_init=gm.weights_ / gm.weights_.sum(), means_init=gm.means_, precisions_init=gm.precisions_)


def _assert_same_fit(a, b, attrs=("weights_", "means_", "covariances_", "precisions_cholesky_")):
    for attr in attrs:
        np.testing.assert_allclose(getattr(a, attr), getattr(b, attr), rtol=1e-10, atol=1e-12, err_msg=attr)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-10)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_em_integer_weights_are_repeated_rows_and_zero_is_a_dropped_row(cov_type):
    X, w = _data()
    start = _start(X, cov_type)
    weighted = GaussianMixture(3, covariance_type=cov_type, **start).fit(X, sample_weight=w)
    repeated = GaussianMixture(3, covariance_type=cov_type, **start).fit(np.repeat(X, w, axis=0))
    _assert_same_fit(weighted, repeated)
    dropped = GaussianMixture(3, covariance_type=cov_type, **start).fit(X[w > 0], sample_weight=w[w > 0])
    _assert_same_fit(weighted, dropped)
    # The recorded bound is per unit of weight, as the repeated rows' per row.
    np.testing.assert_allclose(weighted.elbo_.values, repeated.elbo_.values, rtol=1e-10)


@pytest.mark.parametrize("prior", PRIORS)
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_cavi_integer_weights_are_repeated_rows(cov_type, prior):
    # From the same state (a warm start of one fit): the default priors (the
    # weighted mean and covariance of X) and every update weigh rows as repetitions.
    X, w = _data(1)
    repeated_X = np.repeat(X, w, axis=0)
    kw = dict(n_components=3, covariance_type=cov_type, weight_concentration_prior_type=prior, random_state=0)
    repeated = BayesianGaussianMixture(max_iter=2, warm_start=True, **kw).fit(repeated_X)
    weighted = copy.deepcopy(repeated)
    repeated.set_params(max_iter=20).fit(repeated_X)
    weighted.set_params(max_iter=20).fit(X, sample_weight=w)
    _assert_same_fit(weighted, repeated, ("weights_", "means_", "covariances_", "mean_precision_",
                                          "degrees_of_freedom_", "mean_prior_", "covariance_prior_"))


def test_weights_enter_the_initialisation():
    # A cluster of weight zero is invisible to the 'kmeans' and 'k-means++'
    # initialisations (scikit-learn's, given the weights) and to the fit.
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 8, rng.normal(size=(60, 2)) + [40, -40]])
    w = np.r_[np.ones(120), np.zeros(60)]
    for init in ("kmeans", "k-means++"):
        gm = GaussianMixture(2, init_params=init, random_state=0).fit(X, sample_weight=w)
        assert np.all(np.abs(gm.means_).max(axis=1) < 12), init


@pytest.mark.parametrize(
    "weights, match",
    [
        (-np.ones(90), "non-negative"),
        (np.r_[np.ones(89), np.nan], "NaN or infinity"),
        (np.ones(89), r"shape == \(89,\), expected \(90,\)"),
        (np.zeros(90), "zero for every row"),
        ("heavy", "sample_weight must be"),
    ],
)
@pytest.mark.parametrize("make", [lambda: GaussianMixture(2), lambda: BayesianGaussianMixture(n_components=2)])
def test_bad_weights_are_clear_errors_before_any_work(make, weights, match):
    X, _ = _data()
    est = make()
    with pytest.raises(ValueError, match=match):
        est.fit(X, sample_weight=weights)
    assert not hasattr(est, "n_features_in_")


def test_a_scalar_weight_is_every_row_that_weight():
    X, _ = _data()
    start = _start(X, "full")
    one = GaussianMixture(3, **start).fit(X)
    scalar = GaussianMixture(3, **start).fit(X, sample_weight=2.0)
    _assert_same_fit(one, scalar)
