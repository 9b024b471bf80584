"""The Gamma factor against scipy.stats and numerical integration."""

import numpy as np
import pytest
from scipy import integrate, stats

from varbayes._backend import get_backend
from varbayes.expfam import Gamma

CASES = [(0.7, 2.5), (3.0, 0.4), (40.0, 15.0), (1e3, 1e-2)]


@pytest.fixture
def gamma():
    return Gamma(get_backend("cpu"))


def _expect(f, a, b):
    """E[f(lambda)] under Gam(a, b), by adaptive quadrature over the quantiles."""
    dist = stats.gamma(a, scale=1.0 / b)
    lo, hi = dist.ppf(1e-14), dist.ppf(1 - 1e-14)
    return integrate.quad(lambda x: f(x) * dist.pdf(x), lo, hi, limit=200, points=[dist.mean()])[0]


@pytest.mark.parametrize("a,b", CASES)
def test_moments_entropy_and_normalizer_match_scipy(gamma, a, b):
    dist = stats.gamma(a, scale=1.0 / b)
    assert gamma.mean(a, b) == pytest.approx(dist.mean(), rel=1e-12)
    assert gamma.entropy(a, b) == pytest.approx(dist.entropy(), rel=1e-10, abs=1e-12)
    assert gamma.expected_log(a, b) == pytest.approx(_expect(np.log, a, b), rel=1e-7, abs=1e-9)
    # log Gam(x | a, b) = log_normalizer + (a - 1) log x - b x
    x = dist.mean()
    assert gamma.log_normalizer(a, b) + (a - 1) * np.log(x) - b * x == pytest.approx(dist.logpdf(x), rel=1e-11)


@pytest.mark.parametrize("a,b", CASES)
@pytest.mark.parametrize("a0,b0", [(1e-2, 1e-2), (2.0, 3.0)])
def test_kl_is_the_expected_log_ratio(gamma, a, b, a0, b0):
    p, q = stats.gamma(a0, scale=1.0 / b0), stats.gamma(a, scale=1.0 / b)
    by_quadrature = _expect(lambda x: q.logpdf(x) - p.logpdf(x), a, b)
    assert gamma.kl(a, b, a0, b0) == pytest.approx(by_quadrature, rel=1e-6, abs=1e-8)
    # KL = -H[q] - E_q[log p], the ELBO's two terms.
    assert gamma.kl(a, b, a0, b0) == pytest.approx(-gamma.entropy(a, b) - gamma.expected_log_pdf(a0, b0, a, b), rel=1e-9)
    assert gamma.kl(a, b, a, b) == 0.0


def test_elementwise_over_arrays_and_conjugate_update(gamma):
    a, b = np.array([0.5, 2.0, 10.0]), np.array([1.0, 0.1, 4.0])
    np.testing.assert_allclose(gamma.kl(a, b, 1.0, 1.0), [gamma.kl(x, y, 1.0, 1.0) for x, y in zip(a, b)], rtol=1e-14)
    # Gaussian data with known mean: the posterior of the precision is the conjugate update.
    rng = np.random.default_rng(0)
    x = rng.normal(scale=0.5, size=50)
    a_n, b_n = gamma.posterior(1.0, 2.0, x.size / 2, 0.5 * np.sum(x**2))
    grid = np.linspace(1e-3, 20, 20001)
    log_post = stats.gamma(1.0, scale=0.5).logpdf(grid) + stats.norm(scale=1 / np.sqrt(grid)[:, None]).logpdf(x).sum(1)
    post = np.exp(log_post - log_post.max())
    post /= np.trapezoid(post, grid)
    np.testing.assert_allclose(post, stats.gamma(a_n, scale=1 / b_n).pdf(grid), atol=1e-6)
