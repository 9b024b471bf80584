"""The VAE's predictions on Dask arrays: the in-memory values, block by block."""

import numpy as np
import pytest

from varbayes import VAE

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def vae():
    X = np.random.default_rng(0).normal(size=(300, 6))
    return VAE(n_components=2, hidden_layer_sizes=(8,), max_iter=3, random_state=0, n_importance=3).fit(X), X


def test_predictions_on_blocks_equal_the_in_memory_ones(scheduler, vae):
    est, X = vae
    Xd = da.from_array(X, chunks=(70, 6))
    for method, arg, ref in [("transform", Xd, X), ("score_samples", Xd, X), ("elbo", Xd, X)]:
        out = getattr(est, method)(arg)
        assert isinstance(out, da.Array)
        # Each row's noise is keyed by the row, so blocks give the same numbers.
        np.testing.assert_allclose(out.compute(), getattr(est, method)(ref), rtol=1e-12, err_msg=method)
    Z = est.transform(X)
    back = est.inverse_transform(da.from_array(Z, chunks=(100, 2)))
    np.testing.assert_allclose(back.compute(), est.inverse_transform(Z), rtol=1e-12)
    assert est.score(Xd) == pytest.approx(est.score(X), rel=1e-12)


def test_dask_input_errors_are_clear(vae):
    est, X = vae
    with pytest.raises(ValueError, match="features"):
        est.transform(da.from_array(X[:, :3], chunks=(70, 3)))
    with pytest.raises(ValueError, match="latent vectors"):
        est.inverse_transform(da.from_array(X, chunks=(70, 6)))
    bad = X.copy()
    bad[5, 2] = np.inf
    fresh = VAE(n_components=2)
    with pytest.raises(ValueError, match="NaN or infinity"):
        fresh.fit(da.from_array(bad, chunks=(70, 6)))
    assert not hasattr(fresh, "n_features_in_")


def _two_clusters(n, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)) + 3.0 * rng.integers(2, size=(n, 1))


# Early stopping's validation passes on threads; the cluster without them.
@pytest.mark.parametrize("scheduler, early_stopping", [("threads", False), ("threads", True), ("cluster", False)],
                         indirect=["scheduler"])
def test_fit_on_blocks_learns_as_the_in_memory_fit_does(scheduler, early_stopping):
    # Minibatches come from the blocks in a random order, one block on the
    # trainer at a time, rows shuffled within it: not the in-memory order, so
    # the fits differ in their noise, not in what they reach.
    X, held_out = _two_clusters(2000, 0), _two_clusters(500, 1)
    kw = dict(n_components=2, hidden_layer_sizes=(16,), max_iter=15, random_state=0, batch_size=64,
              early_stopping=early_stopping, n_iter_no_change=100)
    on_blocks = VAE(**kw).fit(da.from_array(X, chunks=(300, 6)))
    in_memory = VAE(**kw).fit(X)
    assert on_blocks.n_iter_ == 15 and len(on_blocks.loss_curve_) == 15
    assert on_blocks.loss_curve_[-1] < on_blocks.loss_curve_[0] - 1.0
    assert on_blocks.score(held_out) == pytest.approx(in_memory.score(held_out), abs=0.15)
    if early_stopping:
        assert len(on_blocks.validation_scores_) == 15


def test_each_training_step_sees_one_block_at_a_time(count_graphs):
    X = da.from_array(_two_clusters(1000, 2), chunks=(100, 6))
    with count_graphs() as graphs:
        VAE(n_components=2, hidden_layer_sizes=(8,), max_iter=3, random_state=0, early_stopping=False).fit(X)
    # Per epoch one small graph per block (10 blocks): nothing gathers X whole.
    per_block = [size for size in graphs if size <= 3]
    assert len(per_block) >= 3 * 10
    assert len(graphs) <= 3 * 10 + 4  # and a few passes: validation, moments


def test_partial_fit_streams_dask_blocks():
    X = _two_clusters(600, 3)
    est = VAE(n_components=2, hidden_layer_sizes=(8,), random_state=0)
    for lo in (0, 300):
        est.partial_fit(da.from_array(X[lo : lo + 300], chunks=(128, 6)))
    assert est.n_iter_ == 2 and est.t_ == 600
