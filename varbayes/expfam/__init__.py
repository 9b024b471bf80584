"""Exponential-family algebra shared by the models: expectations, updates and
KL divergences of conjugate factors, written once.

* :class:`Dirichlet` and :class:`StickBreaking`: mixture weights (a symmetric
  Dirichlet, or the truncated stick-breaking Dirichlet process).

The Normal-Wishart (and its Normal-Gamma analogues per covariance type) lives
with the covariance types in :mod:`varbayes.mixture._covariance`.
"""

from ._weights import Dirichlet, StickBreaking, weight_prior

__all__ = ["Dirichlet", "StickBreaking", "weight_prior"]
