"""The fit loop both mixtures share (varbayes.mixture._base)."""

import tracemalloc

import numpy as np
import pytest

from varbayes import BayesianGaussianMixture, GaussianMixture
from varbayes._backend import get_backend
from varbayes._execution import ChunkExecutor
from varbayes.mixture._base import initial_resp_fn

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

MIXTURES = {
    "gmm": lambda **kw: GaussianMixture(3, random_state=0, **kw),
    "bgmm": lambda **kw: BayesianGaussianMixture(n_components=3, random_state=0, **kw),
}


@pytest.mark.parametrize("kind", list(MIXTURES))
def test_warm_start_one_iteration_at_a_time_stops_where_one_long_fit_does(kind):
    # scikit-learn's idiom for watching a fit used to run forever: convergence
    # needed two iterations within one call.
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(200, 2)) + c for c in ([0, 0], [4, 4], [0, 5])])
    one = MIXTURES[kind]().fit(X)
    assert one.converged_ and one.n_iter_ > 2
    watched = MIXTURES[kind](warm_start=True, max_iter=1)
    calls = 0
    while not (calls and watched.converged_):
        watched.fit(X)
        calls += 1
        assert calls <= one.n_iter_
    assert calls == one.n_iter_
    assert watched.lower_bound_ == pytest.approx(one.lower_bound_, rel=1e-12)
    np.testing.assert_allclose(watched.means_, one.means_, rtol=1e-10, atol=1e-12)
    # A fresh fit (warm_start=False) starts counting again.
    assert MIXTURES[kind](max_iter=1).fit(X).converged_ is False


@pytest.mark.parametrize("init_params", ["random_from_data", "k-means++"])
def test_initial_responsibilities_hold_no_memory_per_row(init_params):
    # 'random_from_data' draws scikit-learn's K rows with RandomState.choice,
    # whose result is a view of a permutation of all n rows: kept as it was,
    # it held n integers for the whole fit (0.1x of float32 X at d = 20, the
    # mixtures' memory bound).
    n, K = 200_000, 3
    X = np.zeros((n, 2), dtype=np.float32)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        resp_fn = initial_resp_fn(get_backend("cpu"), ChunkExecutor(1000), X, None, K, init_params,
                                  np.random.RandomState(0))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < n // 4, held  # well under a byte per row; the bug held 8 n = 1.6 MB
    first = resp_fn(X[:1000], slice(0, 1000))
    assert first.shape == (1000, K)
