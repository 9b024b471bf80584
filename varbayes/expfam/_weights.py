"""Variational factors over mixture weights: q(pi) for a Dirichlet prior, or
q(v) over the sticks of a truncated Dirichlet process.

Both have the same interface, so a model chooses one and never branches on
it: ``update`` (the CAVI update from expected counts), ``expected_log``
(E[log pi_k]), ``expected`` (E[pi_k] and the mass left beyond the K
components) and ``kl`` (KL(q || p)).  Parameters are backend arrays.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["Dirichlet", "StickBreaking", "weight_prior"]


class Dirichlet:
    """q(pi) = Dir(alpha) under the symmetric prior Dir(alpha_0, ..., alpha_0).

    Parameters
    ----------
    alpha0 : float
        The prior concentration alpha_0 > 0.
    """

    name = "dirichlet_distribution"

    def __init__(self, alpha0: float) -> None:
        self.alpha0 = float(alpha0)

    @property
    def concentration(self) -> float:
        """The prior's concentration alpha_0."""
        return self.alpha0

    def update(self, be: Any, counts: Any) -> Any:
        """alpha_k = alpha_0 + N_k (Bishop (2006), eq. 10.58)."""
        return self.alpha0 + counts

    def expected_log(self, be: Any, alpha: Any) -> Any:
        """E[log pi_k] = psi(alpha_k) - psi(sum alpha) (Bishop eq. 10.66)."""
        return be.digamma(alpha) - be.digamma(alpha.sum())

    def expected(self, be: Any, alpha: Any) -> tuple[Any, Any]:
        """(E[pi_k], 0): no mass beyond the K components."""
        return alpha / alpha.sum(), be.xp.zeros(())

    def kl(self, be: Any, alpha: Any) -> Any:
        """KL(Dir(alpha) || Dir(alpha_0 1)).

        Written with h_k = alpha_k - alpha_0 in log-Gamma ratios, accurate for
        a huge alpha_0 (e.g. 1e300, where log Gamma(alpha_0 + N_k) -
        log Gamma(alpha_0) computed directly loses every digit).
        """
        xp = be.xp
        K = alpha.shape[0]
        total = alpha.sum()
        h = alpha - self.alpha0  # N_k, as far as alpha_0 + N_k holds it
        return (
            be.log_gamma_ratio(xp.asarray(K * self.alpha0), h.sum())
            - be.log_gamma_ratio(xp.full_like(alpha, self.alpha0), h).sum()
            + xp.sum(h * (be.digamma(alpha) - be.digamma(total)))
        )


class StickBreaking:
    """q(v_k) = Beta(a_k, b_k) over the sticks of pi_k = v_k prod_{j<k} (1 - v_j),
    under v_k ~ Beta(1, gamma_0), truncated at K components (q(z = k) = 0
    beyond; the factors beyond K equal their priors).

    Parameters are stacked as an array of shape (2, K): (a, b).

    Parameters
    ----------
    gamma0 : float
        The prior concentration gamma_0 > 0.
    """

    name = "dirichlet_process"

    def __init__(self, gamma0: float) -> None:
        self.gamma0 = float(gamma0)

    @property
    def concentration(self) -> float:
        """The prior's concentration gamma_0."""
        return self.gamma0

    def update(self, be: Any, counts: Any) -> Any:
        """a_k = 1 + N_k, b_k = gamma_0 + sum_{j>k} N_j (Blei & Jordan (2006))."""
        xp = be.xp
        after = xp.concatenate([xp.cumsum(counts[::-1])[-2::-1], xp.zeros(1)])
        return xp.stack([1.0 + counts, self.gamma0 + after])

    def expected_log(self, be: Any, sticks: Any) -> Any:
        """E[log pi_k] = E[log v_k] + sum_{j<k} E[log(1 - v_j)]."""
        xp = be.xp
        a, b = sticks[0], sticks[1]
        digamma_sum = be.digamma(a + b)
        log_1mv = be.digamma(b) - digamma_sum
        return be.digamma(a) - digamma_sum + xp.concatenate([xp.zeros(1), xp.cumsum(log_1mv)[:-1]])

    def expected(self, be: Any, sticks: Any) -> tuple[Any, Any]:
        """(E[pi_k], the stick mass prod_k E[1 - v_k] left beyond component K)."""
        xp = be.xp
        a, b = sticks[0], sticks[1]
        rest = b / (a + b)
        before = xp.concatenate([xp.ones(1), xp.cumprod(rest)[:-1]])
        return a / (a + b) * before, xp.prod(rest)

    def kl(self, be: Any, sticks: Any) -> Any:
        """sum_k KL(Beta(a_k, b_k) || Beta(1, gamma_0)).

        log B(a, b) through ``betaln`` and the digamma terms grouped as
        (a - 1)(psi(a) - psi(a + b)) + (b - gamma_0)(psi(b) - psi(a + b)),
        accurate for a huge gamma_0.
        """
        xp = be.xp
        a, b = sticks[0], sticks[1]
        digamma_sum = be.digamma(a + b)
        return xp.sum(
            -math.log(self.gamma0)  # log B(1, gamma_0)
            - be.betaln(a, b)
            + (a - 1.0) * (be.digamma(a) - digamma_sum)
            + (b - self.gamma0) * (be.digamma(b) - digamma_sum)
        )


def weight_prior(kind: str, concentration: float) -> Dirichlet | StickBreaking:
    """The factor for ``weight_concentration_prior_type`` ``kind``."""
    return {"dirichlet_distribution": Dirichlet, "dirichlet_process": StickBreaking}[kind](concentration)
