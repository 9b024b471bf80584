"""Mixtures on Dask arrays: the same fits as in memory, on threads and on a real LocalCluster."""

import numpy as np
import pytest

from varbayes import BayesianGaussianMixture, GaussianMixture
from varbayes import ClusterError

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TYPES = ("full", "tied", "diag", "spherical")
MODELS = {
    "em": lambda **kw: GaussianMixture(**kw),
    "cavi-dirichlet_process": lambda **kw: BayesianGaussianMixture(**kw),
    "cavi-dirichlet_distribution": lambda **kw: BayesianGaussianMixture(
        weight_concentration_prior_type="dirichlet_distribution", **kw
    ),
}
ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def _data(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0, 0.0], [4.0, 4.0, 0.0], [0.0, 5.0, 3.0]])
    return centers[rng.integers(3, size=n)] + rng.normal(size=(n, 3)) * [1.0, 0.5, 2.0]


def _same_fit(a, b, rtol=1e-10):
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=1e-12, err_msg=name)
    assert a.n_iter_ == b.n_iter_
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-12, abs=1e-12)


# Every model and covariance type on threads; on the two-process cluster
# (pickling, workers) each covariance type once and each model at least once.
CLUSTER_CASES = [("em", "full"), ("cavi-dirichlet_process", "tied"), ("cavi-dirichlet_distribution", "diag"),
                 ("em", "spherical")]


@pytest.mark.parametrize(
    "scheduler, model, covariance_type",
    [("threads", m, c) for m in MODELS for c in TYPES] + [("cluster", m, c) for m, c in CLUSTER_CASES],
    indirect=["scheduler"],
)
def test_a_dask_fit_equals_the_in_memory_fit(scheduler, model, covariance_type):
    # 'random_from_data' draws the same initial rows for both, so both start
    # from the same parameters; the blocks' statistics are summed in another
    # order (a tree), which changes only the last bits of each sum.
    X = _data()
    kw = dict(n_components=3, covariance_type=covariance_type, init_params="random_from_data", random_state=0,
              max_iter=15, tol=0.0)
    ref = MODELS[model](**kw).fit(X)
    got = MODELS[model](**kw).fit(da.from_array(X, chunks=(400, 3)))
    _same_fit(got, ref)
    assert type(got.means_) is np.ndarray and got.elbo_.is_monotone()
    Xd = da.from_array(X, chunks=(700, 3))
    for method in ("predict", "predict_proba", "score_samples"):
        out = getattr(got, method)(Xd)
        assert isinstance(out, da.Array)  # lazy, as dask-ml
        np.testing.assert_allclose(out.compute(), getattr(ref, method)(X), rtol=1e-10, atol=1e-12, err_msg=method)
    assert got.score(Xd) == pytest.approx(ref.score(X), rel=1e-12)


@pytest.mark.parametrize("model", ["em", "cavi-dirichlet_process"])
def test_sample_weight_and_streams_on_dask(scheduler, model):
    X = _data(1200, seed=1)
    w = np.random.default_rng(2).integers(0, 3, size=len(X)).astype(float)
    Xd, wd = da.from_array(X, chunks=(300, 3)), da.from_array(w, chunks=250)  # weights rechunked like X
    kw = dict(n_components=3, init_params="random_from_data", random_state=0, max_iter=10, tol=0.0)
    ref = MODELS[model](**kw).fit(X, sample_weight=w)
    _same_fit(MODELS[model](**kw).fit(Xd, sample_weight=wd), ref)
    _same_fit(MODELS[model](**kw).fit(Xd, sample_weight=w), ref)
    # Online: minibatches of 256 rows span the 300-row blocks (the rest of a
    # block travels to the next), so the steps are the in-memory ones.
    online = dict(kw, learning_method="online", batch_size=256, max_iter=2)
    _same_fit(MODELS[model](**online).fit(Xd, sample_weight=wd), MODELS[model](**online).fit(X, sample_weight=w))
    a, b = MODELS[model](**online), MODELS[model](**online)
    for lo in (0, 700):
        a.partial_fit(Xd[lo : lo + 500])
        b.partial_fit(X[lo : lo + 500])
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10)
    assert len(a.elbo_) == len(b.elbo_)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_every_initialisation_works_on_dask(init_params):
    X = _data(3000, seed=3)
    Xd = da.from_array(X, chunks=(1000, 3))
    est = GaussianMixture(3, init_params=init_params, random_state=0, tol=1e-10, max_iter=500).fit(Xd)
    best = GaussianMixture(3, init_params="kmeans", random_state=0, tol=1e-10, max_iter=500).fit(X)
    # Three separated clusters: every start on Dask converges to them (labels up to order).
    order = np.argsort(est.means_[:, 1] + est.means_[:, 2]), np.argsort(best.means_[:, 1] + best.means_[:, 2])
    np.testing.assert_allclose(est.means_[order[0]], best.means_[order[1]], atol=1e-4)
    # 'random' on Dask: counter-based draws keyed by row position, so the
    # start does not depend on the chunking.
    rechunked = GaussianMixture(3, init_params=init_params, random_state=0, max_iter=0).fit(Xd.rechunk((700, 3)))
    first = GaussianMixture(3, init_params=init_params, random_state=0, max_iter=0).fit(Xd)
    if init_params in ("random", "random_from_data"):
        np.testing.assert_allclose(rechunked.means_, first.means_, rtol=1e-12)
    if init_params != "random":  # at most 100 000 rows: the sample is X, the start the in-memory one
        in_memory = GaussianMixture(3, init_params=init_params, random_state=0, max_iter=0).fit(X)
        np.testing.assert_allclose(first.means_, in_memory.means_, rtol=1e-12)


def test_empty_blocks_are_skipped(scheduler):
    # A boolean mask leaves empty blocks once their sizes are computed.
    X = _data(600)
    keep = np.arange(600) // 100 != 2
    Xd = da.from_array(X, chunks=(100, 3))[da.from_array(keep, chunks=100)]
    Xd.compute_chunk_sizes()
    assert 0 in Xd.chunks[0]
    w = np.random.default_rng(0).random(keep.sum())
    kw = dict(n_components=2, init_params="random_from_data", random_state=0, max_iter=5, tol=0.0)
    _same_fit(GaussianMixture(**kw).fit(Xd, sample_weight=w), GaussianMixture(**kw).fit(X[keep], sample_weight=w))
    online = dict(kw, learning_method="online", batch_size=64, max_iter=1)
    _same_fit(GaussianMixture(**online).fit(Xd), GaussianMixture(**online).fit(X[keep]))


def test_one_graph_per_iteration(count_graphs):
    X = da.from_array(_data(2000), chunks=(250, 3))
    counts = {}
    for max_iter in (2, 7):
        with count_graphs() as graphs:
            GaussianMixture(3, init_params="random_from_data", random_state=0, max_iter=max_iter, tol=0.0).fit(X)
        counts[max_iter] = len(graphs)
    assert counts[7] - counts[2] == 5  # each further iteration: one graph
    assert counts[2] <= 2 + 6  # and a few for validation, initialisation and the first E-step


def test_column_chunks_are_joined_and_bad_input_refused_before_any_work(scheduler):
    X = _data(600)
    est = GaussianMixture(2, random_state=0, init_params="random_from_data", max_iter=5)
    fitted = est.fit(da.from_array(X, chunks=(200, 1)))
    np.testing.assert_allclose(fitted.means_, GaussianMixture(2, random_state=0, init_params="random_from_data",
                                                              max_iter=5).fit(X).means_, rtol=1e-10)
    before = dict(vars(est))
    bad = X.copy()
    bad[123, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        est.fit(da.from_array(bad, chunks=(200, 3)))
    with pytest.raises(ValueError, match="NaN or infinity"):
        est.predict(da.from_array(bad, chunks=(200, 3))).compute()  # lazily, when computed
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        est.fit(da.from_array(X, chunks=(200, 3)), sample_weight=da.from_array(-np.ones(600), chunks=200))
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        est.fit(da.from_array(X, chunks=(200, 3))[da.from_array(X[:, 0] > 0, chunks=200)])
    with pytest.raises(ValueError, match="features"):
        est.predict(da.from_array(X[:, :2], chunks=(200, 2)))
    # Every failure left the fit as it was: the same attributes, the same objects.
    assert vars(est).keys() == before.keys() and all(vars(est)[k] is v for k, v in before.items())


def test_a_lost_cluster_is_a_clear_error_and_leaves_the_estimator_as_it_was():
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    X = _data(400)
    est = GaussianMixture(2, random_state=0).fit(X)
    state = dict(vars(est))
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0")
    client = distributed.Client(cluster, set_as_default=False)
    cluster.close()
    client.close()
    with dask.config.set(scheduler=client):
        with pytest.raises(ClusterError, match="Dask cluster could not complete"):
            est.fit(da.from_array(X, chunks=(100, 3)))
    assert vars(est).keys() == state.keys() and all(vars(est)[k] is v for k, v in state.items())


def test_a_worker_killed_mid_fit_leaves_the_estimator_fitted_correctly_or_as_it_was():
    # A cluster of its own (the session's stays whole): one of two worker
    # processes is killed while the fit runs; its nanny restarts it and Dask
    # recomputes the blocks it held.  The fit either completes, with the
    # in-memory answer, or fails with a ClusterError and changes nothing.
    import os
    import signal
    import threading
    import time

    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    X = _data(20_000, seed=4)
    kw = dict(n_components=3, init_params="random_from_data", random_state=0, max_iter=20, tol=0.0)
    est = GaussianMixture(**kw).fit(X[:500])
    before = dict(vars(est))
    outcome = {}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster, set_as_default=False) as client:
        pids = list(client.run(os.getpid).values())

        def fit():
            with dask.config.set(scheduler=client):
                try:
                    est.fit(da.from_array(X, chunks=(2500, 3)))
                    outcome["fitted"] = True
                except ClusterError as exc:
                    outcome["error"] = exc

        thread = threading.Thread(target=fit)
        thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(client.processing().values()):
            time.sleep(0.01)  # until the workers are busy with the call
        os.kill(pids[0], signal.SIGKILL)
        assert thread.is_alive()  # killed mid-call
        thread.join(timeout=120)
        assert not thread.is_alive()
    assert outcome, "the fit neither returned nor raised a ClusterError"
    if "fitted" in outcome:
        _same_fit(est, GaussianMixture(**kw).fit(X))
    else:
        assert vars(est).keys() == before.keys() and all(vars(est)[k] is v for k, v in before.items())


@pytest.mark.gpu
@pytest.mark.parametrize("model", MODELS)
def test_a_dask_array_of_cupy_blocks_fits_on_the_gpu_like_numpy(model):
    """Blocks of CuPy arrays (X.map_blocks(cupy.asarray)): the fit runs on the
    GPU block by block and equals the NumPy fit; predictions stay lazy."""
    import cupy
    import dask

    X = _data()
    kw = dict(n_components=3, covariance_type="full", random_state=0, max_iter=20, tol=0.0)
    ref = MODELS[model](**kw).fit(X)
    Xd = da.from_array(X, chunks=400).map_blocks(cupy.asarray)
    with dask.config.set(scheduler="threads"):
        est = MODELS[model](**kw).fit(Xd)
        labels = est.predict(Xd)
        assert isinstance(labels._meta, cupy.ndarray)
        np.testing.assert_array_equal(labels.compute().get(), ref.predict(X))
    _same_fit(est, ref, rtol=1e-8)
