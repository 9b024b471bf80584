"""Activations, the stable sigmoid/softplus and the MLP's backward pass."""

import numpy as np
import pytest
from scipy.special import expit

from varbayes.vae._layers import ACTIVATIONS, DERIVATIVES, MLP, ParamVector, sigmoid, softplus_sum

REFERENCE = {
    "identity": lambda a: a,
    "relu": lambda a: np.maximum(a, 0),
    "tanh": np.tanh,
    "softplus": lambda a: np.logaddexp(0, a),
    "logistic": expit,
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_forward_and_derivative(name):
    rng = np.random.default_rng(0)
    a = rng.normal(scale=3, size=(6, 5))
    a[np.abs(a) < 1e-3] = 0.5  # keep away from relu's kink
    h = a.copy()
    ACTIVATIONS[name](np, h)
    np.testing.assert_allclose(h, REFERENCE[name](a), rtol=1e-12, atol=1e-15)
    delta = rng.normal(size=a.shape)
    d = delta.copy()
    DERIVATIVES[name](np, h, d)
    step = 1e-6
    fd = (REFERENCE[name](a + step) - REFERENCE[name](a - step)) / (2 * step)
    np.testing.assert_allclose(d, delta * fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_softplus_are_stable_at_extremes(dtype):
    a = np.array([-1e4, -100, -30, -1, 0, 1, 30, 100, 1e4], dtype=dtype)
    with np.errstate(all="raise"):
        s = sigmoid(np, a, np.empty_like(a))
        t = np.tanh(a / 2)
        total = softplus_sum(np, a, t, np.empty_like(a))
    assert s.dtype == dtype
    np.testing.assert_allclose(s, expit(a.astype(np.float64)), rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-7)
    ref = np.logaddexp(0, a.astype(np.float64)).sum()
    assert float(total) == pytest.approx(ref, rel=1e-6 if dtype == np.float32 else 1e-13)


def test_mlp_backward_matches_central_differences():
    sizes = [4, 6, 3]
    params = ParamVector(np, MLP.parameter_shapes("n", sizes), np.float64)
    rng = np.random.default_rng(0)
    params.theta[:] = rng.normal(size=params.size)
    mlp = MLP(params, "n", sizes, "tanh")
    X = rng.normal(size=(5, 4))
    G = rng.normal(size=(5, 3))  # L = sum(G * output)

    def loss(theta, x):
        params.theta[:] = theta
        return float((mlp.forward(x) * G).sum())

    theta0 = params.theta.copy()
    loss(theta0, X)
    dX = mlp.backward(G, input_grad=True).copy()
    grad = params.grad.copy()
    h = 1e-6
    for i in range(theta0.size):
        e = np.zeros_like(theta0)
        e[i] = h
        fd = (loss(theta0 + e, X) - loss(theta0 - e, X)) / (2 * h)
        assert grad[i] == pytest.approx(fd, rel=1e-6, abs=1e-8)
    for idx in np.ndindex(X.shape):
        e = np.zeros_like(X)
        e[idx] = h
        fd = (loss(theta0, X + e) - loss(theta0, X - e)) / (2 * h)
        assert dX[idx] == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_param_vector_views_share_memory():
    params = ParamVector(np, MLP.parameter_shapes("n", [3, 2]), np.float32)
    W = params.view("nW0")
    W[...] = 1
    assert params.theta[:6].sum() == 6 and params.theta.dtype == np.float32
    assert params.view("nb0", grad=True).base is params.grad
