"""Streaming fits: stochastic VI (BayesianGaussianMixture) and online EM (GaussianMixture)."""

import numpy as np
import pytest

from varbayes import BayesianGaussianMixture, GaussianMixture
from varbayes.vi import step_size

COV_TYPES = ["full", "tied", "diag", "spherical"]
PRIORS = ["dirichlet_process", "dirichlet_distribution"]
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.permutation(np.concatenate([rng.normal(size=(n // 3, 2)) + c for c in ([0, 0], [6, 0], [0, 6])]))


def _cases():
    for cov_type in COV_TYPES:
        yield pytest.param(lambda cov_type=cov_type, **kw: GaussianMixture(3, covariance_type=cov_type, random_state=0, **kw),
                           id=f"em-{cov_type}")
        for prior in PRIORS:
            yield pytest.param(
                lambda cov_type=cov_type, prior=prior, **kw: BayesianGaussianMixture(
                    n_components=3, covariance_type=cov_type, weight_concentration_prior_type=prior,
                    random_state=0, **kw),
                id=f"svi-{cov_type}-{prior}")


@pytest.mark.parametrize("make", list(_cases()))
def test_one_step_on_all_of_x_with_rho_one_is_one_batch_iteration(make):
    # One minibatch equal to X and rho_1 = (0 + 1)^(-kappa) = 1: the running
    # statistics are X's, so the step is one CAVI (or EM) iteration.
    X = _data(600)
    batch = make(max_iter=1, tol=0.0).fit(X)
    online = make(learning_method="online", batch_size=len(X), learning_offset=0.0, max_iter=1, tol=0.0).fit(X)
    for attr in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(online, attr), getattr(batch, attr), rtol=1e-10, atol=1e-12, err_msg=attr)
    assert online.lower_bound_ == pytest.approx(batch.lower_bound_, rel=1e-10)


@pytest.mark.parametrize("kind", ["em", "svi"])
def test_online_fit_reaches_the_batch_bound(kind):
    X = _data(6000, seed=1)
    make = (lambda **kw: GaussianMixture(3, random_state=0, **kw)) if kind == "em" else (
        lambda **kw: BayesianGaussianMixture(n_components=3, random_state=0, **kw))
    batch = make().fit(X)
    online = make(learning_method="online", batch_size=500, max_iter=5).fit(X)
    assert abs(online.lower_bound_ - batch.lower_bound_) < 0.01
    steps = np.asarray(online.elbo_.steps)
    assert (steps == "minibatch").sum() == 5 * 12 and (steps == "epoch").sum() == online.n_iter_
    assert not online.elbo_.monotone  # minibatch estimates are noisy: not held to ascent


@pytest.mark.parametrize("kind", ["em", "svi"])
def test_partial_fit_initialises_then_streams(kind):
    X = _data(3000, seed=2)
    est = GaussianMixture(3, random_state=0) if kind == "em" else BayesianGaussianMixture(n_components=3, random_state=0)
    est.set_params(total_samples=len(X), batch_size=500)
    for lo in range(0, len(X), 1000):
        est.partial_fit(X[lo : lo + 1000])
    assert est.n_iter_ == 6  # two steps per call
    batch = type(est)(**{**est.get_params(), "learning_method": "batch"}).fit(X)
    np.testing.assert_allclose(np.sort(est.means_[:, 0]), np.sort(batch.means_[:, 0]), atol=0.1)
    assert abs(est.score(X) - batch.score(X)) < 0.01
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(np.ones((10, 3)))  # n_features is fixed by the first call
    assert est.n_iter_ == 6


def test_step_sizes_follow_the_schedule_and_are_validated():
    assert step_size(1, 10.0, 0.7) == pytest.approx(11.0**-0.7)
    assert step_size(1, 0.0, 0.7) == 1.0
    for params, match in [({"learning_decay": 0.5}, "learning_decay"), ({"learning_offset": -1.0}, "learning_offset"),
                          ({"batch_size": 0}, "batch_size"), ({"learning_method": "stochastic"}, "learning_method"),
                          ({"total_samples": 0.0}, "total_samples")]:
        with pytest.raises(ValueError, match=match):
            GaussianMixture(2, **params).fit(_data(300))
    with pytest.raises(ValueError, match="batch_size .* must be >= n_components"):
        GaussianMixture(3, batch_size=2, learning_method="online").fit(_data(300))


@pytest.mark.gpu
@pytest.mark.parametrize("make", [c for c in _cases() if "diag" in c.id or "full" in c.id])
def test_gpu_online_fit_and_weights_equal_the_cpu(make):
    """The stochastic steps draw their minibatches on the host: the same
    minibatches on both devices, and the same fit to rounding."""
    import cupy

    X = _data(n=900)
    w = np.random.default_rng(3).uniform(0.5, 2.0, size=X.shape[0])
    kw = dict(learning_method="online", batch_size=100, max_iter=3)
    cpu = make(**kw).fit(X, sample_weight=w)
    gpu = make(**kw).fit(cupy.asarray(X), sample_weight=cupy.asarray(w))
    for name in ("weights_", "means_", "covariances_"):
        assert isinstance(getattr(gpu, name), np.ndarray)
        np.testing.assert_allclose(getattr(gpu, name), getattr(cpu, name), rtol=1e-8, atol=1e-10, err_msg=name)
    stream_cpu = make(batch_size=100).partial_fit(X[:300]).partial_fit(X[300:600])
    stream_gpu = make(batch_size=100).partial_fit(cupy.asarray(X[:300])).partial_fit(cupy.asarray(X[300:600]))
    np.testing.assert_allclose(stream_gpu.means_, stream_cpu.means_, rtol=1e-8, atol=1e-10)
