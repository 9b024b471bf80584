"""Exponential-family algebra shared by the models: expectations, updates and
KL divergences of conjugate factors, written once.

* :class:`Dirichlet` and :class:`StickBreaking`: mixture weights (a symmetric
  Dirichlet, or the truncated stick-breaking Dirichlet process).
* :class:`Gamma`: positive precisions (noise and ARD weight precisions of
  the linear models and VB PCA; per dimension, 'diag' and 'spherical'
  component precisions).
* :class:`NormalWishart`: q(mu, Lambda) of a Gaussian component, for every
  covariance type (the Wishart, or its Normal-Gamma analogues for 'diag' and
  'spherical'), and the Student-t predictive (:func:`student_log_pdf`).  The
  per-type constants (log-normalisers and E[log |Lambda|] as functions of nu)
  come from the covariance types of :mod:`varbayes.mixture._covariance`.
"""

from ._gamma import Gamma
from ._normal_wishart import NormalWishart, student_log_pdf
from ._weights import Dirichlet, StickBreaking, weight_prior

__all__ = ["Dirichlet", "Gamma", "NormalWishart", "StickBreaking", "student_log_pdf", "weight_prior"]
