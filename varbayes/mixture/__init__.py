"""Mixture models fitted by EM and by coordinate-ascent variational inference."""

from ._bayesian import BayesianGaussianMixture
from ._em import GaussianMixture

__all__ = ["BayesianGaussianMixture", "GaussianMixture"]
