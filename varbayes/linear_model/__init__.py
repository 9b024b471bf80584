"""Conjugate linear models fitted by variational Bayes."""

from ._vb_linear import VBLinearRegression
from ._vb_logistic import VBLogisticRegression

__all__ = ["VBLinearRegression", "VBLogisticRegression"]
