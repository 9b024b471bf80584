"""The loadings' second moments from (M, S), shared or per-row S, against the materialised ones."""

import numpy as np
import pytest

from varbayes.decomposition._moments import moment_diagonals, moment_sum, moment_traces, second_moments


@pytest.mark.parametrize("shared_cov", [True, False])
@pytest.mark.parametrize("shared_zz", [True, False])
def test_moments_equal_the_materialised_ones(shared_cov, shared_zz):
    rng = np.random.default_rng(0)
    d, k = 7, 4
    mean = rng.normal(size=(d, k))
    A = rng.normal(size=(k, k) if shared_cov else (d, k, k))
    cov = A @ np.swapaxes(A, -1, -2)
    B = rng.normal(size=(k, k) if shared_zz else (d, k, k))
    zz = B @ np.swapaxes(B, -1, -2)
    a = rng.uniform(size=d)
    full = np.broadcast_to(cov, (d, k, k)) + np.einsum("ja,jb->jab", mean, mean)
    np.testing.assert_allclose(second_moments(mean, cov), full, rtol=1e-13)
    np.testing.assert_allclose(moment_sum(mean, cov, a), np.einsum("j,jab->ab", a, full), rtol=1e-12)
    np.testing.assert_allclose(moment_diagonals(mean, cov), np.diagonal(full, axis1=1, axis2=2), rtol=1e-13)
    np.testing.assert_allclose(moment_traces(mean, cov, zz), np.einsum("jab,jab->j", full, np.broadcast_to(zz, full.shape)),
                               rtol=1e-12)
