"""A call that raises leaves the estimator exactly as it was, for every estimator
and every way a fit can fail: bad input, a changed structure on a warm start,
a singular covariance, a non-finite bound, a divergence, an interrupt.

"Exactly" is checked on everything the estimator holds: each attribute is the
same object as before, and the pickled state of all of them (parameters,
tracker, history, Adam state and every random generator's state) is
byte-for-byte the same.
"""

import contextlib
import io
import pickle
import warnings

import numpy as np
import pytest

from varbayes import VAE, VBPCA, BayesianGaussianMixture, GaussianMixture, VBMixturePCAImputer
from varbayes.vae import DivergenceError

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n=120, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(size=(n // 2, d)), rng.normal(size=(n - n // 2, d)) + 5.0])


class _InterruptOn(io.StringIO):
    """A stdout that raises KeyboardInterrupt when the fit prints ``text``
    (the verbose output is a public seam into the middle of a fit)."""

    def __init__(self, text):
        super().__init__()
        self.text = text

    def write(self, s):
        if self.text in s:
            raise KeyboardInterrupt
        return super().write(s)


def _fitted(make):
    est = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(_data())
    return est


def _state(est):
    """Everything but the constructor parameters that the test itself sets
    (random_state, which a fit advances, is kept)."""
    params = set(est.get_params()) - {"random_state"}
    return {k: v for k, v in vars(est).items() if k not in params}


def _fingerprint(est):
    state = _state(est)
    return state, pickle.dumps(state)


def _assert_unchanged(est, before):
    objects, pickled = before
    state = _state(est)
    assert set(state) == set(objects)
    for name, value in objects.items():
        assert state[name] is value, name
    assert pickle.dumps(state) == pickled


# Each case: (estimator factory, how to make the next fit fail, the error).
# The random_state is a RandomState instance, advanced in place by a fit, so
# a failed fit must restore its state too (and the VAE's own stream).
def _gmm(**kw):
    return lambda: GaussianMixture(2, random_state=np.random.RandomState(0), warm_start=True, **kw)


def _bgmm(**kw):
    return lambda: BayesianGaussianMixture(n_components=2, random_state=np.random.RandomState(0), warm_start=True, **kw)


def _vae(**kw):
    return lambda: VAE(2, hidden_layer_sizes=(4,), max_iter=3, random_state=np.random.RandomState(0), warm_start=True, **kw)


def _vbpca(**kw):
    return lambda: VBPCA(2, random_state=np.random.RandomState(0), warm_start=True, init_params="random", **kw)


def _vbmpca(**kw):
    return lambda: VBMixturePCAImputer(2, n_components=2, random_state=np.random.RandomState(0), warm_start=True, **kw)


def _interrupt(text, **params):
    def fail(est):
        est.set_params(verbose=1, **params)
        with contextlib.redirect_stdout(_InterruptOn(text)):
            est.fit(_data())

    return fail


def _refit(X=None, **params):
    def fail(est):
        est.set_params(**params)
        est.fit(_data() if X is None else X)

    return fail


FAR = {"means_init": [[1e160] * 3, [-1e160] * 3], "precisions_init": np.stack([np.eye(3)] * 2),
       "weights_init": [0.5, 0.5], "warm_start": False}

CASES = {
    "gmm-bad-input": (_gmm(), _refit(np.full((5, 3), np.nan)), ValueError),
    "gmm-structure": (_gmm(), _refit(n_components=3), ValueError),
    "gmm-singular": (_gmm(), _refit(np.repeat(_data()[:2], 60, axis=0), reg_covar=0.0, warm_start=False), ValueError),
    "gmm-non-finite-bound": (_gmm(), _refit(**FAR), ValueError),
    "gmm-interrupt": (_gmm(), _interrupt("Iteration 2", verbose_interval=1, tol=0.0), KeyboardInterrupt),
    "bgmm-bad-input": (_bgmm(), _refit(np.ones((1, 3))), ValueError),
    "bgmm-bad-weights": (_bgmm(), lambda est: est.fit(_data(), sample_weight=-np.ones(120)), ValueError),
    "gmm-stream-bad-input": (_gmm(learning_method="online", batch_size=40),
                             lambda est: est.partial_fit(np.full((5, 3), np.inf)), ValueError),
    "gmm-stream-wrong-features": (_gmm(learning_method="online", batch_size=40),
                                  lambda est: est.partial_fit(np.ones((5, 2))), ValueError),
    "bgmm-structure": (_bgmm(), _refit(weight_concentration_prior_type="dirichlet_distribution"), ValueError),
    "bgmm-interrupt": (_bgmm(), _interrupt("Iteration 2", verbose_interval=1, tol=0.0), KeyboardInterrupt),
    "vbpca-bad-input": (_vbpca(), _refit(np.array([[1.0, 2.0, 3.0], [np.nan] * 3, [0.0, 1.0, 2.0]])), ValueError),
    "vbpca-structure": (_vbpca(), _refit(n_components=1), ValueError),
    "vbpca-interrupt": (_vbpca(), _interrupt("Iteration 2", verbose_interval=1, tol=0.0, warm_start=False),
                        KeyboardInterrupt),
    "vbmpca-bad-input": (_vbmpca(), _refit(np.array([[1.0, 2.0, 3.0], [np.nan] * 3, [0.0, 1.0, 2.0]])), ValueError),
    "vbmpca-structure": (_vbmpca(), _refit(n_clusters=3), ValueError),
    "vbmpca-interrupt": (_vbmpca(), _interrupt("Iteration 2", verbose_interval=1, tol=0.0, warm_start=False),
                         KeyboardInterrupt),
    "vae-bad-input": (_vae(), _refit(np.ones((4, 2))), ValueError),
    "vae-structure": (_vae(), _refit(hidden_layer_sizes=(5,)), ValueError),
    "vae-overflow": (_vae(), _refit(_data() * 1e39), ValueError),
    "vae-divergence": (_vae(), _refit(learning_rate=1e8), DivergenceError),
    "vae-interrupt": (_vae(), _interrupt("Epoch 5", max_iter=5), KeyboardInterrupt),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_call_that_raises_leaves_the_estimator_exactly_as_it_was(case):
    make, fail, error = CASES[case]
    est = _fitted(make)
    before = _fingerprint(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(error):
            fail(est)
    _assert_unchanged(est, before)


@pytest.mark.parametrize("make", [_gmm(), _bgmm(), _vae(), _vbpca(), _vbmpca()],
                         ids=["gmm", "bgmm", "vae", "vbpca", "vbmpca"])
def test_a_failed_first_fit_leaves_the_estimator_unfitted(make):
    est = make()
    before = _fingerprint(est)
    fail = _interrupt("Epoch 2", max_iter=5) if isinstance(est, VAE) else _interrupt("Iteration 2", verbose_interval=1)
    with pytest.raises(KeyboardInterrupt):
        fail(est)
    _assert_unchanged(est, before)
    assert not hasattr(est, "n_features_in_")
