"""The Gaussian q(w) helpers shared by the linear models."""

import numpy as np
import pytest

from varbayes.linear_model._gaussian import quadratic_forms, weighted_gram


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
