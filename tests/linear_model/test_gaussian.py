"""The Gaussian q(w) helpers shared by the linear models."""

import numpy as np
import pytest

from varbayes.linear_model._gaussian import gaussian_entropy, gaussian_from_precision, quadratic_forms, weighted_gram


@pytest.mark.parametrize("D", [3, 8, 51])
def test_block_products_equal_the_plain_ones(D):
    # The split products (3/4 of the multiply-adds from D >= 8) against the
    # plain GEMMs they replace.
    rng = np.random.default_rng(D)
    X = rng.normal(size=(300, D))
    c = rng.random(300)
    gram = weighted_gram(X, c)
    np.testing.assert_allclose(gram, (X * c[:, None]).T @ X, rtol=1e-12, atol=1e-12)
    A = rng.normal(size=(D, D))
    S = A @ A.T + np.eye(D)
    np.testing.assert_allclose(quadratic_forms(X, np.linalg.cholesky(S)), np.einsum("nd,de,ne->n", X, S, X), rtol=1e-12)


@pytest.mark.parametrize("D", [1, 4, 30])
def test_gaussian_from_precision_and_entropy_against_numpy(D):
    # The direct LAPACK calls (potrf, trtri) against NumPy's inverse, solve and log-determinant.
    rng = np.random.default_rng(D)
    A = rng.normal(size=(D + 5, D))
    P, h = A.T @ A + 0.1 * np.eye(D), rng.normal(size=D)
    m, V = gaussian_from_precision(P, h)
    np.testing.assert_allclose(V, np.linalg.inv(P), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(V, V.T, rtol=1e-14, atol=0)
    np.testing.assert_allclose(m, np.linalg.solve(P, h), rtol=1e-10)
    expected = 0.5 * D * (1.0 + np.log(2.0 * np.pi)) + 0.5 * np.linalg.slogdet(V)[1]
    assert gaussian_entropy(V) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_a_precision_that_is_not_positive_definite_raises():
    P = np.array([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        gaussian_from_precision(P, np.ones(2))
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        gaussian_entropy(P)
