"""The VAE's loss and hand-written gradient against independent references."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import log_expit

from varbayes.vae._layers import ACTIVATIONS
from varbayes.vae._model import LOGVAR_BOUND, VAENetwork


def make_net(likelihood, activation="tanh", hidden=(4, 3), d=5, q=2, seed=0, dtype=np.float64):
    net = VAENetwork(np, d, q, hidden, activation, likelihood, dtype)
    rng = np.random.default_rng(seed)
    net.params.theta[:] = rng.normal(scale=0.5, size=net.params.size)
    return net


def make_data(likelihood, n=7, d=5, seed=1):
    rng = np.random.default_rng(seed)
    if likelihood == "bernoulli":
        return rng.uniform(size=(n, d))  # grayscale values in [0, 1]
    return rng.normal(size=(n, d))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_gradient_matches_central_differences(likelihood, activation):
    """Every parameter's gradient against central differences, eps held fixed."""
    net = make_net(likelihood, activation)
    X = make_data(likelihood)
    eps = np.random.default_rng(2).standard_normal((X.shape[0], net.q))
    kl_weight = 0.7  # a KL weight != 1 checks that the weighted loss is differentiated

    def loss(theta):
        net.params.theta[:] = theta
        rec, kl = net.loss_grad(X, eps, kl_weight)
        return float(rec) + kl_weight * float(kl)

    theta0 = net.params.theta.copy()
    loss(theta0)
    analytic = net.params.grad.copy()
    h = 1e-6
    numeric = np.empty_like(theta0)
    for i in range(theta0.size):
        e = np.zeros_like(theta0)
        e[i] = h
        numeric[i] = (loss(theta0 + e) - loss(theta0 - e)) / (2 * h)
    for name, (lo, hi, _) in net.params.offsets.items():
        a, n = analytic[lo:hi], numeric[lo:hi]
        rel = np.linalg.norm(a - n) / max(np.linalg.norm(n), 1e-300)
        assert rel < 1e-6, (name, rel)
        assert np.linalg.norm(n) > 0, name  # every parameter matters


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_reconstruction_and_kl_against_scipy(likelihood):
    net = make_net(likelihood)
    X = make_data(likelihood)
    eps = np.random.default_rng(3).standard_normal((X.shape[0], net.q))
    rec, kl = net.loss_grad(X, eps, 1.0)
    mu, logvar = net.encode(X)
    mu, logvar = mu.copy(), logvar.copy()
    z = mu + np.exp(0.5 * logvar) * eps
    out = net.decode(z)
    if likelihood == "bernoulli":
        ref = -(X * log_expit(out) + (1 - X) * log_expit(-out)).sum()
    else:
        ref = -stats.norm.logpdf(X, loc=out, scale=np.exp(0.5 * net.log_var_x)).sum()
    assert float(rec) == pytest.approx(ref, rel=1e-12)
    assert -net.log_px(X, out).sum() == pytest.approx(ref, rel=1e-12)
    # Closed-form KL of two Gaussians, term by term.
    var = np.exp(logvar)
    ref_kl = (np.log(1 / np.sqrt(var)) + (var + mu**2) / 2 - 0.5).sum()
    assert float(kl) == pytest.approx(ref_kl, rel=1e-12)


def test_closed_form_kl_matches_monte_carlo():
    """KL(N(mu, diag var) || N(0, I)) closed form against a Monte Carlo estimate."""
    net = make_net("gaussian", q=3)
    X = make_data("gaussian", n=4)
    _, kl = net.loss_grad(X, np.zeros((4, 3)), 1.0)
    mu, logvar = (a.copy() for a in net.encode(X))
    rng = np.random.default_rng(0)
    m = 200_000
    z = mu + np.exp(0.5 * logvar) * rng.standard_normal((m, *mu.shape))
    log_q = stats.norm.logpdf(z, mu, np.exp(0.5 * logvar)).sum(-1)
    log_p = stats.norm.logpdf(z).sum(-1)
    samples = (log_q - log_p).sum(-1)  # summed over the batch, as the loss
    se = samples.std() / np.sqrt(m)
    assert abs(samples.mean() - float(kl)) < 4 * se
    assert se < 0.01 * float(kl)  # the check is sharp


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_loss_is_finite_for_extreme_values_in_float32(likelihood):
    """No log(0), no overflow of exp(logvar): huge log-variances and logits are finite."""
    net = make_net(likelihood, "relu", dtype=np.float32)
    for name, (lo, hi, _) in net.params.offsets.items():
        # Huge encoder outputs (|logvar| >> 88, where exp overflows float32);
        # for Bernoulli also huge logits (|a| >> 100, where sigmoid is 0 or 1).
        if name.startswith("enc") or likelihood == "bernoulli":
            net.params.theta[lo:hi] *= 1e3
    if likelihood == "gaussian":
        net.log_var_x[:] = [-500, 500, -50, 50, 0]
    X = make_data(likelihood).astype(np.float32)
    eps = np.random.default_rng(0).standard_normal((X.shape[0], net.q)).astype(np.float32)
    with np.errstate(all="raise"):
        rec, kl = net.loss_grad(X, eps, 1.0)
    assert np.isfinite(float(rec)) and np.isfinite(float(kl))
    assert np.all(np.isfinite(net.params.grad))
    assert net.params.grad.dtype == np.float32
    _, logvar = net.encode(X)
    assert np.all(np.abs(logvar) <= LOGVAR_BOUND)


def test_float32_keeps_float32():
    net = make_net("bernoulli", "relu", dtype=np.float32)
    X = make_data("bernoulli").astype(np.float32)
    eps = np.zeros((X.shape[0], net.q), np.float32)
    rec, kl = net.loss_grad(X, eps, np.float64(0.5))
    assert rec.dtype == np.float32 and kl.dtype == np.float32
    assert net.params.grad.dtype == np.float32
