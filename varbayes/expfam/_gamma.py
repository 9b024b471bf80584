"""The Gamma distribution Gam(lambda | a, b), shape a and rate b:

    log Gam(lambda | a, b) = a log b - log Gamma(a) + (a - 1) log lambda - b lambda

the conjugate factor of every positive precision in the models: the noise
and weight precisions of VB linear and logistic regression and of VB PCA,
and, per dimension, the precisions of 'diag' and 'spherical' Gaussian
components (the Normal-Gamma analogues of the Normal-Wishart).  Natural
parameters (a - 1, -b), sufficient statistics (log lambda, lambda).

Everything is elementwise, so one call handles a batch of independent
Gammas (per component, per dimension, per coefficient).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["Gamma"]


class Gamma:
    """Expectations, entropy and KL divergence of Gamma factors (Bishop (2006), B.26-B.31).

    Parameters
    ----------
    be : Backend
        Supplies ``xp``, ``gammaln`` and ``digamma``, so the same code runs
        on NumPy or CuPy arrays.
    """

    def __init__(self, be: Any) -> None:
        self.be = be

    def _log(self, b: Any) -> Any:
        # Python numbers stay on the host (CuPy's ufuncs take arrays only).
        return math.log(b) if isinstance(b, numbers.Real) else self.be.xp.log(b)

    def posterior(self, a0: Any, b0: Any, half_count: Any, half_sum: Any) -> tuple[Any, Any]:
        """The conjugate update a = a_0 + half_count, b = b_0 + half_sum.

        For a precision lambda of Gaussian terms, half_count = (number of
        terms) / 2 and half_sum = E[sum of squared residuals] / 2 (Bishop
        eqs. 10.95-10.96 and 10.116-10.117 are of this form).
        """
        return a0 + half_count, b0 + half_sum

    def mean(self, a: Any, b: Any) -> Any:
        """E[lambda] = a / b (B.27)."""
        return a / b

    def expected_log(self, a: Any, b: Any) -> Any:
        """E[log lambda] = psi(a) - log b (B.30)."""
        return self.be.digamma(a) - self._log(b)

    def log_normalizer(self, a: Any, b: Any) -> Any:
        """log of the normalising constant b^a / Gamma(a) (B.26)."""
        return a * self._log(b) - self.be.gammaln(a)

    def entropy(self, a: Any, b: Any) -> Any:
        """H[lambda] = log Gamma(a) - (a - 1) psi(a) - log b + a (B.31)."""
        be = self.be
        return be.gammaln(a) - (a - 1.0) * be.digamma(a) - self._log(b) + a

    def expected_log_pdf(self, a0: Any, b0: Any, a: Any, b: Any) -> Any:
        """E_q[log Gam(lambda | a_0, b_0)] under q = Gam(a, b), the prior's ELBO term."""
        return self.log_normalizer(a0, b0) + (a0 - 1.0) * self.expected_log(a, b) - b0 * self.mean(a, b)

    def kl(self, a: Any, b: Any, a0: Any, b0: Any) -> Any:
        """KL(Gam(a, b) || Gam(a_0, b_0)), elementwise.

        (a - a0) psi(a) - [log Gamma(a) - log Gamma(a0)] + a0 log(b / b0) - a (b - b0) / b,
        with the log-Gamma difference as a ratio (``Backend.log_gamma_ratio``)
        and log(b / b0) as log1p: a prior as sharp as shape 1e12 (a
        precision held fixed) then loses no digits, where the plain
        differences of log Gamma(1e12)-sized terms lose about 1e-2.
        Exactly 0 at q = p.
        """
        be = self.be
        xp = be.xp
        a, b, a0, b0 = (xp.asarray(v, dtype=xp.float64) for v in (a, b, a0, b0))
        h = a - a0
        up = h >= 0
        if be.all_on_host(up):  # the usual case, a posterior's shape: one ratio, not both
            log_gamma_diff = be.log_gamma_ratio(a0, h)
        else:
            log_gamma_diff = xp.where(up, be.log_gamma_ratio(a0, xp.where(up, h, 0.0)),
                                      -be.log_gamma_ratio(a, xp.where(up, 0.0, -h)))
        return (
            h * be.digamma(a)
            - log_gamma_diff
            + a0 * xp.log1p((b - b0) / b0)
            - a * (b - b0) / b
        )
