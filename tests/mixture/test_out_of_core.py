"""Fits on an np.memmap: the executor slices rows lazily, nothing loads X whole."""

import tracemalloc

import numpy as np
import pytest

from varbayes import BayesianGaussianMixture, GaussianMixture

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _memmap(path, n, d=8, seed=0):
    X = np.memmap(path, dtype=np.float64, mode="w+", shape=(n, d))
    rng = np.random.default_rng(seed)
    for lo in range(0, n, 20_000):
        m = min(20_000, n - lo)
        X[lo : lo + m] = rng.normal(size=(m, d)) + 5.0 * rng.integers(3, size=(m, 1))
    X.flush()
    return np.memmap(path, dtype=np.float64, mode="r", shape=(n, d))


def _peak(est, X):
    """The peak of NumPy's allocations during ``est.fit(X)``, and the fitted estimator."""
    tracemalloc.start()
    try:
        est.fit(X)
        return tracemalloc.get_traced_memory()[1], est
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "make",
    [
        lambda: GaussianMixture(3, init_params="random", max_iter=3, random_state=0),
        lambda: BayesianGaussianMixture(n_components=3, init_params="random", max_iter=3, random_state=0),
        lambda: GaussianMixture(3, init_params="random_from_data", learning_method="online", max_iter=1, random_state=0),
    ],
    ids=["em", "cavi", "online-em"],
)
def test_a_memmap_fit_keeps_peak_memory_bounded(tmp_path, make):
    # The peak extra memory (NumPy's allocations, tracemalloc) is that of a
    # chunk's work arrays: it does not grow with n (four times the rows, the
    # same peak), and at n = 200 000 (12.8 MB) it is under 8 MiB.  ('kmeans' and
    # 'k-means++' run scikit-learn's, which copy X; 'random_from_data' draws
    # scikit-learn's permutation of the n rows, n integers; the online fit
    # initialises from its first minibatch.)
    small, _ = _peak(make(), _memmap(tmp_path / "small.dat", 50_000))
    X = _memmap(tmp_path / "large.dat", 200_000)
    large, est = _peak(make(), X)
    assert large < 8 * 2**20
    assert large < 1.2 * small
    # The same fit as on the array in memory.
    ref = make().fit(np.asarray(X))
    np.testing.assert_allclose(est.means_, ref.means_, rtol=1e-12)
