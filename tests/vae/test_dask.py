"""The VAE's predictions on Dask arrays: the in-memory values, block by block."""

import numpy as np
import pytest

from varbayes import VAE

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")


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
    with pytest.raises(ValueError, match="do not take Dask arrays yet"):
        VAE(n_components=2).fit(da.from_array(X, chunks=(70, 6)))
