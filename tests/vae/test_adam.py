"""Adam on a flat vector against Kingma & Ba (2015), Algorithm 1, written plainly."""

import numpy as np
import pytest

from varbayes.vae._adam import Adam


def reference_adam(theta, grads, lr, b1, b2, eps):
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


@pytest.mark.parametrize("scale", [1.0, 128.0])
def test_adam_matches_algorithm_1(scale):
    rng = np.random.default_rng(0)
    theta0 = rng.normal(size=50)
    # Tiny gradients make epsilon matter, so its scaling is checked too.
    grads = [rng.normal(scale=1e-7, size=50) * (1 + 100 * (i % 2)) for i in range(20)]
    expected = reference_adam(theta0, grads, 1e-2, 0.9, 0.999, 1e-8)
    adam = Adam(np, 50, np.float64, 1e-2, 0.9, 0.999, 1e-8, grad_scale=scale)
    theta = theta0.copy()
    for g in grads:
        g_scaled = g * scale
        adam.step(theta, g_scaled)
        np.testing.assert_array_equal(g_scaled, g * scale)  # gradient untouched
    np.testing.assert_allclose(theta, expected, rtol=1e-10, atol=1e-13)


def test_state_round_trip_continues_identically():
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=10) for _ in range(6)]
    full = Adam(np, 10, np.float64, 1e-3, 0.9, 0.999, 1e-8)
    theta_full = np.zeros(10)
    for g in grads:
        full.step(theta_full, g)
    first = Adam(np, 10, np.float64, 1e-3, 0.9, 0.999, 1e-8, grad_scale=4.0)
    theta = np.zeros(10)
    for g in grads[:3]:
        first.step(theta, 4.0 * g)
    # Continue with another gradient scale (another batch size): same path.
    second = Adam(np, 10, np.float64, 1e-3, 0.9, 0.999, 1e-8, grad_scale=2.0, state=first.state(np.asarray))
    for g in grads[3:]:
        second.step(theta, 2.0 * g)
    np.testing.assert_allclose(theta, theta_full, rtol=1e-12)


def test_float32_stays_float32():
    adam = Adam(np, 5, np.float32, 1e-3, 0.9, 0.999, 1e-8, grad_scale=np.float64(3))
    theta = np.ones(5, np.float32)
    adam.step(theta, np.ones(5, np.float32))
    assert theta.dtype == adam.m.dtype == adam.v.dtype == np.float32
